#!/usr/bin/env bash
# npm run test:chaos [-- --reduced] [-- --only=a,b]: the real servers (started if needed), the production
# build, then the fault and attack campaign. Exits non-zero when a must-be-0 figure is not 0.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
# --report only rewrites docs/RELIABILITY.md from the last figures: no servers, no build.
if [[ " $* " == *" --report "* ]]; then
  exec npx ts-node -T -r tsconfig-paths/register chaos/campaign.ts "$@"
fi
bash scripts/infra/kafka.sh start
bash scripts/infra/mongo.sh start
npm run -s build
# Whatever stops the campaign (a failure, Ctrl-C, a CI timeout), the servers a fault stopped come back.
trap 'bash scripts/infra/kafka.sh start >/dev/null || true; bash scripts/infra/mongo.sh start >/dev/null || true' EXIT
npx ts-node -T -r tsconfig-paths/register chaos/campaign.ts "$@"
