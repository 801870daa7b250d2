#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test and run dorahost.
# Only missing packages are installed; apt-get update runs only then.
# Installing never starts system services (no systemd is assumed anywhere):
# the private MariaDB and Redis come from scripts/services.sh.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DORA_ROOT"

packages=(
    build-essential cmake pkg-config
    libpoco-dev libhiredis-dev libyaml-cpp-dev libcppunit-dev libmariadb-dev zlib1g-dev
    libssl-dev # libcrypto: HMAC-SHA256 request signing
    libgoogle-perftools-dev
    libssl-dev openssl # TLS (server.tls, dora --tls); the tests make their certificates with the openssl CLI
    mariadb-server mariadb-client redis-server redis-tools
    curl clang libclang-rt-14-dev dpkg-dev file procps
    prometheus # tests/metrics: a real Prometheus scrapes the host (started by scripts/services.sh)
    tmux # tests/top: dora top driven in a real terminal
    lintian systemd # packaging/test-deb.sh: lintian, systemd-analyze verify
    wrk time linux-perf # bench/run.sh: HTTP load, load generators' CPU, --perf
    stress # scripts/nightly.sh: the timing-sensitive suites repeated under load
)

command -v dpkg-query >/dev/null || dora_die "dpkg-query not found: scripts/deps.sh supports Debian 12 only"

missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    dora_log "deps: all ${#packages[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo)
else
    dora_die "missing packages (${missing[*]}) and not root, and sudo is not installed"
fi

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d before starting a
# service; exit code 101 means "no". Install one for the duration unless the
# machine already has one (containers usually do).
policy=/usr/sbin/policy-rc.d
created_policy=0
remove_policy() {
    if ((created_policy)); then "${SUDO[@]}" rm -f "$policy"; fi
}
trap remove_policy EXIT
if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\n# temporary, from dorahost scripts/deps.sh\nexit 101\n' |
        "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
dora_log "deps: installing ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
dora_log "deps: done"
