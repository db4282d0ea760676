import { loadAppConfigFromEnvironment } from '@lib/config';
import { JsonLogger, runApp } from '@lib/runtime';
import { startDispatcherApp } from './dispatcher.app';

runApp(
  () => loadAppConfigFromEnvironment('dispatcher'),
  (config) => startDispatcherApp(config, new JsonLogger(config.logLevel, 'dispatcher')),
);
