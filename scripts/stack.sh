#!/usr/bin/env bash
# The whole system on one machine, without Docker: Kafka (KRaft) and FerretDB from the infra
# scripts (or KAFKA_BROKERS / MONGODB_URI when set), then config-api and dispatcher.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .local/logs

[ -d node_modules ] || { echo "[stack] installing dependencies (npm ci)"; npm ci --no-audit --no-fund; }
# Only what this script starts is stopped on Ctrl-C; servers already running are left running.
started_infra=()
for server in kafka mongo; do
  bash "scripts/infra/$server.sh" status >/dev/null 2>&1 || started_infra+=("$server")
  bash "scripts/infra/$server.sh" start
done
echo "[stack] building the apps"
npm run -s build

# Local development defaults; every one can be overridden from the environment (see .env.example).
export AUTH_MODE="${AUTH_MODE:-dev}"
export PORT="${PORT:-3000}"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "[stack] stopping apps"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  for server in "${started_infra[@]}"; do bash "scripts/infra/$server.sh" stop || true; done
  echo "[stack] stopped"
}
trap stop_all INT TERM EXIT

start_app() { # name, script
  node "$2" > >(tee -a ".local/logs/$1.log") 2>&1 &
  pids+=($!)
}
start_app config-api dist/apps/config-api/src/main.js
start_app dispatcher dist/apps/dispatcher/src/main.js

wait_http() { # url
  for _ in $(seq 1 150); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "[stack] $1 did not answer; see .local/logs" >&2; return 1
}
wait_http "http://127.0.0.1:$PORT/health/live"
echo "[stack] config-api  http://127.0.0.1:$PORT  (health: /health/live)"
echo "[stack] dispatcher  running (logs: .local/logs/dispatcher.log)"
echo "[stack] kafka       ${KAFKA_BROKERS:-127.0.0.1:9092}"
echo "[stack] mongodb     ${MONGODB_URI:-mongodb://127.0.0.1:27017/push_mfa}"
echo "[stack] up; press Ctrl-C to stop everything"
wait "${pids[@]}"
