#!/usr/bin/env bash
# Runs dorahost's load scenarios side by side with their physical baselines
# on this machine, and writes the raw output plus a summary table (with
# ratios) to bench/results/<date>-<host>/.
#
#   scenario   ours                                   baseline
#   echo       dora bench --api echo -c C             redis-benchmark -t ping -c C
#   echo-P16   ... -P 16 (v2 pipelining)              redis-benchmark -t ping -c C -P 16
#   add_user   dora bench --api add_user (sync) -c C  mariadb-slap single-row INSERT, concurrency C
#   seed       dora bench --scenario seed (async when the host takes it) -c C,
#              N iterations = 3N writes, --verify     the same mariadb-slap INSERT rate
#
# While the seed scenario runs, the MySQL connections of the host and
# Redis used_memory are sampled every second (raw/seed-samples.tsv).
#
# The host under test is started here on a free port with its own database
# (dorahost_test_bench) and its own Redis streams (dora:bench:*), so the
# runs never touch a developer's data. The private MariaDB and Redis come
# from scripts/services.sh (started if needed).
set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

usage() {
    cat <<'EOT'
usage: bench/run.sh [OPTIONS] [SCENARIO...]

scenarios: echo add_user seed (default: all, in that order)

options:
  --quick               short runs (a smoke test): echo 50000, add_user 5000, seed 2000
  --echo-requests N     echo requests per run (default 1000000)
  --insert-requests N   add_user calls and slap INSERTs (default 100000)
  --seed-iterations N   seed iterations, 3 writes each (default 1000000)
  --connections C       concurrency of every scenario and baseline (default 50)
  --seed-mode MODE      auto (default: async when the host takes it) | sync | async
  --proto v1|v2         generation for the seed scenario (default v1, the seed's clients)
  --task-workers N      host task workers = MySQL connections (default 4)
  --build DIR           build tree with bin/dorahost, bin/dora, plugins (default build)
  --out DIR             results root (default bench/results)
  -h, --help
EOT
}

ECHO_N=1000000
INSERT_N=100000
SEED_N=1000000
CONC=50
SEED_MODE=auto
SEED_PROTO=v1
WORKERS=4
BUILD="$ROOT/build"
OUT_ROOT="$ROOT/bench/results"
SCENARIOS=()

while (($#)); do
    case "$1" in
    --quick) ECHO_N=50000 INSERT_N=5000 SEED_N=2000 ;;
    --echo-requests) ECHO_N="$2"; shift ;;
    --insert-requests) INSERT_N="$2"; shift ;;
    --seed-iterations) SEED_N="$2"; shift ;;
    --connections) CONC="$2"; shift ;;
    --seed-mode) SEED_MODE="$2"; shift ;;
    --proto) SEED_PROTO="$2"; shift ;;
    --task-workers) WORKERS="$2"; shift ;;
    --build) BUILD="$(cd "$2" && pwd -P)"; shift ;;
    --out) mkdir -p "$2"; OUT_ROOT="$(cd "$2" && pwd -P)"; shift ;;
    -h | --help) usage; exit 0 ;;
    echo | add_user | seed) SCENARIOS+=("$1") ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
