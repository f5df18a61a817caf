#!/bin/sh
# The proxies spec/proxy_spec.lua talks through, on 127.0.0.1 only:
#
#   sh spec/peers/proxies.sh start DIR CERTDIR   (writes DIR/ports)
#   sh spec/peers/proxies.sh stop DIR
#
# DIR/ports has one "name port" line each:
#   tinyproxy       tinyproxy, no auth (forward and CONNECT to any port)
#   tinyproxy_auth  tinyproxy with BasicAuth alice / s3cret
#   socks           microsocks, no auth
#   socks_auth      microsocks, user alice / s3cret
#   https_proxy     stunnel4 (certificate CERTDIR/server.pem) in front of
#                   the "tinyproxy" one: an https:// proxy
# and the scripted peer's (spec/peers/proxy_peer.py). Everything runs in
# the foreground of its own pid (DIR/pids) and binds 127.0.0.1: these run
# as root on the test machine.
set -eu
cmd=${1:?usage: proxies.sh start|stop DIR [CERTDIR]}
DIR=${2:?DIR}
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "$cmd" = stop ]; then
    [ -f "$DIR/pids" ] || exit 0
    for p in $(cat "$DIR/pids"); do kill "$p" 2>/dev/null || true; done
    for p in $(cat "$DIR/pids"); do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1; i=$((i + 1))
        done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -f "$DIR/pids"
    exit 0
fi

CERTS=${3:?CERTDIR}
mkdir -p "$DIR"
: > "$DIR/pids"
set -- $(python3 -c 'import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
TP=$1 TPA=$2 SO=$3 SOA=$4 HP=$5

tinyconf() { # FILE PORT [AUTH]
    {
        echo "Port $2"
        echo "Listen 127.0.0.1"
        echo "Timeout 30"
        echo "MaxClients 100"
        echo "Allow 127.0.0.1"
        echo "DisableViaHeader Yes"
        echo "LogLevel Warning"
        [ -z "${3:-}" ] || echo "BasicAuth alice s3cret"
    } > "$1"
}
tinyconf "$DIR/tp.conf" "$TP"
tinyconf "$DIR/tpa.conf" "$TPA" auth
tinyproxy -d -c "$DIR/tp.conf" > "$DIR/tp.log" 2>&1 &
echo $! >> "$DIR/pids"
tinyproxy -d -c "$DIR/tpa.conf" > "$DIR/tpa.log" 2>&1 &
echo $! >> "$DIR/pids"
microsocks -i 127.0.0.1 -p "$SO" > "$DIR/so.log" 2>&1 &
echo $! >> "$DIR/pids"
microsocks -i 127.0.0.1 -p "$SOA" -u alice -P s3cret > "$DIR/soa.log" 2>&1 &
echo $! >> "$DIR/pids"
cat > "$DIR/stunnel.conf" <<CONF
foreground = yes
pid =
[https_proxy]
accept = 127.0.0.1:$HP
connect = 127.0.0.1:$TP
cert = $CERTS/server.pem
key = $CERTS/server.key
CONF
stunnel4 "$DIR/stunnel.conf" > "$DIR/stunnel.log" 2>&1 &
echo $! >> "$DIR/pids"
rm -f "$DIR/peer.ready"
python3 "$HERE/proxy_peer.py" "$DIR/peer.ready" > "$DIR/peer.log" 2>&1 &
echo $! >> "$DIR/pids"

{
    echo "tinyproxy $TP"
    echo "tinyproxy_auth $TPA"
    echo "socks $SO"
    echo "socks_auth $SOA"
    echo "https_proxy $HP"
} > "$DIR/ports.tmp"
# ready when every port accepts a connection (at most 10 s)
i=0
while :; do
    if [ -s "$DIR/peer.ready" ] && python3 -c 'import socket, sys
for p in sys.argv[1:]:
    socket.create_connection(("127.0.0.1", int(p)), 0.5).close()' \
        "$TP" "$TPA" "$SO" "$SOA" "$HP" 2>/dev/null; then break; fi
    i=$((i + 1))
    if [ $i -ge 100 ]; then
        echo "proxies did not start; logs in $DIR" >&2
        sh "$0" stop "$DIR"
        exit 1
    fi
    sleep 0.1
done
cat "$DIR/peer.ready" >> "$DIR/ports.tmp"
mv "$DIR/ports.tmp" "$DIR/ports"
