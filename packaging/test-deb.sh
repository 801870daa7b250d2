#!/usr/bin/env bash
# The .deb test: build dorahost and dorahost-dev, install them with dpkg,
# run the installed server as its system user against the test MariaDB and
# a private Redis, call it with the installed `dora`, build the example
# plugin against the installed SDK, drop it in, reload, call it, then remove
# and purge the packages and check what is left behind.
#
#   packaging/test-deb.sh [--no-build]
#
# --no-build             reuse the packages already in $DORA_PKG_BUILD_DIR/packages
# DORA_PKG_BUILD_DIR     build folder for the packages (default: build-pkg)
# DORAHOST_MYSQL_HOST, _PORT, _USER, _PASSWORD   the MariaDB to use (as
#                        scripts/test.sh exports them); unset: the private one
#                        of scripts/services.sh is started (idempotent) and used
# DORA_TEST_MYSQL_DATABASE  its database (default dorahost_test)
#
# Needs root (dpkg -i) and is registered as the CTest test package_deb
# (label package; packaging/Packaging.cmake).
# Exits 77 (CTest: skipped) without root or dpkg. It refuses to run when
# dpkg already knows dorahost or dorahost-dev, and whatever happens it
# purges both before exiting: the machine never keeps them installed.
# Runs are serialized with a lock: dpkg's state is global.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DORA_ROOT"

BUILD=1
case "${1:-}" in
--no-build) BUILD=0 ;;
"") ;;
*) dora_die "usage: packaging/test-deb.sh [--no-build]" ;;
esac
BUILD_DIR="${DORA_PKG_BUILD_DIR:-build-pkg}"
PKGS=(dorahost-dev dorahost)

if [[ $(id -u) -ne 0 ]] || ! command -v dpkg >/dev/null; then
    echo "SKIPPED: the package test needs root and dpkg"
    exit 77
fi

# ------------------------------------------------------------------ helpers

