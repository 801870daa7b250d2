#!/usr/bin/env bash
# Runs dorahost's five load scenarios side by side with the baselines that
# bound them on this machine, every baseline driven by the same client loop
# as the dorahost side, and writes the raw output plus summary tables to
# bench/results/<UTC date>-<host>/ (summary.md, raw/).
#
#   scenario  dorahost side                            baseline (same run)
#   echo      dora bench --api echo --proto v1 -c C     dora bench --redis-ping -c C
#             (SSS, one request in flight each)         (throwaway redis-server, loopback TCP)
#   echo-p16  dora bench --api echo --proto v2 -P 16    dora bench --redis-ping -P 16
#   echo-tls  dora bench --api echo --proto v1 --tls    the same without --tls (plain echo,
#             (host with server.tls, a test CA)         same run); ratio = TLS / plain
#   echo-tls-poco  the echo-tls load against            ratio = event-loop TLS / Poco NetSSL;
#             bench/baseline/dora_tls_baseline (Poco    each TLS side against its plain side
#             NetSSL, same cert; and its plain mode)
#   add_user  dora bench --api add_user --mode sync     dora bench --mysql-insert -c C (autocommit
#             (host with --sync-task-workers, 50)       single-row INSERT), and mariadb-slap
#   http      wrk -t1 -c C POST /api/multisync (echo)   the same wrk against bench/baseline/
#                                                       http_baseline (bare Poco, 32 threads)
#   seed      dora bench --scenario seed -n N --verify  (none: writes/s and wall time until all
#             (SRM add_user/insert_user/plus_user)      3N writes landed; 0 lost, 0 twice)
#
# Then the scaling table: the seed at several sizes (wall time should grow
# linearly) and echo at several connection counts.
#
# For every phase (each side of each scenario) it records the CPU-seconds
# of dorahost, mariadbd, the Redis servers, the baseline server and the load
# generator (utime+stime from /proc/<pid>/stat before and after; dora bench
# reports its own, wrk and mariadb-slap run under /usr/bin/time), the MySQL
# connections seen (the host's getStat and the processlist of the bench
# databases, sampled twice a second) and the queue Redis' used_memory
# before, at peak and after.
#
# The host under test is started here on free ports with its own database
# (dorahost_test_bench) and its own Redis streams (dora:bench:*); the MySQL
# baselines use dorahost_test_insert and dorahost_test_slap. MariaDB and the
# queue Redis are the DORAHOST_* ones when DORAHOST_MYSQL_HOST is set (the
# test suite's), else the private ones of scripts/services.sh (started if
# needed).
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
ALL_SCENARIOS=(echo echo-p16 echo-tls echo-tls-poco add_user http seed scale-echo scale-seed)

usage() {
    cat <<'EOT'
usage: bench/run.sh [OPTIONS] [SCENARIO...]

scenarios (default: all): echo echo-p16 echo-tls echo-tls-poco add_user http seed scale-echo
                          scale-seed
  echo        echo api, v1 SSS, C connections, 1 in flight  vs Redis PING (dora bench)
  echo-p16    echo api, v2 pipelined -P deep                vs Redis PING -P (dora bench)
  echo-tls    echo as above over TLS (server.tls)           vs the same plain echo, same run
  echo-tls-poco  the echo-tls load against dora_tls_baseline (the v1 echo route over Poco
              NetSSL, --poco-design) and its plain mode; ratio = event-loop TLS / Poco
              NetSSL (runs the echo-tls phases too when they are not selected)
  add_user    sync add_user, host with --sync-task-workers  vs dora bench --mysql-insert
                                                              and mariadb-slap
  http        POST /api/multisync, one echo call, wrk       vs bare Poco HTTPServer, wrk
  seed        the seed's test, N iterations = 3N writes, --verify
  scale-echo  echo (as above) at each --scale-conns count
  scale-seed  the seed at each --scale-seed size

sizes:
  --smoke               every scenario tiny (a CI check that the harness works, ~30 s)
  --quick               short runs (about two minutes)
  --duration SEC        each timed phase (default 15; --quick 5; --smoke 1)
  --seed-iterations N   the seed scenario (default 1000000; --quick 20000; --smoke 300)
  --scale-seed "N..."   scale-seed sizes (default "100000 300000 1000000";
                        --quick "10000 30000 100000"; --smoke "100 300")
  --scale-conns "C..."  scale-echo connection counts (default "1 10 50 200 1000")
  --scale-duration SEC  each scale-echo run (default 5; --quick 2; --smoke 0.5)
  --connections C       connections of every scenario and baseline (default 50)
  --pipeline D          depth of echo-p16 and its baseline (default 16)
  --poco-design D       echo-tls-poco's Poco server shapes: threads (TCPServer, a thread per
                        connection: row echo-tls-poco), reactor (one SocketReactor thread:
                        row echo-tls-poco-reactor) or both (default; --smoke: threads)
  --poco-duration SEC   each echo-tls-poco phase (default: --duration; --smoke 0.5)

host and load:
  --task-workers N      host task workers for echo, http, seed, scaling (default 4, the
                        shipped default)
  --sync-task-workers N host task workers for add_user (default 50)
  --seed-mode MODE      auto (default: async when the host takes it) | async | sync
  --proto v1|v2         generation of the seed's client (default v1)
  --verify-wait SEC     seed: give up when nothing landed for SEC s (default 60; --smoke 10)

output:
  --perf                perf record -g on the host during each dorahost phase;
                        raw/perf-<phase>.txt = perf report --stdio --no-children | head -80
                        (raw/perf-<phase>-flat.txt: the same with -g none, by symbol
                        over all threads; raw/perf-<phase>-threads.txt: by thread name)
                        (perf costs CPU: those runs' numbers are not comparable)
  --build DIR           build tree with bin/dorahost, bin/dora, bin/http_baseline,
                        bin/dora_tls_baseline and the plugins (default build)
  --out DIR             results root (default bench/results)
  -h, --help
EOT
}

die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }
bad_usage() { printf 'bench/run.sh: %s (see bench/run.sh --help)\n' "$*" >&2; exit 2; }
log() { printf '==> %s\n' "$*" >&2; }

is_uint() { [[ "$1" =~ ^[0-9]+$ ]] && (("$1" > 0)); }
is_secs() { [[ "$1" =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v v="$1" 'BEGIN{exit !(v > 0)}'; }
need_value() { (($# >= 2)) || bad_usage "$1 needs a value"; }

SIZE=full
DURATION="" SEED_N="" SCALE_SEED="" SCALE_CONNS="" SCALE_DUR="" VERIFY_WAIT=""
CONC=50
PIPE=16
WORKERS=4
SYNC_WORKERS=50
SEED_MODE=auto
SEED_PROTO=v1
PERF=0
POCO_DESIGN=
POCO_DUR=""
BUILD="$ROOT/build"
OUT_ROOT="$ROOT/bench/results"
SCENARIOS=()

while (($#)); do
    case "$1" in
    --smoke) SIZE=smoke ;;
    --quick) SIZE=quick ;;
    --duration) need_value "$@"; is_secs "$2" || bad_usage "--duration: '$2' is not a positive number of seconds"; DURATION="$2"; shift ;;
    --seed-iterations) need_value "$@"; is_uint "$2" || bad_usage "--seed-iterations: '$2' is not a positive integer"; SEED_N="$2"; shift ;;
    --scale-seed) need_value "$@"; for n in $2; do is_uint "$n" || bad_usage "--scale-seed: '$n' is not a positive integer"; done; SCALE_SEED="$2"; shift ;;
    --scale-conns) need_value "$@"; for n in $2; do is_uint "$n" || bad_usage "--scale-conns: '$n' is not a positive integer"; done; SCALE_CONNS="$2"; shift ;;
    --scale-duration) need_value "$@"; is_secs "$2" || bad_usage "--scale-duration: '$2' is not a positive number of seconds"; SCALE_DUR="$2"; shift ;;
    --connections) need_value "$@"; is_uint "$2" || bad_usage "--connections: '$2' is not a positive integer"; CONC="$2"; shift ;;
    --pipeline) need_value "$@"; is_uint "$2" || bad_usage "--pipeline: '$2' is not a positive integer"; PIPE="$2"; shift ;;
    --task-workers) need_value "$@"; is_uint "$2" || bad_usage "--task-workers: '$2' is not a positive integer"; WORKERS="$2"; shift ;;
    --sync-task-workers) need_value "$@"; is_uint "$2" || bad_usage "--sync-task-workers: '$2' is not a positive integer"; SYNC_WORKERS="$2"; shift ;;
    --seed-mode) need_value "$@"; [[ "$2" =~ ^(auto|async|sync)$ ]] || bad_usage "--seed-mode: '$2' is not auto, async or sync"; SEED_MODE="$2"; shift ;;
    --proto) need_value "$@"; [[ "$2" =~ ^(v1|v2)$ ]] || bad_usage "--proto: '$2' is not v1 or v2"; SEED_PROTO="$2"; shift ;;
    --verify-wait) need_value "$@"; is_secs "$2" || bad_usage "--verify-wait: '$2' is not a positive number of seconds"; VERIFY_WAIT="$2"; shift ;;
    --poco-design) need_value "$@"; [[ "$2" =~ ^(threads|reactor|both)$ ]] || bad_usage "--poco-design: '$2' is not threads, reactor or both"; POCO_DESIGN="$2"; shift ;;
    --poco-duration) need_value "$@"; is_secs "$2" || bad_usage "--poco-duration: '$2' is not a positive number of seconds"; POCO_DUR="$2"; shift ;;
    --perf) PERF=1 ;;
    --build) need_value "$@"; [[ -d "$2" ]] || bad_usage "--build: no directory '$2'"; BUILD="$(cd "$2" && pwd -P)"; shift ;;
    --out) need_value "$@"; mkdir -p "$2" || die "--out: cannot create '$2'"; OUT_ROOT="$(cd "$2" && pwd -P)"; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) bad_usage "unknown option '$1'" ;;
    *)
        ok=0
        for s in "${ALL_SCENARIOS[@]}"; do [[ "$1" == "$s" ]] && ok=1; done
        ((ok)) || bad_usage "unknown scenario '$1' (scenarios: ${ALL_SCENARIOS[*]})"
        SCENARIOS+=("$1")
        ;;
    esac
    shift
