#!/bin/sh
# bench/server.sh: the loopback nginx the benchmarks run against.
#
#   sh bench/server.sh start DIR [CPU]   write DIR/nginx.conf (+ a fresh self-signed
#                                        ECDSA cert), start nginx pinned to CPU
#                                        (default 0, when taskset exists); prints
#                                        "PORT=<base> WORKER=<pid>"
#   sh bench/server.sh stop DIR          stop it (QUIT, then TERM, then KILL)
#
# Ports (all on 127.0.0.1), from a base port P chosen at start:
#   P    plain HTTP/1.1
#   P+1  h2c, prior knowledge (nginx 1.22: `listen ... http2` without ssl)
#   P+2  TLS (h2 + http/1.1 by ALPN); no session cache/tickets: every
#        handshake is a full one (as in the peers' anchor runs)
#   P+3  TLS like P+2 but with a session cache and tickets (resumption rows)
#
# Locations: /small ("Hello, World!", 13 bytes), /big and /mid (static,
# sparse files of zeros: 512 MiB and 8 MiB, kept in $BENCH_CACHE), /sse1m
# (W10: a text/event-stream of 1,000,000 events of 58 data bytes), /echo
# (any body, discarded; answers "ok\n" at once, often before the body has
# arrived), /sink (any body, read to its end BEFORE the "ok\n" answer),
# /status (stub_status). On the TLS ports every response carries
# X-Reused: r|. ($ssl_session_reused) and X-TLS: protocol/cipher.
#
# The big files are generated once (sparse, instantly) in $BENCH_CACHE
# (default /tmp/c_http_core-bench); everything else lives in DIR.
set -u

NGINX=${NGINX:-nginx}
command -v "$NGINX" >/dev/null 2>&1 || NGINX=/usr/sbin/nginx
CACHE=${BENCH_CACHE:-/tmp/c_http_core-bench}

die() { echo "server.sh: $*" >&2; exit 1; }

