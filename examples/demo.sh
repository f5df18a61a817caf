#!/bin/sh
# make demo: run examples/ against servers on loopback.
#
# Starts nginx (spec/peers/nginx.sh: static files /1k ... /64m with their
# sha256) on a free port, and the raw test peer (spec/peers/raw_peer.py: its
# /upload-sha256 reads a whole body and answers "LENGTH SHA256"), runs
#   a. a GET                              examples/get.lua
#   b. a streamed 64 MiB download         examples/fetch.lua -o --progress
#   c. a streamed 32 MiB upload           examples/upload.lua
#   d. 50 concurrent requests             examples/concurrent.lua
#   e. HTTPS against a certificate from a CA made on the fly (and refused
#      without that CA)                   examples/fetch.lua --cacert
#   f. HTTP/2 over TLS, chosen by ALPN    examples/fetch.lua --http2
# checks every result, and stops the servers whatever happens. Exits nonzero
# if any step fails; the last line says whether all passed.
#
# Environment: CHC_BUILD (build dir, default build), LUA (default lua5.4).
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
PY=/usr/bin/python3
LUA=${LUA:-lua5.4}
CHC_BUILD=${CHC_BUILD:-build}
LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
LUA_CPATH="$ROOT/$CHC_BUILD/?.so;;"
export LUA_PATH LUA_CPATH

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chc-demo.XXXXXX") || exit 1
RAW_PID=""

cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$RAW_PID" ]; then
        kill "$RAW_PID" 2>/dev/null
        wait "$RAW_PID" 2>/dev/null
    fi
    [ -d "$TMP/nginx" ] && sh "$ROOT/spec/peers/nginx.sh" stop "$TMP/nginx"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

fail() {
    echo "demo: FAILED: $*" >&2
    exit 1
}
heading() {
    printf '\n== %s\n' "$*"
}
run() {
    "$LUA" "$@"
}

# ------------------------------------------------------------------ servers
heading "starting nginx and the raw test peer on 127.0.0.1"
# seven free ports: plain HTTP, then the TLS servers (the first is the main
# one, with a certificate from a CA made on the fly; the others are for the
# tests' bad-certificate cases)
PORTS=$("$PY" -c 'import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))') \
    || fail "cannot pick free ports"
set -- $PORTS
PORT=$1
TLS_PORT=$2
sh spec/peers/nginx.sh start "$TMP/nginx" "$@" </dev/null \
    || fail "nginx did not start"
NGINX="http://127.0.0.1:$PORT"
NGINX_TLS="https://localhost:$TLS_PORT"
CA="$TMP/nginx/tls/ca.pem"

# the raw peer binds port 0 itself and writes the port into the ready file
"$PY" spec/peers/raw_peer.py --port 0 --ready-file "$TMP/raw.ready" \
    </dev/null >"$TMP/raw.log" 2>&1 &
RAW_PID=$!
i=0
while [ ! -s "$TMP/raw.ready" ]; do
    kill -0 "$RAW_PID" 2>/dev/null || { cat "$TMP/raw.log" >&2; fail "the raw peer exited"; }
    i=$((i + 1))
    [ "$i" -gt 200 ] && fail "the raw peer did not start within 10 s"
    sleep 0.05
done
RAW="http://127.0.0.1:$(sed -n 1p "$TMP/raw.ready")"
echo "nginx at $NGINX, raw peer at $RAW"

# ------------------------------------------------------------------ a. GET
heading "a. a GET: lua5.4 examples/get.lua $NGINX/small"
out=$(run examples/get.lua "$NGINX/small") || fail "get.lua failed"
echo "$out"
case "$out" in *"Hello, World!"*) ;; *) fail "unexpected body from /small" ;; esac

# ------------------------------------------------------------------ b. download
heading "b. a streamed download: lua5.4 examples/fetch.lua --progress -o FILE $NGINX/64m"
run examples/fetch.lua --progress -o "$TMP/64m" "$NGINX/64m" \
    || fail "fetch.lua failed"
want=$(cut -d' ' -f1 "$TMP/nginx/www/64m.sha256")
got=$(sha256sum "$TMP/64m" | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "sha256 of the download is $got, expected $want"
echo "$(wc -c < "$TMP/64m") bytes, sha256 $got: matches the server's file"
rm -f "$TMP/64m"

# ------------------------------------------------------------------ c. upload
heading "c. a streamed upload: lua5.4 examples/upload.lua $RAW/upload-sha256 32"
out=$(run examples/upload.lua "$RAW/upload-sha256" 32) || fail "upload.lua failed"
echo "$out"
# what the server must have received: 32 MiB of the pattern byte i = i % 251
want=$("$PY" -c 'import hashlib
n = 32 << 20
print(n, hashlib.sha256((bytes(range(251)) * (n // 251 + 1))[:n]).hexdigest())')
case "$out" in
    *"reply: $want"*) echo "the server got all $(echo "$want" | cut -d' ' -f1) bytes, sha256 matches" ;;
    *) fail "the server did not receive the expected body ($want)" ;;
esac

# ------------------------------------------------------------------ d. concurrency
heading "d. 50 concurrent requests: lua5.4 examples/concurrent.lua $NGINX/small 50 10"
run examples/concurrent.lua "$NGINX/small" 50 10 || fail "concurrent.lua failed"

# ------------------------------------------------------------------ e. HTTPS
heading "e. HTTPS, verified against the demo's own CA: lua5.4 examples/fetch.lua -v --cacert CA $NGINX_TLS/small"
out=$(run examples/fetch.lua -v --cacert "$CA" "$NGINX_TLS/small" 2>&1) \
    || fail "fetch.lua over https failed: $out"
echo "$out"
case "$out" in *"Hello, World!"*) ;; *) fail "unexpected body over https" ;; esac
# and the same server is refused without the CA: verification is on
if out=$(run examples/fetch.lua "$NGINX_TLS/small" 2>&1); then
    fail "an untrusted certificate was accepted"
fi
echo "without --cacert: $out"

# ------------------------------------------------------------------ f. HTTP/2
heading "f. HTTP/2 over TLS (ALPN): lua5.4 examples/fetch.lua -v --http2 --cacert CA $NGINX_TLS/small"
out=$(run examples/fetch.lua -v --http2 --cacert "$CA" "$NGINX_TLS/small" 2>&1) \
    || fail "fetch.lua --http2 failed: $out"
echo "$out"
case "$out" in *"HTTP/2 200"*) ;; *) fail "HTTP/2 was not used" ;; esac

# ------------------------------------------------------------------ done
heading "stopping the servers"
cleanup
echo "demo: all steps passed"
