#!/usr/bin/env bash
# The test command: starts the real servers the tests need (idempotent), then runs every Jest project.
# Extra arguments go to Jest, e.g. `npm test -- --selectProjects unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/infra/kafka.sh start
bash scripts/infra/mongo.sh start
mkdir -p .local
status=0
npx jest --config jest.config.js --json --outputFile=.local/jest-results.json "$@" || status=$?
# A plain summary line that any CI can read, after Jest's own.
node -e '
  const r = require("./.local/jest-results.json");
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests + r.numRuntimeErrorTestSuites} failed, ${r.numPendingTests} skipped`);
' || true
exit $status
