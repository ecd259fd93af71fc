/**
 * The fault suite (`npm run test:faults`): real CLI and daemon processes against PostgreSQL, a
 * Redis and an SMTP server of its own, with faults injected. Minutes, not seconds, so it is kept
 * out of `npm test`; one file at a time, since each drives several processes on a small machine.
 * @type {import('jest').Config}
 */
module.exports = {
  rootDir: '../..',
  testEnvironment: 'node',
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 25 * 60 * 1000,
  maxWorkers: 1,
  // A run that times out must not keep CI waiting on a child process it could not stop.
  forceExit: true,
};
