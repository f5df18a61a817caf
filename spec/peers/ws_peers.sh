#!/bin/sh
# spec/peers/ws_peers.sh: starts the WebSocket peers of spec/ws_spec.lua in
# the background, each in its own process group, and prints one line:
#   PY_PID NODE_PID PY_PLAIN PY_TLS RAW NODE_PLAIN NODE_TLS
# (ports on 127.0.0.1), or "ERROR why" when a peer is missing or did not
# start. Usage: sh spec/peers/ws_peers.sh TMPDIR CERT_DIR [PARENT_PID]
# (PARENT_PID: the peers exit once that process is gone, even if it was
# killed before it could stop them).
#
# The npm `ws` package is installed once into spec/peers/node_modules (from
# the npm registry, with `npm install`); python3-websockets is a Debian
# package (make deps).
set -u
TMP=$1
CERTS=$2
PARENT=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
NODE=$(command -v node 2>/dev/null || echo "")

$PY -c 'import websockets' 2>/dev/null ||
    { echo "ERROR python3-websockets missing (apt-get install python3-websockets)"; exit 0; }
[ -n "$NODE" ] || { echo "ERROR node missing (apt-get install nodejs)"; exit 0; }
if [ ! -f "$HERE/node_modules/ws/package.json" ]; then
    (cd "$HERE" && npm install --no-save --no-audit --no-fund --prefer-offline \
        ws@8 >"$TMP/npm-ws.log" 2>&1) ||
        { echo "ERROR npm install ws failed (see $TMP/npm-ws.log)"; exit 0; }
fi

rm -f "$TMP/ws_py.ready" "$TMP/ws_node.ready"
setsid $PY "$HERE/ws_peer.py" --ready-file "$TMP/ws_py.ready" --certs "$CERTS" \
    ${PARENT:+--parent "$PARENT"} </dev/null >"$TMP/ws_py.log" 2>&1 &
PYPID=$!
NODE_PATH="$HERE/node_modules" setsid "$NODE" "$HERE/ws_node_peer.js" \
    "$TMP/ws_node.ready" "$CERTS" $PARENT </dev/null >"$TMP/ws_node.log" 2>&1 &
NODEPID=$!
i=0
while [ ! -f "$TMP/ws_py.ready" ] || [ ! -f "$TMP/ws_node.ready" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ]; then
        kill -TERM -$PYPID -$NODEPID 2>/dev/null
        echo "ERROR WebSocket peers did not start (see $TMP/ws_py.log, $TMP/ws_node.log)"
        exit 0
    fi
    sleep 0.05
done
echo $PYPID $NODEPID $(cat "$TMP/ws_py.ready") $(cat "$TMP/ws_node.ready")
