#!/usr/bin/env bash
# The test command: starts the real servers the tests need (idempotent), then runs the Jest projects:
# unit and e2e together, then "serial" (tests that stop and start the servers, or run the whole stack)
# one at a time.
# Extra arguments go to a single Jest run instead, e.g. `npm test -- --selectProjects e2e`.
# `test.sh unit [jest arguments]` (npm run test:unit) runs the unit specs alone, starting no server.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
unit_only=false
if [ "${1:-}" = unit ]; then unit_only=true; shift; fi
# Unit specs need no servers (nor Java, Maven or Go).
if [ "$unit_only" = false ]; then
  bash scripts/infra/kafka.sh start
  bash scripts/infra/mongo.sh start
fi
# google-auth-library's transport loads node-fetch with a dynamic import(); Jest's VM needs this flag for it.
export NODE_OPTIONS="${NODE_OPTIONS:-} --experimental-vm-modules --no-warnings=ExperimentalWarning"
mkdir -p .local
rm -f .local/jest-*.json
status=0
if [ "$unit_only" = true ]; then
  # The project last: --selectProjects takes every value after it, paths included.
  timeout 1200 npx jest --json --outputFile=.local/jest-run.json "$@" --selectProjects unit || status=$?
elif [ $# -gt 0 ]; then
  timeout 1200 npx jest --json --outputFile=.local/jest-run.json "$@" || status=$?
else
  # The whole suite only: a single test file may be running next to another run's.
  npx ts-node -T -r tsconfig-paths/register test/support/purge-earlier-runs.ts
  # Bounded, so a hung run fails CI instead of eating its 90 minutes.
  timeout 1200 npx jest --json --outputFile=.local/jest-main.json --selectProjects unit e2e || status=$?
  # Clients reconnecting to a restarted broker may hold the event loop open after the last test.
  timeout 600 npx jest --json --outputFile=.local/jest-serial.json --selectProjects serial --runInBand --forceExit || status=$?
fi
# One plain summary line over every run, after Jest's own.
node -e '
  const runs = require("fs").readdirSync(".local").filter((f) => /^jest-.*\.json$/.test(f)).map((f) => require("./.local/" + f));
  const sum = (key) => runs.reduce((total, run) => total + run[key], 0);
  console.log(`jest: ${sum("numPassedTests")} passed, ${sum("numFailedTests") + sum("numRuntimeErrorTestSuites")} failed, ${sum("numPendingTests")} skipped`);
' || true
exit $status
