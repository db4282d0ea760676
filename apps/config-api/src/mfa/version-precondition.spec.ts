import { ApiError } from '../errors/api-error';
import { VersionPrecondition } from './version-precondition';

const refusal = (header: string, current: number) => {
  try {
    VersionPrecondition.parse(header)!.require(current);
    return undefined;
  } catch (error) {
    return error as ApiError;
  }
};

describe('VersionPrecondition (If-Match)', () => {
  it('is absent without the header', () => {
    expect(VersionPrecondition.parse(undefined)).toBeUndefined();
  });

  it('holds for the current version, any of a list, or *', () => {
    expect(refusal('"4"', 4)).toBeUndefined();
    expect(refusal(' "2", "4" ', 4)).toBeUndefined();
    expect(refusal('*', 9)).toBeUndefined();
  });

  it('fails with 412, naming the version now, for another version, a weak tag or a tag not ours', () => {
    for (const header of ['"3"', 'W/"4"', '"abc"', '"04"']) {
      const error = refusal(header, 4);
      expect(error).toMatchObject({ status: 412, error: 'precondition_failed', headers: { ETag: '"4"' } });
      expect(error?.description).toContain('If-Match: "4"');
    }
  });

  it('says that a weak tag of the current version never matches, instead of that the configuration changed', () => {
    const weakened = refusal('W/"4"', 4)?.description;
    expect(weakened).toContain('compares strong entity tags only');
    expect(weakened).toContain('still at version 4');
    expect(weakened).not.toContain('changed since you read it');
    // A weak tag of an older version: it did change.
    expect(refusal('W/"3"', 4)?.description).toContain('changed since you read it');
  });

  it('refuses a header that is not entity tags with 400 naming If-Match', () => {
    for (const header of ['4', 'version 4', '"4', '"4", 5', '']) {
      expect(() => VersionPrecondition.parse(header)).toThrow(
        expect.objectContaining({ status: 400, details: [expect.objectContaining({ path: 'If-Match' })] }),
      );
    }
  });
});
