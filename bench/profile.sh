#!/bin/sh
# bench/profile.sh: where the time goes in W1 and W4, in instructions
# (callgrind), so the figures do not depend on the machine's load.
#
#   sh bench/profile.sh            # or: make profile
#   ONLY=W1 sh bench/profile.sh    # W1, W2 (50 connections, tasks), W4 (iter),
#                                  # W4w (write_to), W5 (syscalls per new
#                                  # connection), W1T, W3t (TLS h2 10 x 10), W4t
#   TOP=40 sh bench/profile.sh     # longer tables
#
# Each workload runs bench/chc.lua twice under callgrind, a short and a long
# run, and reports the difference divided by the extra work: instructions per
# request (W1: keep-alive GET of /small on one connection) or per MiB (W4:
# plain HTTP/1.1 download of 8 MiB through resp:iter() or resp:write_to;
# the short run is the same mode on /small). Start-up, the probe and the
# connection's setup cancel out. Then the top functions of the long run
# (inclusive and self), from callgrind_annotate. Against the loopback nginx
# of bench/server.sh. For W1 also: syscalls per request (strace -c, the same
# difference of two runs) and the Lua side alone (bench/lua_cost.lua: VM
# instructions and bytes allocated per request). Output files stay in
# bench/out/profile/ (callgrind.*: open them in kcachegrind for the call graph).
# The interpreter is bench/lua_host.c linked with liblua5.4.a when it is there
# (the lua5.4 binary is stripped: its functions would be bare addresses).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
BUILD=${BUILD:-build}
OUT=$ROOT/bench/out/profile
TOP=${TOP:-25}
ONLY=${ONLY:-W1 W4 W4w W5}
export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$ROOT/$BUILD/?.so;;"
LUA=${LUA:-lua5.4}
command -v valgrind >/dev/null 2>&1 || { echo "profile: valgrind missing" >&2; exit 2; }
# Debian's lua5.4 is stripped: with liblua5.4.a (liblua5.4-dev) the runs use
# bench/lua_host.c instead, so the interpreter's functions have names
LUA_A=$(ls /usr/lib/*/liblua5.4.a /usr/lib/liblua5.4.a 2>/dev/null | head -1)
if [ -z "${LUA_PROF:-}" ] && [ -n "$LUA_A" ] && mkdir -p bench/out/bin &&
   ${CC:-cc} -O2 -g -I/usr/include/lua5.4 -o bench/out/bin/lua_host bench/lua_host.c \
       "$LUA_A" -lm -ldl -Wl,-E 2>"$ROOT/bench/out/bin/lua_host.build"; then
    LUA_PROF=bench/out/bin/lua_host
fi
LUA_PROF=${LUA_PROF:-$LUA}
[ -f "$BUILD/c_http_core/core.so" ] || { echo "profile: $BUILD/c_http_core/core.so missing (make first)" >&2; exit 2; }
mkdir -p "$OUT"

RUNDIR=$(mktemp -d /tmp/chc-prof.XXXXXX) || exit 2
cleanup() { sh "$ROOT/bench/server.sh" stop "$RUNDIR" >/dev/null 2>&1; rm -rf "$RUNDIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
SRV=$(sh bench/server.sh start "$RUNDIR" none) || { echo "profile: nginx did not start" >&2; exit 2; }
eval "$SRV"
P=http://127.0.0.1:$PORT
S=https://127.0.0.1:$((PORT + 2))

# cg NAME ARGS...: one callgrind run of chc.lua; prints its total Ir
cg() {
    name=$1; shift
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.$name" \
        "$LUA_PROF" bench/chc.lua "$@" timeout=120 >"$OUT/$name.out" 2>"$OUT/$name.err" || {
        echo "profile: $name failed:" >&2; cat "$OUT/$name.out" "$OUT/$name.err" >&2; exit 1; }
    grep -q '^RESULT' "$OUT/$name.out" || { echo "profile: $name: no RESULT" >&2; cat "$OUT/$name.out" >&2; exit 1; }
    callgrind_annotate "$OUT/callgrind.$name" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}'
}

# per NAME UNIT DIVISOR SHORT_ARGS -- LONG_ARGS
per() {
    name=$1 unit=$2 div=$3; shift 3
    short=""; while [ "$1" != -- ]; do short="$short $1"; shift; done; shift
    # shellcheck disable=SC2086
    a=$(cg "$name.short" $short) || exit 1
    b=$(cg "$name" "$@") || exit 1
    awk -v a="$a" -v b="$b" -v d="$div" -v n="$name" -v u="$unit" \
        'BEGIN { printf "%s: %.0f instructions per %s (runs: %s and %s Ir)\n", n, (b - a) / d, u, a, b }' \
        | tee -a "$OUT/summary.txt"
    # per shared object (ours: core.so; the interpreter; libc; mbedTLS):
    # for TLS rows the cipher's share is the ceiling's share
    for f in "$name.short" "$name"; do
        echo "=== $f"
        callgrind_annotate --auto=no --threshold=100 "$OUT/callgrind.$f" 2>/dev/null |
            sed -n '/file:function/,$p' | sed 1,2d
    done | awk -v d="$div" -v n="$name" -v u="$unit" '
        /^=== / { run++; next }
        /^ *[0-9,]+ / { v = $1; gsub(",", "", v); k = $0
                        sub(/^ *[0-9,]+ *(\([^)]*\))? */, "", k)
                        if (run == 1) a[k] = v; else b[k] = v }
        END { for (k in b) { x = (b[k] - a[k]) / d; o = k
                             if (o !~ /\[\//) continue
                             sub(/.*\[/, "", o); sub(/\].*/, "", o); sub(/.*\//, "", o)
                             s[o] += x; t += x }
              line = n ": by object per " u ":"
              for (o in s) if (s[o] / t >= 0.005) line = line sprintf(" %s %.1f%%", o, 100 * s[o] / t)
              print line }' | tee -a "$OUT/summary.txt"
    # per function, the long run minus the short one over the extra work:
    # what each request (MiB) costs, start-up and set-up left out
    for incl in no yes; do
        echo "--- $name: top $TOP per $unit, $([ $incl = yes ] && echo inclusive || echo self)"
        for f in "$name.short" "$name"; do
            echo "=== $f"
            callgrind_annotate --auto=no --threshold=100 --inclusive=$incl "$OUT/callgrind.$f" 2>/dev/null |
                sed -n '/file:function/,$p' | sed 1,2d
        done | awk -v d="$div" '
            /^=== / { run++; next }
            /^ *[0-9,]+ / { v = $1; gsub(",", "", v); k = $0
                            sub(/^ *[0-9,]+ *(\([^)]*\))? */, "", k)
                            if (run == 1) a[k] = v; else b[k] = v }
            END { for (k in b) { x = (b[k] - a[k]) / d
                                 if (x >= 1) printf "%12.0f  %s\n", x, k } }' |
            sort -rn | head -n "$TOP"
    done
    echo
}

# sys NAME MODE SHORT_N LONG_N URL: syscalls per request (strace -c; the
# kernel's work is not in callgrind's counts), by name
sys() {
    command -v strace >/dev/null 2>&1 || { echo "$1: strace missing, no syscall counts" | tee -a "$OUT/summary.txt"; return 0; }
    sname=$1 smode=$2; shift 2
    for k in "$1" "$2"; do
        strace -f -c -o "$OUT/strace.$sname.$k" "$LUA" bench/chc.lua "$smode" url="$3" n="$k" >/dev/null 2>&1 || return 0
    done
    set -- "$sname" "$1" "$2"
    awk -v n="$1" -v d="$(($3 - $2))" '
        FNR == 1 { f++ }
        $NF ~ /^[a-z_0-9]+$/ && $NF != "total" && $4 ~ /^[0-9]+$/ { c[f, $NF] = $4; names[$NF] = 1 }
        END { out = ""; for (k in names) { v = (c[2, k] - c[1, k]) / d; if (v >= 0.05) { out = out sprintf(" %s=%.2f", k, v); t += v } }
              printf "%s: %.2f syscalls per request:%s\n", n, t, out }' \
        "$OUT/strace.$1.$2" "$OUT/strace.$1.$3" | tee -a "$OUT/summary.txt"
}

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
: > "$OUT/summary.txt"
MID=8388608
want W1   && per W1 request 2000 seq url=$P/small n=200 -- seq url=$P/small n=2200
want W2   && per W2 request 2000 conc url=$P/small n=500 c=50 -- conc url=$P/small n=2500 c=50
want W1   && sys W1 seq 200 2200 "$P/small"
want W5   && sys W5 close 100 1100 "$P/small"
want W1   && "$LUA" bench/lua_cost.lua "$P/small" 2000 | sed 's/^LUACOST/W1 Lua side:/' | tee -a "$OUT/summary.txt"
want W4   && per W4 MiB 8 get url=$P/small size=13 -- get url=$P/mid size=$MID
want W4w  && per W4w MiB 8 get url=$P/small size=13 via=write_to -- get url=$P/mid size=$MID via=write_to
want W1T  && per W1T request 1000 seq url=$S/small n=100 -- seq url=$S/small n=1100
want W3t  && per W3t request 2000 mux url=$S/small n=500 c=10 m=10 h2=1 -- mux url=$S/small n=2500 c=10 m=10 h2=1
want W4t  && per W4t MiB 8 get url=$S/small size=13 -- get url=$S/mid size=$MID
echo "=== summary (instructions; callgrind, load-independent)"
cat "$OUT/summary.txt"
