#!/bin/sh
# tools/allocfail/ctests.sh [PROG...]: the C engine tests (tests/c) with
# allocation failures. Each af_PROG (tests/c, `make -C tests/c
# allocfail-build`) is built with the engine's allocations on the counter of
# src/allocfail.c; this runs it once to count them (T), then once for each
# N in a set of failure points, with CHC_FAIL_AT=N: every N up to
# CHC_AF_CT_ALL (default 300), then CHC_AF_CT_SAMPLES (default 300) points
# spread evenly over the rest of 1..T (offset by CHC_AF_CT_SEED, default 0).
# The test's own checks fail once an allocation does (it prints "check
# failed" and aborts, or goes on and may then wait for a callback that
# its failed call never scheduled, until CHC_AF_CT_TIMEOUT, default 15 s):
# that is expected. A bug is a sanitizer report (ASan, UBSan), a crash by
# any other signal, or a hang with no failed check before it (a sanitizer
# report after a failed check is the test using what the failed call gave
# it, such as a NULL loop, and counts as the check failure). Leaks are not checked here (a
# test that stops at a failed check leaks by design); the Lua scenarios
# (tools/allocfail/run.lua) check them. Prints one line per program
#   ctest PROG: total T, ran R: passed P, check failures C, bugs B
# and each bug with its N; exits 1 if there was a bug.
set -u
cd "$(dirname "$0")/../../tests/c" || exit 2
ALL=${CHC_AF_CT_ALL:-300}
SAMPLES=${CHC_AF_CT_SAMPLES:-300}
SEED=${CHC_AF_CT_SEED:-0}
LIMIT=${CHC_AF_CT_TIMEOUT:-15}
[ $# -gt 0 ] || set -- test_loop test_h1 test_h2 test_sse test_ws test_takeover
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=86"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86"
out=$(mktemp) || exit 2
trap 'rm -f "$out"' EXIT
bugs_all=0
for p in "$@"; do
    [ -x "af_$p" ] || { echo "ctest $p: af_$p missing (make -C tests/c allocfail-build)"; exit 2; }
    total=$(CHC_AF_REPORT=1 timeout 120 "./af_$p" 2>&1 >/dev/null |
            sed -n 's/^allocfail: \([0-9]*\) allocations.*/\1/p' | tail -n 1)
    [ -n "$total" ] || { echo "ctest $p: no total (does it pass without failures?)"; exit 1; }
    ran=0 passed=0 checks=0 bugs=0
    points=$(awk -v t="$total" -v all="$ALL" -v s="$SAMPLES" -v seed="$SEED" 'BEGIN {
        for (n = 1; n <= t && n <= all; n++) print n
        if (t > all && s > 0) {
            step = (t - all) / s; if (step < 1) step = 1
            for (x = all + 1 + (seed % step); x <= t; x += step) print int(x)
        }
    }' | uniq)
    for n in $points; do
        CHC_FAIL_AT=$n timeout "$LIMIT" "./af_$p" >"$out" 2>&1
        rc=$?
        ran=$((ran + 1))
        # the first line of a sanitizer report, and of a failed check
        san=$(grep -n -m 1 "Sanitizer\|runtime error:" "$out" | cut -d: -f1)
        chk=$(grep -n -m 1 "check failed" "$out" | cut -d: -f1)
        if [ -n "$san" ] && { [ -z "$chk" ] || [ "$san" -lt "$chk" ]; }; then
            verdict=bug
        elif [ -n "$san" ]; then
            verdict=check # the test went on with what its failed check returned
        elif [ "$rc" -eq 0 ]; then
            verdict=pass
        elif [ -n "$chk" ]; then
            verdict=check # however it ended after that (abort, a hang, SIGPIPE)
        else
            verdict=bug
        fi
        case $verdict in
        pass) passed=$((passed + 1)) ;;
        check) checks=$((checks + 1)) ;;
        bug)
            bugs=$((bugs + 1))
            echo "ctest $p N=$n: exit status $rc"
            grep -m 12 "ERROR\|SUMMARY\|runtime error\|#[0-9] \|check failed" "$out" | sed 's/^/    /'
            ;;
        esac
    done
    echo "ctest $p: total $total, ran $ran: passed $passed, check failures $checks, bugs $bugs"
    bugs_all=$((bugs_all + bugs))
done
[ "$bugs_all" -eq 0 ]
