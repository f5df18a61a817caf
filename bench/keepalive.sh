#!/bin/sh
# bench/keepalive.sh [N]: sequential keep-alive GETs on ONE connection against
# a local nginx (1 worker), ours vs wrk -t1 -c1, same run, alternating
# rounds. nginx is pinned to CPU 0 and the clients to CPU 1 when taskset
# exists. Prints the medians and the ratio.
set -u
cd "$(dirname "$0")/.." || exit 2
N=${1:-20000}
ROUNDS=${ROUNDS:-3}
DIR=$(mktemp -d)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'sh spec/peers/nginx.sh stop "$DIR" >/dev/null 2>&1; rm -rf "$DIR"' EXIT INT TERM
PIN0=""; PIN1=""
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  PIN0="taskset -c 0"; PIN1="taskset -c 1"
fi
$PIN0 sh spec/peers/nginx.sh start "$DIR" "$PORT" >/dev/null || exit 1
URL="http://127.0.0.1:$PORT/small"
export LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;"
ours=""; wrks=""
i=0
while [ $i -lt "$ROUNDS" ]; do
  o=$($PIN1 lua5.4 bench/w1.lua "$URL" "$N" | awk '{print $4}')
  ours="$ours $o"
  if command -v wrk >/dev/null 2>&1; then
    w=$($PIN1 wrk -t1 -c1 -d3s "$URL" | awk '/Requests\/sec/ {printf "%.0f", $2}')
    wrks="$wrks $w"
  fi
  i=$((i + 1))
done
median() { printf '%s\n' $* | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median $ours)
echo "c_http_core  W1 one connection: $mo req/s (rounds:$ours)"
if [ -n "$wrks" ]; then
  mw=$(median $wrks)
  echo "wrk -t1 -c1  W1 one connection: $mw req/s (rounds:$wrks)"
  awk -v a="$mo" -v b="$mw" 'BEGIN {printf "ratio c_http_core / wrk: %.2f\n", a / b}'
else
  echo "wrk not installed: no peer figure"
fi
