#!/usr/bin/env bash
# FerretDB v1.24.x (MongoDB wire protocol, SQLite backend) on 127.0.0.1:27017.
# Built from the FerretDB Go module (cached); data lives in .local/, outside git.
# If MONGODB_URI points at another server (e.g. a real MongoDB), this script leaves it alone.
# Usage: mongo.sh start|stop|status|restart|reset
set -euo pipefail
SERVICE=mongo
source "$(dirname "$0")/common.sh"

FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
HOST=127.0.0.1
PORT="${MONGO_PORT:-27017}"
BIN="$CACHE_DIR/ferretdb-$FERRETDB_VERSION/ferretdb"
DATA="$STATE_DIR/ferretdb"
PIDFILE="$DATA/ferretdb.pid"

external_server() {
  [ -n "${MONGODB_URI:-}" ] || return 1
  case "$MONGODB_URI" in
    "mongodb://$HOST:$PORT"* | "mongodb://localhost:$PORT"*) return 1 ;;
    *) return 0 ;;
  esac
}

build_binary() {
  [ -x "$BIN" ] && return 0
  require_command go "install Go 1.24+, which FerretDB v1.24 needs (https://go.dev/doc/install)"
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (first time only, about a minute)"
  # 'go install ...@version' builds a binary that panics at start: the module zip lacks
  # build/version/version.txt. So we build the same module version with that file filled in.
  local module_dir work
  module_dir=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -d "$module_dir" ] || die "go could not download github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
  work=$(mktemp -d)
  cp -r "$module_dir/." "$work/"
  chmod -R u+w "$work"
  echo "$FERRETDB_VERSION" >"$work/build/version/version.txt"
  mkdir -p "$(dirname "$BIN")"
  (cd "$work" && go build -trimpath -o "$BIN.tmp" ./cmd/ferretdb) || die "go build of FerretDB failed"
  mv "$BIN.tmp" "$BIN"
  rm -rf "$work"
}

answers_ping() {
  pid_alive "$PIDFILE" || { cat "$DATA/ferretdb.log" >&2; die "FerretDB exited during start-up"; }
  port_open $HOST "$PORT" && node "$ROOT_DIR/scripts/infra/mongo-ping.js" "mongodb://$HOST:$PORT" >/dev/null 2>&1
}

start() {
  if external_server; then log "MONGODB_URI points at an external server; not starting FerretDB"; return 0; fi
  if pid_alive "$PIDFILE"; then log "already running (pid $(cat "$PIDFILE")) on $HOST:$PORT"; return 0; fi
  if port_open $HOST "$PORT"; then die "$HOST:$PORT is taken by another process; stop it, or set MONGO_PORT to another port (the stack, tests and benchmark follow it)"; fi
  [ -d "$ROOT_DIR/node_modules/mongodb" ] || die "node_modules is missing; run 'npm ci' first (the readiness check uses the mongodb driver)"
  build_binary
  mkdir -p "$DATA/sqlite"
  log "starting FerretDB $FERRETDB_VERSION (SQLite backend) on $HOST:$PORT, data in $DATA"
  nohup "$BIN" --handler=sqlite --sqlite-url="file:$DATA/sqlite/" --state-dir="$DATA" \
    --listen-addr="$HOST:$PORT" --debug-addr=- --telemetry=disable --log-level=warn \
    >"$DATA/ferretdb.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_until 30 "answering ping on $HOST:$PORT" answers_ping \
    || { tail -n 40 "$DATA/ferretdb.log" >&2; die "FerretDB did not answer a ping within 30s"; }
}

status() {
  if external_server; then log "external server at MONGODB_URI"; return 0; fi
  if pid_alive "$PIDFILE" && port_open $HOST "$PORT"; then log "running (pid $(cat "$PIDFILE")) on $HOST:$PORT"; else log "not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) external_server && { log "external server; nothing to stop"; exit 0; }; stop_pid "$PIDFILE" 15 ;;
  restart) stop_pid "$PIDFILE" 15; start ;;
  status) status ;;
  reset) stop_pid "$PIDFILE" 15; rm -rf "$DATA"; log "data removed" ;;
  *) echo "usage: $0 start|stop|status|restart|reset" >&2; exit 2 ;;
esac
