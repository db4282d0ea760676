#!/usr/bin/env bash
# Checks that docker-compose.yml is a valid Compose file: with Docker Compose where it is installed,
# otherwise with compose-go (the loader Docker Compose itself uses), built once into the cache.
set -euo pipefail
SERVICE=compose
source "$(dirname "$0")/infra/common.sh"
cd "$ROOT_DIR"
if docker compose version >/dev/null 2>&1; then docker compose config -q && log "docker-compose.yml is valid (docker compose config)"; exit; fi
if command -v docker-compose >/dev/null 2>&1; then docker-compose config -q && log "docker-compose.yml is valid (docker-compose config)"; exit; fi
require_command go "install Go 1.24+ (https://go.dev/doc/install), or Docker Compose"
checker="$CACHE_DIR/compose-check-$(cat scripts/compose-check/* | sha256sum | cut -c1-12)"
if [ ! -x "$checker" ]; then
  log "no Docker Compose here: building its file loader (compose-go) into $checker"
  mkdir -p "$CACHE_DIR"
  (cd scripts/compose-check && go build -o "$checker.tmp" .) || die "go build of scripts/compose-check failed"
  mv "$checker.tmp" "$checker"
fi
"$checker" docker-compose.yml