done
((${#SCENARIOS[@]})) || SCENARIOS=("${ALL_SCENARIOS[@]}")
want() { local s; for s in "${SCENARIOS[@]}"; do [[ "$s" == "$1" ]] && return 0; done; return 1; }

case "$SIZE" in
full) d_dur=15 d_seed=1000000 d_sseed="100000 300000 1000000" d_sdur=5 d_wait=60 ;;
quick) d_dur=5 d_seed=20000 d_sseed="10000 30000 100000" d_sdur=2 d_wait=60 ;;
smoke) d_dur=1 d_seed=300 d_sseed="100 300" d_sdur=0.5 d_wait=10 ;;
esac
DURATION="${DURATION:-$d_dur}"
# The smoke's echo-tls-poco: one design, its two phases in about a second
# (the clock includes the 50 TLS handshakes: 0.25 s was sometimes all
# handshakes on the loaded 2-core machine).
if [[ "$SIZE" == smoke ]]; then
    POCO_DUR="${POCO_DUR:-0.5}" POCO_DESIGN="${POCO_DESIGN:-threads}"
fi
POCO_DUR="${POCO_DUR:-$DURATION}"
POCO_DESIGN="${POCO_DESIGN:-both}"
# Its ratio is against the echo-tls phases of the same run.
if want echo-tls-poco && ! want echo-tls; then SCENARIOS+=(echo-tls); fi
SEED_N="${SEED_N:-$d_seed}"
SCALE_SEED="${SCALE_SEED:-$d_sseed}"
SCALE_CONNS="${SCALE_CONNS:-1 10 50 200 1000}"
SCALE_DUR="${SCALE_DUR:-$d_sdur}"
VERIFY_WAIT="${VERIFY_WAIT:-$d_wait}"
# wrk takes whole seconds.
WRK_DUR="$(awk -v d="$DURATION" 'BEGIN{ s = int(d + 0.5); if (s < 1) s = 1; print s }')"

DORA="$BUILD/bin/dora"
DORAHOST="$BUILD/bin/dorahost"
HTTP_BASELINE="$BUILD/bin/http_baseline"
TLS_BASELINE="$BUILD/bin/dora_tls_baseline"
[[ -x "$DORA" && -x "$DORAHOST" ]] || die "no $DORA or $DORAHOST: build first (scripts/run.sh or cmake --build $BUILD)"
if want http; then
    [[ -x "$HTTP_BASELINE" ]] || die "no $HTTP_BASELINE: build it (cmake --build $BUILD --target http_baseline)"
fi
if want echo-tls-poco; then
    [[ -x "$TLS_BASELINE" ]] || die "no $TLS_BASELINE: build it (cmake --build $BUILD --target dora_tls_baseline)"
fi
[[ "$("$DORA" bench --help 2>/dev/null)" == *--redis-ping* ]] || die "$DORA has no 'bench --redis-ping': rebuild the dora target"
tools=(redis-server redis-cli mariadb /usr/bin/time)
want add_user && tools+=(mariadb-slap)
want http && tools+=(wrk curl)
want echo-tls && tools+=(openssl)
((PERF)) && tools+=(perf)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/deps.sh installs it)"
done

# 1000 connections from the load generator and as many in the host.
need_fds=$(( $(printf '%s\n' $SCALE_CONNS "$CONC" | sort -n | tail -1) * 2 + 512 ))
if (($(ulimit -n) < need_fds)); then
    ulimit -n "$need_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    (($(ulimit -n) >= need_fds)) || log "warning: ulimit -n is $(ulimit -n), below the $need_fds the largest connection count needs"
fi

# ------------------------------------------------------------ services

if [[ -n "${DORAHOST_MYSQL_HOST:-}" ]]; then
    log "using MariaDB/Redis from the DORAHOST_* environment"
else
    "$ROOT/scripts/services.sh" start >&2
    eval "$("$ROOT/scripts/services.sh" env)"
fi
MY_HOST="${DORAHOST_MYSQL_HOST:-127.0.0.1}" MY_PORT="${DORAHOST_MYSQL_PORT:-3306}"
MY_USER="${DORAHOST_MYSQL_USER:-dora}" MY_PASS="${DORAHOST_MYSQL_PASSWORD:-}"
BENCH_DB=dorahost_test_bench
INSERT_DB=dorahost_test_insert
SLAP_DB=dorahost_test_slap
REDIS_SOCK="${DORAHOST_REDIS_SOCKET:-}"
REDIS_HOST="${DORAHOST_REDIS_HOST:-127.0.0.1}" REDIS_PORT="${DORAHOST_REDIS_PORT:-6379}"
mysql_q() { mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -p"$MY_PASS" -N -B "$@"; }
qredis() {
    if [[ -n "$REDIS_SOCK" ]]; then redis-cli -s "$REDIS_SOCK" "$@"; else redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; fi
}

