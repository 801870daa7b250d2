# shellcheck shell=bash
# Shared by the scripts in this folder; sourced, never run.
# Sets DORA_ROOT (the repo root) and provides logging and the build step.

DORA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

dora_log() { printf '==> %s\n' "$*" >&2; }
dora_warn() { printf 'warning: %s\n' "$*" >&2; }
dora_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# dora_build DIR: configure (idempotent) and build the tree into DIR.
# The default generator is used unless DIR already has a cache.
dora_build() {
    local dir="$1"
    dora_log "configuring ${dir} (RelWithDebInfo)"
    cmake -S "$DORA_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    dora_log "building ${dir} with $(nproc) jobs"
    cmake --build "$dir" -j"$(nproc)"
}
