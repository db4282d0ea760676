import type { KeyObject } from 'node:crypto';

/**
 * Finds private key material in text: PEM private keys (also with escaped newlines, as in a service
 * account JSON), the constant DER prefixes of PKCS#8 EC P-256 and RSA keys in base64 (a key body
 * without its PEM lines), and slices of the bodies of the keys the campaign knows it used.
 */
export class SecretScanner {
  private readonly needles: string[] = [
    'PRIVATE KEY-----',
    // PKCS#8 EC P-256 and RSA key bodies begin with these, whatever the key.
    'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG',
    'ADANBgkqhkiG9w0BAQEFAASC',
  ];

  /** Also looks for slices of these keys' bodies (anywhere in them, line breaks ignored). */
  knowKeys(keys: (KeyObject | string)[]): this {
    for (const key of keys) {
      const pem = typeof key === 'string' ? key : key.export({ type: 'pkcs8', format: 'pem' }).toString();
      const body = pem.replace(/-----[^-]+-----|\\n|\s/g, '');
      for (let at = 40; at + 32 <= body.length; at += 200) this.needles.push(body.slice(at, at + 32));
    }
    return this;
  }

  /** How many needles the text holds (escaped newlines and line breaks removed first). */
  hits(text: string): number {
    const flat = text.replace(/\\n|\\r|\s/g, '');
    let hits = 0;
    for (const needle of this.needles) if (flat.includes(needle.replace(/\s/g, ''))) hits++;
    return hits;
  }
}