((${#SCENARIOS[@]})) || SCENARIOS=(echo add_user seed)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

DORA="$BUILD/bin/dora"
DORAHOST="$BUILD/bin/dorahost"
[[ -x "$DORA" && -x "$DORAHOST" ]] || die "no $DORA or $DORAHOST: build first (scripts/run.sh or cmake --build $BUILD)"
for tool in redis-benchmark redis-server redis-cli mariadb-slap mariadb; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/deps.sh installs it)"
done

# ------------------------------------------------------------ services

"$ROOT/scripts/services.sh" start >&2
eval "$("$ROOT/scripts/services.sh" env)"
MY_HOST="$DORAHOST_MYSQL_HOST" MY_PORT="$DORAHOST_MYSQL_PORT"
MY_USER="$DORAHOST_MYSQL_USER" MY_PASS="$DORAHOST_MYSQL_PASSWORD"
BENCH_DB=dorahost_test_bench
SLAP_DB=dorahost_test_slap
REDIS_SOCK="${DORAHOST_REDIS_SOCKET:-}"
mysql_q() { mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -p"$MY_PASS" -N -B "$@"; }

mysql_q -e "CREATE DATABASE IF NOT EXISTS $BENCH_DB"
for f in "$ROOT"/config/schema/*.sql; do mysql_q "$BENCH_DB" <"$f"; done
MYSQL_FLAGS=(--mysql-host "$MY_HOST" --mysql-port "$MY_PORT" --mysql-user "$MY_USER"
    --mysql-password "$MY_PASS" --mysql-db "$BENCH_DB")

# ------------------------------------------------------------ results dir

STAMP="$(date -u +%Y%m%d-%H%M%S)"
MACHINE="$(hostname -s 2>/dev/null || hostname)"
OUT="$OUT_ROOT/$STAMP-$MACHINE"
RAW="$OUT/raw"
mkdir -p "$RAW"
log "results: $OUT"

CPU="$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)"
MEM_GB="$(awk '/^MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)"
FLUSH="$(mysql_q -e 'SELECT @@innodb_flush_log_at_trx_commit' 2>/dev/null || echo '?')"
MARIADB_V="$(mysql_q -e 'SELECT VERSION()' 2>/dev/null || echo '?')"
REDIS_V="$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $MACHINE, $CPU, $(nproc) cores, ${MEM_GB} GB RAM, $(uname -sr)"
    echo "mariadb: $MARIADB_V, innodb_flush_log_at_trx_commit=$FLUSH"
    echo "redis: $REDIS_V"
    echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (modified tree)')"
    echo "host: task_workers=$WORKERS, io_threads=1; load: dora bench (1 thread, epoll)"
    echo "sizes: echo $ECHO_N requests, add_user $INSERT_N, seed $SEED_N iterations; concurrency $CONC"
} >"$RAW/machine.txt"

# ------------------------------------------------------------ helpers

free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "no free port found"
}

# jnum KEY FILE: the first number after "KEY": in a one-line JSON document.
# (Empty when the key is absent.)
jnum() { { grep -o "\"$1\":[-0-9.eE+]*" "$2" || true; } | head -n1 | cut -d: -f2; }
# jsum KEY FILE: the sum of every such number.
jsum() { { grep -o "\"$1\":[-0-9.eE+]*" "$2" || true; } | cut -d: -f2 | awk '{s+=$1} END{printf "%d", s}'; }
# jstr KEY FILE
jstr() { { grep -o "\"$1\":\"[^\"]*\"" "$2" || true; } | head -n1 | cut -d'"' -f4; }
# fmt N: rounded, with thousands separators (no locale needed).
fmt() {
    awk -v n="$1" 'BEGIN{ s = sprintf("%.0f", n); neg = (substr(s, 1, 1) == "-"); if (neg) s = substr(s, 2)
        out = ""; while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        printf "%s%s%s", (neg ? "-" : ""), s, out }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

HOST_PID=""
REDIS_PID=""
cleanup() {
    [[ -n "$HOST_PID" ]] && kill "$HOST_PID" 2>/dev/null && wait "$HOST_PID" 2>/dev/null
    [[ -n "$REDIS_PID" ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    true
}
trap cleanup EXIT

start_host() {
    HOST_PORT="$(free_port)"
    local cfg="$RAW/dorahost.yaml"
    cat >"$cfg" <<EOF
server:
  tcp: 127.0.0.1:$HOST_PORT
  http_enabled: false
  task_workers: $WORKERS
  log_level: warning
mysql:
  host: $MY_HOST
  port: $MY_PORT
  user: $MY_USER
  password: "$MY_PASS"
  database: $BENCH_DB
plugins:
  plugins_dir: $BUILD/lib/dorahost/plugins
  routes_dir: $BUILD/etc/dorahost/routes.d
queue:
  stream: "dora:bench:tasks"
  dead_letter_stream: "dora:bench:dead"
  node_id: "bench"
EOF
    if [[ -n "$REDIS_SOCK" ]]; then printf 'redis:\n  socket: %s\n' "$REDIS_SOCK" >>"$cfg"; fi
    # The host sees exactly this file: no DORAHOST_* overrides.
    env $(env | awk -F= '/^DORAHOST_/{printf "-u %s ", $1}') \
        "$DORAHOST" --config "$cfg" >"$RAW/dorahost.log" 2>&1 &
    HOST_PID=$!
    for _ in $(seq 1 100); do
        if "$DORA" stat --server "127.0.0.1:$HOST_PORT" --timeout 1000 >/dev/null 2>&1; then
            log "dorahost pid $HOST_PID on 127.0.0.1:$HOST_PORT (db $BENCH_DB)"
            return
        fi
        kill -0 "$HOST_PID" 2>/dev/null || die "dorahost exited at start: $(tail -5 "$RAW/dorahost.log")"
        sleep 0.2
    done
    die "dorahost did not answer in 20 s (see $RAW/dorahost.log)"
}

# dora_bench NAME ARGS...: runs dora bench with a JSON summary into raw/NAME.json
dora_bench() {
    local name="$1"
    shift
    log "dora bench $name: $*"
    local rc=0
    "$DORA" bench --server "127.0.0.1:$HOST_PORT" --json --progress-sec 10 "$@" \
        >"$RAW/$name.json" 2> >(tee "$RAW/$name.err" >&2) || rc=$?
    echo "exit $rc" >>"$RAW/$name.err"
    [[ -s "$RAW/$name.json" ]] || die "dora bench $name printed no summary (see $RAW/$name.err)"
    return 0
}

SLAP_CREATE="CREATE TABLE users (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, department VARCHAR(64) NOT NULL DEFAULT '', visits BIGINT NOT NULL DEFAULT 0, created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), UNIQUE KEY uq_users_name (name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"

# slap N: mariadb-slap, N single-row INSERTs into a users-shaped table at
# concurrency CONC; sets SLAP_RPS.
slap() {
    local n="$1" file="$RAW/slap-insert-c$CONC.txt"
    if [[ -s "$file" ]]; then :; else
        log "mariadb-slap: $n single-row INSERTs, concurrency $CONC"
        mariadb-slap --host="$MY_HOST" --port="$MY_PORT" --user="$MY_USER" --password="$MY_PASS" \
            --create-schema="$SLAP_DB" --concurrency="$CONC" --number-of-queries="$n" \
            --iterations=1 --create="$SLAP_CREATE" \
            --query="INSERT INTO users (name, department) VALUES (UUID(), 'bench')" >"$file" 2>&1 ||
            die "mariadb-slap failed: $(tail -3 "$file")"
        echo "queries: $n" >>"$file"
    fi
    local secs queries
    secs="$(awk '/Average number of seconds/{print $(NF-1)}' "$file")"
    queries="$(awk '/^queries:/{print $2}' "$file")"
    SLAP_RPS="$(awk -v n="$queries" -v s="$secs" 'BEGIN{ if (s > 0) printf "%.0f", n / s; else print 0 }')"
}

ROWS=()   # summary table rows
NOTES=()

row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 |"); }

lat() { echo "$(jnum p50 "$1") / $(jnum p99 "$1") ms"; }

errors_of() {
    local f="$1" failed
    failed="$(( $(jnum failed_requests "$f") + 0 ))"
    if ((failed > 0)); then NOTES+=("$2: $failed failed requests (see raw/$(basename "$f"))"); fi
}

# ------------------------------------------------------------ scenarios

start_host

for scenario in "${SCENARIOS[@]}"; do
    case "$scenario" in
    echo)
        RPORT="$(free_port)"
        redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no >"$RAW/redis-baseline.log" 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
        for p in 1 16; do
            log "redis-benchmark -t ping -c $CONC -P $p -n $ECHO_N"
            redis-benchmark -h 127.0.0.1 -p "$RPORT" -t ping -c "$CONC" -P "$p" -n "$ECHO_N" --csv \
                >"$RAW/redis-ping-P$p.csv" 2>&1
            dora_bench "echo-P$p" --api echo -c "$CONC" -P "$p" -n "$ECHO_N" --proto v2
            redis_rps="$(awk -F'","' '/PING_MBULK/{print $2}' "$RAW/redis-ping-P$p.csv")"
            redis_p="$(awk -F'","' '/PING_MBULK/{print $5 " / " $7}' "$RAW/redis-ping-P$p.csv")"
            ours="$(jnum requests_per_sec "$RAW/echo-P$p.json")"
            label="echo, $CONC conns"
            ((p > 1)) && label="echo, $CONC conns, pipeline $p"
            row "$label" "$(fmt "$ours") req/s ($(lat "$RAW/echo-P$p.json"))" \
                "redis-benchmark ping -c $CONC$( ((p > 1)) && echo " -P $p"): $(fmt "$redis_rps") req/s ($redis_p ms)" \
                "$(ratio "$ours" "$redis_rps")" "$(fmt "$(jnum requests "$RAW/echo-P$p.json")") requests"
            errors_of "$RAW/echo-P$p.json" "$label"
        done
        kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
        ;;
    add_user)
        slap "$INSERT_N"
        dora_bench add_user --api add_user --mode sync -c "$CONC" -n "$INSERT_N" --clean "${MYSQL_FLAGS[@]}"
        ours="$(jnum calls_per_sec "$RAW/add_user.json")"
        row "add_user sync, $CONC conns" "$(fmt "$ours") writes/s ($(lat "$RAW/add_user.json"))" \
            "mariadb-slap INSERT -c $CONC: $(fmt "$SLAP_RPS") writes/s" "$(ratio "$ours" "$SLAP_RPS")" \
            "$(fmt "$INSERT_N") writes"
        errors_of "$RAW/add_user.json" "add_user"
        ;;
    seed)
        slap "$INSERT_N"
        # Sample while the seed runs: the host's MySQL connections (its own
        # count and MySQL's processlist for the bench database) and Redis memory.
        samples="$RAW/seed-samples.tsv"
        printf 'time\thost_mysql_connections\tprocesslist_bench_db\tredis_used_memory\n' >"$samples"
        (
            while :; do
                hc="$("$DORA" stat --server "127.0.0.1:$HOST_PORT" --json --timeout 2000 2>/dev/null |
                    grep -o '"mysql_connections":[0-9]*' | cut -d: -f2)"
                pl="$(mysql_q -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB='$BENCH_DB' AND ID<>CONNECTION_ID()" 2>/dev/null)"
                rm=""
                [[ -n "$REDIS_SOCK" ]] && rm="$(redis-cli -s "$REDIS_SOCK" info memory 2>/dev/null |
                    awk -F: '/^used_memory:/{gsub("\r",""); print $2}')"
                printf '%s\t%s\t%s\t%s\n' "$(date +%s)" "${hc:-}" "${pl:-}" "${rm:-}" >>"$samples"
                sleep 1
            done
        ) &
        SAMPLER=$!
        dora_bench seed --scenario seed --mode "$SEED_MODE" --proto "$SEED_PROTO" -c "$CONC" \
            -n "$SEED_N" --verify --clean --verify-wait 60 "${MYSQL_FLAGS[@]}"
        kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true
        f="$RAW/seed.json"
        mode="$(jstr mode "$f")"
        secs="$(jnum seconds "$f")"
        waited="$(jnum waited_seconds "$f")"
        wall="$(awk -v a="$secs" -v b="${waited:-0}" 'BEGIN{printf "%.1f", a + b}')"
        writes="$(jnum ok_calls "$f")"
        wps="$(awk -v w="$writes" -v t="$wall" 'BEGIN{ if (t > 0) printf "%.0f", w / t; else print 0 }')"
        lost="$(jsum lost "$f")"
        twice="$(jsum applied_twice "$f")"
        slap_wall="$(awk -v n="$((SEED_N * 3))" -v r="$SLAP_RPS" 'BEGIN{ if (r > 0) printf "%.1f", n / r; else print "n/a" }')"
        row "seed $(fmt "$SEED_N") iterations = $(fmt $((SEED_N * 3))) writes, $mode, $CONC conns, $SEED_PROTO" \
            "$(fmt "$wps") writes/s, wall ${wall} s to land ($(lat "$f") per request)" \
            "mariadb-slap INSERT -c $CONC: $(fmt "$SLAP_RPS") writes/s (${slap_wall} s for the same count)" \
            "$(ratio "$wps" "$SLAP_RPS")" "lost $lost, twice $twice"
        conns="$(awk -F'\t' 'NR>1 && $2!=""{ if (min==""||$2<min) min=$2; if ($2>max) max=$2 } END{ print (min==""?"n/a":min "–" max) }' "$samples")"
        plc="$(awk -F'\t' 'NR>1 && $3!=""{ if (min==""||$3<min) min=$3; if ($3>max) max=$3 } END{ print (min==""?"n/a":min "–" max) }' "$samples")"
        mem="$(awk -F'\t' 'NR>1 && $4!=""{ v=$4/1048576; if (first=="") first=v; if (v>max) max=v; last=v } END{ if (first=="") print "n/a"; else printf "start %.1f MiB, peak %.1f MiB, end %.1f MiB", first, max, last }' "$samples")"
        NOTES+=("seed: requests took ${secs} s, writes landed ${waited:-0} s later (verify); lost writes: $lost, applied twice: $twice")
        NOTES+=("seed: MySQL connections held by the host (its stat): $conns (task_workers=$WORKERS); processlist sessions on $BENCH_DB: $plc")
        NOTES+=("seed: Redis used_memory: $mem")
        note="$(jstr note "$f")"
        [[ -n "$note" ]] && NOTES+=("seed: $note")
        errors_of "$f" "seed"
        ;;
    esac
done

# ------------------------------------------------------------ summary

SUMMARY="$OUT/summary.md"
{
    echo "# dorahost bench, $(sed -n 's/^date: //p' "$RAW/machine.txt")"
    echo
    sed 's/^/    /' "$RAW/machine.txt"
    echo
    echo "| scenario | dorahost | baseline | ratio | run |"
    echo "|---|---|---|---:|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Ratio = dorahost throughput / baseline throughput. Latencies are p50 / p99."
    if ((${#NOTES[@]})); then
        echo
        for n in "${NOTES[@]}"; do echo "* $n"; done
    fi
    echo
    echo "Raw output: raw/ (dora bench JSON summaries, redis-benchmark CSV, mariadb-slap text, samples)."
} >"$SUMMARY"
cat "$SUMMARY"
log "summary written to $SUMMARY"
