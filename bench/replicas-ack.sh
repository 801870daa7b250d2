#!/usr/bin/env bash
# The cost of queue.replicas_ack on the accept path: `dora bench --scenario
# seed --mode async` against one private host on the private Sentinel set
# (scripts/services.sh start-sentinel: a master and one replica), with
# replicas_ack 0 and 1, RUNS runs each. Prints req/s and the CPU the host,
# the Redis master and its replica spent per request (utime + stime from
# /proc/<pid>/stat over the bench run). Only the accept path is measured:
# the hosts' MySQL is a closed port, so their consumers read each task
# once, find the database down and leave it for an hour (landing would
# otherwise fall partly inside the window, more of it the slower the run).
# The streams are deleted at the end.
#
#   bench/replicas-ack.sh [REQUESTS (20000)] [RUNS (3)]
#
# Needs the private services and the Sentinel set running, and the build.
set -euo pipefail
export LC_ALL=C
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$DORA_ROOT"
N="${1:-20000}" RUNS="${2:-3}"
BUILD="${DORA_BUILD_DIR:-$DORA_ROOT/build}"
VAR="${DORA_VAR_DIR:-$DORA_ROOT/var}"
BASE="${DORA_SENTINEL_PORT:-16380}"
PORT="${DORA_BENCH_PORT:-19667}"
# shellcheck source=/dev/null
source "$VAR/env.sh"

master="$(redis-cli -p $((BASE + 2)) sentinel get-master-addr-by-name dora | sed -n 2p)"
[[ -n "$master" ]] || dora_die "no Sentinel set (scripts/services.sh start-sentinel)"
replica=$((master == BASE ? BASE + 1 : BASE))
mpid="$(cat "$VAR/sentinel/redis-$master/redis.pid")" rpid="$(cat "$VAR/sentinel/redis-$replica/redis.pid")"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# calls of one Redis command on the master so far (INFO commandstats)
calls() { redis-cli -p "$master" info commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:calls=\([0-9]*\).*/\1/p"; }
hz="$(getconf CLK_TCK)"

# Both hosts run side by side (own ports, own streams) and the runs
# alternate 0, 1, 0, 1...: load from elsewhere on the machine hits both alike.
declare -A hpid
for ack in 0 1; do
    port=$((PORT + 2 * ack))
    cfg="$BUILD/etc/dorahost/bench-replicas-ack-$ack.yaml"
    sed -e "s/^  replicas_ack: 0 /  replicas_ack: $ack /" \
        -e "s/^  stream: \"dora:tasks\" /  stream: \"dora:ack$ack:tasks\" /" \
        -e "s/^  dead_letter_stream: \"dora:dead\" /  dead_letter_stream: \"dora:ack$ack:dead\" /" \
        -e "s/^  max_retries: 5 /  max_retries: 1000 /" -e "s/^  retry_backoff_ms: 200 /  retry_backoff_ms: 3600000 /" \
        "$BUILD/etc/dorahost/dorahost.yaml" >"$cfg"
    grep -q "stream: \"dora:ack$ack:tasks\"" "$cfg" || dora_die "could not give the bench host its own stream ($cfg)"
    DORAHOST_TCP="127.0.0.1:$port" DORAHOST_HTTP="127.0.0.1:$((port + 1))" DORAHOST_REDIS_SOCKET="" DORAHOST_MYSQL_PORT=1 \
        DORAHOST_REDIS_SENTINELS="127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3)),127.0.0.1:$((BASE + 4))" \
        DORAHOST_REDIS_MASTER_NAME=dora DORAHOST_REGISTRY_ENABLED=false DORAHOST_LOG_LEVEL=warning \
        "$BUILD/bin/dorahost" --config "$cfg" >"$VAR/bench-replicas-ack-$ack.log" 2>&1 &
    hpid[$ack]=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
cleanup() {
    kill -TERM "${hpid[0]}" "${hpid[1]}" 2>/dev/null || true
    wait || true
    redis-cli -p "$master" del dora:ack0:tasks dora:ack0:dead dora:ack1:tasks dora:ack1:dead >/dev/null
}
trap cleanup EXIT

start=1
for run in $(seq "$RUNS"); do
    for ack in 0 1; do
        port=$((PORT + 2 * ack)) pid="${hpid[$ack]}"
        w0="$(calls wait)" x0="$(calls xadd)"
        h0="$(ticks "$pid")" m0="$(ticks "$mpid")" r0="$(ticks "$rpid")"
        out="$("$BUILD/bin/dora" bench --server "127.0.0.1:$port" --scenario seed -n "$N" --mode async \
            --start "$start" --quiet --json)"
        h1="$(ticks "$pid")" m1="$(ticks "$mpid")" r1="$(ticks "$rpid")"
        w1="$(calls wait)" x1="$(calls xadd)"
        start=$((start + N))
        rps="$(sed -n 's/.*"requests_per_sec": *\([0-9.]*\).*/\1/p' <<<"$out" | head -1)"
        errs="$(sed -n 's/.*"failed_requests": *\([0-9]*\).*/\1/p' <<<"$out" | head -1)"
        awk -v a="$ack" -v r="$run" -v rps="$rps" -v e="${errs:-?}" -v n="$N" -v hz="$hz" \
            -v h=$((h1 - h0)) -v m=$((m1 - m0)) -v rr=$((r1 - r0)) -v w=$((${w1:-0} - ${w0:-0})) -v x=$((${x1:-0} - ${x0:-0})) 'BEGIN {
            printf "replicas_ack %s run %s: %.0f req/s, failed %s, host %.1f us/req, redis master %.1f us/req, replica %.1f us/req, %d XADD, %d WAIT\n",
                a, r, rps, e, h * 1e6 / hz / n, m * 1e6 / hz / n, rr * 1e6 / hz / n, x, w }'
    done
done
