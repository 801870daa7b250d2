#!/usr/bin/env bash
# tests/bench/smoke.sh SOURCE_DIR BUILD_DIR: runs bench/run.sh --smoke into a
# temporary results folder and checks that it finished and that summary.md
# has every scenario row with a measured number, the CPU and connection
# tables and both scaling tables. Nothing about speed is asserted.
set -euo pipefail
SRC="$1"
BUILD="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "bench_smoke: FAILED: $*" >&2
    exit 1
}

if ! "$SRC/bench/run.sh" --smoke --build "$BUILD" --out "$tmp" >"$tmp/out.txt" 2>"$tmp/err.txt"; then
    grep -v '^progress' "$tmp/err.txt" | tail -30 >&2
    fail "bench/run.sh --smoke exited non-zero"
fi
mapfile -t summaries < <(find "$tmp" -name summary.md)
((${#summaries[@]} == 1)) || fail "expected one summary.md, found ${#summaries[@]}"
s="${summaries[0]}"

# Main table: | id | what | dorahost | lat | baseline | lat | ratio |
for id in echo echo-pooled echo-p16 echo-tls echo-tls-poco add_user add_user-grouped http seed; do
    line="$(grep -E "^\| $id \|" "$s" || true)"
    [[ -n "$line" ]] || fail "no '$id' row in $s"
    ours="$(cut -d'|' -f4 <<<"$line")"
    [[ "$ours" =~ [1-9] ]] || fail "'$id' row has no measured throughput: $line"
done
for id in echo echo-p16 echo-tls echo-tls-poco add_user http; do
    base="$(grep -E "^\| $id \|" "$s" | cut -d'|' -f6)"
    [[ "$base" =~ :\ [0-9,]*[1-9][0-9,]*\ (req|writes)/s ]] || fail "'$id' row has no measured baseline: $base"
done
grep -qE '^\| add_user-slap \|.*mariadb-slap' "$s" || fail "no mariadb-slap reference row"
grep -qE '^\| seed \|.*lost 0, twice 0' "$s" || fail "the seed lost or doubled writes: $(grep -E '^\| seed \|' "$s")"

# Per-phase tables: every side of every scenario.
section() { awk -v h="$1" '/^## /{ on = index($0, h) == 4 } on' "$s"; }
cpu_table="$(section 'Where the CPU went')"
conn_table="$(section 'MySQL connections and Redis memory')"
[[ -n "$cpu_table" ]] || fail "no CPU table"
[[ -n "$conn_table" ]] || fail "no connections/memory table"
for phase in echo echo-redis echo-pooled echo-p16 echo-p16-redis echo-tls echo-tls-plain \
    echo-tls-poco echo-tls-poco-plain add_user add_user-grouped add_user-mysql add_user-slap \
    http http-poco seed scale-echo-c1 scale-echo-c1000 seed-100; do
    grep -qE "^\| $phase \| [0-9,]*[1-9][0-9,]* \|" <<<"$cpu_table" || fail "no CPU row with calls for phase '$phase'"
    grep -qE "^\| $phase \|" <<<"$conn_table" || fail "no connections row for phase '$phase'"
done

# Scaling: the seed at each smoke size, echo at each connection count.
for n in 100 300; do
    grep -qE "^\| $n \| [0-9,]+ \| " "$s" || fail "no scale-seed row for $n iterations"
done
for c in 1 10 50 200 1000; do
    grep -qE "^\| $c \| [0-9,]*[1-9][0-9,]* \| " "$s" || fail "no measured scale-echo row for $c connections"
done
# The TLS table: a server CPU per call for each side (the smoke runs the
# threads design only).
tls_table="$(section 'TLS: the host')"
for phase in echo-tls-plain echo-tls echo-tls-poco-plain echo-tls-poco; do
    grep -qE "^\| $phase \| [^|]+ \| [0-9,]*[1-9][0-9,]* \| [^|]+ \| [0-9.]+ \|" <<<"$tls_table" ||
        fail "no TLS table row with req/s and CPU per call for '$phase'"
done
if grep -E 'printed no summary|is not a success|failed:|answered differently|failed requests' "$s" >&2; then
    fail "a phase did not run (notes above)"
fi
echo "bench_smoke: OK ($(grep -cE '^\| ' "$s") table rows in summary.md)"
