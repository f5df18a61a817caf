#!/bin/sh
# bench/run.sh: c_http_core side by side with the peer clients (wrk, h2load,
# curl, libcurl) against a loopback nginx; prints a table of medians with
# ratios to the best peer, and writes it to bench/out/latest.md.
#
#   make bench          sh bench/run.sh          all workloads, $ROUNDS rounds (3)
#   make bench-smoke    sh bench/run.sh smoke    1 round, tiny counts, seconds
#
# Environment: ROUNDS=N; ONLY="W1 W4" (groups whose id starts with one of
# these); BUILD=build (where core.so is); SERVER_CPU=0 CLIENT_CPU=1;
# BENCH_CACHE=/tmp/c_http_core-bench (the big sparse files, made once);
# CURL_CFLAGS / CURL_LIBS to build the libcurl peer against headers that are
# not installed system-wide.
#
# Method: nginx (1 worker; bench/server.sh) is pinned to CPU $SERVER_CPU and
# every client to CPU $CLIENT_CPU (taskset, when there are 2+ CPUs). Each
# client run is one process measured from outside by GNU time (wall, user,
# sys, max RSS) under `timeout`. Within a workload every round runs each
# client once, in turn (the order rotates every round), so ratios are taken
# round by round. Our drivers (bench/chc.lua) check every response and exit
# 1 on a wrong answer, 3 when the feature is not there yet (first request
# fails). Raw rows: bench/out/raw.tsv, logs: bench/out/logs/.
#
# Exit status: 0 when every c_http_core run that is supported produced
# correct results (peers that fail or are missing are noted, never fatal).

if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)

MODE=${1:-full}
case $MODE in
  full) ROUNDS=${ROUNDS:-3} ;;
  smoke) ROUNDS=${ROUNDS:-1} ;;
  *) echo "usage: $0 [full|smoke]" >&2; exit 2 ;;
esac
ONLY=${ONLY:-}
BUILD=${BUILD:-build}
OUT=$ROOT/bench/out
LOGS=$OUT/logs
RAW=$OUT/raw.tsv
META=$OUT/meta.txt
CACHE=${BENCH_CACHE:-/tmp/c_http_core-bench}
export BENCH_CACHE=$CACHE
export LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export LUA_CPATH="$ROOT/$BUILD/?.so;;"
LUA=${LUA:-lua5.4}
START=$(date +%s)

[ -f "$BUILD/c_http_core/core.so" ] || { echo "bench: $BUILD/c_http_core/core.so missing (make first)" >&2; exit 2; }
command -v "$LUA" >/dev/null 2>&1 || { echo "bench: $LUA missing" >&2; exit 2; }
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { echo "bench: nginx missing (make deps)" >&2; exit 2; }
command -v openssl >/dev/null 2>&1 || { echo "bench: openssl missing" >&2; exit 2; }

