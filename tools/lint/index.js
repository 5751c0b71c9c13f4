// The lint toolchain for the root eslint.config.js. It is installed here, in a project of its own
// (npm ci --prefix tools/lint), so that typescript-eslint resolves `typescript` to the TypeScript 6
// installed beside it: typescript-eslint drives the TypeScript 5/6 compiler API, which the
// project's compiler (TypeScript 7, the native port) does not offer. TypeScript 7 is a port of 6.0
// with the same type system, so the types the rules see are the ones tsc checks.
export { default as tseslint } from 'typescript-eslint';
export { default as js } from '@eslint/js';
