// Tests run as native ES modules, as Ferry does (some dependencies ship ESM only), compiled by swc.
// Workspace packages are mapped to their TypeScript sources so tests never need a build first.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022', keepClassNames: true },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^@ferry/([a-z0-9-]+)$': '<rootDir>/packages/$1/src/index.ts',
    // a package's `definitions` entry: its connector types without their drivers
    '^@ferry/([a-z0-9-]+)/definitions$': '<rootDir>/packages/$1/src/definitions.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

export default {
  // A test waits for events with its own bounds (waitFor, until); jest's 5 s default per test cut
  // such tests short on a busy machine. jest reads this only at the top level, not per project; a
  // file that needs more still says so with jest.setTimeout.
  testTimeout: 30_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/packages/*/src/**/*.test.ts', '<rootDir>/packages/*/test/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/integration/**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', '<rootDir>/integration/faults/'] },
    { ...common, displayName: 'faults', testMatch: ['<rootDir>/integration/faults/**/*.test.ts'] },
  ],
};
