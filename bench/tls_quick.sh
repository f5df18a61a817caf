#!/bin/sh
# bench/tls_quick.sh: what TLS costs next to plain HTTP, for c_http_core and
# for curl, against the same loopback nginx in the same run (the test peer
# of spec/peers/nginx.sh with its TLS servers and private CA).
#
#   make && sh bench/tls_quick.sh [ROUNDS [CONNS]]
#
# Bulk: ROUNDS (default 8) downloads of a 64 MiB file on one keep-alive
# connection (512 MiB in all), plain and over TLS; prints MB/s.
# New connections: CONNS (default 300) sequential GETs of a 13-byte body,
# each on a new connection: plain, TLS with a full handshake, TLS resumed
# (session tickets); prints connections per second. Both clients verify the
# server certificate (our CA). c_http_core is TLS 1.2 (mbedTLS 2.28); curl
# is shown with its default (TLS 1.3) and at TLS 1.2.
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
ROUNDS=${1:-8}
CONNS=${2:-300}
BUILD=${CHC_BUILD:-build}
PY=/usr/bin/python3
[ -f "$BUILD/c_http_core/core.so" ] || { echo "run make first" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/chc-tlsbench.XXXXXX") || exit 2
cleanup() {
    sh "$ROOT/spec/peers/nginx.sh" stop "$TMP/nginx" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORTS=$("$PY" -c 'import socket
ss = [socket.socket() for _ in range(7)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
# shellcheck disable=SC2086 # seven ports, split on purpose
set -- $PORTS
sh spec/peers/nginx.sh start "$TMP/nginx" "$@" >/dev/null 2>&1 \
    || { echo "nginx did not start" >&2; exit 1; }
PLAIN="http://127.0.0.1:$1"
TLS="https://localhost:$2"
CA="$TMP/nginx/tls/ca.pem"

export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$ROOT/$BUILD/?.so;;"
cat > "$TMP/b.lua" <<'EOF'
local http = require "c_http_core"
local now = require("c_http_core.core").now
local mode, url, n, ca = arg[1], arg[2], tonumber(arg[3]), arg[4]
local tls = { ca_file = ca }
if mode == "bulk" then
  local pool = http.Pool{ tls = tls }
  local total, t0 = 0, now()
  for _ = 1, n do
    local resp = assert(pool:request("GET", url))
    for chunk in resp:iter() do total = total + #chunk end
  end
  print(string.format("%.0f", total / (now() - t0) / 1e6))
else
  -- "resumed": one pool (its session cache), a new connection each time;
  -- "full": a new pool each time, so no session to resume
  local pool = http.Pool{ tls = tls, max_keepalive = 0 }
  local t0 = now()
  for _ = 1, n do
    if mode == "full" then pool:close(); pool = http.Pool{ tls = tls } end
    assert(assert(pool:request("GET", url)):read() == "Hello, World!")
  end
  print(string.format("%.0f", n / (now() - t0)))
end
EOF

t() { "$PY" -c 'import time; print(time.monotonic())'; }
rate() { "$PY" -c "import sys; print('%.0f' % ($1 / ($3 - $2)))"; }

# urls N URL: a curl config of N transfers of URL, bodies discarded
urls() {
    : > "$TMP/urls.cfg"
    i=0
    while [ "$i" -lt "$1" ]; do
        printf '%s\n' "url = \"$2\"" "output = /dev/null" >> "$TMP/urls.cfg"
        i=$((i + 1))
    done
}

# curl_bulk URL [OPTS]: MB/s over ROUNDS downloads on one connection
curl_bulk() {
    u=$1; shift
    urls "$ROUNDS" "$u"
    t0=$(t)
    curl -s --cacert "$CA" "$@" -K "$TMP/urls.cfg" || return
    rate "$ROUNDS * 64 * 1048576 / 1e6" "$t0" "$(t)"
}

# curl_conns URL [OPTS]: new connections per second (Connection: close)
curl_conns() {
    u=$1; shift
    urls "$CONNS" "$u"
    t0=$(t)
    curl -s --cacert "$CA" -H "Connection: close" "$@" -K "$TMP/urls.cfg" \
        || return
    rate "$CONNS" "$t0" "$(t)"
}

b() { lua5.4 "$TMP/b.lua" "$@" "$CA"; }

echo "bulk MB/s ($ROUNDS x 64 MiB, one connection)"
printf '  %-34s plain %6s   TLS %6s\n' "c_http_core (TLS 1.2)" \
    "$(b bulk "$PLAIN/64m" "$ROUNDS")" "$(b bulk "$TLS/64m" "$ROUNDS")"
printf '  %-34s plain %6s   TLS %6s\n' "curl (TLS 1.3)" \
    "$(curl_bulk "$PLAIN/64m")" "$(curl_bulk "$TLS/64m")"
printf '  %-34s %12s   TLS %6s\n' "curl (TLS 1.2)" "" \
    "$(curl_bulk "$TLS/64m" --tls-max 1.2)"

echo "new connections per second ($CONNS sequential GETs of /small)"
printf '  %-34s plain %6s   TLS full %6s   TLS resumed %6s\n' \
    "c_http_core (TLS 1.2)" "$(b resumed "$PLAIN/small" "$CONNS")" \
    "$(b full "$TLS/small" "$CONNS")" "$(b resumed "$TLS/small" "$CONNS")"
printf '  %-34s plain %6s   TLS full %6s   TLS resumed %6s\n' \
    "curl (TLS 1.3)" "$(curl_conns "$PLAIN/small")" \
    "$(curl_conns "$TLS/small" --no-sessionid)" "$(curl_conns "$TLS/small")"
printf '  %-34s %12s   TLS full %6s   TLS resumed %6s\n' \
    "curl (TLS 1.2)" "" \
    "$(curl_conns "$TLS/small" --tls-max 1.2 --no-sessionid)" \
    "$(curl_conns "$TLS/small" --tls-max 1.2)"
