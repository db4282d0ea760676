/**
 * Prints a dev access token (AUTH_MODE=dev) on stdout, nothing else, so scripts can use it:
 *   npm run -s token -- [--tenant T] [--ttl SECONDS] write:mfa read:mfa ...
 * The tenant is `default` unless --tenant names one (a token without one is refused).
 */
import { resolve } from 'node:path';
import { DEFAULT_TENANT } from '@lib/contracts';
import { signDevToken } from '../apps/config-api/src/auth/dev-signing-key';

async function main(argv: string[]): Promise<void> {
  let tenant = DEFAULT_TENANT;
  let ttlSeconds = 3600;
  const scopes: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--tenant') tenant = argv[++i];
    else if (argv[i] === '--ttl') ttlSeconds = Number(argv[++i]);
    else scopes.push(argv[i]);
  }
  if (scopes.length === 0) scopes.push('read:mfa', 'write:mfa', 'update:mfa', 'delete:mfa');
  const token = await signDevToken(resolve(process.env.LOCAL_STATE_DIR ?? '.local'), {
    scopes,
    tenant,
    ttlSeconds,
  });
  process.stdout.write(`${token}\n`);
}

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`token: ${error.message}\n`);
  process.exit(1);
});
