#!/bin/bash
# npm run lint: typescript-eslint, strict and type-aware, zero warnings, over the packages' sources
# and tests, the integration suites and the benchmarks (eslint.config.js says which rules); and,
# over the whole tree, knip: no export that nothing imports (knip.json says where code starts),
# and dpdm: no import cycle inside the packages, type-only imports included.
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
unused=0
cycles=0
if [ $# -eq 0 ]; then
  set -- packages/*/src packages/*/test integration bench
  # Unused exports are a whole-tree question (who imports what), so only a whole run asks it.
  # Its report comes first; eslint runs either way, and either failing fails the lint.
  node "$tools/node_modules/knip/bin/knip.js" --no-progress --treat-config-hints-as-errors || unused=1
  # Between packages a cycle cannot be built (tsc -b refuses circular project references); inside
  # one it can, and a cycle makes the order modules initialise in depend on which is loaded first.
  node "$tools/node_modules/dpdm/lib/bin/dpdm.js" --no-warning --no-tree --no-progress --exit-code circular:1 \
    'packages/*/src/**/*.ts' 'packages/*/test/**/*.ts' || cycles=1
fi
status=0
node "$tools/node_modules/eslint/bin/eslint.js" --max-warnings 0 "$@" || status=$?
if [ "$cycles" -ne 0 ]; then
  echo "dpdm: the modules above import each other in a cycle: move what both need into a module of its own" >&2
  exit 1
fi
if [ "$unused" -ne 0 ]; then
  echo "knip: exports above are imported by nothing: remove the export (or the code, when nothing in its file uses it either)" >&2
  exit 1
fi
exit "$status"