mysql_q -e "SELECT 1" >/dev/null || die "cannot reach MariaDB at $MY_HOST:$MY_PORT as $MY_USER"
mysql_q -e "CREATE DATABASE IF NOT EXISTS $BENCH_DB; CREATE DATABASE IF NOT EXISTS $INSERT_DB"
for f in "$ROOT"/config/schema/*.sql; do mysql_q "$BENCH_DB" <"$f"; done
MYSQL_FLAGS=(--mysql-host "$MY_HOST" --mysql-port "$MY_PORT" --mysql-user "$MY_USER"
    --mysql-password "$MY_PASS")
MY_PID="$(cat "$(mysql_q -e 'SELECT @@pid_file')" 2>/dev/null | tr -dc 0-9 || true)"
QREDIS_PID="$(qredis info server 2>/dev/null | awk -F: '/^process_id:/{gsub("\r",""); print $2}')"
[[ -n "$MY_PID" && -r "/proc/$MY_PID/stat" ]] || { log "warning: mariadbd's pid not found (its CPU is not counted)"; MY_PID=""; }
[[ -n "$QREDIS_PID" && -r "/proc/$QREDIS_PID/stat" ]] || { log "warning: the queue redis-server's pid not found (its CPU is not counted)"; QREDIS_PID=""; }

# ------------------------------------------------------------ results dir

STAMP="$(date -u +%Y%m%d-%H%M%S)"
MACHINE="$(hostname -s 2>/dev/null || hostname)"
OUT="$OUT_ROOT/$STAMP-$MACHINE"
RAW="$OUT/raw"
mkdir -p "$RAW"
log "results: $OUT"

CPU="$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)"
NCPU="$(nproc)"
MEM_GB="$(awk '/^MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)"
FLUSH="$(mysql_q -e 'SELECT @@innodb_flush_log_at_trx_commit' 2>/dev/null || echo '?')"
MARIADB_V="$(mysql_q -e 'SELECT VERSION()' 2>/dev/null || echo '?')"
REDIS_V="$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $MACHINE, $CPU, $NCPU cores, ${MEM_GB} GB RAM, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
    echo "mariadb: $MARIADB_V at $MY_HOST:$MY_PORT, innodb_flush_log_at_trx_commit=$FLUSH"
    echo "redis: $REDIS_V (queue: ${REDIS_SOCK:-$REDIS_HOST:$REDIS_PORT})"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (modified tree)')"
    echo "host: task_workers=$WORKERS (add_user: $SYNC_WORKERS), io_threads=1"
    echo "load: dora bench (one epoll thread) for Dora, Redis PING and MySQL INSERT; wrk -t1 for HTTP"
    echo "sizes: $SIZE defaults, as run: timed phases ${DURATION} s (wrk ${WRK_DUR} s); $CONC connections; pipeline $PIPE; seed $SEED_N iterations; scale-seed $SCALE_SEED; scale-echo $SCALE_CONNS connections, ${SCALE_DUR} s each; echo-tls-poco ${POCO_DUR} s per phase, design $POCO_DESIGN"
    echo "scenarios: ${SCENARIOS[*]}$( ((PERF)) && echo '; perf record on (numbers distorted)')"
} >"$RAW/machine.txt"

# ------------------------------------------------------------ helpers

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
            ! grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

# jnum KEY FILE: the first number after "KEY": in a one-line JSON document.
# (Empty when the key is absent.)
jnum() { { grep -o "\"$1\":[-0-9.eE+]*" "$2" 2>/dev/null || true; } | head -n1 | cut -d: -f2; }
# jsum KEY FILE: the sum of every such number.
jsum() { { grep -o "\"$1\":[-0-9.eE+]*" "$2" 2>/dev/null || true; } | cut -d: -f2 | awk '{s+=$1} END{printf "%d", s}'; }
# jstr KEY FILE
jstr() { { grep -o "\"$1\":\"[^\"]*\"" "$2" 2>/dev/null || true; } | head -n1 | cut -d'"' -f4; }
# kv KEY FILE: the value of KEY=VALUE on wrk's summary line
kv() { { grep '^wrk-summary' "$2" 2>/dev/null || true; } | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }
# fmt N: rounded, with thousands separators (no locale needed); "-" when empty.
fmt() {
    [[ -n "${1:-}" ]] || { echo "-"; return; }
    awk -v n="$1" 'BEGIN{ s = sprintf("%.0f", n); neg = (substr(s, 1, 1) == "-"); if (neg) s = substr(s, 2)
        out = ""; while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        printf "%s%s%s", (neg ? "-" : ""), s, out }'
}
f1() { [[ -n "${1:-}" ]] && awk -v n="$1" 'BEGIN{printf "%.1f", n}' || echo "-"; }
f2() { [[ -n "${1:-}" ]] && awk -v n="$1" 'BEGIN{printf "%.2f", n}' || echo "-"; }
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN{ if (b > 0 && a > 0) printf "%.2f", a / b; else print "n/a" }'; }
# per_call CPU_SECONDS CALLS: µs per call ("-" when unknown)
per_call() { awk -v c="${1:-}" -v n="${2:-0}" 'BEGIN{ if (c != "" && n > 0) printf "%.1f", c * 1e6 / n; else print "-" }'; }
mib() { [[ -n "${1:-}" ]] && awk -v n="$1" 'BEGIN{printf "%.1f", n / 1048576}' || echo "-"; }

TCK="$(getconf CLK_TCK)"
# cpu PID: utime+stime of a live process in seconds ("" if none).
cpu() {
    [[ -n "${1:-}" && -r "/proc/$1/stat" ]] || return 0
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v t="$TCK" '{printf "%.3f", ($12 + $13) / t}'
}
sub() { [[ -n "${1:-}" && -n "${2:-}" ]] && awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a - b}' || true; }

# time_cpu FILE: user+system seconds from /usr/bin/time -f '%U %S' -o FILE
time_cpu() { awk 'NF==2 && $1 ~ /^[0-9.]+$/ {u=$1; s=$2} END{ if (u != "") printf "%.3f", u + s }' "$1" 2>/dev/null; }

HOST_PID="" HOST_WORKERS="" HOST_VARIANT="" BREDIS_PID="" HB_PID="" TB_PID="" TB_MODE="" SAMPLER="" PERF_PID=""
stop_pid() { # stop_pid PID
    [[ -n "${1:-}" ]] || return 0
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    [[ -n "$PERF_PID" ]] && kill -INT "$PERF_PID" 2>/dev/null
    [[ -n "$SAMPLER" ]] && kill "$SAMPLER" 2>/dev/null
    stop_pid "$HOST_PID"
    stop_pid "$BREDIS_PID"
    stop_pid "$HB_PID"
    stop_pid "$TB_PID"
    true
}
trap cleanup EXIT

# host_up WORKERS: a dorahost with that many task workers runs (restarted if
# it had another count), TCP on HOST_PORT and the gateway on HTTP_PORT.
# A second argument "pooled" serves the echo routes from the task pool
# (their route file without `inline: true`), for the echo-pooled row;
# "tls" adds server.tls (a CA and certificate made in raw/tls), and every
# `dora stat` of this script then speaks TLS to it (HOST_TLS).
HOST_TLS=()
host_up() {
    local w="$1" variant="${2:-shipped}"
    if [[ -n "$HOST_PID" && "$HOST_WORKERS" == "$w" && "$HOST_VARIANT" == "$variant" ]] &&
        kill -0 "$HOST_PID" 2>/dev/null; then return; fi
    local routes="$BUILD/etc/dorahost/routes.d"
    if [[ "$variant" == pooled ]]; then
        routes="$RAW/routes-pooled"
        rm -rf "$routes"
        mkdir -p "$routes"
        cp "$BUILD"/etc/dorahost/routes.d/*.yaml "$routes/"
        sed -i '/^ *inline: true/d' "$routes/echo.yaml"
    fi
    stop_pid "$HOST_PID"
    HOST_PID=""
    # free_port only checks that nobody listens yet: another bench/run.sh
    # (or anything else) may bind the same port before the host does. The
    # host then exits at start saying so, and is started again on new ports.
    local attempt
    for attempt in 1 2 3; do
        host_start "$w" "$variant" "$routes" && return
        grep -qi 'address already in use' "$RAW/dorahost-start.log" ||
            die "dorahost exited at start: $(tail -5 "$RAW/dorahost-start.log")"
        log "dorahost: a port was taken meanwhile (attempt $attempt), trying other ports"
    done
    die "dorahost found no free ports in 3 attempts: $(tail -5 "$RAW/dorahost-start.log")"
}

# host_start WORKERS VARIANT ROUTES: one start on fresh free ports; false
# when the host exited at start (its output in raw/dorahost-start.log).
host_start() {
    local w="$1" variant="$2" routes="$3"
    HOST_TLS=()
    HOST_PORT="$(free_port)"
    HTTP_PORT="$(free_port)"
    while [[ "$HTTP_PORT" == "$HOST_PORT" ]]; do HTTP_PORT="$(free_port)"; done
    local cfg="$RAW/dorahost-w$w.yaml"
    cat >"$cfg" <<EOF
server:
  tcp: 127.0.0.1:$HOST_PORT
  http: 127.0.0.1:$HTTP_PORT
  http_enabled: true
  task_workers: $w
  log_level: warning
mysql:
  host: $MY_HOST
  port: $MY_PORT
  user: $MY_USER
  password: "$MY_PASS"
  database: $BENCH_DB
plugins:
  plugins_dir: $BUILD/lib/dorahost/plugins
  routes_dir: $routes
queue:
  stream: "dora:bench:tasks"
  dead_letter_stream: "dora:bench:dead"
  node_id: "bench"
EOF
    if [[ "$variant" == tls ]]; then
        make_certs "$RAW/tls"
        sed -i "s|^  log_level: warning$|  log_level: warning\n  tls:\n    cert: $RAW/tls/server.pem\n    key: $RAW/tls/server.key|" "$cfg"
        HOST_TLS=(--tls --ca "$RAW/tls/ca.pem")
    fi
    if [[ -n "$REDIS_SOCK" ]]; then
        printf 'redis:\n  socket: %s\n' "$REDIS_SOCK" >>"$cfg"
    else
        printf 'redis:\n  host: %s\n  port: %s\n' "$REDIS_HOST" "$REDIS_PORT" >>"$cfg"
    fi
    # The host sees exactly this file: no DORAHOST_* overrides.
    local log_from
    log_from=$(($(cat "$RAW/dorahost.log" 2>/dev/null | wc -c) + 1))
    env $(env | awk -F= '/^DORAHOST_/{printf "-u %s ", $1}') \
        "$DORAHOST" --config "$cfg" >>"$RAW/dorahost.log" 2>&1 &
    HOST_PID=$!
    HOST_WORKERS="$w"
    HOST_VARIANT="$variant"
    for _ in $(seq 1 150); do
        if "$DORA" stat --server "127.0.0.1:$HOST_PORT" "${HOST_TLS[@]}" --timeout 1000 >/dev/null 2>&1; then
            log "dorahost pid $HOST_PID on 127.0.0.1:$HOST_PORT (http $HTTP_PORT), task_workers $w, db $BENCH_DB"
            return 0
        fi
        if ! kill -0 "$HOST_PID" 2>/dev/null; then
            wait "$HOST_PID" 2>/dev/null || true
            HOST_PID=""
            tail -c +"$log_from" "$RAW/dorahost.log" >"$RAW/dorahost-start.log"
            return 1
        fi
        sleep 0.2
    done
    die "dorahost did not answer in 30 s (see $RAW/dorahost.log)"
}

# make_certs DIR: a throwaway CA and a server certificate for 127.0.0.1 and
# localhost signed by it (DIR/ca.pem, DIR/server.pem, DIR/server.key).
make_certs() {
    local d="$1"
    [[ -s "$d/server.pem" ]] && return
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=dorahost bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
    [[ -s "$d/server.pem" ]] || die "openssl could not make the bench's test certificates in $d"
}

baseline_redis_up() {
    [[ -n "$BREDIS_PID" ]] && kill -0 "$BREDIS_PID" 2>/dev/null && return
    BREDIS_PORT="$(free_port)"
    redis-server --port "$BREDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --maxclients 10000 >"$RAW/redis-baseline.log" 2>&1 &
    BREDIS_PID=$!
    for _ in $(seq 1 50); do redis-cli -p "$BREDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$BREDIS_PORT" ping >/dev/null 2>&1 || die "the baseline redis-server did not start (see $RAW/redis-baseline.log)"
    log "baseline redis-server pid $BREDIS_PID on 127.0.0.1:$BREDIS_PORT"
}

http_baseline_up() {
    [[ -n "$HB_PID" ]] && kill -0 "$HB_PID" 2>/dev/null && return
    local port
    port="$(free_port)"
    "$HTTP_BASELINE" --port "$port" --threads 32 >"$RAW/http-baseline.log" 2>&1 &
    HB_PID=$!
    for _ in $(seq 1 50); do grep -q '^listening' "$RAW/http-baseline.log" && break; sleep 0.1; done
    grep -q '^listening' "$RAW/http-baseline.log" || die "http_baseline did not start: $(cat "$RAW/http-baseline.log")"
    HB_PORT="$port"
    log "http_baseline pid $HB_PID on 127.0.0.1:$HB_PORT"
}

# tls_baseline_up MODE DESIGN: dora_tls_baseline serves the v1 echo route,
# MODE plain or tls (Poco NetSSL with the host's test certificate), DESIGN
# threads or reactor; restarted when either differs. It binds port 0 and
# says which port it got (TB_PORT): no race with other runs for a port.
tls_baseline_up() {
    local mode="$1" design="$2"
    if [[ -n "$TB_PID" && "$TB_MODE" == "$mode-$design" ]] && kill -0 "$TB_PID" 2>/dev/null; then return; fi
    stop_pid "$TB_PID"
    TB_PID=""
    local args=(--port 0 --design "$design") logf="$RAW/tls-baseline-$mode-$design.log"
    if [[ "$mode" == tls ]]; then
        make_certs "$RAW/tls"
        args+=(--cert "$RAW/tls/server.pem" --key "$RAW/tls/server.key")
    fi
    "$TLS_BASELINE" "${args[@]}" >"$logf" 2>&1 &
    TB_PID=$!
    TB_MODE="$mode-$design"
    for _ in $(seq 1 50); do grep -q '^listening' "$logf" && break; sleep 0.1; done
    grep -q '^listening' "$logf" || die "dora_tls_baseline did not start: $(cat "$logf")"
    TB_PORT="$(sed -n 's/^listening [^ ]*:\([0-9]*\) .*/\1/p' "$logf")"
    log "dora_tls_baseline pid $TB_PID on 127.0.0.1:$TB_PORT ($mode, $design)"
}

