// Run with NODE_OPTIONS=--experimental-vm-modules (scripts/test.sh sets it): google-auth-library's
// transport loads node-fetch with a dynamic import(), which Jest's VM refuses without it.
// Two projects: unit specs beside the code, end-to-end specs under test/ against real servers.
const { pathsToModuleNameMapper } = require('ts-jest');
const { compilerOptions } = require('./tsconfig.json');

const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': 'ts-jest' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: pathsToModuleNameMapper(compilerOptions.paths, { prefix: '<rootDir>/' }),
};

module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps,libs,bench}/**/*.spec.ts', '<rootDir>/test/support/**/*.spec.ts'],
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/e2e.setup.ts'],
    },
    // Tests that stop and start the real servers, or run the whole stack: scripts/test.sh runs them
    // after the rest, one at a time.
    {
      ...shared,
      displayName: 'serial',
      testMatch: ['<rootDir>/test/**/*.outage-spec.ts', '<rootDir>/test/**/*.serial-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/e2e.setup.ts'],
    },
  ],
};
