#!/bin/sh
# nginx test peer for c_http_core.
#
#   sh spec/peers/nginx.sh start DIR PORT   write DIR/nginx.conf, generate
#                                           DIR/www, start nginx, wait (10 s)
#   sh spec/peers/nginx.sh start DIR PORT MAIN WRONG EXPIRED IPONLY NOIP CLIENT
#                                           the same, plus TLS servers on
#                                           those six ports (certificates
#                                           made by certs.sh in DIR/tls;
#                                           see nginx-tls.conf.in)
#   sh spec/peers/nginx.sh stop DIR         QUIT, then TERM, then KILL the
#                                           process group (bounded waits)
#
# Everything (pid, logs, temp paths, www) lives in DIR; nothing under /var is
# touched.  nginx listens on 127.0.0.1:PORT and, when lo has ::1, [::1]:PORT.
# The conf is generated from spec/peers/nginx.conf.in (@DIR@ @PORT@ @USER@
# @LISTEN6@ @LISTEN_H2C@ are substituted).
#
# With CHC_NGINX_H2C_PORT=P in the environment, the same server also listens
# on 127.0.0.1:P for HTTP/2 with prior knowledge (h2c, `listen P http2`),
# serving the same locations; start waits until it answers too.  The main
# TLS server (MAIN) offers h2 and http/1.1 through ALPN.
#
# Static files in DIR/www (and their sha256 in DIR/www/NAME.sha256, in
# sha256sum format): 1k, 64k, 1m, 64m.  Content: byte at offset i is
# (i % 251) -- the same pattern the raw peer's generated bodies use.
#
# Locations: see nginx.conf.in.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
NGINX=${NGINX:-nginx}
command -v "$NGINX" >/dev/null 2>&1 || NGINX=/usr/sbin/nginx

die() { echo "nginx.sh: $*" >&2; exit 1; }

gen_www() {
    "$PY" - "$1" <<'EOF'
import hashlib, os, sys
www = sys.argv[1]
unit = bytes(range(251))
block = unit * 4178                     # 1048678 bytes, a multiple of 251
for name, size in (("1k", 1024), ("64k", 65536), ("1m", 1 << 20),
                   ("64m", 64 << 20)):
    h = hashlib.sha256()
    tmp = os.path.join(www, name + ".tmp")
    with open(tmp, "wb") as f:
        left = size
        while left:
            piece = block[:min(left, len(block))]
            f.write(piece)
            h.update(piece)
            left -= len(piece)
    os.rename(tmp, os.path.join(www, name))
    with open(os.path.join(www, name + ".sha256"), "w") as f:
        f.write("%s  %s\n" % (h.hexdigest(), name))
with open(os.path.join(www, "chunked.txt"), "w") as f:
    f.write("hello from nginx, chunked\n")
EOF
}

have_ipv6() {
    ip -6 addr show lo 2>/dev/null | grep -q 'inet6 ::1/' && return 0
    grep -qi '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null
}

# is_up PORT: nginx answers /small?
is_up() {
    curl -s -o /dev/null --max-time 2 -w '%{http_code}' \
        "http://127.0.0.1:$1/small" 2>/dev/null | grep -q '^200$'
}

# is_up_h2c PORT: nginx answers /small over h2c (prior knowledge)?
is_up_h2c() {
    curl -s -o /dev/null --max-time 2 --http2-prior-knowledge \
        -w '%{http_code} %{http_version}' \
        "http://127.0.0.1:$1/small" 2>/dev/null | grep -q '^200 2$'
}

