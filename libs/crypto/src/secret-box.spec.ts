import { randomBytes } from 'node:crypto';
import { Keyring } from './keyring';
import { SecretBox } from './secret-box';

const key = () => randomBytes(32).toString('base64');

describe('SecretBox', () => {
  const keyring = Keyring.parse(`new:${key()},old:${key()}`);
  const box = new SecretBox(keyring);

  it('round-trips a secret and never stores the plaintext', () => {
    const sealed = box.seal('-----BEGIN PRIVATE KEY-----abc', 'acme/push/apns.key');
    expect(sealed.kid).toBe('new');
    expect(Buffer.from(sealed.nonce, 'base64')).toHaveLength(12);
    expect(JSON.stringify(sealed)).not.toContain('PRIVATE');
    expect(box.open(sealed, 'acme/push/apns.key')).toBe('-----BEGIN PRIVATE KEY-----abc');
  });

  it('uses a fresh nonce for every seal', () => {
    expect(box.seal('x', 'a').nonce).not.toBe(box.seal('x', 'a').nonce);
  });

  it('refuses a ciphertext moved to another tenant or field', () => {
    const sealed = box.seal('secret', 'acme/push/apns.key');
    expect(() => box.open(sealed, 'other/push/apns.key')).toThrow();
    expect(() => box.open(sealed, 'acme/push/fcm.private_key')).toThrow();
  });

  it('refuses a truncated tag or another nonce size, which GCM would otherwise take', () => {
    const sealed = box.seal('', 'acme/push/apns.key');
    const shortTag = {
      ...sealed,
      ciphertext: Buffer.from(sealed.ciphertext, 'base64').subarray(0, 4).toString('base64'),
    };
    expect(() => box.open(shortTag, 'acme/push/apns.key')).toThrow(/16-byte tag/);
    const shortNonce = {
      ...sealed,
      nonce: Buffer.from(sealed.nonce, 'base64').subarray(0, 1).toString('base64'),
    };
    expect(() => box.open(shortNonce, 'acme/push/apns.key')).toThrow(/12-byte nonce/);
    expect(box.open(sealed, 'acme/push/apns.key')).toBe('');
  });

  it('decrypts with an older key after rotation', () => {
    const oldSpec = `old:${key()}`;
    const sealedWithOld = new SecretBox(Keyring.parse(oldSpec)).seal('s', 'aad');
    const rotated = new SecretBox(Keyring.parse(`new:${key()},${oldSpec}`));
    expect(rotated.open(sealedWithOld, 'aad')).toBe('s');
  });

  it('re-seals a secret of a retired key with the current one, and leaves a current one alone', () => {
    const oldSpec = `old:${key()}`;
    const sealedWithOld = new SecretBox(Keyring.parse(oldSpec)).seal('s', 'aad');
    const rotated = new SecretBox(Keyring.parse(`new:${key()},${oldSpec}`));
    expect(rotated.currentKeyId).toBe('new');
    expect(rotated.retiredKeyIds).toEqual(['old']);
    const resealed = rotated.resealed(sealedWithOld, 'aad')!;
    expect(resealed.kid).toBe('new');
    expect(rotated.open(resealed, 'aad')).toBe('s');
    // Still bound to where it belongs.
    expect(() => rotated.open(resealed, 'other')).toThrow();
    expect(rotated.resealed(resealed, 'aad')).toBeNull();
    expect(() => rotated.resealed(sealedWithOld, 'other')).toThrow();
  });

  it('explains a malformed keyring', () => {
    expect(() => Keyring.parse('k1:c2hvcnQ=')).toThrow(/must be 32 bytes/);
    expect(() => Keyring.parse('no-colon')).toThrow(/must be 32 bytes/);
    expect(() => Keyring.parse('bad id:abc')).toThrow(/must be kid:base64/);
  });

  it('refuses a key with characters base64 does not have, which Node’s decoder would skip, and placeholders', () => {
    const good = randomBytes(32);
    expect(() => Keyring.parse(`k1:${good.toString('base64')}`)).not.toThrow();
    expect(() => Keyring.parse(`k1:${good.toString('base64url')}`)).not.toThrow();
    expect(() => Keyring.parse(`k1:${good.toString('base64').replace(/=+$/, '')}`)).not.toThrow();
    const typo = good.toString('base64').replace(/^(.{10})/, '$1!');
    expect(() => Keyring.parse(`k1:${typo}`)).toThrow(/k1" holds characters that are not base64/);
    const placeholder = Buffer.alloc(32).toString('base64');
    expect(() => Keyring.parse(`k1:${placeholder}`)).toThrow(/one byte repeated/);
    expect(() => Keyring.parse(`k1:${Buffer.alloc(32, 7).toString('base64')}`)).toThrow(/one byte repeated/);
    // Kept after a real key, it still opens what it sealed: the way to rotate away from it.
    expect(() => Keyring.parse(`k2:${good.toString('base64')},k1:${placeholder}`)).not.toThrow();
  });
});

describe('Keyring.derive', () => {
  it('gives each purpose a key of its own from the current key: the same for the same keyring, never the key itself', () => {
    const current = key();
    const keyring = Keyring.parse(`k2:${current},k1:${key()}`);
    const derived = keyring.derive('number-matching');
    expect(derived).toHaveLength(32);
    expect(Keyring.parse(`k2:${current}`).derive('number-matching')).toEqual(derived);
    expect(keyring.derive('another purpose')).not.toEqual(derived);
    expect(derived).not.toEqual(Buffer.from(current, 'base64'));
  });
});