mkdir -p "$LOGS"
rm -f "$LOGS"/* "$RAW" "$META"
note() { echo "$*" >> "$META"; echo "bench: $*" >&2; }

# {======================================================== counts per mode
if [ "$MODE" = smoke ]; then
  N1=300; NC1=100; WRK1=1          # W1: requests (ours, h2load, libcurl); curl CLI; wrk seconds
  N2=3000; NC2=500; WRK2=1         # W2
  N3=3000; NC3=500                 # W3
  BIG=mid; BIGSIZE=8388608         # W4
  UP=up8; UPSIZE=8388608           # W6
  N5=100; N5T=30; WRK5=1           # W5 plain, TLS
  N7=300                           # W7 idle connections
  N10=1000000                      # W10 events (the whole /sse1m file)
  N8=2000; N9=2                    # W8 messages, W9 16 MiB messages
  PER_RUN_TIMEOUT=40; DRV_TIMEOUT=10; TW_WAIT=0
else
  N1=20000; NC1=10000; WRK1=2
  N2=100000; NC2=20000; WRK2=3
  N3=100000; NC3=20000
  BIG=big; BIGSIZE=536870912
  UP=up256; UPSIZE=268435456
  N5=2000; N5T=1000; WRK5=1
  N7=10000
  N10=1000000
  N8=50000; N9=16
  PER_RUN_TIMEOUT=120; DRV_TIMEOUT=30; TW_WAIT=20
fi
# }========================================================================

# {======================================================== machine setup
NPROC=$(nproc 2>/dev/null || echo 1)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PIN=""
if command -v taskset >/dev/null 2>&1 && [ "$NPROC" -ge 2 ]; then
  PIN="taskset -c $CLIENT_CPU"
else
  SERVER_CPU=none
  note "no pinning (taskset missing or fewer than 2 CPUs): nginx and the clients share the CPUs"
fi

# file descriptors: W7 holds N7 connections in one process (and nginx too)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
if [ $((N7 + 300)) -gt "$NOFILE" ]; then
  N7=$((NOFILE - 300))
  note "W7: ulimit -n is $NOFILE, so W7 holds $N7 connections instead of 10,000"
fi
[ "$NOFILE" -lt 65536 ] && note "ulimit -n could be raised to $NOFILE only (hard limit), not 65536"

HAVE_TIME=0
if [ "${BENCH_GNU_TIME:-1}" = 0 ]; then note "GNU time not used (BENCH_GNU_TIME=0): CPU from bash 'times', peak RSS only from our drivers"
elif [ -x /usr/bin/time ] && /usr/bin/time -f '%e' -o /dev/null true 2>/dev/null; then HAVE_TIME=1
else note "GNU time (/usr/bin/time) missing: CPU from bash 'times', peak RSS only from our drivers"; fi
note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (other work on the machine makes the figures noisy)"

have() { command -v "$1" >/dev/null 2>&1; }
# BENCH_PEERS: which peers to run when installed (default all; empty: none)
PEERS=${BENCH_PEERS-wrk h2load curl libcurl eventsource}
want() { case " $PEERS " in *" $1 "*) return 0 ;; esac; note "$1: left out (BENCH_PEERS)"; return 1; }
HAVE_WRK=0; HAVE_H2LOAD=0; HAVE_CURL=0
if want wrk; then have wrk && HAVE_WRK=1 || note "wrk not installed: its rows are skipped"; fi
if want h2load; then have h2load && HAVE_H2LOAD=1 || note "h2load not installed (nghttp2-client): its rows are skipped"; fi
if want curl; then have curl && HAVE_CURL=1 || note "curl not installed: its rows are skipped"; fi
# W10's peer: the npm eventsource client under node, from $BENCH_ES_DIR
# (default $BENCH_CACHE/es); not installed by the bench
ESDIR=${BENCH_ES_DIR:-$CACHE/es}
HAVE_ES=0
if want eventsource; then
  if have node && [ -f "$ESDIR/node_modules/eventsource/package.json" ]; then
    HAVE_ES=1
    note "eventsource $(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$ESDIR/node_modules/eventsource/package.json" | head -1) from $ESDIR, node $(node --version)"
  else
    note "npm eventsource not found in $ESDIR (npm install --prefix $ESDIR eventsource@5): W10's peer row is skipped"
  fi
fi
if "$LUA" -e 'require "http.request"' >/dev/null 2>&1; then
  note "lua-http is installed but has no driver here: see /work/shared/anchors (RESULTS.md) for its figures"
else
  note "lua-http not installed: skipped (its anchor figures: ../shared/anchors/RESULTS.md)"
fi

# the libcurl peer: only when its headers are there (nothing is installed)
CB=""
CURL_CFLAGS=${CURL_CFLAGS:-$(pkg-config --cflags libcurl 2>/dev/null)}
if ! want libcurl; then :
elif printf '#include <curl/curl.h>\n' | ${CC:-cc} $CURL_CFLAGS -E -x c - >/dev/null 2>&1; then
  mkdir -p "$OUT/bin"
  libs=${CURL_LIBS:-"-lcurl"}
  if ${CC:-cc} -O2 -Wall -Wextra $CURL_CFLAGS -o "$OUT/bin/curlbench" bench/curlbench.c $libs 2>"$LOGS/curlbench.build"; then
    CB=$OUT/bin/curlbench
  else
    note "libcurl driver did not build (see bench/out/logs/curlbench.build): libcurl rows skipped"
  fi
else
  note "libcurl headers missing (libcurl4-openssl-dev): libcurl-easy/multi rows skipped"
fi
# What bounds the TLS rows: mbedTLS's ciphers and handshake maths alone, on
# the client's core (and OpenSSL's, which the peers use), no I/O.
if printf '#include <mbedtls/gcm.h>\n#include <mbedtls/chachapoly.h>\n' | ${CC:-cc} -E -x c - >/dev/null 2>&1 &&
   mkdir -p "$OUT/bin" &&
   ${CC:-cc} -O2 -o "$OUT/bin/ciphers" bench/ciphers.c -lmbedtls -lmbedx509 -lmbedcrypto 2>"$LOGS/ciphers.build"; then
  cm=$([ "$MODE" = smoke ] && echo 16 || echo 256)
  cr=$($PIN "$OUT/bin/ciphers" "$cm" 2>&1 | sed -n 's/^RESULT //p')
  [ -n "$cr" ] && note "mbedTLS alone (one core, 16 KiB records): $cr"
  [ -n "$cr" ] && echo "ciphers=$cr" >> "$META"   # the TLS rows' ceiling (report.lua)
  if [ "$MODE" = full ] && have openssl; then
    og=$($PIN openssl speed -evp aes-128-gcm -bytes 16384 -seconds 1 2>/dev/null | awk '/^AES-128-GCM/ {sub(/k$/, "", $2); printf "%.0f", $2 * 1000 / 1e6}')
    oc=$($PIN openssl speed -evp chacha20-poly1305 -bytes 16384 -seconds 1 2>/dev/null | awk '/^ChaCha20-Poly1305/ {sub(/k$/, "", $2); printf "%.0f", $2 * 1000 / 1e6}')
    note "OpenSSL alone (the peers' TLS; openssl speed, 16 KiB): aes128gcm_mbps=$og chachapoly_mbps=$oc"
  fi
fi
# }========================================================================

# {======================================================== nginx
RUNDIR=$(mktemp -d /tmp/chc-bench.XXXXXX) || exit 2
cleanup() {
  sh "$ROOT/bench/server.sh" stop "$RUNDIR" >/dev/null 2>&1
  rm -rf "$RUNDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
SRV=$(sh bench/server.sh start "$RUNDIR" "$SERVER_CPU") || { echo "bench: nginx did not start" >&2; exit 2; }
eval "$SRV"   # PORT= WORKER=
P=http://127.0.0.1:$PORT           # plain HTTP/1.1
C=http://127.0.0.1:$((PORT + 1))   # h2c, prior knowledge
S=https://127.0.0.1:$((PORT + 2))  # TLS, full handshakes only
R=https://127.0.0.1:$((PORT + 3))  # TLS, session resumption allowed
cat "$CACHE/$BIG" "$CACHE/$UP" > /dev/null   # page cache
CLK_TCK=$(getconf CLK_TCK)
srv_ticks() { awk '{print $14 + $15}' "/proc/${1:-$WORKER}/stat" 2>/dev/null || echo 0; }   # [PID]
srv_status() {   # "accepts requests"
  if [ $HAVE_CURL = 1 ]; then
    curl -s --max-time 5 "$P/status" | awk 'NR == 3 {print $1, $3}'
  else
    "$LUA" bench/chc.lua status "url=$P/status" 2>/dev/null
  fi
}
# The WebSocket server of W8/W9: the npm `ws` package's echo server
# (spec/peers/ws_node_peer.js; `ws` from spec/peers/node_modules, which
# spec/peers/ws_peers.sh installs). Missing: the rows are dropped.
HAVE_WS=0; WSU=""; WSSRV=""; WSNODE=$ROOT/spec/peers/node_modules
if have node && [ -f "$WSNODE/ws/package.json" ]; then
  # pinned like nginx (W8/W9 on SERVER_CPU; W8c1 moves it to CLIENT_CPU below)
  NODE_PATH=$WSNODE setsid ${PIN:+taskset -c $SERVER_CPU} node "$ROOT/spec/peers/ws_node_peer.js" "$RUNDIR/ws.ready" \
    </dev/null >"$LOGS/ws_server.log" 2>&1 &
  WSPID=$!
  for _ in $(seq 1 100); do [ -f "$RUNDIR/ws.ready" ] && break; sleep 0.05; done
  if [ -f "$RUNDIR/ws.ready" ]; then
    HAVE_WS=1; WSU=ws://127.0.0.1:$(head -1 "$RUNDIR/ws.ready")/
    trap 'kill -TERM -$WSPID 2>/dev/null; cleanup' EXIT
    # the server's CPU per run (srv_ticks): node itself, WSPID unless setsid forked
    WSSRV=$WSPID
    grep -q ws_node_peer "/proc/$WSPID/cmdline" 2>/dev/null ||
      WSSRV=$(pgrep -f -- "ws_node_peer.js $RUNDIR/ws.ready" | head -1)
    # W8's floor row: the least a client can do per echo (bench/ws_floor.c)
    mkdir -p "$OUT/bin"
    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -o "$OUT/bin/ws_floor" bench/ws_floor.c 2>"$LOGS/ws_floor.build" ||
      { rm -f "$OUT/bin/ws_floor"; note "bench/ws_floor.c did not build (bench/out/logs/ws_floor.build): W8's floor row is skipped"; }
  else
    note "the WebSocket server did not start (bench/out/logs/ws_server.log): W8/W9 skipped"
  fi
else
  note "node or the npm ws package (spec/peers/node_modules: sh spec/peers/ws_peers.sh) missing: W8/W9 skipped"
fi
/usr/bin/python3 -c 'import websockets' 2>/dev/null || note "python3-websockets missing: its W8/W9 rows are skipped"
# }========================================================================

# {======================================================== the clients
D="$LUA $ROOT/bench/chc.lua"
DT="timeout=$DRV_TIMEOUT"
CWF='CURLW code=%{http_code} down=%{size_download} up=%{size_upload} t=%{time_total}\n'
CW="-w '$CWF'"
# group|client|kind|parser|expect|notes|command
#   kind: ours | peer (missing tools: the row is dropped below) | ref (a
#   reference row, never the "best peer": W8's floor client)
#   parser: kv (RESULT line), wrk, h2load (requests), h2loadb (one body),
#   curlw (curl -w), glob (curl CLI bodies on stdout); expect: requests (or
#   body bytes for W4/W6) that a correct run must show
CLIENTS=$(cat <<LIST
W1|wrk|peer|wrk|0|time-bounded ${WRK1} s|wrk -t1 -c1 -d${WRK1}s $P/small
W1|h2load-h1|peer|h2load|$N1||h2load --h1 -n $N1 -c 1 -m 1 $P/small
W1|curl-cli|peer|glob|$NC1|one process, glob reuses the connection|curl -s '$P/small?[1-$NC1]'
W1|libcurl-easy|peer|kv|$N1|easy handle reused|$CB easy $P/small $N1
W1|c_http_core|ours|kv|$N1|Pool max_connections=1, sequential|$D seq url=$P/small n=$N1 $DT
W1T|wrk|peer|wrk|0|time-bounded ${WRK1} s|wrk -t1 -c1 -d${WRK1}s $S/small
W1T|h2load-h1|peer|h2load|$N1||h2load --h1 -n $N1 -c 1 -m 1 $S/small
W1T|curl-cli|peer|glob|$NC1||curl -sk --http1.1 '$S/small?[1-$NC1]'
W1T|libcurl-easy|peer|kv|$N1||$CB easy $S/small $N1 h1
W1T|c_http_core|ours|kv|$N1||$D seq url=$S/small n=$N1 $DT
W2|wrk|peer|wrk|0|time-bounded ${WRK2} s|wrk -t1 -c50 -d${WRK2}s $P/small
W2|h2load-h1|peer|h2load|$N2||h2load --h1 -n $N2 -c 50 -m 1 $P/small
W2|curl-cli|peer|glob|$NC2|--parallel-max 50|curl -s --parallel --parallel-max 50 '$P/small?[1-$NC2]'
W2|libcurl-multi|peer|kv|$N2|50 easy handles in flight|$CB multi $P/small $N2 50 h1
W2|c_http_core|ours|kv|$N2|http.run + 50 tasks, Pool max_connections=50|$D conc url=$P/small n=$N2 c=50 $DT
W3c1|h2load|peer|h2load|$N3||h2load -n $N3 -c 1 -m 100 $C/small
W3c1|c_http_core|ours|kv|$N3|1 pool x 1 conn, 100 tasks|$D mux url=$C/small n=$N3 c=1 m=100 h2=1 $DT
W3c10|h2load|peer|h2load|$N3||h2load -n $N3 -c 10 -m 10 $C/small
W3c10|c_http_core|ours|kv|$N3|10 pools x 1 conn, 10 tasks each|$D mux url=$C/small n=$N3 c=10 m=10 h2=1 $DT
W3t1|h2load|peer|h2load|$N3||h2load -n $N3 -c 1 -m 100 $S/small
W3t1|curl-cli|peer|glob|$NC3|--http2 --parallel-max 100|curl -sk --http2 --parallel --parallel-max 100 '$S/small?[1-$NC3]'
W3t1|libcurl-multi|peer|kv|$N3|CURLPIPE_MULTIPLEX, 1 conn, 100 in flight|$CB multi $S/small $N3 100 h2 mux
W3t1|c_http_core|ours|kv|$N3|1 pool x 1 conn, 100 tasks|$D mux url=$S/small n=$N3 c=1 m=100 h2=1 $DT
W3t10|h2load|peer|h2load|$N3||h2load -n $N3 -c 10 -m 10 $S/small
W3t10|c_http_core|ours|kv|$N3|10 pools x 1 conn, 10 tasks each|$D mux url=$S/small n=$N3 c=10 m=10 h2=1 $DT
W4p|curl|peer|curlw|$BIGSIZE||curl -s -o /dev/null $CW $P/$BIG
W4p|h2load-h1|peer|h2loadb|$BIGSIZE||h2load --h1 -n 1 -c 1 $P/$BIG
W4p|c_http_core|ours|kv|$BIGSIZE|resp:iter()|$D get url=$P/$BIG size=$BIGSIZE $DT
W4w|curl|peer|curlw|$BIGSIZE||curl -s -o /dev/null $CW $P/$BIG
W4w|c_http_core|ours|kv|$BIGSIZE|resp:write_to(/dev/null)|$D get url=$P/$BIG size=$BIGSIZE via=write_to $DT
W4t|curl|peer|curlw|$BIGSIZE||curl -sk --http1.1 -o /dev/null $CW $S/$BIG
W4t|h2load-h1|peer|h2loadb|$BIGSIZE||h2load --h1 -n 1 -c 1 $S/$BIG
W4t|c_http_core|ours|kv|$BIGSIZE|resp:iter()|$D get url=$S/$BIG size=$BIGSIZE $DT
W4t2|curl|peer|curlw|$BIGSIZE||curl -sk --http2 -o /dev/null $CW $S/$BIG
W4t2|h2load|peer|h2loadb|$BIGSIZE||h2load -n 1 -c 1 $S/$BIG
W4t2|c_http_core|ours|kv|$BIGSIZE|resp:iter()|$D get url=$S/$BIG size=$BIGSIZE h2=1 $DT
W4c|curl|peer|curlw|$BIGSIZE||curl -s --http2-prior-knowledge -o /dev/null $CW $C/$BIG
W4c|h2load|peer|h2loadb|$BIGSIZE||h2load -n 1 -c 1 $C/$BIG
W4c|c_http_core|ours|kv|$BIGSIZE|resp:iter()|$D get url=$C/$BIG size=$BIGSIZE h2=1 $DT
W6p|curl|peer|curlw|$UPSIZE|-T file, chunked|curl -s -o /dev/null $CW -X POST -T $CACHE/$UP -H 'Transfer-Encoding: chunked' -H 'Expect:' $P/sink
W6p|c_http_core|ours|kv|$UPSIZE|producer fn, 256 KiB string reused|$D upload url=$P/sink size=$UPSIZE $DT
W6t|curl|peer|curlw|$UPSIZE|-T file, chunked|curl -sk --http1.1 -o /dev/null $CW -X POST -T $CACHE/$UP -H 'Transfer-Encoding: chunked' -H 'Expect:' $S/sink
W6t|c_http_core|ours|kv|$UPSIZE|producer fn, 256 KiB string reused|$D upload url=$S/sink size=$UPSIZE $DT
W5p|h2load-h1|peer|h2load|$N5|Connection: close|h2load --h1 -n $N5 -c 1 -m 1 -H 'Connection: close' $P/small
W5p|wrk|peer|wrk|0|time-bounded ${WRK5} s, Connection: close|wrk -t1 -c1 -d${WRK5}s -H 'Connection: close' $P/small
W5p|curl-cli|peer|glob|$N5|Connection: close|curl -s -H 'Connection: close' '$P/small?[1-$N5]'
W5p|libcurl-close|peer|kv|$N5|CURLOPT_FORBID_REUSE|$CB close $P/small $N5
W5p|c_http_core|ours|kv|$N5|max_keepalive=0 + Connection: close|$D close url=$P/small n=$N5 $DT
W5t|h2load-h1|peer|h2load|$N5T|full handshakes|h2load --h1 -n $N5T -c 1 -m 1 -H 'Connection: close' $S/small
W5t|wrk|peer|wrk|0|time-bounded ${WRK5} s|wrk -t1 -c1 -d${WRK5}s -H 'Connection: close' $S/small
W5t|curl-cli|peer|glob|$N5T||curl -sk --http1.1 -H 'Connection: close' '$S/small?[1-$N5T]'
W5t|libcurl-close|peer|kv|$N5T||$CB close $S/small $N5T h1
W5t|c_http_core|ours|kv|$N5T|full handshakes|$D close url=$S/small n=$N5T $DT
W5r|curl-cli|peer|glob|$N5T|resumes sessions|curl -sk --http1.1 -H 'Connection: close' '$R/small?[1-$N5T]'
W5r|c_http_core|ours|kv|$N5T|one pool, server allows resumption|$D close url=$R/small n=$N5T $DT
W7|c_http_core|ours|kv|$N7|one pool, $N7 tasks|$D idle url=$P/small n=$N7 $DT
W10|eventsource|peer|kv|$N10|npm eventsource (node)|node $ROOT/bench/sse_es.mjs $ESDIR url=$P/sse1m n=$N10
W10|c_http_core|ours|kv|$N10|pool:sse() + es:events()|$D sse url=$P/sse1m n=$N10 $DT
W8|npm-ws|peer|kv|$N8|node, perMessageDeflate off|env NODE_PATH=$WSNODE node $ROOT/bench/ws_client.js echo url=$WSU n=$N8
W8|python3-websockets|peer|kv|$N8|asyncio, compression off|/usr/bin/python3 $ROOT/bench/ws_client.py echo url=$WSU n=$N8
W8|c_http_core|ours|kv|$N8|plain script, compress=false|$LUA $ROOT/bench/ws_bench.lua echo url=$WSU n=$N8
W8|floor-c|ref|kv|$N8|floor: C, blocking, 2 syscalls/echo|$OUT/bin/ws_floor echo url=$WSU n=$N8
W9|npm-ws|peer|kv|$((N9 * 16777216))|node, perMessageDeflate off|env NODE_PATH=$WSNODE node $ROOT/bench/ws_client.js bulk url=$WSU n=$N9
W9|python3-websockets|peer|kv|$((N9 * 16777216))|asyncio, compression off|/usr/bin/python3 $ROOT/bench/ws_client.py bulk url=$WSU n=$N9
W9|c_http_core|ours|kv|$((N9 * 16777216))|plain script, compress=false|$LUA $ROOT/bench/ws_bench.lua bulk url=$WSU n=$N9
W9s|c_http_core|ours|kv|$((N9 * 16777216))|send(iterator of 1 MiB parts) + receive_part(1 MiB), compress=false|$LUA $ROOT/bench/ws_bench.lua stream url=$WSU n=$N9
LIST
)
# W8c1: W8's rows again, with the ws server on the client's CPU (see the loop)
CLIENTS=$(printf '%s\n' "$CLIENTS"; printf '%s\n' "$CLIENTS" | sed -n 's/^W8|/W8c1|/p')
# drop the rows of missing peers
CLIENTS=$(printf '%s\n' "$CLIENTS" | while IFS='|' read -r g id kind parser n notes cmd; do
  case $cmd in
    *ws_bench.lua*|*ws_client.js*) [ $HAVE_WS = 1 ] || continue ;;
    *ws_floor\ *) [ $HAVE_WS = 1 ] && [ -x "$OUT/bin/ws_floor" ] || continue ;;
    *ws_client.py*) [ $HAVE_WS = 1 ] && /usr/bin/python3 -c 'import websockets' 2>/dev/null || continue ;;
  esac
  case $cmd in
    wrk\ *) [ $HAVE_WRK = 1 ] || continue ;;
    h2load\ *) [ $HAVE_H2LOAD = 1 ] || continue ;;
    curl\ *) [ $HAVE_CURL = 1 ] || continue ;;
    node\ *) [ $HAVE_ES = 1 ] || continue ;;
    " easy "*|" close "*|" multi "*) continue ;;   # $CB empty: no libcurl driver
  esac
  [ "$g" = W8c1 ] && [ -z "$PIN" ] && continue   # unpinned: W8 already shares the CPUs
  if [ -n "$ONLY" ]; then
    keep=0
    for o in $ONLY; do case $g in "$o"*) keep=1 ;; esac; done
    [ $keep = 1 ] || continue
  fi
  printf '%s|%s|%s|%s|%s|%s|%s\n' "$g" "$id" "$kind" "$parser" "$n" "$notes" "$cmd"
done)
GROUPS_ORDER=$(printf '%s\n' "$CLIENTS" | cut -d'|' -f1 | awk '!seen[$0]++')
[ $HAVE_CURL = 1 ] && note "curl 7.88 cannot reuse an h2c prior-knowledge connection (curl #10634): no curl rows in W3 h2c"
# }========================================================================

# {======================================================== one run
# parse PARSER EXPECT OUTFILE WALL_S -> "requests bytes rate unit ok extra"
parse() {
  local parser=$1 n=$2 f=$3 wall=$4
  case $parser in
    kv) awk -v n="$n" '/^RESULT / {
          for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
          extra = ""
          for (k in v) if (k !~ /^(requests|bytes|secs|rate|unit|errors|cpu)$/) extra = extra k "=" v[k] ","
          sub(/,$/, "", extra)
          ok = (v["errors"] == "" || v["errors"] == 0)
          if (v["unit"] == "MB/s") ok = ok && v["bytes"] == n; else ok = ok && v["requests"] == n
          printf "%s %s %s %s %d %s\n", v["requests"], v["bytes"], v["rate"], v["unit"], ok, (extra == "" ? "-" : extra); found = 1 }
          END { if (!found) print "0 0 0 - 0 -" }' "$f" ;;
    wrk) awk '/requests in/ {req = $1} /Requests\/sec/ {rps = $2}
              /Non-2xx|Socket errors/ {bad = 1}
              END {printf "%d 0 %s req/s %d -\n", req, (rps == "" ? 0 : rps), (req > 0 && !bad)}' "$f" ;;
    h2load|h2loadb) awk -v n="$n" -v bulk=$([ "$parser" = h2loadb ] && echo 1 || echo 0) '
          /^finished in/ {t = $3; sub(/,$/, "", t); if (t ~ /ms$/) {sub(/ms$/, "", t); t /= 1000}
                          else if (t ~ /us$/) {sub(/us$/, "", t); t /= 1e6} else sub(/s$/, "", t); rps = $4}
          /^requests:/ {done = $8; failed = $10; errored = $12}
          /^status codes:/ {c2 = $3}
          /^traffic:/ {for (i = 1; i <= NF; i++) if ($i ~ /data$/) {d = $(i - 1); gsub(/[()]/, "", d)}}
          END { if (bulk) { ok = (done == 1 && c2 == 1 && d == n && failed == 0 && errored == 0)
                  printf "1 %d %.1f MB/s %d -\n", d, (t > 0 ? d / t / 1e6 : 0), ok }
                else { ok = (done == n && c2 == n && d == 13 * n && failed == 0 && errored == 0)
                  printf "%d %d %s req/s %d -\n", done, d, rps, ok } }' "$f" ;;
    curlw) awk -v n="$n" '/^CURLW/ {for (i = 2; i <= NF; i++) {split($i, a, "="); v[a[1]] = a[2]}}
          END { b = (v["up"] + 0 > v["down"] + 0) ? v["up"] : v["down"]
                printf "1 %d %.1f MB/s %d -\n", b, (v["t"] > 0 ? b / v["t"] / 1e6 : 0), (v["code"] == 200 && b >= n) }' "$f" ;;
    glob) local sz; sz=$(stat -c %s "$f")
          awk -v n="$n" -v w="$wall" -v sz="$sz" 'BEGIN {printf "%d %d %.1f req/s %d -\n", n, sz, n / w, (sz == 13 * n)}' ;;
  esac
}

# children_cpu FILE: user+sys of this shell's finished children, from bash
# `times` (run in this shell: a subshell would see only its own children)
children_cpu() {
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /m|s/); t += a[1] * 60 + a[2] } print t }' "$1"
}

FAILED_OURS=""
UNSUPPORTED=" "
printf 'group\tround\tclient\tkind\trc\tok\twall_s\tuser_s\tsys_s\trss_kb\trequests\tbytes\trate\tunit\tsrv_cpu_s\taccepts\textra\tnotes\tstatus\n' > "$RAW"

run_one() {   # group round client kind parser n notes cmd
  local g=$1 r=$2 id=$3 kind=$4 parser=$5 n=$6 notes=$7 cmd=$8
  local log=$LOGS/$g.$id.r$r rc t0 t1 wall us=0 ss=0 rss=- c0 c1 a0 q0 a1 q1 s0 s1 status=""
  local spid=$WORKER   # whose CPU "srv" is: nginx's worker, or W8/W9's ws server
  case $g in W8*|W9*) spid=${WSSRV:-none} ;; esac
  read -r a0 q0 < <(srv_status); s0=$(srv_ticks "$spid")
  times > "$log.times0"
  t0=$(date +%s%N)
  if [ $HAVE_TIME = 1 ]; then
    /usr/bin/time -f '%e %U %S %M' -o "$log.time" timeout "$PER_RUN_TIMEOUT" \
      $PIN bash -c "exec $cmd" > "$log.out" 2> "$log.err"
    rc=$?
  else
    timeout "$PER_RUN_TIMEOUT" $PIN bash -c "exec $cmd" > "$log.out" 2> "$log.err"
    rc=$?
  fi
  t1=$(date +%s%N)
  times > "$log.times1"
  s1=$(srv_ticks "$spid"); read -r a1 q1 < <(srv_status)
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", (b - a) / 1e9}')
  if [ $HAVE_TIME = 1 ] && [ -s "$log.time" ]; then
    read -r _ us ss rss < <(tail -1 "$log.time")
  else
    c0=$(children_cpu "$log.times0"); c1=$(children_cpu "$log.times1")
    us=$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}'); ss=0
  fi
  local req bytes rate unit ok extra
  read -r req bytes rate unit ok extra < <(parse "$parser" "$n" "$log.out" "$wall")
  if [ "$rss" = - ] && [ "$parser" = kv ]; then
    rss=$(sed -n 's/.*hwm_kb=\([0-9]*\).*/\1/p' "$log.out" | head -1); [ -n "$rss" ] || rss=-
  fi
  [ "$parser" = glob ] && printf 'stdout: %s bytes of bodies (checked, then dropped)\n' "$(stat -c %s "$log.out")" > "$log.out"
  [ "$rc" = 0 ] || ok=0
  if [ "$kind" = ours ] && [ "$rc" != 0 ]; then
    if [ "$rc" = 3 ] || ! grep -q '^PROBE_OK' "$log.err"; then
      status="not supported yet: $(sed -n 's/^UNSUPPORTED //p' "$log.out" | head -1 | cut -c1-150)"
      [ "$rc" = 124 ] && status="not supported yet: the first request did not finish in ${PER_RUN_TIMEOUT} s"
      [ "$status" = "not supported yet: " ] && status="not supported yet: $(tail -1 "$log.err" | cut -c1-150)"
      UNSUPPORTED="$UNSUPPORTED$g/$id "
    else
      status="WRONG (rc $rc): $(sed -n 's/^WRONG //p' "$log.out" | head -1 | cut -c1-150)"
      [ "$rc" = 124 ] && status="WRONG: timed out after ${PER_RUN_TIMEOUT} s"
      FAILED_OURS="$FAILED_OURS $g/$id/r$r"
    fi
  elif [ "$ok" != 1 ]; then
    status="failed check (rc $rc)"
    [ "$kind" = ours ] && FAILED_OURS="$FAILED_OURS $g/$id/r$r"
  fi
  local srv accepts
  srv=$(awk -v a="$s0" -v b="$s1" -v h="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / h}')
  accepts=$(( ${a1:-0} - ${a0:-0} - 1 ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$g" "$r" "$id" "$kind" "$rc" "$ok" "$wall" "$us" "$ss" "$rss" "$req" "$bytes" "$rate" "$unit" \
    "$srv" "$accepts" "$extra" "$notes" "$status" >> "$RAW"
  printf '%-5s r%s %-14s %12s %-6s cpu=%5.2fs rss=%6sKB srv=%5ss conns=%-6s %s\n' "$g" "$r" "$id" "$rate" "$unit" \
    "$(awk -v u="$us" -v s="$ss" 'BEGIN {print u + s}')" "$rss" "$srv" "$accepts" "${status:-ok}"
}
# }========================================================================

tw_count() { ss -Htan state time-wait 2>/dev/null | wc -l; }
echo "bench: mode=$MODE rounds=$ROUNDS nginx on CPU $SERVER_CPU (port $PORT), clients ${PIN:-unpinned}" >&2
for g in $GROUPS_ORDER; do
  if [ "${g#W5}" != "$g" ] && [ "$TW_WAIT" -gt 0 ] && have ss; then
    # new-connection rows suffer when TIME_WAIT is full of earlier sockets
    i=0; while [ $i -lt "$TW_WAIT" ] && [ "$(tw_count)" -gt 2000 ]; do sleep 1; i=$((i + 1)); done
  fi
  # W8/W9's ws server: on SERVER_CPU like nginx, except W8c1 (one core:
  # the server on the client's CPU, so no echo waits for a cross-CPU wake-up)
  if [ -n "$WSSRV" ] && [ -n "$PIN" ]; then
    case $g in
      W8c1) taskset -apc "$CLIENT_CPU" "$WSSRV" >/dev/null ;;
      W8*|W9*) taskset -apc "$SERVER_CPU" "$WSSRV" >/dev/null ;;
    esac
  fi
  rows=$(printf '%s\n' "$CLIENTS" | awk -F'|' -v g="$g" '$1 == g')
  nrows=$(printf '%s\n' "$rows" | wc -l)
  for r in $(seq 1 "$ROUNDS"); do
    # rotate the order every round
    k=$(( (r - 1) % nrows ))
    order=$(printf '%s\n' "$rows" | awk -v k="$k" -v n="$nrows" '{a[NR - 1] = $0} END {for (i = 0; i < n; i++) print a[(i + k) % n]}')
    while IFS='|' read -r _ id kind parser n notes cmd; do
      case $UNSUPPORTED in *" $g/$id "*) continue ;; esac
      run_one "$g" "$r" "$id" "$kind" "$parser" "$n" "$notes" "$cmd"
    done <<< "$order"
  done
