#!/usr/bin/env bash
# The whole system on one machine, without Docker: Kafka (KRaft) and FerretDB from the infra
# scripts (or KAFKA_BROKERS / MONGODB_URI when set), then config-api and dispatcher.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE_DIR="${LOCAL_STATE_DIR:-.local}"
mkdir -p "$STATE_DIR/logs"

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
# The apps follow the infra scripts to another port (KAFKA_PORT, MONGO_PORT).
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}"
export MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:${MONGO_PORT:-27017}/push_mfa}"
export PORT="${PORT:-3000}"

pids=()
stop_all() {
  local status=${status:-$?}
  trap - INT TERM EXIT
  echo "[stack] stopping apps"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  for server in "${started_infra[@]}"; do bash "scripts/infra/$server.sh" stop || true; done
  echo "[stack] stopped"
  exit "$status"
}
# Ctrl-C is the normal way out (status 0); a failed step keeps its status.
trap 'status=0; stop_all' INT TERM
trap stop_all EXIT

start_app() { # name, command...
  local name=$1; shift
  # The terminal's Ctrl-C reaches every process of the group: tee ignores it and ends with the app, so
  # the app's own shutdown lines still reach the log and the terminal.
  "$@" > >(trap '' INT; exec tee -a "$STATE_DIR/logs/$name.log") 2>&1 &
  pids+=($!)
}

# The push sandbox: loopback peers speaking Apple's and Google's protocols, so pushes can be seen
# working without real credentials. Explicit, and only for this local stack: PUSH_SANDBOX=off sends
# to Apple and Google instead. Production refuses the settings it needs.
if [ "${PUSH_SANDBOX:-on}" != "off" ]; then
  rm -f "$STATE_DIR/sandbox/endpoints.json"
  start_app sandbox node -r ts-node/register/transpile-only -r tsconfig-paths/register scripts/sandbox.ts
  for _ in $(seq 1 100); do [ -f "$STATE_DIR/sandbox/endpoints.json" ] && break; sleep 0.2; done
  [ -f "$STATE_DIR/sandbox/endpoints.json" ] || { echo "[stack] the sandbox did not start; see $STATE_DIR/logs/sandbox.log" >&2; exit 1; }
  sandbox_setting() { node -p "require(require('path').resolve('$STATE_DIR/sandbox/endpoints.json')).$1"; }
  dispatcher_env=(APNS_ENDPOINT="$(sandbox_setting apnsEndpoint)" FCM_ENDPOINT="$(sandbox_setting fcmEndpoint)"
    PUSH_SANDBOX_CA_FILE="$(sandbox_setting caFile)")
else
  dispatcher_env=()
fi

start_app config-api node dist/apps/config-api/src/main.js
start_app dispatcher env "${dispatcher_env[@]}" node dist/apps/dispatcher/src/main.js

wait_http() { # url
  for _ in $(seq 1 150); do
    node -e "fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$1" && return 0
    sleep 0.2
  done
  echo "[stack] $1 did not answer; see $STATE_DIR/logs" >&2; return 1
}
wait_http "http://127.0.0.1:$PORT/health/live"
echo "[stack] config-api  http://127.0.0.1:$PORT  (OpenAPI: /docs, health: /health/ready)"
wait_http "http://127.0.0.1:${DISPATCHER_PORT:-3001}/health/ready"
echo "[stack] dispatcher  http://127.0.0.1:${DISPATCHER_PORT:-3001}/health/ready  (logs: $STATE_DIR/logs/dispatcher.log)"
[ "${PUSH_SANDBOX:-on}" != "off" ] && echo "[stack] sandbox     pushes go to the local APNs/FCM sandbox, not to Apple or Google ($(sandbox_setting control))"
echo "[stack] kafka       $KAFKA_BROKERS"
# Never print a password that the URI may carry.
echo "[stack] mongodb     $(printf '%s' "$MONGODB_URI" | sed -E 's#//[^@/]*@#//***@#')"
echo "[stack] up; press Ctrl-C to stop everything"
# Shows it working once: a prompt and a number-matching challenge through the sandbox (STACK_DEMO=off skips it;
# `npm run demo` in another terminal runs it again).
if [ "${PUSH_SANDBOX:-on}" != "off" ] && [ "${STACK_DEMO:-on}" != "off" ]; then
  npm run -s demo || echo "[stack] the demo failed; see above and $STATE_DIR/logs"
  echo "[stack] still up; 'npm run demo' runs the demo again; press Ctrl-C to stop everything"
fi
wait "${pids[@]}"
