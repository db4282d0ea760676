import { kafkaIsOurs, mongoIsOurs } from './local-servers';

/**
 * `describe` for tests that stop and start `servers`: skipped when one of them is not the project's
 * own. Apart from local-servers.ts, which the benchmark's production build compiles without Jest's types.
 */
export const describeStoppingServers = (
  servers: ('kafka' | 'mongo')[],
  ...args: Parameters<jest.Describe>
): void => {
  const ours = servers.every((server) => (server === 'kafka' ? kafkaIsOurs() : mongoIsOurs()));
  (ours ? describe : describe.skip)(...args);
};
