export * from './push-client';
