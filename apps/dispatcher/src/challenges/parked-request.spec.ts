import { parkedHeaders, parkedState, ParkedState } from './parked-request';

const asRead = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Buffer.from(value)]));

describe('parked request headers', () => {
  const state: ParkedState = {
    position: 'mfa.push.requested/3@1207',
    requestedAt: '1796500000000',
    attempts: 2,
    lastFailure: 'messaging/message-rate-exceeded: Quota exceeded',
  };

  it('carry the parked state to the copy as it was stored, the Retry-After time with it', () => {
    expect(parkedState(asRead(parkedHeaders(state)))).toEqual(state);
    const throttled = { ...state, retryAt: 1796500012000 };
    expect(parkedState(asRead(parkedHeaders(throttled)))).toEqual(throttled);
  });

  it('ignore a retry time that is not one, and refuse headers that are not a dispatcher’s', () => {
    expect(parkedState(asRead({ ...parkedHeaders(state), 'retry-at': 'soon' }))).toEqual(state);
    expect(parkedState(asRead({ ...parkedHeaders(state), attempts: '0' }))).toBeUndefined();
    expect(parkedState(undefined)).toBeUndefined();
  });
});
