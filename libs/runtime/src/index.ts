export * from './process-guards';
export * from './readiness';
