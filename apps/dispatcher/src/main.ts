import { loadAppConfigFromEnvironment } from '@lib/config';
import { keyringProblems } from '@lib/crypto';
import { JsonLogger, runApp } from '@lib/runtime';
import { startDispatcherApp } from './dispatcher.app';

runApp(
  () => loadAppConfigFromEnvironment('dispatcher', [keyringProblems]),
  (config) => startDispatcherApp(config, new JsonLogger(config.logLevel, 'dispatcher')),
);
