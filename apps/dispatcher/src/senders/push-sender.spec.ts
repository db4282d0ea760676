import { credentialsRefused, fail, MAX_DETAIL_LENGTH } from './push-sender';

describe('a failed send’s detail', () => {
  it('keeps a provider’s text whole when short, and cuts a long one (an HTML error page) short', () => {
    expect(fail('provider_error', true, 'UNAVAILABLE: try later')).toMatchObject({
      detail: 'UNAVAILABLE: try later',
    });
    const page = `<html>${'<p>502 Bad Gateway</p>'.repeat(500)}</html>`;
    for (const outcome of [fail('provider_error', true, page), credentialsRefused(page)]) {
      const { detail } = outcome as { detail: string };
      expect(detail).toHaveLength(MAX_DETAIL_LENGTH);
      expect(detail.endsWith('…')).toBe(true);
      expect(page.startsWith(detail.slice(0, -1))).toBe(true);
    }
    // Never half an emoji.
    const emoji = fail('provider_error', true, `${'x'.repeat(MAX_DETAIL_LENGTH - 2)}${'😀'.repeat(10)}`);
    const { detail } = emoji as { detail: string };
    expect(detail.endsWith('x…')).toBe(true);
    expect(detail).toHaveLength(MAX_DETAIL_LENGTH - 1);
  });
});