# ------------------------------------------------------------ phases
#
# phase_begin NAME [host]; <run the load>; phase_end NAME LOADGEN_CPU CALLS
# records the wall time, every server's CPU-seconds, the MySQL
# connections and the queue Redis' memory of the phase.

declare -A P_N P_WALL P_HOST P_MY P_QR P_BR P_HB P_TB P_LG P_HC P_PL P_MUC P_M0 P_MP P_M1
PHASES=()

redis_mem() { qredis info memory 2>/dev/null | awk -F: '/^used_memory:/{gsub("\r",""); print $2}'; }

phase_begin() {
    PH="$1"
    PH_T0="$(date +%s.%N)"
    PH_C_HOST="$(cpu "$HOST_PID")" PH_C_MY="$(cpu "$MY_PID")" PH_C_QR="$(cpu "$QREDIS_PID")"
    PH_C_BR="$(cpu "$BREDIS_PID")" PH_C_HB="$(cpu "$HB_PID")" PH_C_TB="$(cpu "$TB_PID")"
    P_M0[$PH]="$(redis_mem)"
    local samples="$RAW/samples-$PH.tsv" hp="$HOST_PORT" tls=("${HOST_TLS[@]}")
    printf 'time\thost_mysql_connections\tprocesslist_bench_dbs\tredis_used_memory\n' >"$samples"
    (
        trap 'exit 0' TERM
        while :; do
            hc="$("$DORA" stat --server "127.0.0.1:$hp" "${tls[@]}" --json --timeout 2000 2>/dev/null |
                grep -o '"mysql_connections":[0-9]*' | cut -d: -f2)" || true
            pl="$(mysql_q -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB IN ('$BENCH_DB','$INSERT_DB','$SLAP_DB') AND ID<>CONNECTION_ID()" 2>/dev/null)" || true
            rm="$(redis_mem)" || true
            printf '%s\t%s\t%s\t%s\n' "$(date +%s.%N)" "${hc:-}" "${pl:-}" "${rm:-}" >>"$samples"
            sleep 0.5
        done
    ) &
    SAMPLER=$!
    if ((PERF)) && [[ "${2:-}" == host ]]; then
        perf record -g -F 999 -p "$HOST_PID" -o "$RAW/perf-$PH.data" >"$RAW/perf-$PH.log" 2>&1 &
        PERF_PID=$!
    fi
}

phase_end() {
    local name="$1" lg="${2:-}" t1 samples="$RAW/samples-$PH.tsv"
    P_N[$name]="${3:-}"
    t1="$(date +%s.%N)"
    if [[ -n "$PERF_PID" ]]; then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=""
        perf report --stdio --no-children -i "$RAW/perf-$name.data" 2>/dev/null | head -80 | cut -c1-160 | sed "s/ *$//" >"$RAW/perf-$name.txt" || true
        # The same without call chains: the top symbols on one page.
        perf report --stdio --no-children -g none --sort dso,sym -i "$RAW/perf-$name.data" 2>/dev/null | head -80 | cut -c1-160 | sed "s/ *$//" >"$RAW/perf-$name-flat.txt" || true
        # Where the samples were, by thread name (50 workers' shares would
        # otherwise push every other symbol off the flat page).
        perf report --stdio --no-children -g none --sort comm -i "$RAW/perf-$name.data" 2>/dev/null | head -60 | sed "s/ *$//" >"$RAW/perf-$name-threads.txt" || true
        rm -f "$RAW/perf-$name.data" "$RAW/perf-$name.data.old"
        [[ -s "$RAW/perf-$name.txt" ]] ||
            note "$name: perf recorded nothing: $(grep -v '^\[' "$RAW/perf-$name.log" | tail -1)"
    fi
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=""
    P_WALL[$name]="$(awk -v a="$PH_T0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}')"
    P_HOST[$name]="$(sub "$(cpu "$HOST_PID")" "$PH_C_HOST")"
    P_MY[$name]="$(sub "$(cpu "$MY_PID")" "$PH_C_MY")"
    P_QR[$name]="$(sub "$(cpu "$QREDIS_PID")" "$PH_C_QR")"
    P_BR[$name]="$(sub "$(cpu "$BREDIS_PID")" "$PH_C_BR")"
    P_HB[$name]="$(sub "$(cpu "$HB_PID")" "$PH_C_HB")"
    P_TB[$name]="$(sub "$(cpu "$TB_PID")" "$PH_C_TB")"
    P_LG[$name]="$lg"
    P_M1[$name]="$(redis_mem)"
    P_HC[$name]="$(awk -F'\t' 'NR>1 && $2!=""{ if ($2>m) m=$2; s=1 } END{ print (s ? m : "-") }' "$samples")"
    P_PL[$name]="$(awk -F'\t' 'NR>1 && $3!=""{ if ($3>m) m=$3; s=1 } END{ print (s ? m : "-") }' "$samples")"
    P_MP[$name]="$(awk -F'\t' -v a="${P_M0[$name]:-0}" -v b="${P_M1[$name]:-0}" 'BEGIN{m=a; if (b>m) m=b} NR>1 && $4!=""{ if ($4>m) m=$4 } END{ print m }' "$samples")"
    P_MUC[$name]="$(mysql_q -e "SHOW GLOBAL STATUS LIKE 'Max_used_connections'" 2>/dev/null | awk '{print $2}')"
    PHASES+=("$name")
}

