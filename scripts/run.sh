#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, start the private
# MariaDB and Redis (var/), and run the server in the foreground.
#
#   scripts/run.sh [extra dorahost arguments...]
#
# DORA_BUILD_DIR picks the build tree (default: build). Ctrl-C stops the
# server only; MariaDB and Redis keep running (scripts/services.sh stop).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DORA_ROOT"

BUILD_DIR="${DORA_BUILD_DIR:-build}"

scripts/deps.sh
dora_build "$BUILD_DIR"
scripts/services.sh start
eval "$(scripts/services.sh env)"

host_bin="$BUILD_DIR/bin/dorahost"
config="$BUILD_DIR/etc/dorahost/dorahost.yaml"
[[ -x "$host_bin" ]] || dora_die "$host_bin was not built"
[[ -f "$config" ]] || dora_die "$config was not staged by the build"

cat >&2 <<EOT

dorahost is starting: Dora frames on TCP 127.0.0.1:9567, HTTP/JSON on 127.0.0.1:9566
(server.tcp / server.http in $config).
EOT
if [[ -x "$BUILD_DIR/bin/dora" ]]; then
    cat >&2 <<EOT
From another terminal, call it with:
    $BUILD_DIR/bin/dora call get_user '{"name":"alice"}'
    $BUILD_DIR/bin/dora call add_user '{"name":"alice","department":"dev"}'
EOT
fi
cat >&2 <<EOT
MariaDB 127.0.0.1:${DORAHOST_MYSQL_PORT} (user dora/dora, database dorahost), Redis ${DORAHOST_REDIS_SOCKET}
Ctrl-C stops the server; the services keep running: scripts/services.sh stop

EOT
exec "$host_bin" --config "$config" "$@"
