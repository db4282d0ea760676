/** The tenant a request without one belongs to. */
export const DEFAULT_TENANT = 'default';
/** Tenant ids become part of Kafka keys (`tenant/type`) and associated data, so keep them plain. */
export const TENANT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
/** Challenge ids are Kafka keys and APNs collapse ids (at most 64 bytes). */
export const CHALLENGE_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';
/** The longest a challenge may live: a retry loop never holds a partition longer than this. */
export const MAX_CHALLENGE_TTL_MS = 15 * 60_000;
