export * from './configuration-rules';
export * from './mfa-config.module';
export * from './mfa-config.repository';
export * from './mfa-config.schema';
export * from './mfa-config.sealer';
export * from './mfa-configuration';
export * from './mongo.module';
export * from './without-undefined';
