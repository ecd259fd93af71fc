// The property tests repeat per mutant: 100 random series each are enough to kill a mutant.
process.env.PROPERTY_RUNS = '100';

/**
 * The unit tests of the delivery rules, alone: what `npm run test:mutation` runs against each
 * mutant of the eligibility rule and the transition table (see stryker.config.json).
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  rootDir: '../..',
  roots: ['<rootDir>/test/unit'],
  testMatch: ['**/eligibility.test.ts', '**/transitions.test.ts'],
  // Mutants need not type-check: compile only.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  maxWorkers: 1,
};
