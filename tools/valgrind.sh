#!/bin/sh
# tools/valgrind.sh: the busted specs under valgrind memcheck.
#
#   sh tools/valgrind.sh [SPEC...]
#
# SPEC defaults to a representative set (DEFAULT_SPECS below). Each spec
# file runs in its own spec/run.sh (fresh peers) with busted under
#   valgrind --leak-check=full --errors-for-leak-kinds=definite
#            --error-exitcode=99 --suppressions=tools/valgrind.supp
#            lua5.4 /usr/bin/busted
# (busted's runner is a Lua script: valgrind runs the real interpreter, not
# the `#!/usr/bin/env lua` shebang, which may be Lua 5.1.)
#
# Leaks: busted ends through os.exit(code, true) or by returning from the
# main chunk, and lua5.4 calls lua_close in both cases, so every finaliser
# of ours runs and a clean run has no definite leak. Only *definite* leaks
# count as errors (possible/reachable ones come from the resolver's
# thread stacks, glibc's caches, readline...). A memcheck error or a
# definite leak makes valgrind exit 99, which spec/run.sh counts as a
# failure ("exited with status 99 after reporting no failure").
#
# The specs see CHC_VALGRIND=1: the ones that are too slow under valgrind
# (64 MiB streams, 20,000 requests) or that measure RSS skip themselves
# when it is set.
#
# Environment in:
#   CHC_BUILD       build dir (default: build; `make` first). An ASan build
#                   is refused: ASan and memcheck do not mix.
#   CHC_VG_LOGDIR   where the valgrind logs go (default: a temp dir, kept
#                   only when something failed)
#   CHC_VG_OPTS     extra valgrind options (e.g. --track-origins=yes)
#   CHC_VG_TIMEOUT  seconds per spec file before it is killed (default 600)
#
# Output: run.sh's output per spec, then the valgrind summary of each run
# (and the whole log when it has errors), then one line
#   valgrind: N specs clean, M failed
# Exit status 0 iff every spec file passed and valgrind found nothing.
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
DEFAULT_SPECS="spec/h1_spec.lua spec/stream_spec.lua spec/pool_spec.lua spec/embed_spec.lua
               spec/h2_spec.lua spec/ws_spec.lua spec/sse_spec.lua spec/proxy_spec.lua
               spec/trace_spec.lua spec/tls_verify_spec.lua
               spec/ws_h2_spec.lua spec/ws_parts_spec.lua"
CHC_BUILD=${CHC_BUILD:-build}
TIMEOUT=${CHC_VG_TIMEOUT:-600}

log() { echo "valgrind.sh: $*" >&2; }

command -v valgrind >/dev/null 2>&1 || { log "valgrind not found (apt-get install valgrind)"; exit 2; }
LUA=$(command -v lua5.4) || { log "lua5.4 not found"; exit 2; }
BUSTED=/usr/bin/busted
[ -r "$BUSTED" ] || { log "$BUSTED not found (apt-get install lua-busted)"; exit 2; }
case "$CHC_BUILD" in
*asan*) log "$CHC_BUILD is an ASan build: use a plain one (make; CHC_BUILD=build)"; exit 2 ;;
esac
[ -f "$CHC_BUILD/c_http_core/core.so" ] || { log "$CHC_BUILD/c_http_core/core.so missing: run make first"; exit 2; }

[ $# -gt 0 ] || set -- $DEFAULT_SPECS
for s in "$@"; do
    [ -e "$s" ] || { log "no such spec: $s"; exit 2; }
done

if [ -n "${CHC_VG_LOGDIR:-}" ]; then
    LOGDIR=$CHC_VG_LOGDIR
    mkdir -p "$LOGDIR" || exit 2
    KEEP=1
else
    LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/chc-valgrind.XXXXXX") || exit 2
    KEEP=0
fi

# Memcheck options. --child-silent-after-fork: the busted process forks
# for io.popen (curl, sh); those children exec at once and are not
# interesting. --trace-children=no (the default) keeps the peers and
# curl out of valgrind.
VG_BASE="--tool=memcheck --leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=definite --error-exitcode=99 \
--suppressions=$ROOT/tools/valgrind.supp --num-callers=40 \
--child-silent-after-fork=yes --fair-sched=try --keep-debuginfo=yes"

clean=0
failed=0
failed_names=""
for spec in "$@"; do
    name=$(basename "$spec" .lua)
    vlog="$LOGDIR/$name.valgrind.log"
    out="$LOGDIR/$name.out"
    rm -f "$vlog"
    echo "=== $spec under valgrind"
    # spec/run.sh appends `--pattern=_spec $CHC_SPEC` to the command
    # shellcheck disable=SC2086
    CHC_BUILD="$CHC_BUILD" CHC_SPEC="$spec" CHC_VALGRIND=1 \
        timeout -k 10 "$TIMEOUT" \
        sh spec/run.sh valgrind $VG_BASE ${CHC_VG_OPTS:-} --log-file="$vlog" \
        "$LUA" "$BUSTED" -o plainTerminal >"$out" 2>&1
    rc=$?
    cat "$out"
    if [ -s "$vlog" ]; then
        # the summary block of the main process (its pid is the first seen)
        grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|still reachable|All heap blocks were freed" "$vlog" |
            sed 's/^==[0-9]*== */    /'
    else
        log "$spec: no valgrind log (did busted start?)"
        rc=1
    fi
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$vlog" 2>/dev/null | tail -n 1)
    if [ "$rc" -eq 0 ] && [ "${errs:-1}" -eq 0 ]; then
        clean=$((clean + 1))
    else
        failed=$((failed + 1))
        failed_names="$failed_names $spec"
        if [ "${errs:-0}" != 0 ]; then
            echo "--- $vlog"
            cat "$vlog"
        fi
        [ "$rc" -eq 124 ] && log "$spec: killed after ${TIMEOUT} s"
        KEEP=1
    fi
done

if [ "$KEEP" = 1 ]; then
    log "logs kept in $LOGDIR"
else
    rm -rf "$LOGDIR"
fi
[ -n "$failed_names" ] && log "failed:$failed_names"
echo "valgrind: $clean specs clean, $failed failed"
[ "$failed" -eq 0 ]
