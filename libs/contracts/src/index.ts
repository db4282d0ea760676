export * from './event-validator';
export * from './events/config-changed.event';
export * from './topics';
