import autocannon from 'autocannon';
import { signDevToken } from '../../apps/config-api/src/auth/dev-signing-key';
import { MongoClient } from 'mongodb';
import { configRecordId } from '@lib/mfa-config';
import { BenchContext, strategyOf } from '../support/context';
import { seedTenants } from '../support/tenants';

export interface AdminFigures {
  routes: RouteFigures[];
  storeLookupsPerSecond: number;
}

export interface RouteFigures {
  route: string;
  requestsPerSecond: number;
  p99Ms: number;
  non2xx: number;
  /** The answers other than 2xx, by status code: what went wrong, not only how often. */
  non2xxByStatus?: Record<string, number>;
  errors: number;
}

/** Scenario 6: the admin API under autocannon, 50 connections, one route at a time. */
export async function adminApi(ctx: BenchContext, seconds: number): Promise<AdminFigures> {
  // More tenants than connections: no two PATCHes in flight race for one configuration's version.
  const database = ctx.database('admin');
  const tenants = Array.from({ length: 100 }, (_, i) => `adm${i}`);
  await seedTenants(database, ctx.encryptionKeys, ctx.credentials, tenants, strategyOf);
  const storeLookupsPerSecond = await storeCeiling(database, tenants);
  const api = await ctx.startConfigApi('admin', database);
  const url = `http://127.0.0.1:${api.port}`;
  const tokens = await Promise.all(
    tenants.map((tenant) =>
      signDevToken(ctx.stateDir, { tenant, scopes: ['read:mfa', 'update:mfa'], ttlSeconds: 3600 }),
    ),
  );
  const run = async (route: string, options: Partial<autocannon.Options>): Promise<RouteFigures> => {
    const result = await autocannon({ url, connections: 50, duration: seconds, ...options });
    return {
      route,
      requestsPerSecond: Math.round(result.requests.average),
      p99Ms: result.latency.p99,
      non2xx: result.non2xx,
      non2xxByStatus: Object.fromEntries(
        Object.entries(result.statusCodeStats ?? {})
          .filter(([status]) => !status.startsWith('2'))
          .map(([status, { count }]) => [status, count ?? 0]),
      ),
      errors: result.errors + result.timeouts,
    };
  };
  let next = 0;
  const figures = [
    await run('GET /mfa/push', {
      requests: [
        {
          method: 'GET',
          path: '/mfa/push',
          setupRequest: (request) => withToken(request, tokens[next++ % tokens.length]),
        },
      ],
    }),
    // Each request patches the next tenant, so no two in flight race for one configuration's version.
    await run('PATCH /mfa/push', {
      requests: [
        {
          method: 'PATCH',
          path: '/mfa/push',
          setupRequest: (request) => {
            const i = next++;
            return {
              ...withToken(request, tokens[i % tokens.length]),
              body: JSON.stringify({ settings: { enabled_clients: ['web-login', `kiosk-${i % 7}`] } }),
            };
          },
        },
      ],
    }),
  ];
  await api.stop();
  return { routes: figures, storeLookupsPerSecond };
}

/** What the store itself answers: bare driver lookups by primary key, 50 at a time, no API around them. */
async function storeCeiling(database: string, tenants: string[]): Promise<number> {
  const client = await MongoClient.connect(database, { maxPoolSize: 50 });
  try {
    const collection = client.db().collection('mfa_configs');
    const count = 2000;
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < count)
          await collection.findOne({
            _id: configRecordId(tenants[next++ % tenants.length], 'push'),
          } as object);
      }),
    );
    return Math.round(count / ((Date.now() - started) / 1000));
  } finally {
    await client.close();
  }
}

function withToken(request: autocannon.Request, token: string): autocannon.Request {
  return {
    ...request,
    headers: { ...request.headers, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  };
}
