#!/usr/bin/env bash
# bench/status-cost.sh — what task-status records cost: host + Redis CPU
# per accepted request of the seed scenario, with queue.status_ttl_sec
# off and on, RUNS short runs each (a quick check, not bench/run.sh).
#
#   bench/status-cost.sh [-n ITERATIONS] [-r RUNS] [--ttl SEC]
#
# Needs the private services (scripts/services.sh start) and a built
# tree (build/). Each run starts its own host on free ports against the
# services, sends `dora bench --scenario seed -n N` (new names each run),
# waits until the queue has applied every call, and reads the CPU time
# (utime + stime, /proc/PID/stat) of dorahost and redis-server twice: when
# the last request was accepted (the accept path; the consumer runs
# meanwhile too) and when the last call landed (the whole async path).
# Prints one line per run, then per setting the median and the minimum
# (on a shared, loaded machine the minimum is the steadier estimate).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${DORA_BUILD_DIR:-$here/build}"
n=20000
runs=3
ttl=3600
while [ $# -gt 0 ]; do
    case "$1" in
    -n) n="$2"; shift 2 ;;
    -r) runs="$2"; shift 2 ;;
    --ttl) ttl="$2"; shift 2 ;;
    *) echo "usage: $0 [-n ITERATIONS] [-r RUNS] [--ttl SEC]" >&2; exit 2 ;;
    esac
done
# shellcheck disable=SC1091
. "${DORA_VAR_DIR:-$here/var}/env.sh"
redis_pid="$(cat "${DORA_VAR_DIR:-$here/var}/redis/redis.pid")"
sock="$DORAHOST_REDIS_SOCKET"
ticks="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

one_run() { # ttl start -> "accept_us total_us host_accept redis_accept"
    local t="$1" start="$2" port stream
    port="$(freeport)"
    stream="dora:cost$port:tasks"
    cat >"$work/dorahost.yaml" <<EOF
server:
  tcp: 127.0.0.1:$port
  http_enabled: false
  log_level: warning
queue:
  stream: "$stream"
  group: cost
  dead_letter_stream: "dora:cost$port:dead"
  status_ttl_sec: $t
registry:
  enabled: false
plugins:
  plugins_dir: $build/lib/dorahost/plugins
  routes_dir: $build/etc/dorahost/routes.d
EOF
    "$build/bin/dorahost" --config "$work/dorahost.yaml" 2>"$work/host.log" &
    local host=$!
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    local h0 r0 h1 r1 h2 r2
    h0="$(cpu $host)"; r0="$(cpu "$redis_pid")"
    "$build/bin/dora" bench --server "127.0.0.1:$port" --scenario seed -n "$n" --start "$start" --quiet \
        >"$work/bench.out" 2>&1
    h1="$(cpu $host)"; r1="$(cpu "$redis_pid")"
    # Landed: the stream is empty and nothing is pending.
    for _ in $(seq 1200); do
        len="$(redis-cli -s "$sock" XLEN "$stream")"
        [ "$len" = "0" ] && break
        sleep 0.1
    done
    h2="$(cpu $host)"; r2="$(cpu "$redis_pid")"
    kill -TERM $host; wait $host || true
    redis-cli -s "$sock" DEL "$stream" "dora:cost$port:dead" >/dev/null
    if [ "$t" -gt 0 ]; then
        redis-cli -s "$sock" --scan --pattern "$stream:status:*" | xargs -r -n 500 redis-cli -s "$sock" DEL >/dev/null
    fi
    awk -v n="$n" -v tk="$ticks" -v h0="$h0" -v h1="$h1" -v h2="$h2" -v r0="$r0" -v r1="$r1" -v r2="$r2" 'BEGIN {
        us = 1e6 / tk / n
        printf "%.1f %.1f %.1f %.1f %.1f %.1f\n", (h1-h0+r1-r0)*us, (h2-h0+r2-r0)*us, (h1-h0)*us, (r1-r0)*us, (h2-h0)*us, (r2-r0)*us }'
}

base=$(( ( $(date +%s) % 100000 ) * 1000000 ))
results="$work/results"
printf "%-8s %4s %12s %12s %10s %10s %10s %10s\n" status run "accept_us" "total_us" host_acc redis_acc host_tot redis_tot
# Interleaved (off, on, off, on, ...), so a change in the machine's load
# hits both alike; then the median and the minimum of each column.
for r in $(seq "$runs"); do
    for t in 0 "$ttl"; do
        base=$((base + n + 1))
        read -r a tot ha ra ht rt < <(one_run "$t" "$base")
        printf "%-8s %4s %12s %12s %10s %10s %10s %10s\n" "$t" "$r" "$a" "$tot" "$ha" "$ra" "$ht" "$rt"
        echo "$t $a $tot $ha $ra $ht $rt" >>"$results"
    done
done
for t in 0 "$ttl"; do
    for stat in median min; do
        awk -v t="$t" -v stat="$stat" 'BEGIN { n = 0 } $1 == t { for (i = 2; i <= 7; ++i) v[i, n] = $i; ++n }
            END {
                printf "%-8s %4s", t, stat
                for (i = 2; i <= 7; ++i) {
                    for (a = 0; a < n; ++a) col[a] = v[i, a]
                    asort(col)
                    x = stat == "min" ? col[1] : (n % 2 ? col[(n + 1) / 2] : (col[n / 2] + col[n / 2 + 1]) / 2)
                    printf " %12.1f", x
                    delete col
                }
                printf "\n"
            }' "$results"
    done
done
