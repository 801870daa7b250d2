#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, start the private
# MariaDB and Redis (var/), and run the whole test suite with CTest.
#
#   scripts/test.sh [--sanitize[=asan,tsan] | --no-sanitize] [extra ctest arguments, e.g. -R Config -j2]
#
# DORA_BUILD_DIR picks the build tree (default: build). The tests use the
# database dorahost_test. The services are left running, unless CI is set
# (then they are stopped on exit). Prints "N passed, N failed, N skipped
# (names) of N" for each pass. Exits with CTest's status, or 1 when a test
# skipped although every test must run here (CI set, or root), or when a
# sanitizer wrote a report.
#
# Sanitizer passes (on when CI is set or with --sanitize; README "Tests"):
#   asan  the suite again, built with -DDORA_SANITIZE=address,undefined into
#         <build>-asan (all but package_deb and fuzz_codecs, see README)
#   tsan  the concurrency suites (CTest label tsan), built with
#         -DDORA_SANITIZE=thread into <build>-tsan
# They run after the normal suite, each with its own summary line. Every
# instrumented process (test runners, hosts, the dora CLI) writes its
# reports into <build>-<pass>/sanitizer-reports/; a report fails the pass
# even when the test that caused it passed. Suppressions (third-party code
# only) are in tests/sanitizers/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DORA_ROOT"

BUILD_DIR="${DORA_BUILD_DIR:-build}"
passes=()
[[ -n "${CI:-}" ]] && passes=(asan tsan)
case "${1:-}" in
--sanitize) passes=(asan tsan); shift ;;
--sanitize=*) IFS=, read -r -a passes <<<"${1#--sanitize=}"; shift ;;
--no-sanitize) passes=(); shift ;;
esac
for p in "${passes[@]}"; do
    [[ "$p" == asan || "$p" == tsan ]] || dora_die "unknown sanitizer pass '$p' (asan, tsan)"
done
started=$SECONDS

scripts/deps.sh
dora_build "$BUILD_DIR"

if [[ -n "${CI:-}" ]]; then
    trap 'scripts/services.sh stop || true' EXIT
fi
# Tests trade durability for speed (see scripts/services.sh).
DORA_MYSQL_FAST=1 scripts/services.sh start
eval "$(scripts/services.sh env)"
# Nothing the tests do may land in the dev database.
export DORAHOST_MYSQL_DATABASE=dorahost_test
export DORA_TEST_MYSQL_DATABASE=dorahost_test

