#!/bin/sh
# Test runner for c_http_core:  sh spec/run.sh BUSTED_CMD...
#   e.g.  sh spec/run.sh busted --lua=lua5.4        (what `make test` runs)
#
# Starts the test peers on loopback (nginx and spec/peers/raw_peer.py) in a
# fresh temp dir, runs BUSTED_CMD --pattern=_spec FILE for each spec file
# under spec/ (or $CHC_SPEC), each under a watchdog (see "busted" below), stops
# the peers (always: trap on EXIT/INT/TERM/HUP) and ends with exactly one line
#   N passed, M failed
# (N = busted successes, M = failures + errors). Exit 0 iff M == 0 and N > 0.
#
# Environment in:
#   CHC_BUILD     build dir holding c_http_core/core.so (default: build);
#                 if it contains "asan", busted runs with the ASan runtime
#                 preloaded (LD_PRELOAD) and ASAN_/UBSAN_OPTIONS set.
#   CHC_SPEC      a spec file (or dir) to run instead of spec/
#   CHC_KEEP_TMP  1: keep the temp dir (peer logs) and print its path
#   CHC_SPEC_TIMEOUT  the per-file watchdog: seconds a spec file may run
#                 before it is killed and counted as a failure (default 90;
#                 180 for an ASan build; 3600 under tools/valgrind.sh)
#   CHC_SUITE_BUDGET  seconds all spec files together may take (default 480)
# Environment for the specs (see spec/helper.lua):
#   CHC_NGINX_URL CHC_NGINX_PORT CHC_NGINX_WWW   http://127.0.0.1:PORT, www dir
#   CHC_RAW_URL   CHC_RAW_PORT                   the raw peer
#   CHC_NGINX6_URL CHC_RAW6_URL                  http://[::1]:PORT (if ::1)
#   CHC_IPV6      1 if the peers also listen on ::1, else 0
#   CHC_NGINX_TLS_URL CHC_NGINX_TLS_PORT         https://127.0.0.1:PORT, the
#                 main TLS server (cert for localhost, 127.0.0.1 and ::1)
#   CHC_NGINX6_TLS_URL                           https://[::1]:PORT (if ::1)
#   CHC_TLS_WRONG_URL CHC_TLS_EXPIRED_URL CHC_TLS_IPONLY_URL CHC_TLS_NOIP_URL
#   CHC_TLS_CLIENT_URL                           the other TLS servers (see
#                                                spec/peers/nginx-tls.conf.in)
#   CHC_TLS_DIR   the test CA and certificates (spec/peers/certs.sh)
#   HTTP/2 peers (spec/h2_spec.lua):
#   CHC_NGINX_H2C_URL CHC_NGINX_H2C_PORT         http://127.0.0.1:PORT, nginx's
#                 main server as h2c with prior knowledge (same locations);
#                 CHC_NGINX_TLS_URL offers h2 and http/1.1 through ALPN
#   CHC_NGHTTPD_URL CHC_NGHTTPD_PORT             nghttpd --no-tls (h2c) serving
#                 CHC_NGINX_WWW (/1k /64k /1m /64m)
#   CHC_H2_PEER_URL CHC_H2_PEER_MAX5_URL CHC_H2_PEER_TLS_URL
#                 spec/peers/h2_peer.js (node): h2c, h2c with
#                 SETTINGS_MAX_CONCURRENT_STREAMS = 5, h2 over TLS (ALPN h2
#                 and http/1.1, certificate from CHC_TLS_DIR)
#   (each left empty, with a warning, when nghttpd or node is not installed:
#   spec/h2_spec.lua then fails)
#   CHC_TMP       the temp dir (scratch space for specs)
#   LUA_PATH / LUA_CPATH  lua/ and spec/ ; $CHC_BUILD
set -u

