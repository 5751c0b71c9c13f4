#!/bin/bash
# The whole test suite, as the README's test command (`npm test`) and CI (.ci/run) run it:
#   1. type-check every package (strict), while the Debian packages the integration tests need
#      are installed in the background when missing (as root),
#   2. unit tests (no broker),
#   3. start the real test brokers,
#   4. integration tests against them, then stop the brokers this run started.
# Prints a closing "ferry: N passed, N failed" line summed over every jest run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(mktemp -d)
JEST=(node --experimental-vm-modules node_modules/jest/bin/jest.js)
status=0

step() { printf '\n== %s\n' "$*"; }

# The Debian packages the integration tests need (brokers, third-party clients, Chromium) are
# fetched and installed while the type-check and the unit tests run: on a fresh machine that
# download is minutes, and the unit tests need none of it.
step "test brokers and clients: installing any that are missing, in the background"
bash integration/brokers/install.sh > "$OUT/install.log" 2>&1 &
install_pid=$!

step "type-check (tsc -b, then the unit tests and the integration suites)"
npx tsc -b || status=1
npx tsc -p tsconfig.tests.json || status=1
npx tsc -p integration/tsconfig.json || status=1

step "unit tests (Node $(node --version))"
"${JEST[@]}" --selectProjects unit --json --outputFile="$OUT/unit.json" || status=1

if [ "${FERRY_SKIP_NODE24:-0}" != 1 ]; then
  step "unit tests on Node 24 (users run the 22 and 24 LTS lines)"
  if npx -y node@24 --version >/dev/null 2>&1; then
    npx -y node@24 --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects unit --json --outputFile="$OUT/unit-node24.json" || status=1
  else
    echo "cannot fetch Node 24 from the npm registry (npx -y node@24); set FERRY_SKIP_NODE24=1 to run without it" >&2
    status=1
  fi
fi

step "test brokers (RabbitMQ with MQTT, STOMP, AMQP 1.0; Mosquitto; ActiveMQ)"
wait "$install_pid" || echo "installing the test brokers and clients failed:" >&2
cat "$OUT/install.log"
rm -f "$OUT/install.log"
. integration/brokers/ensure.sh || { echo "brokers unavailable: integration tests cannot run (see above)" >&2; status=1; }

if [ "${BROKERS_READY:-0}" = 1 ]; then
  step "integration tests"
  "${JEST[@]}" --selectProjects integration --runInBand --json --outputFile="$OUT/integration.json" || status=1
  step "fault suite (kills and restarts Ferry, RabbitMQ, an own Mosquitto: runs last, in band)"
  "${JEST[@]}" --selectProjects faults --runInBand --json --outputFile="$OUT/faults.json" || status=1
fi

step "summary"
node -e '
  const fs = require("fs"); let p = 0, f = 0, s = 0;
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + file, "utf8"));
    console.log(`${file.replace(".json", "")}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped (${r.numFailedTestSuites} failed suites)`);
    p += r.numPassedTests; f += r.numFailedTests + r.numRuntimeErrorTestSuites; s += r.numPendingTests;
  }
  console.log(`ferry: ${p} passed, ${f} failed` + (s ? `, ${s} skipped` : ""));
' "$OUT"
rm -rf "$OUT"
exit $status
