import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Reads raw environment variables into typed values, collecting every problem so that
 * start-up fails once with a list naming each variable and what it expects.
 */
export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Record<string, string | undefined>) {}

  string(name: string, fallback?: string): string {
    const value = this.raw(name);
    if (value !== undefined) return value;
    if (fallback !== undefined) return fallback;
    this.problems.push(`${name} is required`);
    return '';
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max} (got "${value}")`);
      return fallback;
    }
    return parsed;
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (['true', '1', 'yes'].includes(value.toLowerCase())) return true;
    if (['false', '0', 'no'].includes(value.toLowerCase())) return false;
    this.problems.push(`${name} must be true or false (got "${value}")`);
    return fallback;
  }

  oneOf<T extends string>(
    name: string,
    allowed: readonly T[],
    fallback: T,
    { ignoreCase = false }: { ignoreCase?: boolean } = {},
  ): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const found = allowed.find((option) =>
      ignoreCase ? option.toLowerCase() === value.toLowerCase() : option === value,
    );
    if (found !== undefined) return found;
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${value}")`);
    return fallback;
  }

  list(name: string, fallback: string[] = []): string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    return value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0);
  }

  /**
   * The PEM certificates in the file a variable names, checked now so that a wrong path or file fails
   * start-up rather than the first TLS handshake.
   */
  certificatesFile(name: string): string | undefined {
    return this.pemFile(name, 'PEM certificates (-----BEGIN CERTIFICATE-----)', (pem) => {
      const certificates = pemCertificates(pem);
      if (certificates.length === 0) throw new Error('no certificate');
    });
  }

  /** An unencrypted PEM private key in the file a variable names, checked now (never quoted in a message). */
  privateKeyFile(name: string): string | undefined {
    return this.pemFile(
      name,
      'an unencrypted PEM private key (an encrypted one can be decrypted with `openssl pkey -in KEY -out KEY.pem`)',
      (pem) => createPrivateKey(pem),
    );
  }

  private pemFile(name: string, what: string, check: (pem: string) => unknown): string | undefined {
    const path = this.raw(name);
    if (path === undefined) return undefined;
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      this.problems.push(`${name} names a file that cannot be read (${reason}): ${path}`);
      return undefined;
    }
    try {
      check(pem);
    } catch {
      this.problems.push(`${name} must name a file holding ${what}: ${path}`);
      return undefined;
    }
    return pem;
  }

  /** Records a problem found by a check that spans several variables. */
  fail(problem: string): void {
    this.problems.push(problem);
  }

  throwIfInvalid(): void {
    if (this.problems.length > 0) {
      throw new InvalidEnvironmentError(this.problems);
    }
  }

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }
}

export class InvalidEnvironmentError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration; fix these environment variables (see .env.example):\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'InvalidEnvironmentError';
  }
}

/** Each certificate of a PEM text, parsed (throws on one that does not parse). */
export function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}
