import { kafkaIsOurs, mongoIsOurs } from './local-servers';

/**
 * `describe` for tests that stop and start the servers: skipped against servers not the project's own.
 * Apart from local-servers.ts, which the benchmark's production build compiles without Jest's types.
 */
export const describeStoppingServers = (...args: Parameters<jest.Describe>): void =>
  (kafkaIsOurs() && mongoIsOurs() ? describe : describe.skip)(...args);
