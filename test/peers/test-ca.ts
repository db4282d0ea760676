import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway certificate authority and one server certificate it signed, made at test time. */
export interface TestCa {
  /** The CA certificate (PEM): what clients must trust. */
  caPem: string;
  /** Path of a file holding caPem. */
  caFile: string;
  /** The server (leaf) certificate (PEM), signed by the CA. */
  certPem: string;
  /** The server certificate's private key (PKCS#8 PEM). */
  keyPem: string;
}

/** The names the server certificate is valid for: the peers stand in for these hosts. */
export const TEST_CERT_SUBJECT_ALT_NAMES: readonly string[] = [
  'DNS:localhost',
  'IP:127.0.0.1',
  'DNS:api.push.apple.com',
  'DNS:api.sandbox.push.apple.com',
  'DNS:api.development.push.apple.com',
  'DNS:fcm.googleapis.com',
  'DNS:oauth2.googleapis.com',
];

interface Material {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** One CA per process (per Jest test file): generating it costs a few openssl runs. */
let cached: { material: Material; caFile: string } | undefined;

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function generate(workDir: string): Material {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(workDir, [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '30',
    '-subj',
    '/O=push-mfa tests/CN=push-mfa test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl(workDir, ['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost']);
  writeFileSync(
    join(workDir, 'leaf.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${TEST_CERT_SUBJECT_ALT_NAMES.join(',')}`,
      '',
    ].join('\n'),
  );
  openssl(workDir, [
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    `0x${Date.now().toString(16)}`,
    '-days',
    '30',
    '-sha256',
    '-extfile',
    'leaf.ext',
    '-out',
    'leaf.pem',
  ]);
  const material: Material = {
    caPem: readFileSync(join(workDir, 'ca.pem'), 'utf8'),
    certPem: readFileSync(join(workDir, 'leaf.pem'), 'utf8'),
    keyPem: readFileSync(join(workDir, 'leaf.key'), 'utf8'),
  };
  // Only the CA certificate stays on disk; the keys are not needed as files.
  for (const file of ['ca.key', 'leaf.key', 'leaf.csr', 'leaf.ext', 'leaf.pem']) {
    rmSync(join(workDir, file), { force: true });
  }
  return material;
}

/**
 * A self-signed CA and a server certificate it signed for localhost, 127.0.0.1 and the APNs/FCM/OAuth2 host
 * names (EC P-256, valid 30 days). Generated once per process with the openssl CLI and reused; with `dir`,
 * the CA certificate is (also) written to `dir/ca.pem` and `caFile` points there.
 */
export function createTestCa(dir?: string): TestCa {
  if (!cached) {
    const workDir = mkdtempSync(join(tmpdir(), 'push-mfa-test-ca-'));
    cached = { material: generate(workDir), caFile: join(workDir, 'ca.pem') };
  }
  let caFile = cached.caFile;
  if (dir !== undefined) {
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, cached.material.caPem);
  }
  return { ...cached.material, caFile };
}
