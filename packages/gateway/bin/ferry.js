#!/usr/bin/env node
// The `ferry` executable (npm links it as node_modules/.bin/ferry, so `npx ferry ...` works in a
// checkout). It runs the built CLI; tsc writes dist/ without the executable bit, so this file,
// not dist/cli.js, is the bin.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('ferry is not built yet: run `npm run build` (or `npm start`) in the checkout first\n');
  process.exit(1);
}
await import(cli.href);