ROWS=()  # the main table
NOTES=()
SCALE_SEED_ROWS=()
SCALE_ECHO_ROWS=()
note() { NOTES+=("$*"); }

# dora_bench NAME ARGS...: dora bench with a JSON summary into raw/NAME.json
# (stderr into raw/NAME.err); notes a non-zero exit. Returns 1 when it
# printed no summary at all.
dora_bench() {
    local name="$1" rc=0
    shift
    log "dora bench $name: $*"
    "$DORA" bench --json --progress-sec 5 "$@" >"$RAW/$name.json" 2> >(tee "$RAW/$name.err" >&2) || rc=$?
    echo "exit $rc" >>"$RAW/$name.err"
    if [[ ! -s "$RAW/$name.json" ]]; then
        note "$name: dora bench printed no summary (exit $rc): $(grep -v '^progress' "$RAW/$name.err" | tail -2 | tr '\n' ' ')"
        return 1
    fi
    if ((rc != 0)); then
        note "$name: dora bench exit $rc: $(grep -v '^progress' "$RAW/$name.err" | grep -v '^exit' | tail -1)"
    fi
    return 0
}

# lat FILE: "p50 / p99 / max ms" of a dora bench JSON
lat() { echo "$(f2 "$(jnum p50 "$1")") / $(f2 "$(jnum p99 "$1")") / $(f2 "$(jnum max "$1")") ms"; }
wlat() { echo "$(f2 "$(kv p50_ms "$1")") / $(f2 "$(kv p99_ms "$1")") / $(f2 "$(kv max_ms "$1")") ms"; }

# row ID WHAT OURS OURS_LAT BASELINE BASE_LAT RATIO
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 | $7 |"); }

# ------------------------------------------------------------ scenarios

# echo_pair ID LABEL PROTO DEPTH: the echo api vs Redis PING, same client.
echo_pair() {
    local id="$1" label="$2" proto="$3" depth="$4"
    host_up "$WORKERS"
    baseline_redis_up
    phase_begin "$id" host
    dora_bench "$id" --server "127.0.0.1:$HOST_PORT" --api echo --proto "$proto" -c "$CONC" -P "$depth" -d "$DURATION" || true
    phase_end "$id" "$(jnum cpu_seconds "$RAW/$id.json")" "$(jnum calls "$RAW/$id.json")"
    phase_begin "$id-redis"
    dora_bench "$id-redis" --redis-ping "127.0.0.1:$BREDIS_PORT" -c "$CONC" -P "$depth" -d "$DURATION" || true
    phase_end "$id-redis" "$(jnum cpu_seconds "$RAW/$id-redis.json")" "$(jnum calls "$RAW/$id-redis.json")"
    local ours theirs
    ours="$(jnum requests_per_sec "$RAW/$id.json")"
    theirs="$(jnum requests_per_sec "$RAW/$id-redis.json")"
    row "$id" "$label" "$(fmt "$ours") req/s" "$(lat "$RAW/$id.json")" \
        "Redis PING$( ((depth > 1)) && echo " -P $depth") (dora bench): $(fmt "$theirs") req/s" \
        "$(lat "$RAW/$id-redis.json")" "$(ratio "$ours" "$theirs")"
    if [[ "$id" == echo ]]; then
        # The same load with echo's handler in the task pool (a route
        # without `inline: true`): the hand-off's cost, against the same PING run.
        host_up "$WORKERS" pooled
        phase_begin echo-pooled host
        dora_bench echo-pooled --server "127.0.0.1:$HOST_PORT" --api echo --proto "$proto" -c "$CONC" -P "$depth" -d "$DURATION" || true
        phase_end echo-pooled "$(jnum cpu_seconds "$RAW/echo-pooled.json")" "$(jnum calls "$RAW/echo-pooled.json")"
        ours="$(jnum requests_per_sec "$RAW/echo-pooled.json")"
        row echo-pooled "the same, echo served from the task pool (no inline)" "$(fmt "$ours") req/s" \
            "$(lat "$RAW/echo-pooled.json")" "the same Redis PING run" "-" "$(ratio "$ours" "$theirs")"
        host_up "$WORKERS"
    fi
}

# echo over TLS against plain echo, in the same run, same load: the row's
# ratio is TLS / plain throughput; the CPU table has both phases' host CPU
# per call (echo-tls-plain, echo-tls), and a note gives their ratio.
scenario_echo_tls() {
    host_up "$WORKERS"
    phase_begin echo-tls-plain host
    dora_bench echo-tls-plain --server "127.0.0.1:$HOST_PORT" --api echo --proto v1 -c "$CONC" -d "$DURATION" || true
    phase_end echo-tls-plain "$(jnum cpu_seconds "$RAW/echo-tls-plain.json")" "$(jnum calls "$RAW/echo-tls-plain.json")"
    host_up "$WORKERS" tls
    phase_begin echo-tls host
    dora_bench echo-tls --server "127.0.0.1:$HOST_PORT" "${HOST_TLS[@]}" --api echo --proto v1 -c "$CONC" -d "$DURATION" || true
    phase_end echo-tls "$(jnum cpu_seconds "$RAW/echo-tls.json")" "$(jnum calls "$RAW/echo-tls.json")"
    local ours theirs us_tls us_plain
    ours="$(jnum requests_per_sec "$RAW/echo-tls.json")"
    theirs="$(jnum requests_per_sec "$RAW/echo-tls-plain.json")"
    row echo-tls "echo api, v1 SSS over TLS, $CONC conns, 1 in flight each" "$(fmt "$ours") req/s" \
        "$(lat "$RAW/echo-tls.json")" "plain echo, same load (dora bench): $(fmt "$theirs") req/s" \
        "$(lat "$RAW/echo-tls-plain.json")" "$(ratio "$ours" "$theirs")"
    us_tls="$(per_call "${P_HOST[echo-tls]:-}" "${P_N[echo-tls]:-}")"
    us_plain="$(per_call "${P_HOST[echo-tls-plain]:-}" "${P_N[echo-tls-plain]:-}")"
    note "echo-tls: host CPU per call $us_tls µs over TLS vs $us_plain µs plain (ratio $(ratio "$us_tls" "$us_plain")); $(openssl version 2>/dev/null | cut -d' ' -f1-2); the TLS phase includes its $CONC handshakes"
    host_up "$WORKERS"
}

# echo_check ID MODE [TLS FLAGS]: the real client reads from dora_tls_baseline
# the answer the host gives to the same echo call (but its guid and server).
echo_check() {
    local id="$1" mode="$2" param='{"msg":"hello","n":[1,2.5,null,true,{"k":"v"}]}' want got
    shift 2
    want="$("$DORA" call --server "127.0.0.1:$HOST_PORT" "${HOST_TLS[@]}" --proto v1 --json echo "$param" 2>&1 |
        sed 's/"guid":"[0-9a-f]*",//; s/"server":"[^"]*",//')"
    got="$("$DORA" call --server "127.0.0.1:$TB_PORT" "$@" --proto v1 --json echo "$param" 2>&1 |
        sed 's/"guid":"[0-9a-f]*",//; s/"server":"[^"]*",//')"
    [[ "$got" == "$want" && "$got" == *'"code":0,'* ]] ||
        note "$id: dora call echo answered differently: host '$want', dora_tls_baseline $mode '$got'"
}

