export * from './event-validator';
export * from './identifiers';
export * from './events/config-applied.event';
export * from './events/config-changed.event';
export * from './events/push-requested.event';
export * from './events/push-result.event';
export * from './topics';
