#!/usr/bin/env bash
# The long jobs CI leaves out (docs/testing.md says which case runs where):
#
#   1. scripts/test.sh --sanitize: the normal suite, the asan pass and the
#      tsan pass (as CI runs them)
#   2. the codec fuzzers for DORA_NIGHTLY_FUZZ_SEC seconds each (default
#      600), then tests/fuzz/run.sh --merge: what reaches new code is added
#      to tests/fuzz/corpus/ (commit it), crash inputs stay in build-fuzz/
#   3. the timing-sensitive suites (DORA_NIGHTLY_STRESS, CTest regexes)
#      DORA_NIGHTLY_REPEAT times in a row (default 20) while `stress -c 2`
#      loads both cores, at nice 15
#
#   scripts/nightly.sh [1|2|3 ...]    (default: all three, in that order)
#
# Prints one line per job and exits 1 if any failed. Same environment as
# scripts/test.sh (DORA_BUILD_DIR, DORA_VAR_DIR, ...).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DORA_ROOT"

BUILD_DIR="${DORA_BUILD_DIR:-build}"
jobs=("$@")
((${#jobs[@]} > 0)) || jobs=(1 2 3)
results=()
status=0

job_sanitize() {
    DORA_ASAN_SCOPE=full scripts/test.sh --sanitize
}

job_fuzz() {
    local out="$BUILD_DIR/fuzz-nightly"
    DORA_FUZZ_OUT="$out" tests/fuzz/run.sh "${DORA_NIGHTLY_FUZZ_SEC:-600}" &&
        DORA_FUZZ_OUT="$out" tests/fuzz/run.sh --merge
}

job_stress() {
    local n="${DORA_NIGHTLY_REPEAT:-20}"
    local re="${DORA_NIGHTLY_STRESS:-^(test_cluster|test_queue|test_lifecycle|test_net|test_protocol_v2|test_client)$}"
    command -v stress >/dev/null || dora_die "stress not installed (scripts/deps.sh installs it)"
    dora_build "$BUILD_DIR"
    DORA_MYSQL_FAST=1 scripts/services.sh start
    eval "$(scripts/services.sh env)"
    export DORAHOST_MYSQL_DATABASE=dorahost_test DORA_TEST_MYSQL_DATABASE=dorahost_test
    # Its own process group, so the workers stress forks go with it.
    setsid nice -n 15 stress -c 2 >/dev/null 2>&1 &
    local load=$!
    local st=0
    # Each selected test N times in a row; stops at the first failure.
    nice -n 15 ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 1200 -R "$re" \
        --repeat until-fail:"$n" || st=$?
    kill -- -"$load" 2>/dev/null || true
    wait "$load" 2>/dev/null || true
    return "$st"
}

for j in "${jobs[@]}"; do
    case "$j" in
    1) name="suite and sanitizer passes (scripts/test.sh --sanitize)" fn=job_sanitize ;;
    2) name="fuzzers ${DORA_NIGHTLY_FUZZ_SEC:-600} s each + corpus merge" fn=job_fuzz ;;
    3) name="timing-sensitive suites ${DORA_NIGHTLY_REPEAT:-20}x under stress -c 2" fn=job_stress ;;
    *) dora_die "unknown job '$j' (1, 2, 3)" ;;
    esac
    t0=$SECONDS
    dora_log "nightly job $j: $name"
    if "$fn"; then
        results+=("job $j passed: $name ($((SECONDS - t0)) s)")
    else
        results+=("job $j FAILED: $name ($((SECONDS - t0)) s)")
        status=1
    fi
    dora_log "${results[-1]}"
done
for r in "${results[@]}"; do dora_log "$r"; done
exit "$status"