# echo-tls-poco: the echo-tls load (and its plain twin) against
# dora_tls_baseline, the v1 echo route over Poco NetSSL: the other design
# issue 16 asked to measure. Runs after scenario_echo_tls, whose phases
# (echo-tls, echo-tls-plain) the ratios are taken against.
# poco_pair DESIGN ID: phases ID-plain and ID.
poco_pair() {
    local design="$1" id="$2"
    tls_baseline_up plain "$design"
    echo_check "$id" plain
    phase_begin "$id-plain"
    dora_bench "$id-plain" --server "127.0.0.1:$TB_PORT" --api echo --proto v1 -c "$CONC" -d "$POCO_DUR" || true
    phase_end "$id-plain" "$(jnum cpu_seconds "$RAW/$id-plain.json")" "$(jnum calls "$RAW/$id-plain.json")"
    tls_baseline_up tls "$design"
    echo_check "$id" tls --tls --ca "$RAW/tls/ca.pem"
    phase_begin "$id"
    dora_bench "$id" --server "127.0.0.1:$TB_PORT" --tls --ca "$RAW/tls/ca.pem" --api echo --proto v1 \
        -c "$CONC" -d "$POCO_DUR" || true
    phase_end "$id" "$(jnum cpu_seconds "$RAW/$id.json")" "$(jnum calls "$RAW/$id.json")"
    stop_pid "$TB_PID"
    TB_PID=""
    local f bad
    for f in "$id-plain" "$id"; do
        bad="$(jnum failed_requests "$RAW/$f.json")"
        [[ "${bad:-0}" == 0 ]] || note "$f: dora bench counted $bad failed requests against dora_tls_baseline"
    done
    local ours theirs what
    ours="$(jnum requests_per_sec "$RAW/echo-tls.json")"
    theirs="$(jnum requests_per_sec "$RAW/$id.json")"
    case "$design" in
    threads) what="Poco::Net::TCPServer, a thread per connection" ;;
    reactor) what="one Poco::Net::SocketReactor thread" ;;
    esac
    row "$id" "the echo-tls load: host's event-loop TLS vs Poco NetSSL ($what); ratio = event loop / Poco" \
        "$(fmt "$ours") req/s" "$(lat "$RAW/echo-tls.json")" \
        "dora_tls_baseline, Poco NetSSL $design: $(fmt "$theirs") req/s" "$(lat "$RAW/$id.json")" \
        "$(ratio "$ours" "$theirs")"
    TLS_SIDES+=("$id-plain|dora_tls_baseline $design, plain|TB" "$id|dora_tls_baseline $design, Poco NetSSL|TB")
}

scenario_echo_tls_poco() {
    TLS_SIDES=("echo-tls-plain|dorahost, plain|HOST" "echo-tls|dorahost, event-loop TLS (OpenSSL)|HOST")
    [[ "$POCO_DESIGN" == reactor ]] || poco_pair threads echo-tls-poco
    [[ "$POCO_DESIGN" == threads ]] || poco_pair reactor echo-tls-poco-reactor
}

scenario_add_user() {
    host_up "$SYNC_WORKERS"
    local users_ddl
    users_ddl="$(mysql_q -e "SHOW CREATE TABLE $BENCH_DB.users" | cut -f2- | sed 's/\\n/ /g')"
    phase_begin add_user host
    dora_bench add_user --server "127.0.0.1:$HOST_PORT" --api add_user --mode sync -c "$CONC" \
        -d "$DURATION" --clean --verify "${MYSQL_FLAGS[@]}" --mysql-db "$BENCH_DB" || true
    phase_end add_user "$(jnum cpu_seconds "$RAW/add_user.json")" "$(jnum calls "$RAW/add_user.json")"
    # The same load on the shipped task_workers: fewer workers than
    # connections, so add_user's group_commit has calls to group.
    host_up "$WORKERS"
    phase_begin add_user-grouped host
    dora_bench add_user-grouped --server "127.0.0.1:$HOST_PORT" --api add_user --mode sync -c "$CONC" \
        -d "$DURATION" --clean --verify "${MYSQL_FLAGS[@]}" --mysql-db "$BENCH_DB" || true
    phase_end add_user-grouped "$(jnum cpu_seconds "$RAW/add_user-grouped.json")" "$(jnum calls "$RAW/add_user-grouped.json")"
    # The baseline writes the same rows into a fresh table of the same shape.
    mysql_q "$INSERT_DB" -e "DROP TABLE IF EXISTS users; $(printf '%b' "$users_ddl")"
    phase_begin add_user-mysql
    dora_bench add_user-mysql --mysql-insert "${MYSQL_FLAGS[@]}" --mysql-db "$INSERT_DB" \
        --mysql-table users -c "$CONC" -d "$DURATION" || true
    phase_end add_user-mysql "$(jnum cpu_seconds "$RAW/add_user-mysql.json")" "$(jnum calls "$RAW/add_user-mysql.json")"
    local n
    n="$(jnum ok_requests "$RAW/add_user-mysql.json")"
    n="${n:-0}"
    ((n >= 200)) || n=200
    log "mariadb-slap: $n single-row INSERTs, concurrency $CONC"
    phase_begin add_user-slap
    /usr/bin/time -f '%U %S' -o "$RAW/add_user-slap.time" \
        mariadb-slap --host="$MY_HOST" --port="$MY_PORT" --user="$MY_USER" --password="$MY_PASS" \
        --create-schema="$SLAP_DB" --concurrency="$CONC" --number-of-queries="$n" \
        --iterations=1 --create="$(printf '%b' "$users_ddl")" \
        --query="INSERT INTO users (name, department) VALUES (UUID(), 'bench')" >"$RAW/add_user-slap.txt" 2>&1 ||
        note "add_user: mariadb-slap failed: $(tail -2 "$RAW/add_user-slap.txt" | tr '\n' ' ')"
    phase_end add_user-slap "$(time_cpu "$RAW/add_user-slap.time")" "$n"
    local ours theirs secs slap_rps
    ours="$(jnum calls_per_sec "$RAW/add_user.json")"
    theirs="$(jnum requests_per_sec "$RAW/add_user-mysql.json")"
    secs="$(awk '/Average number of seconds/{print $(NF-1)}' "$RAW/add_user-slap.txt")"
    slap_rps="$(awk -v n="$n" -v s="${secs:-0}" 'BEGIN{ if (s > 0) printf "%.0f", n / s }')"
    row add_user "sync add_user, $CONC conns, task_workers $SYNC_WORKERS" "$(fmt "$ours") writes/s" \
        "$(lat "$RAW/add_user.json")" \
        "INSERT autocommit (dora bench --mysql-insert): $(fmt "$theirs") writes/s" \
        "$(lat "$RAW/add_user-mysql.json")" "$(ratio "$ours" "$theirs")"
    local grouped
    grouped="$(jnum calls_per_sec "$RAW/add_user-grouped.json")"
    row add_user-grouped "the same, task_workers $WORKERS (shipped): group_commit groups the queued calls" \
        "$(fmt "$grouped") writes/s" "$(lat "$RAW/add_user-grouped.json")" "the same INSERT run" "-" \
        "$(ratio "$grouped" "$theirs")"
    row add_user-slap "(second reference)" "" "" \
        "mariadb-slap INSERT -c $CONC, $(fmt "$n") queries: $(fmt "$slap_rps") writes/s" "-" \
        "$(ratio "$ours" "$slap_rps")"
    local lost twice
    lost="$(jsum lost "$RAW/add_user.json")"
    twice="$(jsum applied_twice "$RAW/add_user.json")"
    note "add_user: verify found $lost acknowledged writes lost, $twice applied twice"
    lost="$(jsum lost "$RAW/add_user-grouped.json")"
    twice="$(jsum applied_twice "$RAW/add_user-grouped.json")"
    note "add_user-grouped: verify found $lost acknowledged writes lost, $twice applied twice"
}

# wrk_run NAME URL: wrk with the POST script, under /usr/bin/time
wrk_run() {
    local name="$1" url="$2"
    log "wrk $name: -t1 -c$CONC -d${WRK_DUR}s $url"
    /usr/bin/time -f '%U %S' -o "$RAW/$name.time" \
        wrk -t1 -c"$CONC" -d"${WRK_DUR}s" -s "$ROOT/bench/wrk/post.lua" "$url" >"$RAW/$name.txt" 2>&1 ||
        note "$name: wrk failed: $(tail -2 "$RAW/$name.txt" | tr '\n' ' ')"
    local non2xx errs
    non2xx="$(kv non2xx "$RAW/$name.txt")"
    errs="$(kv errors "$RAW/$name.txt")"
    if [[ "${non2xx:-0}" != 0 || "${errs:-0}" != 0 ]]; then
        note "$name: wrk saw ${non2xx:-?} non-2xx answers and ${errs:-?} socket errors"
    fi
}

