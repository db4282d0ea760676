# Shared helpers for the infra scripts: where downloads are cached, where servers keep
# their data and pid files, and how to wait for a port. Sourced, never run.

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Downloads (jars, binaries) are shared by every checkout on the machine.
CACHE_DIR="${PUSH_MFA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/push-mfa}"
# Data, logs and pid files belong to this checkout and are ignored by git.
STATE_DIR="${PUSH_MFA_STATE_DIR:-$ROOT_DIR/.local}"

log() { printf '[%s] %s\n' "$SERVICE" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$SERVICE" "$*" >&2; exit 1; }

require_command() { # name, what to install
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"
}

port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

pid_alive() { # pidfile
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_until() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
  log "$what after $((SECONDS - START_SECONDS))s"
}

stop_pid() { # pidfile, seconds to wait before SIGKILL
  local pidfile=$1 grace=$2
  if ! pid_alive "$pidfile"; then
    log "not running"; rm -f "$pidfile"; return 0
  fi
  local pid; pid=$(cat "$pidfile")
  log "stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      log "did not stop within ${grace}s, killing"; kill -KILL "$pid" 2>/dev/null || true; break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "stopped"
}

START_SECONDS=$SECONDS
mkdir -p "$CACHE_DIR" "$STATE_DIR"
