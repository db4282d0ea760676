import type { Model } from 'mongoose';
import { MfaConfigRepository } from './mfa-config.repository';
import type { MfaConfigRecord } from './mfa-config.schema';

/** A model whose queries record the read concern they were sent with (none: the connection's, local). */
function recordingModel() {
  const reads: string[] = [];
  const query = (name: string) => {
    let level = 'default';
    const chain = {
      readConcern: (wanted: string) => ((level = wanted), chain),
      sort: () => chain,
      limit: () => chain,
      lean: () => chain,
      exec: async () => {
        reads.push(`${name}: ${level}`);
        return name === 'find' ? [] : null;
      },
    };
    return chain;
  };
  const model = {
    find: () => query('find'),
    findOne: () => query('findOne'),
  } as unknown as Model<MfaConfigRecord>;
  return { repository: new MfaConfigRepository(model), reads };
}

describe('MfaConfigRepository read concerns', () => {
  it('reads what is published or applied majority-committed, and the latest before a guarded write', async () => {
    const { repository, reads } = recordingModel();
    await repository.findAllLive();
    await repository.findWithPendingEvents(10);
    await repository.findWithUnindexedPendingEvents(10);
    await repository.findAny('acme', 'push', { committed: true });
    await repository.findAny('acme', 'push');
    expect(reads).toEqual([
      'find: majority',
      'find: majority',
      'find: majority',
      'findOne: majority',
      'findOne: local',
    ]);
  });
});
