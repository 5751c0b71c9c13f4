#!/bin/bash
# npm run lint: typescript-eslint, strict and type-aware, zero warnings, over the packages' sources
# and tests, the integration suites and the benchmarks (eslint.config.js says which rules).
# The lint toolchain is a project of its own (tools/lint/index.js says why); it is installed here on
# first use and whenever its lock file changes. Extra arguments replace the paths, e.g.
#   npm run lint -- packages/mqtt/src
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=tools/lint
if [ ! -e "$tools/node_modules/.package-lock.json" ] || [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$tools" --no-audit --no-fund --loglevel=error >&2
fi
# The integration suites import the packages by name, that is through their built declarations.
npx tsc -b
if [ $# -eq 0 ]; then set -- packages/*/src packages/*/test integration bench; fi
exec node "$tools/node_modules/eslint/bin/eslint.js" --max-warnings 0 "$@"
