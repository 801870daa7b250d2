#!/usr/bin/env bash
# A private MariaDB, Redis and Prometheus for development and tests, kept
# under var/ (or $DORA_VAR_DIR). Nothing here touches the system's own
# services.
#
#   scripts/services.sh start|stop|status|env
#   scripts/services.sh start-mysql|stop-mysql|start-redis|stop-redis|start-prometheus|stop-prometheus
#   scripts/services.sh freeze-mysql|thaw-mysql
#   scripts/services.sh start-sentinel|stop-sentinel
#
# Environment:
#   DORA_VAR_DIR       where the data, sockets, logs and pid files live (default: <repo>/var)
#   DORA_MYSQL_PORT    TCP port of MariaDB on 127.0.0.1 (default 13306)
#   DORA_MYSQL_FAST=1  innodb_flush_log_at_trx_commit=2: the log is written at
#                      each commit but flushed to disk about once a second, so
#                      an OS crash can lose the last second of commits (a
#                      mariadbd crash alone loses nothing). Good for tests;
#                      the default (unset) keeps full durability (=1). Applied
#                      on every start, also to an already running server.
#   DORA_PROMETHEUS_PORT  HTTP port of Prometheus on 127.0.0.1 (default 19090).
#                      It scrapes every target listed in var/prometheus/targets/*.json
#                      (file_sd: [{"targets":["127.0.0.1:9566"],"labels":{...}}])
#                      each second; tests add their host there.
#   DORA_SENTINEL_PORT first of five loopback ports of the Sentinel set
#                      (default 16380): Redis master, replica, three sentinels.
#   DORA_SENTINEL_MASTER  the name the sentinels monitor (default dora)
#
# start is idempotent: a service already running (pid file, live process,
# answering ping) is left alone. Every start also (re)applies the database
# setup: databases dorahost and dorahost_test, user dora/dora, user
# dora_bound/dora (at most 4 connections, for tests), and every
# config/schema/*.sql (in name order) on both databases.
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DORA_ROOT"

usage() {
    cat >&2 <<'EOT'
usage: scripts/services.sh COMMAND
  start         start MariaDB, Redis and Prometheus (if not running), apply the schema, write var/env.sh
  stop          stop all three (TERM, then KILL after 30s)
  status        print the state of each; exit 0 if all run, 3 otherwise
  env           print the export lines for the host and the tests
  start-mysql | stop-mysql | start-redis | stop-redis | start-prometheus | stop-prometheus
  freeze-mysql  SIGSTOP MariaDB: it keeps its sockets but answers nothing (tests of a hung server)
  thaw-mysql    SIGCONT it again
  start-sentinel  start (what is not running of) a Redis master, one replica and three sentinels
                on 127.0.0.1, ports $DORA_SENTINEL_PORT (16380) .. +4, in var/sentinel; waits until the
                sentinels know the replica and each other. Not part of start; stop stops it too
  stop-sentinel stop all five and delete var/sentinel (the next start is a fresh set)
EOT
    exit 2
}

# ------------------------------------------------------------------ layout

VAR="${DORA_VAR_DIR:-$DORA_ROOT/var}"
mkdir -p "$VAR"
VAR="$(cd "$VAR" && pwd -P)"

MY_DIR="$VAR/mysql"
MY_DATA="$MY_DIR/data"
MY_SOCK="$MY_DIR/mysqld.sock"
MY_PID="$MY_DIR/mysqld.pid"
MY_LOG="$MY_DIR/error.log"
MY_OUT="$MY_DIR/mariadbd.out"       # anything mariadbd prints before its log is open
MY_PORT_FILE="$MY_DIR/port"         # the port the running server was started on
MY_INIT_MARK="$MY_DATA/.dora-initialized"

RD_DIR="$VAR/redis"
RD_SOCK="$RD_DIR/redis.sock"
RD_PID="$RD_DIR/redis.pid"
RD_LOG="$RD_DIR/redis.log"

