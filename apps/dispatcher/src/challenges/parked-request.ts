import type { IHeaders } from 'kafkajs';
import { REQUEST_POSITION_HEADER } from '../results/published-results.follower';
import type { RequestPosition } from './challenge-ledger';

/**
 * A push request whose provider failed, handed to mfa.push.retrying so that it no longer holds its
 * partition of mfa.push.requested: the value is the request as it came, and this travels in headers.
 */
export interface ParkedState {
  /** Where the request was first read: its result names it, and redeliveries are told by it. */
  position: RequestPosition;
  /** The request's own timestamp (milliseconds since the epoch, as text), for the result's requested_at. */
  requestedAt: string;
  attempts: number;
  /** The provider's answer to the last attempt, for the result if the challenge expires. */
  lastFailure: string;
  /** No attempt before this (ms since the epoch): the provider's Retry-After, when it gave one. */
  retryAt?: number;
}

const HEADERS = {
  requestedAt: 'requested-at',
  attempts: 'attempts',
  lastFailure: 'last-failure',
  retryAt: 'retry-at',
} as const;

export function parkedHeaders(state: ParkedState): Record<string, string> {
  return {
    [REQUEST_POSITION_HEADER]: state.position,
    [HEADERS.requestedAt]: state.requestedAt,
    [HEADERS.attempts]: String(state.attempts),
    [HEADERS.lastFailure]: state.lastFailure,
    ...(state.retryAt !== undefined && { [HEADERS.retryAt]: String(state.retryAt) }),
  };
}

/** The state a parked request's headers carry; undefined when they are not a dispatcher's. */
export function parkedState(headers: IHeaders | undefined): ParkedState | undefined {
  const text = (name: string) => headers?.[name]?.toString();
  const position = text(REQUEST_POSITION_HEADER);
  const requestedAt = text(HEADERS.requestedAt);
  const attempts = Number(text(HEADERS.attempts));
  if (!position || !requestedAt || !Number.isInteger(attempts) || attempts < 1) return undefined;
  const retryAt = Number(text(HEADERS.retryAt));
  return {
    position,
    requestedAt,
    attempts,
    lastFailure: text(HEADERS.lastFailure) ?? '',
    ...(Number.isSafeInteger(retryAt) && retryAt > 0 && { retryAt }),
  };
}