[ $# -gt 0 ] || { echo "usage: sh spec/run.sh BUSTED_CMD..." >&2; exit 2; }

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
PY=/usr/bin/python3
CHC_BUILD=${CHC_BUILD:-build}
SPEC_TARGET=${CHC_SPEC:-spec}

RAW_PID=""
NGHTTPD_PID=""
H2PEER_PID=""
BUSTED_PID=""
TEE_PID=""
CLEANED=""
CHC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/chc-test.XXXXXX") || exit 2

log() { echo "run.sh: $*" >&2; }

. "$ROOT/spec/peers/proc.sh"

# stop_group PGID: TERM the process group, wait (bounded), then KILL it.
stop_group() {
    pg=$1
    kill -TERM "-$pg" 2>/dev/null || { kill -TERM "$pg" 2>/dev/null; }
    deadline=$(( $(date +%s) + 5 ))
    while alive "$pg" || group_alive "$pg"; do
        [ "$(date +%s)" -ge "$deadline" ] && break
        sleep 0.05
    done
    kill -KILL "-$pg" 2>/dev/null
    kill -KILL "$pg" 2>/dev/null
    wait "$pg" 2>/dev/null
    return 0
}

cleanup() {
    [ -n "$CLEANED" ] && return 0
    CLEANED=1
    trap - EXIT INT TERM HUP
    [ -n "$BUSTED_PID" ] && stop_group "$BUSTED_PID"
    [ -n "$TEE_PID" ] && { kill "$TEE_PID" 2>/dev/null; wait "$TEE_PID" 2>/dev/null; }
    [ -n "$RAW_PID" ] && stop_group "$RAW_PID"
    [ -n "$NGHTTPD_PID" ] && stop_group "$NGHTTPD_PID"
    [ -n "$H2PEER_PID" ] && stop_group "$H2PEER_PID"
    if [ -d "$CHC_TMP/nginx" ]; then
        sh "$ROOT/spec/peers/nginx.sh" stop "$CHC_TMP/nginx" >&2
    fi
    if [ "${CHC_KEEP_TMP:-0}" = 1 ]; then
        log "kept $CHC_TMP"
    else
        rm -rf "$CHC_TMP"
    fi
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

fail_setup() {
    log "$*"
    for f in "$CHC_TMP/raw_peer.log" "$CHC_TMP/nginx/error.log" \
             "$CHC_TMP/nghttpd.log" "$CHC_TMP/h2_peer.log"; do
        [ -s "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
    done
    cleanup
    echo "0 passed, 1 failed"
    exit 1
}

# ---------------------------------------------------------------- raw peer
# It binds port 0 itself (no race) and writes the port into the ready file.
# setsid: its own session/process group, so INT from a terminal does not hit
# it and cleanup can kill the whole group.
[ -x "$PY" ] || fail_setup "$PY not found (install python3)"
setsid -w "$PY" "$ROOT/spec/peers/raw_peer.py" --port 0 \
    --ready-file "$CHC_TMP/raw.ready" </dev/null >"$CHC_TMP/raw_peer.log" 2>&1 &
RAW_PID=$!

deadline=$(( $(date +%s) + 10 ))
while [ ! -s "$CHC_TMP/raw.ready" ]; do
    alive "$RAW_PID" || fail_setup "raw peer exited during startup"
    [ "$(date +%s)" -ge "$deadline" ] && fail_setup "raw peer not ready within 10 s"
    sleep 0.05
done
CHC_RAW_PORT=$(sed -n 1p "$CHC_TMP/raw.ready")
RAW_V6=$(sed -n 's/^ipv6=//p' "$CHC_TMP/raw.ready")

# ---------------------------------------------------------------- nginx
free_port() {
    "$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
# free_ports N: N distinct free ports on one line
free_ports() {
    "$PY" -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
# The port is free on 127.0.0.1 but could be taken on ::1 (or grabbed in
# between): a few attempts with fresh ports.
tries=0
while :; do
    tries=$((tries + 1))
    CHC_NGINX_PORT=$(free_port) || fail_setup "cannot pick a free port"
    TLS_PORTS=$(free_ports 6) || fail_setup "cannot pick free ports"
    CHC_NGINX_H2C_PORT=$(free_port) || fail_setup "cannot pick a free port"
    # shellcheck disable=SC2086 # six ports, split on purpose
    CHC_NGINX_H2C_PORT=$CHC_NGINX_H2C_PORT \
    sh "$ROOT/spec/peers/nginx.sh" start "$CHC_TMP/nginx" "$CHC_NGINX_PORT" \
        $TLS_PORTS </dev/null >&2 && break
    [ "$tries" -ge 3 ] && fail_setup "nginx did not start"
    log "nginx failed on port $CHC_NGINX_PORT, retrying"
done
NGINX_V6=$(cat "$CHC_TMP/nginx/ipv6" 2>/dev/null || echo 0)

CHC_NGINX_URL="http://127.0.0.1:$CHC_NGINX_PORT"
CHC_RAW_URL="http://127.0.0.1:$CHC_RAW_PORT"
CHC_NGINX_WWW="$CHC_TMP/nginx/www"
CHC_IPV6=0
CHC_NGINX6_URL=""
CHC_RAW6_URL=""
if [ "$NGINX_V6" = 1 ] && [ "$RAW_V6" = 1 ]; then
    CHC_IPV6=1
    CHC_NGINX6_URL="http://[::1]:$CHC_NGINX_PORT"
    CHC_RAW6_URL="http://[::1]:$CHC_RAW_PORT"
fi
read -r P_MAIN P_WRONG P_EXPIRED P_IPONLY P_NOIP P_CLIENT <<EOF
$TLS_PORTS
EOF
CHC_NGINX_TLS_PORT=$P_MAIN
CHC_NGINX_TLS_URL="https://127.0.0.1:$P_MAIN"
CHC_NGINX6_TLS_URL=""
[ "$NGINX_V6" = 1 ] && CHC_NGINX6_TLS_URL="https://[::1]:$P_MAIN"
CHC_TLS_WRONG_URL="https://127.0.0.1:$P_WRONG"
CHC_TLS_EXPIRED_URL="https://127.0.0.1:$P_EXPIRED"
CHC_TLS_IPONLY_URL="https://127.0.0.1:$P_IPONLY"
CHC_TLS_NOIP_URL="https://127.0.0.1:$P_NOIP"
CHC_TLS_CLIENT_URL="https://127.0.0.1:$P_CLIENT"
CHC_TLS_DIR="$CHC_TMP/nginx/tls"
CHC_NGINX_H2C_URL="http://127.0.0.1:$CHC_NGINX_H2C_PORT"

# ---------------------------------------------------------------- nghttpd
# h2c (prior knowledge) over nginx's www dir. It cannot bind port 0 and
# report it: a free port and a few attempts; ready once it serves /1k.
CHC_NGHTTPD_PORT=""
CHC_NGHTTPD_URL=""
NGHTTPD=$(command -v nghttpd 2>/dev/null || echo /usr/sbin/nghttpd)
if [ -x "$NGHTTPD" ]; then
    tries=0
    while [ -z "$CHC_NGHTTPD_URL" ]; do
        tries=$((tries + 1))
        port=$(free_port) || fail_setup "cannot pick a free port"
        setsid -w "$NGHTTPD" --no-tls -a 127.0.0.1 -d "$CHC_NGINX_WWW" "$port" \
            </dev/null >"$CHC_TMP/nghttpd.log" 2>&1 &
        NGHTTPD_PID=$!
        deadline=$(( $(date +%s) + 10 ))
        while :; do
            if curl -s -o /dev/null --max-time 2 --http2-prior-knowledge \
                   -w '%{http_code}' "http://127.0.0.1:$port/1k" 2>/dev/null |
                   grep -q '^200$'; then
                CHC_NGHTTPD_PORT=$port
                CHC_NGHTTPD_URL="http://127.0.0.1:$port"
                break
            fi
            alive "$NGHTTPD_PID" || break
            [ "$(date +%s)" -ge "$deadline" ] && break
            sleep 0.05
        done
        [ -n "$CHC_NGHTTPD_URL" ] && break
        stop_group "$NGHTTPD_PID"
        NGHTTPD_PID=""
        [ "$tries" -ge 3 ] && fail_setup "nghttpd did not start"
        log "nghttpd failed on port $port, retrying"
    done
else
    log "warning: nghttpd not found (apt-get install nghttp2-server): CHC_NGHTTPD_URL unset"
fi

# ---------------------------------------------------------------- node h2 peer
# spec/peers/h2_peer.js binds its ports itself and writes them into the
# ready file (pid=, h2c=, max5=, tls= lines).
CHC_H2_PEER_URL=""
CHC_H2_PEER_MAX5_URL=""
CHC_H2_PEER_TLS_URL=""
NODE=/usr/bin/node
[ -x "$NODE" ] || NODE=$(command -v node 2>/dev/null || echo "")
if [ -n "$NODE" ] && [ -x "$NODE" ]; then
    setsid -w "$NODE" "$ROOT/spec/peers/h2_peer.js" \
        --ready-file "$CHC_TMP/h2_peer.ready" --certs "$CHC_TLS_DIR" \
        </dev/null >"$CHC_TMP/h2_peer.log" 2>&1 &
    H2PEER_PID=$!
    deadline=$(( $(date +%s) + 10 ))
    while [ ! -s "$CHC_TMP/h2_peer.ready" ]; do
        alive "$H2PEER_PID" || fail_setup "h2_peer.js exited during startup"
        [ "$(date +%s)" -ge "$deadline" ] && fail_setup "h2_peer.js not ready within 10 s"
        sleep 0.05
    done
    p=$(sed -n 's/^h2c=//p' "$CHC_TMP/h2_peer.ready")
    CHC_H2_PEER_URL="http://127.0.0.1:$p"
    p=$(sed -n 's/^max5=//p' "$CHC_TMP/h2_peer.ready")
    CHC_H2_PEER_MAX5_URL="http://127.0.0.1:$p"
    p=$(sed -n 's/^tls=//p' "$CHC_TMP/h2_peer.ready")
    [ -n "$p" ] && [ "$p" != 0 ] && CHC_H2_PEER_TLS_URL="https://127.0.0.1:$p"
else
    log "warning: node not found (apt-get install nodejs): CHC_H2_PEER_URL unset"
fi

LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;"
LUA_CPATH="$CHC_BUILD/?.so;;"
export CHC_BUILD CHC_TMP CHC_NGINX_URL CHC_NGINX_PORT CHC_NGINX_WWW \
       CHC_RAW_URL CHC_RAW_PORT CHC_IPV6 CHC_NGINX6_URL CHC_RAW6_URL \
       CHC_NGINX_TLS_URL CHC_NGINX_TLS_PORT CHC_NGINX6_TLS_URL \
       CHC_TLS_WRONG_URL CHC_TLS_EXPIRED_URL CHC_TLS_IPONLY_URL \
       CHC_TLS_NOIP_URL CHC_TLS_CLIENT_URL CHC_TLS_DIR \
       LUA_PATH LUA_CPATH
export CHC_NGINX_H2C_URL CHC_NGINX_H2C_PORT CHC_NGHTTPD_URL CHC_NGHTTPD_PORT \
       CHC_H2_PEER_URL CHC_H2_PEER_MAX5_URL CHC_H2_PEER_TLS_URL

# ---------------------------------------------------------------- sanitizers
# Only busted gets the ASan runtime (not the peers or this shell).
case "$CHC_BUILD" in
*asan*)
    ASAN_LIB=$(gcc -print-file-name=libasan.so 2>/dev/null)
    case "$ASAN_LIB" in
    /*) [ -e "$ASAN_LIB" ] || fail_setup "ASan runtime $ASAN_LIB missing" ;;
    *) fail_setup "gcc cannot find libasan.so" ;;
    esac
    set -- env LD_PRELOAD="$ASAN_LIB" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$@"
    ;;
esac

# ---------------------------------------------------------------- busted
# Each spec file runs in a busted process of its own under a watchdog:
# `timeout` kills it (and everything it spawned: timeout signals its whole
# process group) after CHC_SPEC_TIMEOUT seconds, so a regression that hangs
# fails the run with the file's name (and the test it was in, which
# spec/watchdog.lua records) instead of hanging it.  The files together get
# at most CHC_SUITE_BUDGET seconds: a file that would start past it is not
# run and counts as a failure, which keeps a run that hangs everywhere well
# under 10 minutes.
#
# busted runs in the background in its own process group (setsid) so that a
# signal to this shell runs the trap at once and the trap can kill busted and
# everything it spawned.  Its output goes through a FIFO to tee (stdout +
# a copy for the summary).
# tools/valgrind.sh (CHC_VALGRIND=1, ~20x slower) puts its own timeout
# around each run.
if [ "${CHC_VALGRIND:-0}" = 1 ]; then
    SPEC_TIMEOUT=${CHC_SPEC_TIMEOUT:-3600}
    SUITE_BUDGET=${CHC_SUITE_BUDGET:-3600}
else
    case "$CHC_BUILD" in
    *asan*) SPEC_TIMEOUT=${CHC_SPEC_TIMEOUT:-180} ;;
    *)      SPEC_TIMEOUT=${CHC_SPEC_TIMEOUT:-90} ;;
    esac
    SUITE_BUDGET=${CHC_SUITE_BUDGET:-480}
fi
command -v timeout >/dev/null 2>&1 || fail_setup "timeout (coreutils) not found"

if [ -d "$SPEC_TARGET" ]; then
    SPEC_FILES=$(find "$SPEC_TARGET" -name '*_spec.lua' -type f | LC_ALL=C sort)
else
    SPEC_FILES=$SPEC_TARGET
fi
[ -n "$SPEC_FILES" ] || fail_setup "no *_spec.lua files in $SPEC_TARGET"

# count_file OUT: "N M" from one busted output, or "none".
# Summary, utfTerminal/plainTerminal format (busted 2.1.1):
#   "3 successes / 1 failure / 0 errors / 0 pending : 0.1 seconds"
# (singular "success"/"failure"/"error" for 1; colours stripped).  TAP
# output (-o TAP) is counted from its ok / not ok lines instead.
count_file() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
    /^[0-9]+ success(es)? \/ [0-9]+ failures? \/ [0-9]+ errors? \/ [0-9]+ pending/ {
        s = $1; f = $4; e = $7; found = 1
    }
    /^ok [0-9]/     { tok++ }
    /^not ok [0-9]/ { tnok++ }
    END {
        if (found) print s, f + e
        else if (tok + tnok > 0) print tok + 0, tnok + 0
        else print "none"
    }'
}

N=0
M=0
SUITE_START=$(date +%s)
CHC_WATCHDOG_FILE="$CHC_TMP/current_test"
export CHC_WATCHDOG_FILE
for spec_file in $SPEC_FILES; do
    left=$(( SUITE_BUDGET - ($(date +%s) - SUITE_START) ))
    if [ "$left" -le 0 ]; then
        log "WATCHDOG: $spec_file not run: the suite used its ${SUITE_BUDGET} s budget"
        M=$((M + 1))
        continue
    fi
    limit=$SPEC_TIMEOUT
    [ "$left" -lt "$limit" ] && limit=$left
    out="$CHC_TMP/busted.out"
    rm -f "$CHC_TMP/busted.fifo" "$CHC_WATCHDOG_FILE"
    mkfifo "$CHC_TMP/busted.fifo" || fail_setup "mkfifo failed"
    tee "$out" < "$CHC_TMP/busted.fifo" &
    TEE_PID=$!
    setsid -w timeout -k 5 "$limit" "$@" --helper=spec/watchdog.lua \
        --pattern=_spec "$spec_file" </dev/null >"$CHC_TMP/busted.fifo" 2>&1 &
    BUSTED_PID=$!
    wait "$BUSTED_PID"
    rc=$?
    BUSTED_PID=""
    wait "$TEE_PID"
    TEE_PID=""
    # make sure what follows starts on a line of its own
    if [ -s "$out" ] && [ "$(tail -c 1 "$out" | wc -l)" -eq 0 ]; then
        echo
    fi
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        in_test=$(cat "$CHC_WATCHDOG_FILE" 2>/dev/null)
        log "WATCHDOG: $spec_file did not finish within $limit s and was killed" \
            "(it was in: ${in_test:-unknown}); counted as a failure"
        M=$((M + 1))
        # what the file finished before it hung still counts
        counts=$(count_file "$out")
        [ "$counts" != none ] && N=$((N + ${counts% *})) && M=$((M + ${counts#* }))
        continue
    fi
    counts=$(count_file "$out")
    if [ "$counts" = none ]; then
        log "$spec_file: busted printed no summary (exit status $rc): counted as a failure"
        M=$((M + 1))
        continue
    fi
    fn=${counts% *}
    fm=${counts#* }
    if [ "$rc" -ne 0 ] && [ "$fm" -eq 0 ]; then
        log "$spec_file: busted exited with status $rc after reporting no failure (crash at exit?): counted as a failure"
        fm=1
    fi
    [ "$fm" -gt 0 ] && log "$spec_file: $fm failed"
    N=$((N + fn))
    M=$((M + fm))
done

cleanup
echo "$N passed, $M failed"
[ "$M" -eq 0 ] && [ "$N" -gt 0 ] && exit 0
exit 1
