#!/usr/bin/python3
"""TLS test peer for spec/tls_spec.lua: the cases nginx cannot play.

    tls_peer.py --certs DIR --ready-file FILE

DIR holds the certificates of spec/peers/certs.sh. Three listeners on
127.0.0.1, ephemeral ports; FILE gets one line "PID HTTPS STALL CLIENTCERT":

  HTTPS       TLS with DIR/server.pem, one HTTP/1.1 response per connection:
                /close-notify     body read until close, then close_notify
                /no-close-notify  body read until close, TCP FIN only
                /truncated        Content-Length 100, 50 bytes, TCP FIN only
                /upload-sha256    reads the body (Content-Length or chunked)
                                  slowly at first, so that the client's
                                  writes block; answers "LEN SHA256HEX"
                /drip?n=N         N bytes of the pattern (byte i is i % 251)
                                  with Content-Length, 16 KiB at a time
                /drip-status      {"sent": S, "done": true|false} of the
                                  most recent /drip (S: bytes the socket
                                  took so far)
  STALL       accepts and never answers (a handshake that never ends)
  CLIENTCERT  TLS 1.2 that requires a client certificate from DIR/ca.pem
              (without one the handshake fails with an alert)
"""
import argparse
import hashlib
import os
import socket
import ssl
import sys
import threading
import time

BODY = b"x" * 5000
DRIP = {"sent": 0, "done": True}
UNIT = bytes(range(251))


def pattern(offset, n):
    start = offset % 251
    return (UNIT * ((start + n) // 251 + 1))[start:start + n]


def drip(conn, n):
    """/drip: a paced download; DRIP shows how far the client let it get."""
    DRIP["sent"], DRIP["done"] = 0, False
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n" % n)
    off = 0
    while off < n:
        k = min(16384, n - off)
        conn.sendall(pattern(off, k))
        off += k
        DRIP["sent"] = off
    DRIP["done"] = True


def listener():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


class Reader:
    """Buffered reads from a (TLS) socket."""

    def __init__(self, conn):
        self.conn, self.buf = conn, b""

    def fill(self, n=65536):
        chunk = self.conn.recv(n)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def read_head(rd):
    """-> (path, {lowercased name: value})"""
    path = rd.line().split(b" ", 2)[1].decode("latin-1")
    fields = {}
    while True:
        line = rd.line()
        if not line:
            return path, fields
        k, _, v = line.partition(b":")
        fields[k.strip().lower()] = v.strip()


def upload_sha256(conn, rd, fields):
    h, n = hashlib.sha256(), 0
    time.sleep(0.3)  # let the client fill the socket buffers first

    def eat(data):
        nonlocal n
        h.update(data)
        n += len(data)

    if b"content-length" in fields:
        left = int(fields[b"content-length"])
        while left:
            k = min(left, 16384)
            eat(rd.take(k))
            left -= k
    else:
        while True:
            size = int(rd.line().split(b";")[0], 16)
            if size == 0:
                rd.line()
                break
            eat(rd.take(size))
            rd.take(2)
    body = ("%d %s" % (n, h.hexdigest())).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n" % len(body) + body)


def serve_https(conn):
    try:
        rd = Reader(conn)
        path, fields = read_head(rd)
        if path == "/upload-sha256":
            upload_sha256(conn, rd, fields)
            conn.unwrap()
            return
        if path.startswith("/drip-status"):
            body = ('{"sent": %d, "done": %s}' % (
                DRIP["sent"], "true" if DRIP["done"] else "false")).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(body) + body)
            conn.unwrap()
            return
        if path.startswith("/drip?n="):
            conn.settimeout(60)
            drip(conn, int(path[len("/drip?n="):]))
            conn.unwrap()
            return
        if path == "/truncated":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
                         b"Connection: close\r\n\r\n" + b"y" * 50)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" +
                         BODY)
        if path == "/close-notify":
            # sends close_notify; waits (bounded) for the client's
            conn.settimeout(5)
            try:
                conn = conn.unwrap()
            except (OSError, ssl.SSLError):
                pass
        else:
            # no TLS shutdown at all: the bare socket ends with a FIN
            raw = socket.socket(fileno=conn.detach())
            raw.shutdown(socket.SHUT_RDWR)
            conn = raw
    except (OSError, ssl.SSLError, EOFError, ValueError):
        pass
    finally:
        conn.close()


def serve_clientcert(conn):
    try:
        read_head(Reader(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                     b"Connection: close\r\n\r\nok")
    except (OSError, ssl.SSLError, EOFError):
        pass
    finally:
        conn.close()


def accept_loop(sock, ctx, handler):
    while True:
        conn, _ = sock.accept()

        def run(c=conn):
            try:
                c.settimeout(10)
                handler(ctx.wrap_socket(c, server_side=True))
            except (OSError, ssl.SSLError):
                c.close()

        threading.Thread(target=run, daemon=True).start()


def stall_loop(sock):
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)  # never read, never answered, never closed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certs", required=True)
    ap.add_argument("--ready-file", required=True)
    a = ap.parse_args()

    https_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    https_ctx.load_cert_chain(os.path.join(a.certs, "server.pem"),
                              os.path.join(a.certs, "server.key"))
    cc_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cc_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    cc_ctx.load_cert_chain(os.path.join(a.certs, "server.pem"),
                           os.path.join(a.certs, "server.key"))
    cc_ctx.load_verify_locations(os.path.join(a.certs, "ca.pem"))
    cc_ctx.verify_mode = ssl.CERT_REQUIRED

    https, stall, cc = listener(), listener(), listener()
    for target, args in ((accept_loop, (https, https_ctx, serve_https)),
                         (stall_loop, (stall,)),
                         (accept_loop, (cc, cc_ctx, serve_clientcert))):
        threading.Thread(target=target, args=args, daemon=True).start()

    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d %d\n" % (os.getpid(), https.getsockname()[1],
                                   stall.getsockname()[1],
                                   cc.getsockname()[1]))
    os.rename(tmp, a.ready_file)
    threading.Event().wait()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