start() {
    DIR=${1:-} PORT=${2:-}
    [ -n "$DIR" ] && [ -n "$PORT" ] || die "usage: start DIR PORT"
    shift 2
    mkdir -p "$DIR/www" "$DIR/tmp" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd)
    gen_www "$DIR/www" || die "cannot generate $DIR/www"

    USERLINE=""
    [ "$(id -u)" = 0 ] && USERLINE="user root;"
    LISTEN6=""
    have_ipv6 && LISTEN6="listen [::1]:$PORT;"
    H2C_PORT=${CHC_NGINX_H2C_PORT:-}
    LISTEN_H2C=""
    [ -n "$H2C_PORT" ] && LISTEN_H2C="listen 127.0.0.1:$H2C_PORT http2;"

    sed -e "s|@DIR@|$DIR|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@USER@|$USERLINE|g" -e "s|@LISTEN6@|$LISTEN6|g" \
        -e "s|@LISTEN_H2C@|$LISTEN_H2C|g" \
        "$HERE/nginx.conf.in" > "$DIR/nginx.conf" || die "cannot write conf"
    rm -rf "$DIR/conf.d"
    mkdir -p "$DIR/conf.d" || die "cannot create $DIR/conf.d"
    if [ $# -gt 0 ]; then
        [ $# -eq 6 ] || die "start: TLS needs 6 ports (MAIN WRONG EXPIRED IPONLY NOIP CLIENT)"
        sh "$HERE/certs.sh" "$DIR/tls" || die "cannot make the test certificates"
        LISTEN6_TLS=""
        have_ipv6 && LISTEN6_TLS="listen [::1]:$1 ssl http2;"
        sed -e "s|@DIR@|$DIR|g" -e "s|@TLS@|$DIR/tls|g" \
            -e "s|@TLS_MAIN@|$1|g" -e "s|@TLS_WRONG@|$2|g" \
            -e "s|@TLS_EXPIRED@|$3|g" -e "s|@TLS_IPONLY@|$4|g" \
            -e "s|@TLS_NOIP@|$5|g" -e "s|@TLS_CLIENT@|$6|g" \
            -e "s|@LISTEN6_TLS@|$LISTEN6_TLS|g" \
            "$HERE/nginx-tls.conf.in" > "$DIR/conf.d/tls.conf" \
            || die "cannot write the TLS conf"
    fi

    if ! "$NGINX" -t -q -p "$DIR" -e "$DIR/error.log" -c "$DIR/nginx.conf" \
            >"$DIR/nginx-t.log" 2>&1; then
        cat "$DIR/nginx-t.log" >&2
        die "nginx -t failed"
    fi
    # daemon on: returns once the listening sockets are bound and the
    # master has forked into its own session (pgid = master pid).
    "$NGINX" -p "$DIR" -e "$DIR/error.log" -c "$DIR/nginx.conf" \
        || { cat "$DIR/error.log" >&2 2>/dev/null; die "nginx failed to start"; }

    deadline=$(( $(date +%s) + 10 ))
    while :; do
        if [ -s "$DIR/nginx.pid" ] && is_up "$PORT" && \
           { [ -z "$H2C_PORT" ] || is_up_h2c "$H2C_PORT"; }; then
            [ -n "$LISTEN6" ] && echo 1 > "$DIR/ipv6" || echo 0 > "$DIR/ipv6"
            return 0
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            cat "$DIR/error.log" >&2 2>/dev/null
            stop "$DIR"
            die "nginx did not come up on 127.0.0.1:$PORT within 10 s"
        fi
        sleep 0.05
    done
}

. "$HERE/proc.sh"

# wait_gone PID SECONDS: poll (bounded) until PID has exited.
wait_gone() {
    deadline=$(( $(date +%s) + $2 ))
    while alive "$1"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
    return 0
}

stop() {
    DIR=${1:-}
    [ -n "$DIR" ] || die "usage: stop DIR"
    pid=""
    [ -s "$DIR/nginx.pid" ] && pid=$(cat "$DIR/nginx.pid" 2>/dev/null)
    if [ -z "$pid" ] && command -v pgrep >/dev/null 2>&1; then
        # interrupted start: the master may be up without its pid file yet;
        # look for it by its unique conf path (bounded).
        deadline=$(( $(date +%s) + 2 ))
        while :; do
            pid=$(pgrep -o -f "master process .* -c $DIR/nginx.conf" 2>/dev/null)
            [ -n "$pid" ] && break
            [ -s "$DIR/nginx.pid" ] && { pid=$(cat "$DIR/nginx.pid"); break; }
            [ "$(date +%s)" -ge "$deadline" ] && return 0
            [ -f "$DIR/nginx.conf" ] || return 0
            sleep 0.05
        done
    fi
    case "$pid" in ''|*[!0-9]*) return 0 ;; esac
    # only signal it if it really is our nginx
    if [ -r "/proc/$pid/cmdline" ] && \
       ! tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$DIR/nginx.conf"; then
        rm -f "$DIR/nginx.pid"
        return 0
    fi
    if alive "$pid"; then
        kill -QUIT "$pid" 2>/dev/null
        if ! wait_gone "$pid" 5; then
            kill -TERM "$pid" 2>/dev/null
            wait_gone "$pid" 3 || true
        fi
    fi
    # the master is a session/group leader: kill whatever is left of it
    # (workers still finishing a transfer).
    kill -KILL "-$pid" 2>/dev/null
    deadline=$(( $(date +%s) + 5 ))
    while group_alive "$pid"; do
        [ "$(date +%s)" -ge "$deadline" ] && { echo "nginx.sh: group $pid still alive" >&2; break; }
        sleep 0.05
    done
    rm -f "$DIR/nginx.pid"
    return 0
}

cmd=${1:-}
case "$cmd" in
    start) shift; start "$@" ;;
    stop)  stop "${2:-}" ;;
    *) die "usage: $0 start DIR PORT [6 TLS PORTS] | stop DIR" ;;
esac
