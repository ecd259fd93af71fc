/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The fault suite and the topology runs start their own servers and take minutes:
  // `npm run test:faults` (test/faults/jest.config.js), `npm run test:topologies`.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/topologies/', '<rootDir>/test/faults/'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 60000,
  // Each integration file owns a database and a queue prefix, so files may run in parallel.
  maxWorkers: 2,
};