scenario_http() {
    host_up "$WORKERS"
    http_baseline_up
    local body='{"guid":"5d41402abc4b2a76b9719d911017c592","api":{"hi":{"name":"echo","param":{"msg":"hello"}}}}'
    local answer
    answer="$(curl -s -m 5 -H 'Content-Type: application/json' --data-binary "$body" "http://127.0.0.1:$HTTP_PORT/api/multisync" || true)"
    echo "$answer" >"$RAW/http-check.json"
    if [[ "$answer" != *'"code":0,"msg":"OK","data":{"hi":{'*'"code":0'* ]]; then
        note "http: the gateway's answer to the wrk body is not a success: $answer"
    fi
    phase_begin http host
    wrk_run http "http://127.0.0.1:$HTTP_PORT/api/multisync"
    phase_end http "$(time_cpu "$RAW/http.time")" "$(kv requests "$RAW/http.txt")"
    phase_begin http-poco
    wrk_run http-poco "http://127.0.0.1:$HB_PORT/api/multisync"
    phase_end http-poco "$(time_cpu "$RAW/http-poco.time")" "$(kv requests "$RAW/http-poco.txt")"
    local ours theirs
    ours="$(kv rps "$RAW/http.txt")"
    theirs="$(kv rps "$RAW/http-poco.txt")"
    row http "POST /api/multisync, 1 echo call, wrk -t1 -c$CONC" "$(fmt "$ours") req/s" \
        "$(wlat "$RAW/http.txt")" "bare Poco HTTPServer, 32 threads (wrk): $(fmt "$theirs") req/s" \
        "$(wlat "$RAW/http-poco.txt")" "$(ratio "$ours" "$theirs")"
}

# redis_aof_rewrite: BGREWRITEAOF on the queue Redis (when its AOF is on) and
# wait up to 60 s for it to finish.
redis_aof_rewrite() {
    [[ "$(qredis config get appendonly 2>/dev/null | tail -1)" == yes ]] || return 0
    qredis bgrewriteaof >/dev/null 2>&1 || return 0
    local _ state
    for _ in $(seq 1 600); do
        sleep 0.1
        state="$(qredis info persistence 2>/dev/null | tr -d '\r')"
        [[ "$state" == *aof_rewrite_in_progress:0* && "$state" != *aof_rewrite_scheduled:1* ]] && return 0
    done
    log "warning: the queue Redis' AOF rewrite did not finish in 60 s"
}