done

# {======================================================== report
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "mode=$MODE"
  echo "rounds=$ROUNDS"
  envs=""
  for v in ROUNDS ONLY BUILD CURL_CFLAGS CURL_LIBS SERVER_CPU CLIENT_CPU; do
    [ -n "${!v+x}" ] && [ -n "$(printenv "$v")" ] && envs="$envs$v='$(printenv "$v")' "
  done
  echo "command=${BENCH_COMMAND:-${envs}make bench$([ "$MODE" = smoke ] && echo -smoke)}"
  echo "machine=$NPROC CPUs, $CPU_MODEL, $(uname -sr)"
  echo "pinning=nginx (1 worker) on CPU $SERVER_CPU, clients $([ -n "$PIN" ] && echo "on CPU $CLIENT_CPU" || echo unpinned)"
  echo "git=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src lua 2>/dev/null || echo ' + uncommitted changes in src/ lua/')"
  v="$(nginx -v 2>&1 | sed 's/.*version: //')"
  [ $HAVE_WRK = 1 ] && v="$v; $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
  [ $HAVE_H2LOAD = 1 ] && v="$v; $(h2load --version 2>&1 | head -1)"
  [ $HAVE_CURL = 1 ] && v="$v; $(curl --version | head -1 | awk '{print $1, $2, $5}')"
  [ -n "$CB" ] && v="$v; libcurl $(curl --version 2>/dev/null | head -1 | sed -n 's|.*libcurl/\([^ ]*\).*|\1|p') (curlbench)"
  v="$v; $("$LUA" -v 2>&1 | awk '{print $1, $2}'); mbedTLS $(dpkg-query -W -f='${Version}' libmbedtls-dev 2>/dev/null)"
  echo "versions=$v"
  echo "elapsed=$(( $(date +%s) - START )) s"
} >> "$META"
REPORT=$OUT/latest.md
[ "$MODE" = smoke ] && REPORT=$OUT/smoke.md
"$LUA" bench/report.lua "$RAW" "$META" > "$REPORT" || { echo "bench: report failed" >&2; exit 1; }
cat "$REPORT"
echo "bench: table written to ${REPORT#$ROOT/}" >&2
if [ -n "$FAILED_OURS" ]; then
  echo "bench: c_http_core gave WRONG results in:$FAILED_OURS (see bench/out/logs)" >&2
  exit 1
fi
exit 0