PR_DIR="$VAR/prometheus"
PR_DATA="$PR_DIR/data"
PR_TARGETS="$PR_DIR/targets"
PR_CONFIG="$PR_DIR/prometheus.yml"
PR_PID="$PR_DIR/prometheus.pid"
PR_LOG="$PR_DIR/prometheus.log"
PR_PORT_FILE="$PR_DIR/port"
DEFAULT_PROMETHEUS_PORT=19090

ENV_FILE="$VAR/env.sh"
DATABASES=(dorahost dorahost_test)
DB_USER=dora
DB_PASSWORD=dora
# An account that may hold at most 4 connections at once (the server refuses
# a 5th): tests/integration's connection-bound check runs a host with 4 task
# workers as this user, so a 5th connection cannot slip between samples.
DB_BOUND_USER=dora_bound
DB_BOUND_LIMIT=4
DEFAULT_MYSQL_PORT=13306

# unix socket paths are limited to 107 bytes (sun_path)
for s in "$MY_SOCK" "$RD_SOCK"; do
    ((${#s} < 108)) || dora_die "socket path too long (${#s} bytes, max 107): $s; set DORA_VAR_DIR to a shorter path"
done

AM_ROOT=0
if [[ $(id -u) -eq 0 ]]; then AM_ROOT=1; fi

# mariadbd lives in /usr/sbin, which is not on every user's PATH.
find_bin() {
    local b
    for b in "$@"; do
        if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
        if [[ -x "/usr/sbin/$b" ]]; then echo "/usr/sbin/$b"; return 0; fi
    done
    dora_die "none of '$*' found; run scripts/deps.sh"
}

# ----------------------------------------------------------------- helpers

# proc_alive PID: the process exists and is not a zombie.
proc_alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# pid_of PIDFILE NAME: print the pid if the file names a live process whose
# executable is NAME (guards against a reused pid), else fail.
pid_of() {
    local file="$1" name="$2" pid comm
    [[ -s "$file" ]] || return 1
    pid="$(tr -dc '0-9' <"$file")"
    [[ -n "$pid" ]] && proc_alive "$pid" || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    [[ "$comm" == "$name" ]] || return 1
    echo "$pid"
}

show_log_tail() {
    local f
    for f in "$@"; do
        if [[ -s "$f" ]]; then
            printf -- '--- last lines of %s ---\n' "$f" >&2
            tail -n 25 "$f" >&2
            printf -- '---\n' >&2
        fi
    done
}

# stop_pid NAME PID: TERM, wait up to 30s, then KILL.
stop_pid() {
    local name="$1" pid="$2" i
    dora_log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        proc_alive "$pid" || { dora_log "$name: stopped"; return 0; }
        sleep 0.1
    done
    dora_warn "$name: pid $pid still alive after 30s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        proc_alive "$pid" || return 0
        sleep 0.1
    done
    dora_die "$name: pid $pid survived KILL"
}

# Start and stop hold this lock so concurrent callers (several terminals,
# parallel CI steps) do not race. Daemons must not inherit it: they are
# started with 9>&-.
take_lock() {
    exec 9>"$VAR/.services.lock"
    flock -w 180 9 || dora_die "could not lock $VAR/.services.lock within 180s"
}

# ------------------------------------------------------------------ mysql

mysql_root() { "$(find_bin mariadb)" --no-defaults --socket="$MY_SOCK" -uroot "$@"; }

mysql_ping() {
    "$(find_bin mariadb-admin)" --no-defaults --socket="$MY_SOCK" -uroot --connect-timeout=2 ping >/dev/null 2>&1
}

mysql_pid() { pid_of "$MY_PID" mariadbd; }

mysql_running() { mysql_pid >/dev/null && mysql_ping; }

mysql_port() {
    # The running server's port wins; otherwise what the caller asked for.
    if mysql_running && [[ -s "$MY_PORT_FILE" ]]; then
        cat "$MY_PORT_FILE"
    else
        echo "${DORA_MYSQL_PORT:-$DEFAULT_MYSQL_PORT}"
    fi
}

mysql_trx_commit() { if [[ "${DORA_MYSQL_FAST:-0}" == 1 ]]; then echo 2; else echo 1; fi; }

mysql_init() {
    [[ -e "$MY_INIT_MARK" ]] && return 0
    # No mark: never initialized, or an earlier init was interrupted.
    dora_log "mysql: initializing $MY_DATA"
    rm -rf "$MY_DATA"
    mkdir -p "$MY_DATA"
    local args=(--no-defaults --datadir="$MY_DATA" --auth-root-authentication-method=normal
        --skip-test-db --skip-name-resolve)
    if ((AM_ROOT)); then args+=(--user=root); fi
    if ! "$(find_bin mariadb-install-db mysql_install_db)" "${args[@]}" >"$MY_DIR/install.log" 2>&1; then
        show_log_tail "$MY_DIR/install.log"
        dora_die "mysql: mariadb-install-db failed (full output: $MY_DIR/install.log)"
    fi
    touch "$MY_INIT_MARK"
}

mysql_setup() {
    local trx sql db h
    trx="$(mysql_trx_commit)"
    sql="SET GLOBAL innodb_flush_log_at_trx_commit=$trx;"
    for db in "${DATABASES[@]}"; do
        sql+="CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    done
    for h in localhost 127.0.0.1 %; do
        sql+="CREATE USER IF NOT EXISTS '$DB_USER'@'$h' IDENTIFIED BY '$DB_PASSWORD';"
        sql+="ALTER USER '$DB_USER'@'$h' IDENTIFIED BY '$DB_PASSWORD';"
        for db in "${DATABASES[@]}"; do
            sql+="GRANT ALL PRIVILEGES ON \`$db\`.* TO '$DB_USER'@'$h';"
        done
        # Scratch databases a test may create for itself: dorahost_test_<anything>.
        sql+="GRANT ALL PRIVILEGES ON \`dorahost\\_test\\_%\`.* TO '$DB_USER'@'$h';"
        sql+="CREATE USER IF NOT EXISTS '$DB_BOUND_USER'@'$h' IDENTIFIED BY '$DB_PASSWORD';"
        sql+="ALTER USER '$DB_BOUND_USER'@'$h' IDENTIFIED BY '$DB_PASSWORD' WITH MAX_USER_CONNECTIONS $DB_BOUND_LIMIT;"
        sql+="GRANT ALL PRIVILEGES ON \`dorahost\\_test\\_%\`.* TO '$DB_BOUND_USER'@'$h';"
    done
    mysql_root -e "$sql" || dora_die "mysql: creating databases and user failed"

    local files=() f
    shopt -s nullglob
    files=("$DORA_ROOT"/config/schema/*.sql)
    shopt -u nullglob
    for f in "${files[@]}"; do
        for db in "${DATABASES[@]}"; do
            mysql_root "$db" <"$f" || dora_die "mysql: applying ${f#"$DORA_ROOT"/} to $db failed"
        done
    done
    dora_log "mysql: databases ${DATABASES[*]} ready (user $DB_USER, ${#files[@]} schema file(s), innodb_flush_log_at_trx_commit=$trx)"
}

start_mysql() {
    mkdir -p "$MY_DIR"
    local port pid i
    port="${DORA_MYSQL_PORT:-$DEFAULT_MYSQL_PORT}"
    if pid="$(mysql_pid)"; then
        # Alive: answering, or still starting up, or hung.
        for ((i = 0; i < 600; i++)); do
            mysql_ping && break
            proc_alive "$pid" || break
            sleep 0.1
        done
        if mysql_ping; then
            local running_port
            running_port="$(cat "$MY_PORT_FILE" 2>/dev/null || echo '?')"
            dora_log "mysql: already running (pid $pid, 127.0.0.1:$running_port)"
            if [[ -n "${DORA_MYSQL_PORT:-}" && "$running_port" != "$DORA_MYSQL_PORT" ]]; then
                dora_warn "mysql: DORA_MYSQL_PORT=$DORA_MYSQL_PORT ignored: the running server uses $running_port (stop it first)"
            fi
            mysql_setup
            return 0
        fi
        if proc_alive "$pid"; then
            show_log_tail "$MY_LOG"
            dora_die "mysql: pid $pid is alive but does not answer ping on $MY_SOCK; try scripts/services.sh stop-mysql"
        fi
    fi
    if mysql_ping; then
        dora_die "mysql: something answers on $MY_SOCK but $MY_PID names no live mariadbd; stop it by hand"
    fi
    rm -f "$MY_PID"

    mysql_init

    local args=(--no-defaults
        --datadir="$MY_DATA" --socket="$MY_SOCK" --port="$port" --bind-address=127.0.0.1
        --pid-file="$MY_PID" --log-error="$MY_LOG" --skip-name-resolve --max-connections=500
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
        # Sized for the seed's 3M writes (users + ledger rows, ~1 GB with
        # indexes): a 256M pool and the 96M default redo log made InnoDB
        # flush pages furiously during it. Memory is only taken as pages fill.
        --innodb-buffer-pool-size=1G --innodb-log-file-size=512M
        --innodb-flush-log-at-trx-commit="$(mysql_trx_commit)")
    # mariadbd refuses to run as root unless told to; --no-defaults must stay first.
    if ((AM_ROOT)); then args=(--no-defaults --user=root "${args[@]:1}"); fi

    dora_log "mysql: starting on 127.0.0.1:$port, socket $MY_SOCK"
    # setsid: its own session, so Ctrl-C or a closed terminal does not reach it.
    setsid "$(find_bin mariadbd mysqld)" "${args[@]}" </dev/null >>"$MY_OUT" 2>&1 9>&- &
    local launched=$!
    for ((i = 0; i < 600; i++)); do
        if mysql_ping; then break; fi
        if ! proc_alive "$launched"; then
            wait "$launched" 2>/dev/null || true
            show_log_tail "$MY_LOG" "$MY_OUT"
            dora_die "mysql: mariadbd exited during startup (is port $port in use? see $MY_LOG)"
        fi
        sleep 0.1
    done
    if ! mysql_ping; then
        show_log_tail "$MY_LOG" "$MY_OUT"
        dora_die "mysql: no answer to ping on $MY_SOCK within 60s (pid $launched still running; see $MY_LOG)"
    fi
    echo "$port" >"$MY_PORT_FILE"
    dora_log "mysql: running (pid $(mysql_pid || echo "$launched"))"
    mysql_setup
}

stop_mysql() {
    local pid
    if pid="$(mysql_pid)"; then
        kill -CONT "$pid" 2>/dev/null || true # a frozen server would ignore TERM
        stop_pid mysql "$pid"
    elif mysql_ping; then
        dora_warn "mysql: no pid file but the server answers on $MY_SOCK; asking it to shut down"
        "$(find_bin mariadb-admin)" --no-defaults --socket="$MY_SOCK" -uroot shutdown ||
            dora_die "mysql: shutdown failed"
    else
        dora_log "mysql: not running"
    fi
    rm -f "$MY_PID" "$MY_PORT_FILE"
}

# ------------------------------------------------------------------ redis

redis_ping() {
    [[ -S "$RD_SOCK" ]] || return 1
    [[ "$(timeout 5 "$(find_bin redis-cli)" -s "$RD_SOCK" ping 2>/dev/null)" == PONG ]]
}

redis_pid() { pid_of "$RD_PID" redis-server; }

redis_running() { redis_pid >/dev/null && redis_ping; }

start_redis() {
    mkdir -p "$RD_DIR"
    local pid i
    if pid="$(redis_pid)"; then
        for ((i = 0; i < 300; i++)); do
            redis_ping && break
            proc_alive "$pid" || break
            sleep 0.1
        done
        if redis_ping; then
            dora_log "redis: already running (pid $pid, socket $RD_SOCK)"
            return 0
        fi
        if proc_alive "$pid"; then
            show_log_tail "$RD_LOG"
            dora_die "redis: pid $pid is alive but does not answer ping on $RD_SOCK; try scripts/services.sh stop-redis"
        fi
    fi
    if redis_ping; then
        dora_die "redis: something answers on $RD_SOCK but $RD_PID names no live redis-server; stop it by hand"
    fi
    rm -f "$RD_PID"

    dora_log "redis: starting on unix socket $RD_SOCK"
    # --daemonize: redis forks, detaches (setsid) and writes the pid file.
    if ! "$(find_bin redis-server)" \
        --port 0 --unixsocket "$RD_SOCK" --unixsocketperm 700 --dir "$RD_DIR" \
        --appendonly yes --appendfsync everysec --daemonize yes \
        --pidfile "$RD_PID" --logfile "$RD_LOG" --save '' \
        </dev/null >"$RD_DIR/redis-server.out" 2>&1 9>&-; then
        show_log_tail "$RD_DIR/redis-server.out" "$RD_LOG"
        dora_die "redis: redis-server refused to start"
    fi
    for ((i = 0; i < 300; i++)); do
        redis_ping && break
        sleep 0.1
    done
    if ! redis_ping; then
        show_log_tail "$RD_LOG" "$RD_DIR/redis-server.out"
        dora_die "redis: no PONG on $RD_SOCK within 30s (see $RD_LOG)"
    fi
    dora_log "redis: running (pid $(redis_pid || echo '?'))"
}

stop_redis() {
    local pid
    if pid="$(redis_pid)"; then
        stop_pid redis "$pid"
    elif redis_ping; then
        dora_warn "redis: no pid file but a server answers on $RD_SOCK; asking it to shut down"
        "$(find_bin redis-cli)" -s "$RD_SOCK" shutdown || true
    else
        dora_log "redis: not running"
    fi
    rm -f "$RD_PID"
}

# -------------------------------------------------------------- sentinel
# A Redis master, one replica and three sentinels on loopback (failover
# tests, trying Sentinel by hand). Fast failover: a master is down after
# 1 s without an answer, quorum 2. Each process keeps its own folder, conf
# (the sentinels and Redis rewrite theirs on a failover), pid and log file.

SN_DIR="$VAR/sentinel"
SN_BASE="${DORA_SENTINEL_PORT:-16380}"
SN_NAME="${DORA_SENTINEL_MASTER:-dora}"
SN_DATA_PORTS=("$SN_BASE" "$((SN_BASE + 1))")
SN_SENTINEL_PORTS=("$((SN_BASE + 2))" "$((SN_BASE + 3))" "$((SN_BASE + 4))")

sn_cli() { timeout 5 "$(find_bin redis-cli)" -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }
sn_ping() { [[ "$(sn_cli "$1" ping)" == PONG ]]; }

# sn_start_node PORT CONF ARGS: start one redis-server (ARGS: "", --sentinel or --replicaof H P)
# unless its pid file names a live one that answers.
sn_start_node() {
    local port="$1" conf="$2" mode="$3" dir pid i
    dir="$(dirname "$conf")"
    if pid="$(pid_of "$dir/redis.pid" redis-server)" && sn_ping "$port"; then
        return 0
    fi
    sn_ping "$port" && dora_die "sentinel set: something else answers on 127.0.0.1:$port; set DORA_SENTINEL_PORT"
    rm -f "$dir/redis.pid"
    # shellcheck disable=SC2086 # ARGS are words without spaces
    if ! "$(find_bin redis-server)" "$conf" $mode </dev/null >"$dir/redis-server.out" 2>&1 9>&-; then
        show_log_tail "$dir/redis-server.out" "$dir/redis.log"
        dora_die "sentinel set: redis-server $conf refused to start"
    fi
    for ((i = 0; i < 100; i++)); do
        sn_ping "$port" && return 0
        sleep 0.1
    done
    show_log_tail "$dir/redis.log" "$dir/redis-server.out"
    dora_die "sentinel set: no PONG on 127.0.0.1:$port within 10s"
}

# The master the first answering sentinel names ("ip port"), or fail.
sn_master() {
    local p a
    for p in "${SN_SENTINEL_PORTS[@]}"; do
        a="$(sn_cli "$p" sentinel get-master-addr-by-name "$SN_NAME" | tr '\n' ' ')"
        [[ -n "${a// /}" ]] && { echo "$a"; return 0; }
    done
    return 1
}

sn_ready() {
    local m port p n
    m="$(sn_master)" || return 1
    port="${m#* }" port="${port%% *}"
    [[ "$(sn_cli "$port" role | head -1)" == master ]] || return 1
    n="$(sn_cli "$port" info replication | tr -d '\r' | sed -n 's/^connected_slaves://p')"
    ((${n:-0} >= 1)) || return 1
    for p in "${SN_SENTINEL_PORTS[@]}"; do
        # Each sentinel must know the other two (a failover needs a majority
        # to authorize it) and the replica.
        n="$(sn_cli "$p" sentinel master "$SN_NAME" | tr -d '\r' | awk 'prev=="num-other-sentinels"{print} {prev=$0}')"
        ((${n:-0} >= 2)) || return 1
        n="$(sn_cli "$p" sentinel master "$SN_NAME" | tr -d '\r' | awk 'prev=="num-slaves"{print} {prev=$0}')"
        ((${n:-0} >= 1)) || return 1
    done
}

start_sentinel() {
    local port i d conf
    for i in 0 1; do
        port="${SN_DATA_PORTS[i]}" d="$SN_DIR/redis-$port" conf="$d/redis.conf"
        mkdir -p "$d"
        if [[ ! -s "$conf" ]]; then
            {
                echo "port $port"
                echo "bind 127.0.0.1"
                echo "daemonize yes"
                echo "pidfile $d/redis.pid"
                echo "logfile $d/redis.log"
                echo "dir $d"
                echo "save \"\""
                echo "appendonly no"
                echo "repl-diskless-sync yes"
                echo "repl-diskless-sync-delay 0"
                ((i == 0)) || echo "replicaof 127.0.0.1 ${SN_DATA_PORTS[0]}"
            } >"$conf"
        fi
        # A node that comes back after a failover joins the current master
        # as its replica at once (as an operator restarting it would).
        local m mport extra=""
        if ! sn_ping "$port" && m="$(sn_master)"; then
            mport="${m#* }" mport="${mport%% *}"
            [[ "$mport" != "$port" ]] && extra="--replicaof ${m%% *} $mport"
        fi
        sn_start_node "$port" "$conf" "$extra"
    done
    for port in "${SN_SENTINEL_PORTS[@]}"; do
        d="$SN_DIR/sentinel-$port" conf="$d/sentinel.conf"
        mkdir -p "$d"
        if [[ ! -s "$conf" ]]; then
            {
                echo "port $port"
                echo "bind 127.0.0.1"
                echo "daemonize yes"
                echo "pidfile $d/redis.pid"
                echo "logfile $d/redis.log"
                echo "dir $d"
                echo "sentinel monitor $SN_NAME 127.0.0.1 ${SN_DATA_PORTS[0]} 2"
                echo "sentinel down-after-milliseconds $SN_NAME 1000"
                echo "sentinel failover-timeout $SN_NAME 3000"
                echo "sentinel parallel-syncs $SN_NAME 1"
            } >"$conf"
        fi
        sn_start_node "$port" "$conf" --sentinel
    done
    for ((i = 0; i < 600; i++)); do
        if sn_ready; then
            dora_log "sentinel set: running, master '$SN_NAME' at $(sn_master | tr ' ' ':' | sed 's/:$//'), sentinels 127.0.0.1:${SN_SENTINEL_PORTS[0]},127.0.0.1:${SN_SENTINEL_PORTS[1]},127.0.0.1:${SN_SENTINEL_PORTS[2]}"
            return 0
        fi
        sleep 0.1
    done
    for d in "$SN_DIR"/*/; do show_log_tail "$d/redis.log"; done
    dora_die "sentinel set: the sentinels did not see the master, its replica and each other within 60s"
}

stop_sentinel() {
    local d pid
    [[ -d "$SN_DIR" ]] || { dora_log "sentinel set: not running"; return 0; }
    for d in "$SN_DIR"/sentinel-* "$SN_DIR"/redis-*; do
        [[ -d "$d" ]] || continue
        if pid="$(pid_of "$d/redis.pid" redis-server)"; then stop_pid "sentinel set $(basename "$d")" "$pid"; fi
    done
    rm -rf "$SN_DIR"
}

sentinel_status() {
    local d pid
    [[ -d "$SN_DIR" ]] || return 0
    for d in "$SN_DIR"/redis-* "$SN_DIR"/sentinel-*; do
        [[ -d "$d" ]] || continue
        if pid="$(pid_of "$d/redis.pid" redis-server)"; then
            echo "sentinel set $(basename "$d"): running (pid $pid)"
        else
            echo "sentinel set $(basename "$d"): not running"
        fi
    done
}

# ------------------------------------------------------------- prometheus

prometheus_port() {
    if [[ -s "$PR_PORT_FILE" ]] && prometheus_pid >/dev/null; then
        cat "$PR_PORT_FILE"
    else
        echo "${DORA_PROMETHEUS_PORT:-$DEFAULT_PROMETHEUS_PORT}"
    fi
}

prometheus_pid() { pid_of "$PR_PID" prometheus; }

prometheus_ready() {
    curl -fsS --max-time 2 "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1
}

start_prometheus() {
    mkdir -p "$PR_DATA" "$PR_TARGETS"
    local port pid i
    port="${DORA_PROMETHEUS_PORT:-$DEFAULT_PROMETHEUS_PORT}"
    if pid="$(prometheus_pid)"; then
        local running_port
        running_port="$(cat "$PR_PORT_FILE" 2>/dev/null || echo "$port")"
        for ((i = 0; i < 300; i++)); do
            prometheus_ready "$running_port" && break
            proc_alive "$pid" || break
            sleep 0.1
        done
        if prometheus_ready "$running_port"; then
            dora_log "prometheus: already running (pid $pid, http://127.0.0.1:$running_port)"
            if [[ -n "${DORA_PROMETHEUS_PORT:-}" && "$running_port" != "$DORA_PROMETHEUS_PORT" ]]; then
                dora_warn "prometheus: DORA_PROMETHEUS_PORT=$DORA_PROMETHEUS_PORT ignored: the running server uses $running_port (stop it first)"
            fi
            return 0
        fi
        if proc_alive "$pid"; then
            show_log_tail "$PR_LOG"
            dora_die "prometheus: pid $pid is alive but not ready on port $running_port; try scripts/services.sh stop-prometheus"
        fi
    fi
    rm -f "$PR_PID"
    # Scrapes every second so a test sees a load's counts within seconds;
    # targets come and go as files in $PR_TARGETS (re-read on change).
    cat >"$PR_CONFIG" <<EOT
# Written by scripts/services.sh start-prometheus; rewritten on every start.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: dorahost
    file_sd_configs:
      - files: ['$PR_TARGETS/*.json']
        refresh_interval: 1s
EOT
    dora_log "prometheus: starting on http://127.0.0.1:$port (targets in $PR_TARGETS)"
    setsid "$(find_bin prometheus)" --config.file="$PR_CONFIG" --storage.tsdb.path="$PR_DATA" \
        --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port" \
        </dev/null >>"$PR_LOG" 2>&1 9>&- &
    local launched=$!
    echo "$launched" >"$PR_PID"
    for ((i = 0; i < 600; i++)); do
        prometheus_ready "$port" && break
        if ! proc_alive "$launched"; then
            wait "$launched" 2>/dev/null || true
            show_log_tail "$PR_LOG"
            dora_die "prometheus: exited during startup (is port $port in use? see $PR_LOG)"
        fi
        sleep 0.1
    done
    if ! prometheus_ready "$port"; then
        show_log_tail "$PR_LOG"
        dora_die "prometheus: not ready on port $port within 60s (pid $launched still running; see $PR_LOG)"
    fi
    echo "$port" >"$PR_PORT_FILE"
    dora_log "prometheus: running (pid $launched)"
}

stop_prometheus() {
    local pid
    if pid="$(prometheus_pid)"; then
        stop_pid prometheus "$pid"
    else
        dora_log "prometheus: not running"
    fi
    rm -f "$PR_PID" "$PR_PORT_FILE"
}

# -------------------------------------------------------------------- env

print_env() {
    local k v i
    local -a kv=(
        DORAHOST_MYSQL_HOST 127.0.0.1
        DORAHOST_MYSQL_PORT "$(mysql_port)"
        DORAHOST_MYSQL_USER "$DB_USER"
        DORAHOST_MYSQL_PASSWORD "$DB_PASSWORD"
        DORAHOST_MYSQL_DATABASE dorahost
        DORAHOST_REDIS_SOCKET "$RD_SOCK"
        DORA_MYSQL_SOCKET "$MY_SOCK"
        DORA_PROMETHEUS_URL "http://127.0.0.1:$(prometheus_port)"
        DORA_PROMETHEUS_TARGETS "$PR_TARGETS"
        DORA_VAR_DIR "$VAR"
    )
    for ((i = 0; i < ${#kv[@]}; i += 2)); do
        k="${kv[i]}" v="${kv[i + 1]}"
        printf 'export %s=%q\n' "$k" "$v"
    done
}

write_env_file() {
    {
        echo "# Written by scripts/services.sh start; source it to reach the private services."
        print_env
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

status() {
    local pid rc=0
    if pid="$(mysql_pid)" && mysql_ping; then
        echo "mysql: running (pid $pid, 127.0.0.1:$(mysql_port), socket $MY_SOCK)"
    else
        echo "mysql: not running (data $MY_DATA)"
        rc=3
    fi
    if pid="$(redis_pid)" && redis_ping; then
        echo "redis: running (pid $pid, socket $RD_SOCK)"
    else
        echo "redis: not running (dir $RD_DIR)"
        rc=3
    fi
    if pid="$(prometheus_pid)" && prometheus_ready "$(prometheus_port)"; then
        echo "prometheus: running (pid $pid, http://127.0.0.1:$(prometheus_port), targets $PR_TARGETS)"
    else
        echo "prometheus: not running (dir $PR_DIR)"
        rc=3
    fi
    sentinel_status
    return "$rc"
}

# ------------------------------------------------------------------- main

(($# == 1)) || usage
case "$1" in
start)
    take_lock
    start_mysql
    start_redis
    start_prometheus
    write_env_file
    dora_log "services up; environment in ${ENV_FILE} (scripts/services.sh env)"
    ;;
stop)
    take_lock
    stop_sentinel
    stop_prometheus
    stop_redis
    stop_mysql
    ;;
start-sentinel) take_lock; start_sentinel ;;
stop-sentinel) take_lock; stop_sentinel ;;
start-mysql) take_lock; start_mysql; write_env_file ;;
stop-mysql) take_lock; stop_mysql ;;
start-redis) take_lock; start_redis; write_env_file ;;
stop-redis) take_lock; stop_redis ;;
freeze-mysql | thaw-mysql)
    pid="$(mysql_pid)" || dora_die "mysql: not running"
    if [[ "$1" == freeze-mysql ]]; then
        kill -STOP "$pid"
        dora_log "mysql: frozen (pid $pid): connections are accepted but nothing is answered"
    else
        kill -CONT "$pid"
        dora_log "mysql: thawed (pid $pid)"
    fi
    ;;
start-prometheus) take_lock; start_prometheus; write_env_file ;;
stop-prometheus) take_lock; stop_prometheus ;;
status) status ;;
env) print_env ;;
-h | --help | help) usage ;;
*) usage ;;
esac
