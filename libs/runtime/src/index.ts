export * from './process-guards';
export * from './readiness';
export * from './json-logger';
export * from './keyed-serializer';
export * from './rate-limited-log';
