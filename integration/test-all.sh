#!/bin/bash
# The whole test suite, as the README's test command (`npm test`) and CI (.ci/run) run it:
#   1. type-check every package (strict), while the Debian packages the integration tests need
#      are installed in the background when missing (as root),
#   2. unit tests (no broker), on Node 20 and Node 24 side by side,
#   3. start the real test brokers,
#   4. integration tests against them, with the lint (`npm run lint`) beside them in the
#      background, then stop the brokers this run started.
# A lint failure fails the run; its report is printed at the end.
# Prints a closing "ferry: N passed, N failed" line summed over every jest run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(mktemp -d)   # jest's JSON results, one file per run, summed at the end
LOGS=$(mktemp -d)  # output of the steps that run in the background
JEST=(node --experimental-vm-modules node_modules/jest/bin/jest.js)
status=0

step() { printf '\n== %s\n' "$*"; }

# The Debian packages the integration tests need (brokers, third-party clients, Chromium) are
# fetched and installed while the type-check and the unit tests run: on a fresh machine that
# download is minutes, and the unit tests need none of it.
step "test brokers and clients: installing any that are missing, in the background"
bash integration/brokers/install.sh > "$LOGS/install.log" 2>&1 &
install_pid=$!

step "type-check (tsc -b, then the unit tests and the integration suites)"
npx tsc -b || status=1
npx tsc -p tsconfig.tests.json || status=1
npx tsc -p integration/tsconfig.json || status=1

# The unit suite runs on Node 20 and on Node 24 at the same time: each jest run is one process
# on one core (jest keeps a 2-core machine to one worker), so side by side they take the time of
# one. Node 24's output is held and printed after Node 20's.
node24_pid=
if [ "${FERRY_SKIP_NODE24:-0}" != 1 ]; then
  if npx -y node@24 --version >/dev/null 2>&1; then
    npx -y node@24 --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects unit --json --outputFile="$OUT/unit-node24.json" > "$LOGS/unit-node24.log" 2>&1 &
    node24_pid=$!
  else
    echo "cannot fetch Node 24 from the npm registry (npx -y node@24); set FERRY_SKIP_NODE24=1 to run without it" >&2
    status=1
  fi
fi

step "unit tests (Node $(node --version))"
"${JEST[@]}" --selectProjects unit --json --outputFile="$OUT/unit.json" || status=1

if [ -n "$node24_pid" ]; then
  step "unit tests on Node 24 (users run the 22 and 24 LTS lines), run beside Node 20's"
  wait "$node24_pid" || status=1
  cat "$LOGS/unit-node24.log"
fi

step "test brokers (RabbitMQ with MQTT, STOMP, AMQP 1.0; Mosquitto; ActiveMQ)"
wait "$install_pid" || echo "installing the test brokers and clients failed:" >&2
cat "$LOGS/install.log"
. integration/brokers/ensure.sh || { echo "brokers unavailable: integration tests cannot run (see above)" >&2; status=1; }

# The lint (typescript-eslint, type-aware: ~130 s of CPU on one core) runs beside the
# integration tests, which run in band and spend much of their time waiting on the brokers; it
# is done long before they are. At the lowest priority (nice 19) it takes only the CPU they leave
# idle, so they run as fast as without it. It starts after the unit tests, which keep both cores
# busy. The fault suite waits for it: its timings are not shared with anything.
step "lint (npm run lint), in the background beside the integration tests"
nice -n 19 bash tools/lint/run.sh > "$LOGS/lint.log" 2>&1 &
lint_pid=$!
lint_status=
wait_lint() {
  [ -n "$lint_status" ] && return
  wait "$lint_pid"
  lint_status=$?
}

if [ "${BROKERS_READY:-0}" = 1 ]; then
  step "integration tests"
  "${JEST[@]}" --selectProjects integration --runInBand --json --outputFile="$OUT/integration.json" || status=1
  wait_lint
  step "fault suite (kills and restarts Ferry, RabbitMQ, an own Mosquitto: runs last, in band)"
  "${JEST[@]}" --selectProjects faults --runInBand --json --outputFile="$OUT/faults.json" || status=1
fi

wait_lint
step "lint"
if [ "$lint_status" = 0 ]; then
  echo "lint: clean"
else
  cat "$LOGS/lint.log"
  echo "lint: failed (exit $lint_status; above, its report; docs/development.md says how to run it)"
  status=1
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
rm -rf "$OUT" "$LOGS"
exit $status
