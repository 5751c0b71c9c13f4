// Lint: typescript-eslint, strict and type-aware, over the packages' sources and tests, the
// integration suites and the benchmarks. `npm run lint`; which rules are off and why:
// docs/development.md.
import { js, tseslint } from './tools/lint/index.js';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.brokers/**', '.spool/**', 'artifacts/**', 'coverage/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: ['packages/*/src/**/*.ts', 'packages/*/test/**/*.ts', 'integration/**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: {
        project: ['tsconfig.tests.json', 'integration/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Numbers and booleans print as expected in a template; objects, unknown and nullish do not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Rejecting with a caught value (`unknown`) passes the original error on unchanged, as a
      // rethrow does (only-throw-error allows that too); a known non-Error type is still refused.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `const { a: _a, ...rest } = o` is how a typed copy leaves a field out: `_a` is unused on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // tsconfig has noUncheckedIndexedAccess: `xs[i]!` after a bounds check is how the compiler is
      // told what the code already checked; the check itself stays strict.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
      // Style only: `headers['x']` for a record key reads as data, `o.x` as a declared field.
      '@typescript-eslint/dot-notation': 'off',
      // Style only: `(e) => reject(e)` returning the void of a call is the idiom for callbacks.
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // An object type that must satisfy Record<string, unknown> (connector options, `to`, protocol
      // meta) has to be a type alias: an interface has no implicit index signature.
      '@typescript-eslint/consistent-type-definitions': 'off',
    },
  },
  {
    // Tests take a definition's create() result (a Connector) as the concrete class they test.
    files: ['**/*.test.ts', 'integration/**/*.ts', 'packages/*/test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-class-instance-assignment': 'off' },
  },
  {
    files: ['bench/**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', performance: 'readonly', fetch: 'readonly', AbortSignal: 'readonly' } },
  },
);
