#!/bin/sh
# tools/mutate.sh: does the suite catch deliberate breakages? (mutation check)
#
#   sh tools/mutate.sh [NAME...]        NAME: tools/mutations/NAME.sed
#
# Copies the tracked files of this worktree (as they are on disk) into a
# scratch directory, builds there once, runs `make test` unmutated (it must
# pass), then for each mutation: applies it with sed to its one source
# file, runs `make test`, and puts the file back. A mutation is CAUGHT
# when `make test` fails ("N passed, M failed" with M > 0) and SURVIVED
# when it passes. Nothing in this worktree is modified.
#
# A mutation is a sed script tools/mutations/NAME.sed whose first lines say
#   # file: src/pool.c          the file it edits (relative to the top)
#   # what: one line            what it breaks
# The script must change the file; one that no longer applies (the code
# moved on) is reported as NOT APPLIED, and counts as a failure of this
# check: update the script.
#
# Every `make test` runs under spec/run.sh's per-file watchdog (a hang
# costs CHC_SPEC_TIMEOUT, default 90 s, not the run) and under an outer
# limit of MUTATE_TIMEOUT seconds (default 600).
#
# Output: one line per mutation, then
#   mutate: K of N mutations caught
# Exit status 0 iff every mutation was caught (and the baseline passed).
# Not part of `make test` or CI: run it before changing what specs cover.
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
LIMIT=${MUTATE_TIMEOUT:-600}

log() { echo "mutate: $*" >&2; }

if [ $# -eq 0 ]; then
    for m in "$ROOT"/tools/mutations/*.sed; do
        set -- "$@" "$(basename "$m" .sed)"
    done
fi
for name in "$@"; do
    [ -f "$ROOT/tools/mutations/$name.sed" ] || { log "no mutation $name"; exit 2; }
done

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/chc-mutate.XXXXXX") || exit 2
cleanup() { rm -rf "$SCRATCH"; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# the tracked files as they are now (uncommitted edits included)
git ls-files -z | tar --null -T - -cf - | (cd "$SCRATCH" && tar -xf -) ||
    { log "copying the worktree failed"; exit 2; }
log "scratch copy in $SCRATCH"

# run_test LOGFILE: `make test` in the scratch copy; prints its last line;
# returns make's status (124/137 when the outer limit killed it)
run_test() {
    (cd "$SCRATCH" && timeout -k 10 "$LIMIT" make -s test) >"$1" 2>&1
    st=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1)
    echo "${line:-no summary line}"
    return $st
}

# failed_files LOGFILE: what run.sh said failed (files, watchdog, exits)
failed_files() {
    grep -E '^run\.sh: (WATCHDOG|spec/.*(failed|summary|status))' "$1" |
        sed 's/^run\.sh: //' | head -n 5
}

(cd "$SCRATCH" && make -s -j2 all embed >"$SCRATCH/build.log" 2>&1) ||
    { log "the unmutated build failed:"; tail -n 20 "$SCRATCH/build.log" >&2; exit 2; }

t0=$(date +%s)
last=$(run_test "$SCRATCH/baseline.log")
st=$?
if [ "$st" -ne 0 ]; then
    log "baseline (no mutation) fails ($last): fix the suite first"
    failed_files "$SCRATCH/baseline.log" >&2
    exit 2
fi
echo "baseline: passes ($last) in $(( $(date +%s) - t0 )) s"

total=0
caught=0
for name in "$@"; do
    total=$((total + 1))
    m="$ROOT/tools/mutations/$name.sed"
    file=$(sed -n 's/^# file: *//p' "$m" | head -n 1)
    what=$(sed -n 's/^# what: *//p' "$m" | head -n 1)
    target="$SCRATCH/$file"
    if [ -z "$file" ] || [ ! -f "$target" ]; then
        echo "$name: NOT APPLIED (no such file: '$file')"
        continue
    fi
    cp -p "$target" "$SCRATCH/orig"
    sed -f "$m" "$SCRATCH/orig" >"$target"
    if cmp -s "$SCRATCH/orig" "$target"; then
        echo "$name: NOT APPLIED (the sed script changed nothing in $file)"
        cp -p "$SCRATCH/orig" "$target"
        continue
    fi
    t0=$(date +%s)
    last=$(run_test "$SCRATCH/$name.log")
    st=$?
    took=$(( $(date +%s) - t0 ))
    if [ "$st" -eq 124 ] || [ "$st" -eq 137 ]; then
        echo "$name: HUNG (make test killed after $LIMIT s) -- $what"
    elif [ "$st" -ne 0 ]; then
        caught=$((caught + 1))
        echo "$name: caught in $took s ($last) -- $what"
        failed_files "$SCRATCH/$name.log" | sed 's/^/    /'
    else
        echo "$name: SURVIVED in $took s ($last) -- $what"
    fi
    # put the file back; a fresh mtime makes make rebuild it
    cp "$SCRATCH/orig" "$target"
    touch "$target"
done

echo "mutate: $caught of $total mutations caught"
[ "$caught" -eq "$total" ] && exit 0
exit 1
