export * from './crypto.module';
export * from './key-fingerprint';
export * from './keyring';
export * from './secret-box';
