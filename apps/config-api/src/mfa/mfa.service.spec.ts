import {
  ConcurrentModificationError,
  MfaConfigRecord,
  MfaConfigRepository,
  MfaConfigSealer,
  MfaConfiguration,
} from '@lib/mfa-config';
import { mongo } from 'mongoose';
import type { Principal } from '../auth/principal';
import type { OutboxRelay } from '../outbox/outbox-relay';
import type { AuditTrail } from './audit-trail';
import { MfaService } from './mfa.service';

const actor: Principal = { subject: 'admin', tenant: 'acme', scopes: new Set(['update:mfa']) };
const version = (n: number) =>
  ({
    _id: 'acme/push',
    tenant: 'acme',
    type: 'push',
    version: n,
    deleted: false,
    enabled: true,
    provider: 'native',
    settings: { enabled_clients: ['web'], strategy: 'prompt' },
    created_at: new Date(0),
    updated_at: new Date(n),
    pending_events: [],
  }) as MfaConfigRecord;
const plain: MfaConfiguration = {
  enabled: true,
  provider: 'native',
  type: 'push',
  settings: { enabled_clients: ['web'], strategy: 'prompt' },
};

describe('MfaService', () => {
  it('audits an update against the version it was applied to, after losing a race to another writer', async () => {
    let attempt = 0;
    const repository = {
      updateLatest: async (_tenant: string, _type: string, next: (current: MfaConfigRecord) => unknown) => {
        attempt += 1;
        next(version(attempt));
        if (attempt === 1) throw new ConcurrentModificationError();
        return version(3);
      },
    } as unknown as MfaConfigRepository;
    const sealer = {
      openReplaceable: () => ({ config: plain, unreadable: [] }),
      seal: () => ({}),
    } as unknown as MfaConfigSealer;
    const audit = { updated: jest.fn() };
    const service = new MfaService(
      repository,
      sealer,
      { wake: () => undefined } as unknown as OutboxRelay,
      audit as unknown as AuditTrail,
    );
    const author = { principal: actor, requestId: 'r1' };
    await service.update(author, 'push', { enabled: false });
    expect(audit.updated).toHaveBeenCalledTimes(1);
    expect(audit.updated).toHaveBeenCalledWith(author, version(2), version(3));
  });

  it('answers 503 with Retry-After, not a conflict to resolve, when every attempt lost to another writer', async () => {
    const updateLatest = jest.fn(async () => {
      throw new ConcurrentModificationError();
    });
    const service = new MfaService(
      { updateLatest } as unknown as MfaConfigRepository,
      {
        openReplaceable: () => ({ config: plain, unreadable: [] }),
        seal: () => ({}),
      } as unknown as MfaConfigSealer,
      { wake: () => undefined } as unknown as OutboxRelay,
      { updated: jest.fn() } as unknown as AuditTrail,
    );
    const refused = await service
      .update({ principal: actor, requestId: 'r1' }, 'push', { enabled: false })
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 503, headers: { 'Retry-After': '1' } });
    expect((refused as Error).message).toMatch(/changed nothing/);
    expect(updateLatest).toHaveBeenCalledTimes(5);
  });

  it('audits a change the store may have applied without confirming it, and still answers with the error', async () => {
    const lost = new mongo.MongoNetworkError('connection reset');
    const repository = {
      updateLatest: async (_tenant: string, _type: string, next: (current: MfaConfigRecord) => unknown) => {
        next(version(6));
        throw lost;
      },
      deleteLatest: async () => {
        throw lost;
      },
    } as unknown as MfaConfigRepository;
    const audit = { updated: jest.fn(), deleted: jest.fn(), unconfirmed: jest.fn() };
    const service = new MfaService(
      repository,
      {
        openReplaceable: () => ({ config: plain, unreadable: [] }),
        seal: () => ({}),
      } as unknown as MfaConfigSealer,
      { wake: () => undefined } as unknown as OutboxRelay,
      audit as unknown as AuditTrail,
    );
    const author = { principal: actor, requestId: 'r1' };
    await expect(service.update(author, 'push', { enabled: false })).rejects.toBe(lost);
    await expect(service.delete(author, 'push')).rejects.toBe(lost);
    expect(audit.unconfirmed.mock.calls).toEqual([
      [author, 'update', { tenant: 'acme', type: 'push', basedOn: 6 }, lost],
      [author, 'delete', { tenant: 'acme', type: 'push', basedOn: undefined }, lost],
    ]);
    expect([audit.updated, audit.deleted].map((call) => call.mock.calls.length)).toEqual([0, 0]);
  });

  it('writes, audits and announces nothing for a PATCH that leaves the configuration as it is', async () => {
    const written = jest.fn();
    const repository = {
      updateLatest: async (_tenant: string, _type: string, next: (current: MfaConfigRecord) => unknown) => {
        const state = next(version(4));
        if (state) written(state);
        return state ? version(5) : version(4);
      },
    } as unknown as MfaConfigRepository;
    const sealer = {
      openReplaceable: () => ({ config: plain, unreadable: [] }),
      seal: () => ({ sealed: true }),
    } as unknown as MfaConfigSealer;
    const audit = { updated: jest.fn() };
    const relay = { wake: jest.fn() };
    const service = new MfaService(
      repository,
      sealer,
      relay as unknown as OutboxRelay,
      audit as unknown as AuditTrail,
    );
    const author = { principal: actor, requestId: 'r1' };
    for (const patch of [
      {},
      { enabled: true, settings: { strategy: 'prompt' as const, enabled_clients: ['web'] } },
    ])
      expect((await service.update(author, 'push', patch)).version).toBe(4);
    expect([written.mock.calls, audit.updated.mock.calls, relay.wake.mock.calls]).toEqual([[], [], []]);
    // One field different is a change.
    expect((await service.update(author, 'push', { enabled: false })).version).toBe(5);
    expect(written).toHaveBeenCalledTimes(1);
  });
});
