export * from './kafka-client.factory';
export * from './topic-provisioner';
export * from './resilient-consumer';
export * from './batching-sender';
export * from './renewing-producer';