# run_ctest NAME DIR [ctest arguments]: runs CTest in DIR, sets $summary
# ("N passed, N failed, N skipped (names) of N") and returns CTest's status,
# or 1 when a test skipped where every test must run (CI or root).
run_ctest() {
    local name="$1" dir="$2"
    shift 2
    local out="$dir/Testing/Temporary/dora-test-output.log"
    mkdir -p "$(dirname "$out")"
    dora_log "running the tests: $name (ctest --test-dir $dir $*)"
    local status
    set +e
    ctest --test-dir "$dir" --output-on-failure --timeout 600 --no-tests=error "$@" 2>&1 | tee "$out"
    status=${PIPESTATUS[0]}
    set -e
    # A skipped test (exit 77, SKIP_RETURN_CODE) is not a pass: name it in the
    # summary. In CI and as root nothing may skip (package_deb needs root and
    # CI is root; fuzz_codecs needs clang, which deps.sh installs).
    local skipped total failed passed
    mapfile -t skipped < <(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$out")
    total=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$out" | tail -1)
    failed=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of .*/\1/p' "$out" | tail -1)
    total=${total:-0}
    failed=${failed:-0}
    passed=$((total - failed - ${#skipped[@]}))
    summary="$passed passed, $failed failed, ${#skipped[@]} skipped${skipped[*]:+ (${skipped[*]})} of $total"
    if ((status == 0)) && ((${#skipped[@]} > 0)) && { [[ -n "${CI:-}" ]] || [[ $(id -u) -eq 0 ]]; }; then
        dora_warn "skipped where every test must run (CI or root): ${skipped[*]}"
        status=1
    fi
    return "$status"
}

minutes() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

set +e
run_ctest "normal build" "$BUILD_DIR" "$@"
status=$?
set -e
lines=()
if ((status == 0)); then
    lines+=("tests passed: $summary")
else
    lines+=("tests FAILED: $summary (ctest exit status $status); details in $BUILD_DIR/Testing/Temporary/LastTest.log")
fi
dora_log "${lines[-1]}"

# sanitizer_pass asan|tsan [ctest arguments]: configure, build, run, check
# the report folder; appends its summary line to $lines.
sanitizer_pass() {
    local pass="$1"
    shift
    local dir="$BUILD_DIR-$pass" flags ctest_args=() targets=() t0=$SECONDS
    local sup="$DORA_ROOT/tests/sanitizers"
    local reports="$dir/sanitizer-reports"
    if [[ "$pass" == asan ]]; then
        flags=address,undefined
        # package_deb installs the .deb system-wide (an instrumented host
        # has no place there); fuzz_codecs is built with ASan+UBSan already.
        ctest_args=(-LE '^(package|fuzz)$')
        # DORA_ASAN_EXCLUDE (a CTest regex) leaves more out, e.g. for a CI
        # machine where the whole pass does not fit (docs/testing.md).
        [[ -n "${DORA_ASAN_EXCLUDE:-}" ]] && ctest_args+=(-E "$DORA_ASAN_EXCLUDE")
        # In CI the whole instrumented tree does not fit the 30 minutes
        # (its build alone is ~11 min on 2 cores, and a subset with the
        # integration runners took 7.4 min): CI builds and runs the runners
        # that drive the host core itself, no host process (wire, frames,
        # task pool, request runner, pools, event loop: DORA_ASAN_SCOPE=ci,
        # the default when CI is set); scripts/nightly.sh runs all of it
        # (DORA_ASAN_SCOPE=full).
        if [[ "${DORA_ASAN_SCOPE:-${CI:+ci}}" == ci ]]; then
            # (test_queue_seam, test_frontends and test_cluster_seam run
            # nightly: their ASan build put CI's whole run at 32 min on a
            # slow day of this machine.)
            local ci_tests=(test_frame test_protocol test_wire test_workers test_dispatch test_pools
                test_net_loop)
            targets=()
            for t in "${ci_tests[@]}"; do targets+=(--target "$t"); done
            ctest_args+=(-R "^($(IFS='|'; echo "${ci_tests[*]}"))\$")
        fi
    else
        flags=thread
        ctest_args=(-L '^tsan$')
        # Only what the tsan-labelled tests need (their runners depend on
        # the host and the plugins they load).
        targets=(--target test_workers test_lifecycle test_queue test_protocol_v2)
    fi
    dora_log "sanitizer pass $pass: building ${targets[*]:-everything} with $(nproc) jobs"
    if ! cmake -S "$DORA_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDORA_SANITIZE="$flags" >/dev/null ||
        ! cmake --build "$dir" -j"$(nproc)" "${targets[@]}"; then
        lines+=("$pass FAILED: the $flags build in $dir failed")
        status=1
        dora_log "${lines[-1]}"
        return
    fi
    local built=$((SECONDS - t0))
    rm -rf "$reports"
    mkdir -p "$reports"
    # Every finding stops the process that made it and leaves a file in
    # $reports (log_path adds .<pid>); the files are what fails the pass.
    local common="halt_on_error=1:print_stacktrace=1"
    local st=0
    (
        export ASAN_OPTIONS="$common:detect_leaks=1:log_path=$reports/asan:strict_string_checks=1"
        export LSAN_OPTIONS="suppressions=$sup/lsan.supp:print_suppressions=0"
        export UBSAN_OPTIONS="$common:log_path=$reports/ubsan:suppressions=$sup/ubsan.supp"
        export TSAN_OPTIONS="$common:log_path=$reports/tsan:second_deadlock_stack=1:suppressions=$sup/tsan.supp"
        rc=0
        run_ctest "$pass" "$dir" "${ctest_args[@]}" "$@" || rc=$?
        echo "$summary" >"$dir/Testing/Temporary/dora-summary.txt"
        exit "$rc"
    ) || st=$?
    local s
    s=$(cat "$dir/Testing/Temporary/dora-summary.txt" 2>/dev/null || echo "no summary")
    local found=()
    mapfile -t found < <(find "$reports" -type f | sort)
    if ((${#found[@]} > 0)); then
        for f in "${found[@]}"; do
            dora_warn "sanitizer report $f:"
            head -60 "$f" >&2
        done
        ((st == 0)) && st=1
    fi
    local line="$pass ($flags, $dir): $s; ${#found[@]} sanitizer reports${found[*]:+ in $reports}; build $(minutes "$built"), tests $(minutes $((SECONDS - t0 - built)))"
    if ((st == 0)); then
        lines+=("$pass passed: $line")
    else
        lines+=("$pass FAILED: $line (ctest exit status $st)")
        status=1
    fi
    dora_log "${lines[-1]}"
}

for p in "${passes[@]}"; do
    sanitizer_pass "$p" "$@"
done

if ((${#passes[@]} > 0)); then
    # The summary lines again, together at the end, where .ci/run's log ends.
    for l in "${lines[@]}"; do dora_log "$l"; done
    dora_log "all passes $( ((status == 0)) && echo passed || echo FAILED) in $(minutes $((SECONDS - started)))"
fi
exit "$status"