# sparse NAME SIZE: a file of SIZE zero bytes in $CACHE, made once.
sparse() {
    f=$CACHE/$1
    [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" = "$2" ] && return 0
    tmp=$f.$$.tmp
    truncate -s "$2" "$tmp" 2>/dev/null || \
        dd if=/dev/zero of="$tmp" bs=1 count=0 seek="$2" 2>/dev/null || return 1
    mv -f "$tmp" "$f"
}

gen_files() {
    mkdir -p "$CACHE" || die "cannot create $CACHE"
    chmod 755 "$CACHE" 2>/dev/null
    sparse big 536870912 || die "cannot create $CACHE/big"
    sparse mid 8388608 || die "cannot create $CACHE/mid"
    sparse up256 268435456 || die "cannot create $CACHE/up256"
    sparse up8 8388608 || die "cannot create $CACHE/up8"
    chmod 644 "$CACHE/big" "$CACHE/mid" "$CACHE/up256" "$CACHE/up8" 2>/dev/null
    # W10: an event stream of 1,000,000 events, each a 64-byte data line
    # ("data: " + 58 bytes) and a blank line: 66,000,000 bytes
    if [ "$(stat -c %s "$CACHE/sse1m" 2>/dev/null || echo 0)" != 66000000 ]; then
        yes "data: 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijkl
" | head -c 66000000 > "$CACHE/sse1m.$$.tmp" && mv -f "$CACHE/sse1m.$$.tmp" "$CACHE/sse1m" \
            || die "cannot create $CACHE/sse1m"
    fi
    mkdir -p "$DIR/www" "$DIR/tmp" "$DIR/tls" || die "cannot create $DIR"
    ln -sf "$CACHE/big" "$DIR/www/big"
    ln -sf "$CACHE/mid" "$DIR/www/mid"
    ln -sf "$CACHE/sse1m" "$DIR/www/sse1m"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -days 7 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$DIR/tls/key.pem" -out "$DIR/tls/cert.pem" >/dev/null 2>&1 \
        || die "openssl could not make the test certificate"
}

# the fd budget: nginx needs one fd per connection (W7 holds 10,000).
nofile() {
    h=$(ulimit -Hn)
    [ "$h" = unlimited ] && h=1048576
    n=30000
    [ "$h" -lt "$n" ] && n=$h
    echo "$n"
}

write_conf() {
    P=$1
    RL=$(nofile)
    WC=12000
    [ $((RL - 200)) -lt $WC ] && WC=$((RL - 200))
    USERLINE=""
    [ "$(id -u)" = 0 ] && USERLINE="user root;"
    cat > "$DIR/nginx.conf" <<CONF
$USERLINE
worker_processes 1;
worker_rlimit_nofile $RL;
daemon on;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
events { worker_connections $WC; use epoll; multi_accept on; }
http {
  access_log off;
  server_tokens off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000000;    # also caps requests per HTTP/2 connection
  keepalive_timeout 600s;
  http2_max_concurrent_streams 128;
  lingering_time 300s;
  lingering_timeout 60s;
  client_body_temp_path $DIR/tmp/body;
  proxy_temp_path $DIR/tmp/proxy;
  fastcgi_temp_path $DIR/tmp/fastcgi;
  uwsgi_temp_path $DIR/tmp/uwsgi;
  scgi_temp_path $DIR/tmp/scgi;
  ssl_certificate $DIR/tls/cert.pem;
  ssl_certificate_key $DIR/tls/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  root $DIR/www;
  map \$ssl_protocol \$bench_tls { "" ""; default "\$ssl_protocol/\$ssl_cipher"; }

  server {
    listen 127.0.0.1:$P backlog=8192;
    include $DIR/locations.conf;
  }
  server {
    listen 127.0.0.1:$((P + 1)) http2 backlog=8192;
    include $DIR/locations.conf;
  }
  server {
    listen 127.0.0.1:$((P + 2)) ssl http2 backlog=8192;
    ssl_session_cache off;
    ssl_session_tickets off;
    include $DIR/locations.conf;
  }
  server {
    listen 127.0.0.1:$((P + 3)) ssl http2 backlog=8192;
    ssl_session_cache shared:BENCH:4m;
    ssl_session_tickets on;
    ssl_session_timeout 30m;
    include $DIR/locations.conf;
  }
}
CONF
    echo "ok" > "$DIR/www/sink"
    cat > "$DIR/locations.conf" <<'CONF'
add_header X-Reused $ssl_session_reused;
add_header X-TLS $bench_tls;
location = /small { default_type text/plain; return 200 "Hello, World!"; }
location = /echo  { client_max_body_size 0; default_type text/plain; return 200 "ok\n"; }
location = /big { }
location = /mid { }
location = /sse1m { types { } default_type text/event-stream; }
location = /status { stub_status; }
# /sink reads the WHOLE request body before it answers (the mirror module
# reads it; the static handler then refuses POST with 405, which error_page
# turns into 200 "ok"): W6 uploads go here. /echo answers at once and
# discards the body while it still arrives.
location = /sink {
  client_max_body_size 0;
  client_body_buffer_size 1m;
  mirror /_discard;
  mirror_request_body on;
  error_page 405 =200 @ok;
}
location = /_discard { internal; return 204; }
location @ok { default_type text/plain; return 200 "ok\n"; }
location / { return 404; }
CONF
}

running() {
    [ -s "$DIR/nginx.pid" ] && kill -0 "$(cat "$DIR/nginx.pid")" 2>/dev/null
}

worker_pid() {
    m=$(cat "$DIR/nginx.pid" 2>/dev/null) || return 1
    for c in /proc/[0-9]*/stat; do
        p=${c#/proc/}; p=${p%/stat}
        pp=$(awk '{print $4}' "$c" 2>/dev/null) || continue
        [ "$pp" = "$m" ] && { echo "$p"; return 0; }
    done
    return 1
}

start() {
    DIR=$1 CPU=${2:-0}
    mkdir -p "$DIR" || die "cannot create $DIR"
    DIR=$(cd "$DIR" && pwd)
    gen_files
    PIN=""
    command -v taskset >/dev/null 2>&1 && [ "$CPU" != none ] && PIN="taskset -c $CPU"
    tries=0
    while :; do
        tries=$((tries + 1))
        # a base port in 20000..59996, a multiple of 4
        P=$(( ( ($$ * 7919 + tries * 104729 + $(date +%N | sed 's/^0*//;s/^$/0/')) % 10000) * 4 + 20000 ))
        write_conf "$P"
        : > "$DIR/error.log"
        if ! "$NGINX" -t -q -p "$DIR" -c "$DIR/nginx.conf" >"$DIR/nginx-t.log" 2>&1; then
            cat "$DIR/nginx-t.log" >&2; die "nginx -t failed"
        fi
        if $PIN "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" 2>>"$DIR/error.log"; then
            i=0
            while [ $i -lt 100 ] && ! running; do sleep 0.05; i=$((i + 1)); done
            if running; then break; fi
        fi
        grep -q 'Address already in use' "$DIR/error.log" && [ $tries -lt 8 ] && continue
        cat "$DIR/error.log" >&2
        die "nginx failed to start"
    done
    i=0
    W=""
    while [ $i -lt 100 ]; do W=$(worker_pid) && break; sleep 0.05; i=$((i + 1)); done
    echo "PORT=$P WORKER=$W"
}

stop() {
    DIR=${1:-}
    [ -n "$DIR" ] || die "usage: stop DIR"
    [ -s "$DIR/nginx.pid" ] || return 0
    pid=$(cat "$DIR/nginx.pid")
    case "$pid" in ''|*[!0-9]*) return 0 ;; esac
    # only signal it if it really is our nginx
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$DIR/nginx.conf" || return 0
    kill -QUIT "$pid" 2>/dev/null
    i=0
    while [ $i -lt 60 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    i=0
    while [ $i -lt 40 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
    kill -KILL "-$pid" 2>/dev/null
    rm -f "$DIR/nginx.pid"
    return 0
}

case "${1:-}" in
    start) start "${2:-}" "${3:-0}" ;;
    stop) stop "${2:-}" ;;
    *) die "usage: $0 start DIR [CPU] | stop DIR" ;;
esac
