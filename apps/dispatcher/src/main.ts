import { loadAppConfigFromEnvironment } from '@lib/config';
import { withCheckedKeyring } from '@lib/crypto';
import { JsonLogger, runApp } from '@lib/runtime';
import { startDispatcherApp } from './dispatcher.app';

runApp(
  () => withCheckedKeyring(loadAppConfigFromEnvironment('dispatcher')),
  (config) => startDispatcherApp(config, new JsonLogger(config.logLevel, 'dispatcher')),
);
