/**
 * `npm run test:topologies`: the product on a Redis Cluster, behind Sentinel, through PgBouncer and
 * across a PostgreSQL restart, each a simulated fortnight with several processes. One file at a
 * time: each starts its own servers and five product processes.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/topologies'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 300_000,
  maxWorkers: 1,
};