# seed_run NAME N: the seed's test; sets SEED_WALL SEED_WPS SEED_LOST SEED_TWICE SEED_MODE_USED
seed_run() {
    local name="$1" n="$2" f
    # Every seed starts from empty tables, as the seed's own test did: the
    # users rows and the host's ledger (dora_processed_tasks) of earlier
    # runs would otherwise grow by 3N rows a run, past the buffer pool, and
    # deleting them (--clean) leaves InnoDB purging during the next run. The
    # host is restarted so that it creates its ledger table again.
    stop_pid "$HOST_PID"
    HOST_PID=""
    mysql_q "$BENCH_DB" -e "TRUNCATE TABLE users; DROP TABLE IF EXISTS dora_processed_tasks"
    # The same for the queue Redis: the bench host's keys of earlier runs
    # (status hashes live for queue.status_ttl_sec, ~200 MB per 1M-iteration
    # seed) are removed, and the AOF rewritten once before the phase. Left
    # in place they made every later run's AOF rewrite (a fork and a
    # rewrite of the whole data set) a second or more of disk writes
    # competing with MariaDB's fsyncs in the middle of the seed.
    local keys
    qredis --scan --pattern 'dora:bench:*' 2>/dev/null |
        while mapfile -t -n 500 keys && ((${#keys[@]})); do qredis unlink "${keys[@]}" >/dev/null 2>&1; done || true
    redis_aof_rewrite
    host_up "$WORKERS"
    phase_begin "$name" host
    dora_bench "$name" --server "127.0.0.1:$HOST_PORT" --scenario seed --mode "$SEED_MODE" \
        --proto "$SEED_PROTO" -c "$CONC" -n "$n" --verify --clean --verify-wait "$VERIFY_WAIT" \
        "${MYSQL_FLAGS[@]}" --mysql-db "$BENCH_DB" || true
    f="$RAW/$name.json"
    phase_end "$name" "$(jnum cpu_seconds "$f")" "$(jnum calls "$f")"
    local secs waited writes
    secs="$(jnum seconds "$f")"
    waited="$(jnum waited_seconds "$f")"
    SEED_ACCEPT="$secs"
    SEED_WALL="$(awk -v a="${secs:-0}" -v b="${waited:-0}" 'BEGIN{printf "%.2f", a + b}')"
    writes="$(jnum ok_calls "$f")"
    SEED_WRITES="${writes:-0}"
    SEED_WPS="$(awk -v w="${writes:-0}" -v t="$SEED_WALL" 'BEGIN{ if (t > 0) printf "%.0f", w / t; else print 0 }')"
    SEED_LOST="$(jsum lost "$f")"
    SEED_TWICE="$(jsum applied_twice "$f")"
    SEED_MODE_USED="$(jstr mode "$f")"
    local nt
    nt="$(jstr note "$f")"
    [[ -n "$nt" ]] && note "$name: $nt"
    return 0
}

scenario_seed() {
    seed_run seed "$SEED_N"
    row seed "seed: $(fmt "$SEED_N") SRM iterations = $(fmt $((SEED_N * 3))) writes, ${SEED_MODE_USED:-?}, $CONC conns, $SEED_PROTO" \
        "$(fmt "$SEED_WPS") writes/s, $(f1 "$SEED_WALL") s to land" \
        "$(lat "$RAW/seed.json") per request" "-" "-" \
        "lost $SEED_LOST, twice $SEED_TWICE"
    note "seed: accepting took $(f1 "$SEED_ACCEPT") s, the last write landed $(f1 "$(awk -v a="$SEED_WALL" -v b="${SEED_ACCEPT:-0}" 'BEGIN{print a - b}')") s later (wall $(f1 "$SEED_WALL") s)"
}

scenario_scale_seed() {
    local n
    for n in $SCALE_SEED; do
        if [[ "$n" == "$SEED_N" && -s "$RAW/seed.json" ]] && want seed; then
            seed_run_from_file seed
        else
            seed_run "seed-$n" "$n"
        fi
        SCALE_SEED_ROWS+=("| $(fmt "$n") | $(fmt $((n * 3))) | $(f1 "$SEED_ACCEPT") | $(f1 "$SEED_WALL") | $(fmt "$SEED_WPS") | $(awk -v w="$SEED_WALL" -v n="$n" 'BEGIN{ if (n > 0) printf "%.1f", w * 1e6 / n }') | $SEED_LOST | $SEED_TWICE |")
    done
}
# The seed row already ran this size: read its numbers again.
seed_run_from_file() {
    local f="$RAW/$1.json" secs waited
    secs="$(jnum seconds "$f")"
    waited="$(jnum waited_seconds "$f")"
    SEED_ACCEPT="$secs"
    SEED_WALL="$(awk -v a="${secs:-0}" -v b="${waited:-0}" 'BEGIN{printf "%.2f", a + b}')"
    SEED_WPS="$(awk -v w="$(jnum ok_calls "$f")" -v t="$SEED_WALL" 'BEGIN{ if (t > 0) printf "%.0f", w / t; else print 0 }')"
    SEED_LOST="$(jsum lost "$f")"
    SEED_TWICE="$(jsum applied_twice "$f")"
}

scenario_scale_echo() {
    local c name
    host_up "$WORKERS"
    for c in $SCALE_CONNS; do
        name="scale-echo-c$c"
        phase_begin "$name" host
        dora_bench "$name" --server "127.0.0.1:$HOST_PORT" --api echo --proto v1 -c "$c" -d "$SCALE_DUR" \
            --connect-timeout 10000 || true
        phase_end "$name" "$(jnum cpu_seconds "$RAW/$name.json")" "$(jnum calls "$RAW/$name.json")"
        local rps hc
        rps="$(jnum requests_per_sec "$RAW/$name.json")"
        hc="$(awk -v c="${P_HOST[$name]:-}" -v n="$(jnum requests "$RAW/$name.json")" 'BEGIN{ if (n > 0 && c != "") printf "%.1f", c * 1e6 / n; else print "-" }')"
        SCALE_ECHO_ROWS+=("| $c | $(fmt "$rps") | $(lat "$RAW/$name.json") | $hc | $(fmt "$(jnum failed_requests "$RAW/$name.json")") |")
    done
}

# In an order that restarts the host least: task_workers W first, then the sync workers.
want echo && echo_pair echo "echo api, v1 SSS, $CONC conns, 1 in flight each" v1 1
want echo-p16 && echo_pair echo-p16 "echo api, v2, $CONC conns, pipeline $PIPE" v2 "$PIPE"
want echo-tls && scenario_echo_tls
TLS_SIDES=()
want echo-tls-poco && scenario_echo_tls_poco
want http && scenario_http
want seed && scenario_seed
want scale-echo && scenario_scale_echo
want scale-seed && scenario_scale_seed
want add_user && scenario_add_user

# ------------------------------------------------------------ summary

# The main table in the issue's order, whatever order the phases ran in.
ordered_rows() {
    local id r
    for id in echo echo-pooled echo-p16 echo-tls echo-tls-poco echo-tls-poco-reactor add_user add_user-grouped add_user-slap http seed; do
        for r in "${ROWS[@]}"; do [[ "$r" == "| $id |"* ]] && echo "$r"; done
    done
    return 0
}

SUMMARY="$OUT/summary.md"
{
    echo "# dorahost bench, $(sed -n 's/^date: //p' "$RAW/machine.txt")"
    echo
    sed 's/^/    /' "$RAW/machine.txt"
    if ((${#ROWS[@]})); then
        echo
        echo "## Scenarios and baselines"
        echo
        echo "| scenario | what | dorahost | p50 / p99 / max | baseline (same run) | p50 / p99 / max | ratio |"
        echo "|---|---|---:|---|---|---|---:|"
        ordered_rows
        echo
        echo "Ratio = dorahost throughput / baseline throughput. Every Dora, Redis PING and MySQL"
        echo "INSERT load is dora bench's one epoll thread; both HTTP sides are wrk -t1."
    fi
    if ((${#PHASES[@]})); then
        echo
        echo "## Where the CPU went (CPU-seconds per phase)"
        echo
        echo "| phase | calls | wall s | dorahost | mariadbd | redis (queue) | redis (PING baseline) | http_baseline | dora_tls_baseline | load generator | busy of $NCPU cores | dorahost µs/call | mariadbd µs/call |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for p in "${PHASES[@]}"; do
            busy="$(awk -v w="${P_WALL[$p]}" -v n="$NCPU" -v a="${P_HOST[$p]:-0}" -v b="${P_MY[$p]:-0}" \
                -v c="${P_QR[$p]:-0}" -v d="${P_BR[$p]:-0}" -v e="${P_HB[$p]:-0}" -v f="${P_LG[$p]:-0}" \
                -v g="${P_TB[$p]:-0}" 'BEGIN{ if (w > 0) printf "%.0f%%", 100 * (a + b + c + d + e + f + g) / (w * n) }')"
            echo "| $p | $(fmt "${P_N[$p]:-}") | ${P_WALL[$p]} | $(f2 "${P_HOST[$p]:-}") | $(f2 "${P_MY[$p]:-}") | $(f2 "${P_QR[$p]:-}") | $(f2 "${P_BR[$p]:-}") | $(f2 "${P_HB[$p]:-}") | $(f2 "${P_TB[$p]:-}") | $(f2 "${P_LG[$p]:-}") | $busy | $(per_call "${P_HOST[$p]:-}" "${P_N[$p]:-}") | $(per_call "${P_MY[$p]:-}" "${P_N[$p]:-}") |"
        done
        echo
        echo "From utime+stime in /proc/<pid>/stat before and after each phase (the load generator:"
        echo "dora bench's own getrusage, wrk and mariadb-slap under /usr/bin/time). mariadbd and the"
        echo "queue Redis are shared: anything else using them in the same seconds is counted too."
        echo "Calls: requests answered (seed: writes, 3 per iteration; its phase lasts until they landed)."
        echo
        echo "## MySQL connections and Redis memory per phase"
        echo
        echo "| phase | host mysql_connections (getStat, max) | sessions on the bench databases (processlist, max) | Max_used_connections (since MariaDB start) | queue Redis used_memory before / peak / after (MiB) |"
        echo "|---|---:|---:|---:|---|"
        for p in "${PHASES[@]}"; do
            echo "| $p | ${P_HC[$p]} | ${P_PL[$p]} | ${P_MUC[$p]:--} | $(mib "${P_M0[$p]:-}") / $(mib "${P_MP[$p]:-}") / $(mib "${P_M1[$p]:-}") |"
        done
    fi
    if ((${#TLS_SIDES[@]})); then
        echo
        echo "## TLS: the host's event loop vs Poco NetSSL (echo, v1 SSS, $CONC conns)"
        echo
        echo "| phase | server | req/s | p50 / p99 / max | server CPU µs per call | TLS / plain: req/s | TLS / plain: CPU per call | load generator µs per call |"
        echo "|---|---|---:|---|---:|---:|---:|---:|"
        declare -A tls_us tls_rps
        for side in "${TLS_SIDES[@]}"; do
            IFS='|' read -r p label who <<<"$side"
            if [[ "$who" == HOST ]]; then us="$(per_call "${P_HOST[$p]:-}" "${P_N[$p]:-}")"; else us="$(per_call "${P_TB[$p]:-}" "${P_N[$p]:-}")"; fi
            rps="$(jnum requests_per_sec "$RAW/$p.json")"
            tls_us[$p]="$us" tls_rps[$p]="$rps"
            plain="${p%-tls}-tls-plain"
            [[ "$p" == echo-tls-poco* ]] && plain="$p-plain"
            if [[ "$p" == *-plain ]]; then r1="-" r2="-"; else
                r1="$(ratio "$rps" "${tls_rps[$plain]:-}")"
                r2="$(ratio "$us" "${tls_us[$plain]:-}")"
            fi
            echo "| $p | $label | $(fmt "$rps") | $(lat "$RAW/$p.json") | $us | $r1 | $r2 | $(per_call "${P_LG[$p]:-}" "${P_N[$p]:-}") |"
        done
        echo
        echo "Server CPU: utime+stime of dorahost or dora_tls_baseline over the phase (the TLS phases"
        echo "include their $CONC handshakes). Every side is the same dora bench load; the echo-tls-poco"
        echo "row's ratio is the host's TLS req/s over Poco NetSSL's."
        for side in "${TLS_SIDES[@]}"; do
            IFS='|' read -r p _ who <<<"$side"
            [[ "$who" == TB && "$p" != *-plain ]] || continue
            echo "CPU per TLS call, event loop / Poco NetSSL ($p): $(ratio "${tls_us[echo-tls]:-}" "${tls_us[$p]:-}")."
        done
    fi
    if ((${#SCALE_SEED_ROWS[@]} + ${#SCALE_ECHO_ROWS[@]})); then
        echo
        echo "## Scaling"
    fi
    if ((${#SCALE_SEED_ROWS[@]})); then
        echo
        echo "The seed, $CONC connections, ${SEED_MODE} ($SEED_PROTO); wall = until every write landed."
        echo
        echo "| iterations | writes | accepting s | wall s | writes/s | wall µs per iteration | lost | twice |"
        echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
        printf '%s\n' "${SCALE_SEED_ROWS[@]}"
    fi
    if ((${#SCALE_ECHO_ROWS[@]})); then
        echo
        echo "Echo, v1 SSS, one request in flight per connection, ${SCALE_DUR} s each."
        echo
        echo "| connections | req/s | p50 / p99 / max | host CPU µs per call | failed |"
        echo "|---:|---:|---|---:|---:|"
        printf '%s\n' "${SCALE_ECHO_ROWS[@]}"
    fi
    if ((${#NOTES[@]})); then
        echo
        echo "## Notes"
        echo
        for n in "${NOTES[@]}"; do echo "* $n"; done
    fi
    echo
    echo "Raw output: raw/ (dora bench JSON and stderr, wrk and mariadb-slap text, per-phase samples$( ((PERF)) && echo ', perf reports'))."
} >"$SUMMARY"
cat "$SUMMARY"
log "summary written to $SUMMARY"
