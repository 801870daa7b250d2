#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, start the private
# MariaDB and Redis (var/), and run the whole test suite with CTest.
#
#   scripts/test.sh [extra ctest arguments, e.g. -R Config -j2]
#
# DORA_BUILD_DIR picks the build tree (default: build). The tests use the
# database dorahost_test. The services are left running, unless CI is set
# (then they are stopped on exit). Exits with CTest's status.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DORA_ROOT"

BUILD_DIR="${DORA_BUILD_DIR:-build}"

scripts/deps.sh
dora_build "$BUILD_DIR"

if [[ -n "${CI:-}" ]]; then
    trap 'scripts/services.sh stop || true' EXIT
fi
# Tests trade durability for speed (see scripts/services.sh).
DORA_MYSQL_FAST=1 scripts/services.sh start
eval "$(scripts/services.sh env)"
# Nothing the tests do may land in the dev database.
export DORAHOST_MYSQL_DATABASE=dorahost_test
export DORA_TEST_MYSQL_DATABASE=dorahost_test

dora_log "running the tests (ctest --test-dir $BUILD_DIR)"
status=0
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 --no-tests=error "$@" || status=$?
if ((status == 0)); then
    dora_log "tests passed"
else
    dora_log "tests FAILED (ctest exit status $status); details in $BUILD_DIR/Testing/Temporary/LastTest.log"
fi
exit "$status"
