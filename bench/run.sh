#!/usr/bin/env bash
# npm run bench: the real servers (started if needed), the production build, then the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/infra/kafka.sh start
bash scripts/infra/mongo.sh start
npm run -s build
exec npx ts-node -T -r tsconfig-paths/register bench/bench.ts "$@"
