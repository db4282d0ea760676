import { startConfigApi, ConfigApiHarness } from './support/config-api.harness';
import { testEnvironment } from './support/test-environment';

describe('admin API rate limit (per client address)', () => {
  let api: ConfigApiHarness;

  beforeAll(async () => {
    api = await startConfigApi(
      testEnvironment({ API_RATE_LIMIT_PER_MINUTE: '60', API_RATE_LIMIT_BURST: '3' }),
    );
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers 429 with Retry-After once the burst is spent, token or not, and never limits probes', async () => {
    const token = await api.token(['read:mfa'], { tenant_id: 'limited' });
    await api.http().get('/mfa/push').set('Authorization', `Bearer ${token}`).expect(404);
    await api.http().get('/mfa/push').expect(401);
    await api.http().get('/mfa').set('Authorization', `Bearer ${token}`).expect(200);
    const refused = await api.http().get('/mfa/push').set('Authorization', `Bearer ${token}`).expect(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toMatchObject({
      status: 429,
      error: 'too_many_requests',
      error_description: expect.stringMatching(/at most 60 a minute\. Retry after 1 s/),
    });
    await api.http().get('/health/live').expect(200);
    await api.http().get('/metrics').expect(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await api.http().get('/mfa/push').set('Authorization', `Bearer ${token}`).expect(404);
  });
});