CHECKS=0
pass() { CHECKS=$((CHECKS + 1)); printf '  ok   %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
    local what="$1"; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
# show COMMAND...: print it as a transcript line, then run it.
cmdline() {
    local a line='$'
    for a in "$@"; do
        if [[ "$a" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then line+=" $a"; else line+=" '$a'"; fi
    done
    printf '%s\n' "$line"
}
show() {
    cmdline "$@"
    "$@"
}
pkg_state() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true; }
known_to_dpkg() {
    local s
    s="$(pkg_state "$1")"
    [[ -n "$s" && "$s" != not-installed ]]
}
# wait_for SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
    local t="$1"; shift
    local end=$((SECONDS + t))
    until "$@"; do
        ((SECONDS < end)) || return 1
        sleep 0.2
    done
}
# What the packages may touch; before and after must be the same paths.
snapshot() {
    find /etc /usr /lib/systemd /var/lib -xdev \
        \( -path /usr/local -o -path /var/lib/dpkg -o -path /var/lib/apt \) -prune -o -print |
        grep -Ev '^/etc/(passwd|group|shadow|gshadow|subuid|subgid)-$' | sort
}

LOCK=/tmp/dorahost-deb-test.lock
exec 9>"$LOCK"
flock -w 1800 9 || dora_die "another package test holds $LOCK"

for p in "${PKGS[@]}"; do
    if known_to_dpkg "$p"; then
        dora_die "dpkg already knows $p ($(pkg_state "$p")); this test installs and purges it. If it is a leftover: dpkg -P ${PKGS[*]}"
    fi
done

# ------------------------------------------------------------------ cleanup

WORK="$(mktemp -d /tmp/dorahost-deb.XXXXXX)"
chmod 755 "$WORK" # the dorahost user reaches the Redis socket in here
INSTALLED=0
HOST_PID=""
REDIS_PID=""
DROPPED=()        # files this test put into the installed folders
TEST_USER_PREFIX="debtest-$$-"
MYSQL_ARGS=()

stop_pid() {
    local pid="$1" i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? p f
    set +e
    [[ -z "$HOST_PID" ]] || stop_pid "$HOST_PID"
    [[ -z "$REDIS_PID" ]] || stop_pid "$REDIS_PID"
    if ((INSTALLED)); then
        for p in "${PKGS[@]}"; do
            if known_to_dpkg "$p"; then dpkg -P "$p" >/dev/null 2>&1; fi
        done
    fi
    for f in "${DROPPED[@]}"; do rm -f "$f"; done
    rmdir /etc/dorahost/routes.d /etc/dorahost /usr/lib/dorahost/plugins /usr/lib/dorahost 2>/dev/null
    if ((${#MYSQL_ARGS[@]})) && command -v mariadb >/dev/null; then
        mariadb "${MYSQL_ARGS[@]}" -e "DELETE FROM users WHERE name LIKE '${TEST_USER_PREFIX}%'" 2>/dev/null
    fi
    rm -rf "$WORK"
    for p in "${PKGS[@]}"; do
        if known_to_dpkg "$p"; then
            printf 'error: %s is still known to dpkg (%s): run dpkg -P %s\n' "$p" "$(pkg_state "$p")" "$p" >&2
            rc=1
        fi
    done
    if ((rc == 0)); then
        printf '\npackage test passed (%d checks, %ds)\n' "$CHECKS" "$SECONDS"
    else
        printf '\npackage test FAILED (exit %d, after %d checks, %ds)\n' "$rc" "$CHECKS" "$SECONDS" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ build

if ((BUILD)); then
    step "building the packages in $BUILD_DIR"
    packaging/build-deb.sh "$BUILD_DIR" >/dev/null
fi
shopt -s nullglob
host_debs=("$BUILD_DIR"/packages/dorahost_*.deb)
dev_debs=("$BUILD_DIR"/packages/dorahost-dev_*.deb)
shopt -u nullglob
((${#host_debs[@]} == 1 && ${#dev_debs[@]} == 1)) ||
    fail "expected one dorahost and one dorahost-dev package in $BUILD_DIR/packages"
HOST_DEB="${host_debs[0]}"
DEV_DEB="${dev_debs[0]}"

# ------------------------------------------------------------------ the .deb files

step "package metadata"
show dpkg-deb -I "$HOST_DEB"
show dpkg-deb -I "$DEV_DEB"

field() { dpkg-deb -f "$1" "$2"; }
depends="$(field "$HOST_DEB" Depends)"
check "Depends has the shared libraries (dpkg-shlibdeps ran)" grep -q 'libc6 (>=' <<<"$depends"
check "Depends has adduser (postinst)" grep -q 'adduser' <<<"$depends"
for lib in libpocofoundation libhiredis libyaml-cpp libmariadb; do
    check "Depends has $lib" grep -q "$lib" <<<"$depends"
done
check "Recommends mariadb-server, redis-server" \
    test "$(field "$HOST_DEB" Recommends)" = "mariadb-server, redis-server"
version="$(dpkg-parsechangelog -l packaging/changelog -S Version)"
check "version $version is the changelog's top entry" \
    test "$(field "$HOST_DEB" Version)" = "$version" -a "$(field "$DEV_DEB" Version)" = "$version"

dpkg-deb -e "$HOST_DEB" "$WORK/control"
expected_conffiles="$({
    echo /etc/dorahost/dorahost.yaml
    for f in plugins/*/*.yaml; do echo "/etc/dorahost/routes.d/${f##*/}"; done
} | sort)"
check "conffiles: dorahost.yaml and one route file per sample plugin" \
    test "$(sort "$WORK/control/conffiles")" = "$expected_conffiles"
etc_files="$(dpkg-deb -c "$HOST_DEB" | awk '$6 ~ /^\.\/etc\/.*[^\/]$/ {print substr($6, 2)}' | sort)"
check "every file under /etc is a conffile" test "$etc_files" = "$expected_conffiles"

if command -v lintian >/dev/null; then
    step "lintian (errors and warnings fail; info and pedantic shown)"
    show lintian --fail-on error,warning --display-info --pedantic "$HOST_DEB" "$DEV_DEB" 2>&1 |
        grep -v '^running with root privileges' || true
    check "lintian: no error or warning" lintian --fail-on error,warning "$HOST_DEB" "$DEV_DEB" 2>/dev/null
else
    step "lintian: SKIPPED (not installed; scripts/deps.sh installs it)"
fi

# ------------------------------------------------------------------ install

step "installing"
snapshot >"$WORK/before.txt"
INSTALLED=1
show dpkg -i "$HOST_DEB" "$DEV_DEB"
for p in "${PKGS[@]}"; do
    check "$p is installed" test "$(pkg_state "$p")" = installed
done

step "installed files"
for f in /usr/bin/dorahost /usr/bin/dora; do
    check "$f" test -x "$f"
    check "$f has no RUNPATH into the build tree" \
        sh -c "! readelf -d $f | grep -Eq 'R(UN)?PATH'"
done
for f in plugins/*/*.yaml; do
    lib="$(sed -n 's/^library: *\([^ #]*\).*/\1/p' "$f")"
    check "plugin /usr/lib/dorahost/plugins/$lib" test -f "/usr/lib/dorahost/plugins/$lib"
    check "route file /etc/dorahost/routes.d/${f##*/}" test -f "/etc/dorahost/routes.d/${f##*/}"
done
for f in config/schema/*.sql; do
    check "schema /usr/share/dorahost/schema/${f##*/}" test -f "/usr/share/dorahost/schema/${f##*/}"
done
for f in /lib/systemd/system/dorahost.service /usr/share/man/man1/dorahost.1.gz \
    /usr/share/man/man1/dora.1.gz /usr/share/doc/dorahost/README.Debian; do
    check "$f" test -f "$f"
done
for p in "${PKGS[@]}"; do
    check "/usr/share/doc/$p: copyright and changelog.Debian.gz" \
        test -f "/usr/share/doc/$p/copyright" -a -f "/usr/share/doc/$p/changelog.Debian.gz"
done
check "dpkg lists the conffiles" \
    test "$(dpkg-query -W -f='${Conffiles}\n' dorahost | awk 'NF {print $1}' | sort)" = "$expected_conffiles"
check "compiled-in default config is /etc/dorahost/dorahost.yaml" \
    sh -c '/usr/bin/dorahost --help | grep -q "default /etc/dorahost/dorahost.yaml"'
check "installed config points at the installed folders" \
    grep -q '^  plugins_dir: /usr/lib/dorahost/plugins ' /etc/dorahost/dorahost.yaml
user="$(getent passwd dorahost || true)"
IFS=: read -r _ _ uid _ _ home shell <<<"$user"
check "system user dorahost ($user)" test -n "$user" -a "${uid:-1000}" -lt 1000
check "its home is the state dir, no login shell" \
    test "$home" = /var/lib/dorahost -a "$shell" = /usr/sbin/nologin
check "group dorahost" getent group dorahost >/dev/null

dev_files="$(dpkg -L dorahost-dev)"
check "SDK headers in /usr/include/dora/sdk" test -f /usr/include/dora/sdk/abi.h -a -f /usr/include/dora/sdk/plugin.h
sdk_config="$(grep -Ei '/DoraSDK(Config|-config)\.cmake$' <<<"$dev_files" | head -n1 || true)"
check "CMake package DoraSDK (${sdk_config:-missing})" test -n "$sdk_config"
example_cmake="$(grep -E '/examples?/.*/CMakeLists\.txt$' <<<"$dev_files" | head -n1 || true)"
check "example plugin (${example_cmake:-missing})" test -n "$example_cmake"

if command -v systemd-analyze >/dev/null; then
    step "systemd-analyze verify (works offline; any message is a finding)"
    unit=/lib/systemd/system/dorahost.service
    cmdline systemd-analyze verify "$unit"
    verify_out="$(systemd-analyze verify "$unit" 2>&1)" || fail "systemd-analyze verify: $verify_out"
    [[ -z "$verify_out" ]] || printf '%s\n' "$verify_out"
    check "the unit verifies without a message" test -z "$verify_out"
    cmdline systemd-analyze security --offline=true "$unit"
    systemd-analyze security --offline=true "$unit" 2>&1 | grep 'Overall exposure' || true
else
    step "systemd-analyze: SKIPPED (not installed)"
fi

# ------------------------------------------------------------------ run it

# As the unit runs it: user dorahost, nothing inherited but what we pass.
as_dorahost() {
    setpriv --reuid=dorahost --regid=dorahost --init-groups -- \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

step "check the installed config as user dorahost"
show as_dorahost /usr/bin/dorahost --check-config --config /etc/dorahost/dorahost.yaml | tee "$WORK/check.txt"
check "--check-config passes" grep -q ': OK (' "$WORK/check.txt"

step "services: the test MariaDB and a private Redis"
if [[ -z "${DORAHOST_MYSQL_PORT:-}" ]]; then
    DORA_MYSQL_FAST=1 scripts/services.sh start-mysql >&2
    eval "$(scripts/services.sh env)"
fi
db="${DORA_TEST_MYSQL_DATABASE:-dorahost_test}"
MYSQL_ARGS=(-h "$DORAHOST_MYSQL_HOST" -P "$DORAHOST_MYSQL_PORT" -u "$DORAHOST_MYSQL_USER"
    "-p$DORAHOST_MYSQL_PASSWORD" "$db")
# A Redis of its own: the host's consumer group then takes no task of any
# other host, and the socket can be opened to the dorahost user.
mkdir -m 755 "$WORK/redis"
redis-server --port 0 --unixsocket "$WORK/redis/redis.sock" --unixsocketperm 777 \
    --dir "$WORK/redis" --save "" --appendonly no --logfile "$WORK/redis/redis.log" &
REDIS_PID=$!
check "private Redis answers" wait_for 20 sh -c "redis-cli -s '$WORK/redis/redis.sock' ping 2>/dev/null | grep -q PONG"

step "start the installed dorahost as user dorahost (ports: 0 = any free one)"
host_env=(DORAHOST_TCP=127.0.0.1:0 DORAHOST_HTTP=127.0.0.1:0
    DORAHOST_MYSQL_HOST="$DORAHOST_MYSQL_HOST" DORAHOST_MYSQL_PORT="$DORAHOST_MYSQL_PORT"
    DORAHOST_MYSQL_USER="$DORAHOST_MYSQL_USER" DORAHOST_MYSQL_PASSWORD="$DORAHOST_MYSQL_PASSWORD"
    DORAHOST_MYSQL_DATABASE="$db" DORAHOST_REDIS_SOCKET="$WORK/redis/redis.sock"
    DORAHOST_NODE_ID="debtest-$$" DORAHOST_TASK_WORKERS=2)
# What StateDirectory= and WorkingDirectory= of the unit provide.
show install -d -o dorahost -g dorahost -m 750 /var/lib/dorahost
printf '$ cd /var/lib/dorahost && %s /usr/bin/dorahost --config /etc/dorahost/dorahost.yaml &\n' "${host_env[*]}"
(cd /var/lib/dorahost && exec setpriv --reuid=dorahost --regid=dorahost --init-groups -- \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${host_env[@]}" \
    /usr/bin/dorahost --config /etc/dorahost/dorahost.yaml) >"$WORK/host.log" 2>&1 &
HOST_PID=$!
# host_port WHAT: the port the host logged for "WHAT listening on host:port (".
host_port() { sed -n "s/.*$1 listening on [^ ]*:\([0-9]*\) (.*/\1/p" "$WORK/host.log" | tail -n1; }
if ! wait_for 30 grep -q 'dorahost .* listening on' "$WORK/host.log"; then
    cat "$WORK/host.log" >&2
    fail "the host did not start"
fi
TCP_PORT="$(host_port 'dorahost [^ ]*')"
HTTP_PORT="$(host_port 'HTTP gateway')"
sed 's/^/  | /' "$WORK/host.log"
check "listening: TCP $TCP_PORT, HTTP $HTTP_PORT" test -n "$TCP_PORT" -a -n "$HTTP_PORT"
check "the process runs as dorahost" test "$(stat -c %U "/proc/$HOST_PID")" = dorahost

SERVER=(--server "127.0.0.1:$TCP_PORT")
# expect PATTERN COMMAND...: print the transcript; the command must succeed
# and its output match. expect_error: it must fail, and its output match.
expect() { run_expect 0 "$@"; }
expect_error() { run_expect 1 "$@"; }
run_expect() {
    local want_fail="$1" pattern="$2" out rc=0
    shift 2
    cmdline "$@"
    out="$("$@" 2>&1)" || rc=$?
    printf '%s\n' "$out"
    if ((want_fail)); then
        ((rc != 0)) || fail "expected an error from: $*"
    else
        ((rc == 0)) || fail "exit status $rc from: $*"
    fi
    grep -Eq -- "$pattern" <<<"$out" || fail "no /$pattern/ in the output of: $*"
    pass "exit status $rc, output matches /$pattern/"
}

step "call it with the installed dora"
name="${TEST_USER_PREFIX}$RANDOM"
expect '^\{"say": ?"hello"\}$' /usr/bin/dora call echo '{"say":"hello"}' "${SERVER[@]}"
expect "\"name\": ?\"$name\"" /usr/bin/dora call add_user "{\"name\":\"$name\",\"department\":\"packaging\"}" "${SERVER[@]}"
expect '"department": ?"packaging"' /usr/bin/dora call get_user "{\"name\":\"$name\"}" "${SERVER[@]}"
expect '^accepted \(guid [0-9a-f]{32}\)$' /usr/bin/dora call --async plus_user "{\"name\":\"$name\"}" "${SERVER[@]}"
visited() { /usr/bin/dora call get_user "{\"name\":\"$name\"}" "${SERVER[@]}" 2>/dev/null | grep -Eq '"visits": ?1'; }
check "the async call went through the queue (Redis) and ran (visits 1)" wait_for 30 visited
expect '"say": ?"http"' curl -s --data-urlencode \
    'params={"guid":"0123456789abcdef0123456789abcdef","api":{"k":{"name":"echo","param":{"say":"http"}}}}' \
    "http://127.0.0.1:$HTTP_PORT/api/multisync"
expect '^server\.queue\.applied: 1$' /usr/bin/dora stat "${SERVER[@]}"

# ------------------------------------------------------------------ the drop-in

step "build the example plugin against the installed SDK"
example_src="$(dirname "$example_cmake")"
show cp -r "$example_src" "$WORK/example"
cmdline cmake -S "$WORK/example" -B "$WORK/example/build" -DCMAKE_BUILD_TYPE=Release
cmake -S "$WORK/example" -B "$WORK/example/build" -DCMAKE_BUILD_TYPE=Release >"$WORK/example.log" 2>&1 ||
    { cat "$WORK/example.log" >&2; fail "configuring the example against the installed SDK"; }
sdk_dir="$(sed -n 's/^DoraSDK_DIR:[A-Z]*=//p' "$WORK/example/build/CMakeCache.txt")"
printf '  | DoraSDK_DIR=%s\n' "$sdk_dir"
check "find_package(DoraSDK) found the installed package" test "$sdk_dir" = "$(dirname "$sdk_config")"
cmdline cmake --build "$WORK/example/build"
cmake --build "$WORK/example/build" >>"$WORK/example.log" 2>&1 ||
    { cat "$WORK/example.log" >&2; fail "building the example"; }
mapfile -t example_libs < <(find "$WORK/example/build" -name 'lib*.so' -type f)
mapfile -t example_routes < <(find "$WORK/example" -maxdepth 1 -name '*.yaml' -type f)
check "one plugin library built (${example_libs[*]##*/})" test "${#example_libs[@]}" -eq 1
check "one route file beside it (${example_routes[*]##*/})" test "${#example_routes[@]}" -eq 1
example_api="$(sed -n 's/^ *- *api: *\([^ #]*\).*/\1/p' "${example_routes[0]}" | head -n1)"
check "its first api is hello (what the greeting below expects)" test "$example_api" = hello
expect_error "^dora: error 100200 \\(no such route\\): no such route: '$example_api'\$" /usr/bin/dora call "$example_api" '{}' "${SERVER[@]}"

step "drop it into the installed folders and reload"
lib_dst="/usr/lib/dorahost/plugins/${example_libs[0]##*/}"
routes_dst="/etc/dorahost/routes.d/${example_routes[0]##*/}"
check "nothing of the package has these names" test ! -e "$lib_dst" -a ! -e "$routes_dst"
DROPPED+=("$lib_dst" "$routes_dst")
show install -m 644 "${example_libs[0]}" "$lib_dst"
show install -m 644 "${example_routes[0]}" "$routes_dst"
show as_dorahost /usr/bin/dorahost --check-config --config /etc/dorahost/dorahost.yaml | tee "$WORK/check.txt"
check "--check-config passes with the drop-in" grep -q ': OK (' "$WORK/check.txt"
reloads_before="$(grep -c 'route table:' "$WORK/host.log" || true)"
show kill -HUP "$HOST_PID"
reloaded() { [[ "$(grep -c 'route table:' "$WORK/host.log" || true)" -gt "$reloads_before" ]]; }
check "the host reloaded (SIGHUP, as the unit's ExecReload sends)" wait_for 30 reloaded
grep -A3 'SIGHUP' "$WORK/host.log" | sed 's/^/  | /'
expect '"greeting": ?"hello, deb"' /usr/bin/dora call "$example_api" '{"name":"deb"}' "${SERVER[@]}"
expect '^\{"say": ?"still"\}$' /usr/bin/dora call echo '{"say":"still"}' "${SERVER[@]}"

step "stop the host (SIGTERM)"
kill -TERM "$HOST_PID"
status=0
wait "$HOST_PID" || status=$?
HOST_PID=""
check "it exited 0" test "$status" -eq 0
tail -n 3 "$WORK/host.log" | sed 's/^/  | /'

# ------------------------------------------------------------------ remove, purge

step "dpkg -r: conffiles and the admin's drop-ins stay"
show dpkg -r "${PKGS[@]}" 2>&1
check "dorahost is in state config-files" test "$(pkg_state dorahost)" = config-files
for f in /usr/bin/dorahost /usr/bin/dora /lib/systemd/system/dorahost.service /usr/include/dora/sdk/abi.h \
    /usr/share/dorahost /usr/share/doc/dorahost "$sdk_config"; do
    check "gone: $f" test ! -e "$f"
done
for f in /etc/dorahost/dorahost.yaml "${DROPPED[@]}"; do
    check "kept: $f" test -e "$f"
done

step "dpkg -P: the conffiles go; the system user stays"
left=()
for p in "${PKGS[@]}"; do if known_to_dpkg "$p"; then left+=("$p"); fi; done
show dpkg -P "${left[@]}" 2>&1
unknown_to_dpkg() { ! known_to_dpkg "$1"; }
for p in "${PKGS[@]}"; do
    check "dpkg no longer knows $p" unknown_to_dpkg "$p"
done
check "gone: /etc/dorahost/dorahost.yaml" test ! -e /etc/dorahost/dorahost.yaml
check "gone: /var/lib/dorahost" test ! -e /var/lib/dorahost
check "kept: the system user dorahost" getent passwd dorahost >/dev/null
INSTALLED=0
for f in "${DROPPED[@]}"; do show rm "$f"; done
DROPPED=()
show rmdir /etc/dorahost/routes.d /etc/dorahost /usr/lib/dorahost/plugins /usr/lib/dorahost
snapshot >"$WORK/after.txt"
if ! diff -u "$WORK/before.txt" "$WORK/after.txt" >"$WORK/left.diff"; then
    cat "$WORK/left.diff" >&2
    fail "the file system differs from before the install"
fi
pass "nothing else is left under /etc /usr /lib/systemd /var/lib"
