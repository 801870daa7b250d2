#!/usr/bin/env bash
# Builds the codec fuzzers with clang (libFuzzer + ASan + UBSan) into
# build-fuzz/ (or $DORA_FUZZ_OUT) and runs each for SECONDS (default 60),
# starting from the committed corpus in tests/fuzz/corpus/<target>/ (seeds,
# inputs earlier runs found, and every crash input once fixed, so each run
# replays them first). What a run finds is kept in the output folder, which
# the summary names: new corpus entries in <out>/corpus/<target>/ (the
# committed corpus is never written during a run), crash inputs in
# <out>/<target>-crash-*. Exits non-zero if a target failed.
#
# tests/fuzz/run.sh --merge adds to tests/fuzz/corpus/<target>/ the entries
# of <out>/corpus/<target>/ that reach code the committed corpus does not
# (libFuzzer -merge=1), to commit; scripts/nightly.sh does this after its
# long run. A crash input, once its bug is fixed, is copied into
# tests/fuzz/corpus/<target>/ by hand (named crash-<what>), so CI keeps
# replaying it.
#
# The fuzzers are compiled with one clang++ command each instead of
# configuring the whole project: they need only the header-only SDK and
# wire/src/Json.cpp, and this keeps them independent of the other
# layers and of Poco/MySQL being installed. (tests/fuzz/CMakeLists.txt
# builds the same targets inside a clang configure of the project.)
#
# Usage: tests/fuzz/run.sh [SECONDS]    (env: CXX_FUZZ=clang++-14, FUZZ_JOBS)
set -euo pipefail

merge=0
if [[ "${1:-}" == --merge ]]; then
    merge=1
    shift
fi
secs=${1:-60}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${DORA_FUZZ_OUT:-$root/build-fuzz}
cxx=${CXX_FUZZ:-clang++}
mkdir -p "$out"

flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Wall -Wextra -Werror
       -I"$root/plugin-sdk/include" -I"$root/wire/include" -I"$root/host")

targets=(fuzz_unserialize fuzz_json fuzz_frame)
protocol_sources=("$root/wire/src/Json.cpp" "$root/wire/src/Frame.cpp" "$root/wire/src/Signing.cpp"
                  "$root/host/protocol/Request.cpp" "$root/host/protocol/Response.cpp"
                  "$root/host/protocol/Signing.cpp")
# Each source compiled once (the protocol sources are shared by the three
# targets), as many at a time as there are cores; then the links.
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$out/obj"
pids=()
wait_all() {
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    pids=()
    return "$rc"
}
objects=()
for src in "${protocol_sources[@]}" "${targets[@]/#/$root/tests/fuzz/}"; do
    [[ "$src" == *.cpp ]] || src=$src.cpp
    obj=$out/obj/$(echo "${src#"$root"/}" | tr / _).o
    [[ "$src" == "$root/tests/fuzz/"* ]] || objects+=("$obj")
    echo "== compiling ${src#"$root"/}"
    "$cxx" "${flags[@]}" -c "$src" -o "$obj" &
    pids+=($!)
    if ((${#pids[@]} >= jobs)); then wait_all || { echo "fuzz build failed" >&2; exit 1; }; fi
done
wait_all || { echo "fuzz build failed" >&2; exit 1; }
for t in "${targets[@]}"; do
    echo "== linking $t"
    "$cxx" "${flags[@]}" "$out/obj/tests_fuzz_$t.cpp.o" "${objects[@]}" -lz -lcrypto -o "$out/$t" &
    pids+=($!)
done
wait_all || { echo "fuzz link failed" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if ((merge)); then
    for t in "${targets[@]}"; do
        keep=$root/tests/fuzz/corpus/$t
        before=$(find "$keep" -type f | wc -l)
        mkdir -p "$out/corpus/$t"
        "$out/$t" -merge=1 -max_len=4096 "$keep" "$out/corpus/$t" >"$out/$t-merge.log" 2>&1 ||
            { tail -20 "$out/$t-merge.log"; exit 1; }
        echo "$t: $(($(find "$keep" -type f | wc -l) - before)) entries added to $keep"
    done
    exit 0
fi

status=0
summary=()
for t in "${targets[@]}"; do
    work=$out/corpus/$t
    mkdir -p "$work"
    dict=$root/tests/fuzz/$t.dict
    [ -f "$dict" ] || dict=
    echo "== running $t for ${secs}s"
    set +e
    "$out/$t" -max_total_time="$secs" -print_final_stats=1 -max_len=4096 \
        -artifact_prefix="$out/$t-" ${dict:+-dict="$dict"} \
        "$work" "$root/tests/fuzz/corpus/$t" >"$out/$t.log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -1)
    corpus=$(find "$work" -type f | wc -l)
    if [ $rc -ne 0 ]; then
        status=1
        crashes=$(find "$out" -maxdepth 1 -name "$t-*" -type f ! -name '*.log' | tr '\n' ' ')
        summary+=("$t: FAILED (exit $rc) after ${execs:-?} execs, see $out/$t.log; inputs kept: ${crashes:-none}")
        tail -40 "$out/$t.log"
    else
        summary+=("$t: ${execs:-?} execs in ${secs}s, no findings, $corpus entries found so far kept in $work")
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
echo "(tests/fuzz/run.sh --merge adds the new entries that reach new code to tests/fuzz/corpus)"
exit $status
