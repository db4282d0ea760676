export * from './process-guards';
export * from './readiness';
export * from './json-logger';
