#!/usr/bin/python3
"""Scripted raw HTTP/1.1 test peer for c_http_core (standard library only).

Run with Debian's interpreter:  /usr/bin/python3 spec/peers/raw_peer.py \
    --port 0 --ready-file F [--host 127.0.0.1] [--no-ipv6]

It listens on 127.0.0.1:PORT (PORT 0 = let the kernel pick) and, when ::1
exists, also on [::1] with the same port.  Once listening it writes the ready
file atomically: line 1 = the port, line 2 = "ipv6=1" or "ipv6=0".

Each connection runs a keep-alive loop (pipelining works: one buffer per
connection).  Request bodies (Content-Length or chunked, with trailers) are
streamed, never held in memory, and drained before the response unless the
endpoint says otherwise.  "Expect: 100-continue" gets an interim 100 before
the body is read.  HEAD gets the head only.  A client closing at any moment
only ends its own connection.

Body pattern: every generated body byte at offset i is (i % 251) -- the same
pattern nginx.sh writes into its static files, so contents can be verified.

Control endpoints (/stats, /stats/reset, /drip-status, /drop-idle-after) are
not counted in the connection statistics when they are the first request on a
connection, so querying the peer out of band (curl) does not disturb counts.

Endpoints (query strings allowed):
  /hello                  200 "hello"
  /conn-id                200, body = id of this TCP connection (unique,
                          increasing), header X-Requests-On-Conn: n
  /stats[?wait_open=K&timeout_ms=T]
                          JSON {"accepted","open","requests","drop_idle_ms"};
                          with wait_open, first waits (bounded, default
                          5000 ms) until open <= K
  /stats/reset            zero accepted/requests, turn drop-idle mode off
  /chunked                chunked "hello world" in 3 chunks, an extension on
                          the 2nd
  /trailers               chunked "hello world" + trailers X-Checksum: abc and
                          X-Trailer-Two: 2 (declared in Trailer:)
  /continue               "100 Continue" before reading the body (always),
                          then 200 with the body length as decimal
  /early-hints            103 Early Hints (Link) then 200 "final"
  /close-delimited        HTTP/1.1 200, no length, body "until close", close
  /http10                 HTTP/1.0 200, Content-Length, "one-oh", close
  /truncated              Content-Length: 100, 10 bytes sent, close
  /truncated-chunked      chunked, one chunk "hello", close
  /bad-status             "HTTP/1.1 abc" then close
  /garbage                non-HTTP bytes then close
  /bad-chunk              chunked with chunk size "zz", close
  /huge-head?n=BYTES[&single=1]
                          head of about n bytes (default 200000) made of
                          X-Pad-* headers (single=1: one big header), no body
  /stall-head[?s=S]       reads the request, never answers; waits for the
                          client to close (bounded: S s, default/max 60)
  /stall-body[?s=S]       head with Content-Length: 1000 + 10 bytes, stalls
  /slow-body?chunks=N&delay_ms=D&size=S[&chunked=1]
                          Content-Length N*S (or chunked), head at once, then
                          S bytes after each D ms (defaults 5, 100, 10)
  /drip?n=N[&sndbuf=B]    N bytes (default 64 MiB) as fast as the client reads;
                          SO_SNDBUF = B (default 65536, 0 = kernel default)
  /drip-status            JSON {"seq","n","sent","done"} of the latest /drip:
                          bytes handed to the kernel so far
  /bytes?n=N[&chunked=1&chunk=S]
                          N pattern bytes (default 1024), Content-Length or
                          chunked in S-byte chunks (default 16384)
  /upload-sha256          streams the body, replies "LENGTH SHA256HEX";
                          headers X-Got-Length, X-Got-Chunked: 0|1 and, for
                          chunked, X-Got-Trailers: "Name=value; Name2=value2"
  /echo-head              200, body = the raw request head bytes as received
  /keepalive-drop         200 "ok" (keep-alive announced), then closes at once
  /drop-idle-after?ms=N   from now on every connection is closed when it has
                          been idle N ms after a response (ms=0: close right
                          after each response); no ms / ms<0: mode off.
                          /stats/reset also turns it off.
  /status/NNN             that status, empty body; 204/304/1xx carry no body;
                          304 carries Content-Length: 5 (would-be body)
  /head-cl                HEAD: Content-Length: 1000, no body; GET: 1000 bytes
  anything else           404
"""

import argparse
import hashlib
import json
import os
import select
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus

MAX_HEAD = 1 << 20
IDLE_TIMEOUT = 300.0          # socket timeout: bounds every blocking call
STALL_MAX = 60.0

# ---------------------------------------------------------------- pattern
_PAT_UNIT = bytes(range(251))
_PAT_BLOCK = _PAT_UNIT * 262            # 65762 bytes, a multiple of 251


def pattern(offset, n):
    """n bytes of the i % 251 pattern starting at absolute offset."""
    out = []
    while n > 0:
        start = offset % 251
        take = min(n, len(_PAT_BLOCK) - start)
        out.append(_PAT_BLOCK[start:start + take])
        offset += take
        n -= take
    return b"".join(out)


# ---------------------------------------------------------------- state
class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.conn_seq = 0
        self.accepted = 0
        self.open = 0
        self.requests = 0
        self.drop_idle_ms = None
        self.drip = {"seq": 0, "n": 0, "sent": 0, "done": True}


STATE = State()
CONTROL_PATHS = ("/stats", "/stats/reset", "/drip-status", "/drop-idle-after")


class PeerClosed(Exception):
    pass


class BadRequest(Exception):
    pass


# ---------------------------------------------------------------- reader
class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise PeerClosed()
        self.buf += data

    def readable(self, timeout):
        """True if bytes are buffered or the socket becomes readable."""
        if self.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def read_head(self):
        """Raw head bytes (up to and including the blank line), or None on a
        clean EOF before any byte of a new request."""
        # tolerate empty lines before a request line (RFC 9112 2.2)
        while True:
            while self.buf[:2] == b"\r\n" or self.buf[:1] == b"\n":
                del self.buf[:2 if self.buf[:2] == b"\r\n" else 1]
            if self.buf:
                break
            try:
                self._fill()
            except PeerClosed:
                return None
        scan = 0
        while True:
            i = self.buf.find(b"\r\n\r\n", max(0, scan - 3))
            if i >= 0:
                end = i + 4
                break
            j = self.buf.find(b"\n\n", max(0, scan - 1))
            if j >= 0:
                end = j + 2
                break
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("head too large")
            scan = len(self.buf)
            self._fill()
        head = bytes(self.buf[:end])
        del self.buf[:end]
        return head

    def readline(self, limit=65536):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise BadRequest("line too long")
            self._fill()

    def read_some(self, n):
        if not self.buf:
            self._fill()
        take = bytes(self.buf[:n])
        del self.buf[:len(take)]
        return take


# ---------------------------------------------------------------- request
class Request:
    def __init__(self, raw):
        self.raw = raw
        text = raw.decode("latin-1")
        lines = text.replace("\r\n", "\n").split("\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise BadRequest("bad request line")
        self.method, self.target, self.version = parts
        self.headers = []
        for line in lines[1:]:
            if not line:
                continue
            if ":" not in line:
                raise BadRequest("bad header line")
            k, v = line.split(":", 1)
            self.headers.append((k.strip(), v.strip()))
        u = urllib.parse.urlsplit(self.target)
        self.path = u.path
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
        self.trailers = []
        self.body_done = False
        self.continue_sent = False
        te = self.get("transfer-encoding")
        self.chunked = bool(te) and te.split(",")[-1].strip().lower() == "chunked"
        cl = self.get("content-length")
        self.length = None
        if not self.chunked and cl is not None:
            try:
                self.length = int(cl)
            except ValueError:
                raise BadRequest("bad content-length")
        conn = (self.get("connection") or "").lower()
        if self.version == "HTTP/1.0":
            self.keep_alive = "keep-alive" in conn
        else:
            self.keep_alive = "close" not in conn

    def get(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def qint(self, name, default):
        try:
            return int(self.query.get(name, default))
        except ValueError:
            return default


# ---------------------------------------------------------------- handler
def reason(code):
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Status"


class Handler(socketserver.BaseRequestHandler):

    # -- plumbing -------------------------------------------------------
    def send(self, data):
        self.request.sendall(data)

    def respond(self, req, code, body=b"", headers=(), length=True,
                keep=True):
        """Full response with Content-Length (unless length=False)."""
        if isinstance(body, str):
            body = body.encode()
        h = ["HTTP/1.1 %d %s" % (code, reason(code))]
        h += ["%s: %s" % kv for kv in headers]
        no_body = code in (204, 304) or code < 200
        if length and not no_body:
            h.append("Content-Length: %d" % len(body))
        if not keep or not req.keep_alive:
            h.append("Connection: close")
        elif req.version == "HTTP/1.0":
            h.append("Connection: keep-alive")
        data = ("\r\n".join(h) + "\r\n\r\n").encode("latin-1")
        if req.method != "HEAD" and not no_body:
            data += body
        self.send(data)
        return keep and req.keep_alive

    def send_continue(self, req):
        if not req.continue_sent:
            req.continue_sent = True
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def body(self, req):
        """Generator over the request body pieces (streamed)."""
        if req.body_done:
            return
        if (req.get("expect") or "").lower() == "100-continue":
            self.send_continue(req)
        rd = self.reader
        if req.chunked:
            while True:
                line = rd.readline().decode("latin-1").strip()
                size_s = line.split(";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise BadRequest("bad chunk size")
                if size == 0:
                    break
                left = size
                while left:
                    piece = rd.read_some(min(left, 65536))
                    left -= len(piece)
                    yield piece
                if rd.readline() not in (b"\r\n", b"\n"):
                    raise BadRequest("bad chunk end")
            while True:
                line = rd.readline().decode("latin-1").rstrip("\r\n")
                if not line:
                    break
                k, _, v = line.partition(":")
                req.trailers.append((k.strip(), v.strip()))
        elif req.length:
            left = req.length
            while left:
                piece = rd.read_some(min(left, 65536))
                left -= len(piece)
                yield piece
        req.body_done = True

    def drain(self, req):
        n = 0
        for piece in self.body(req):
            n += len(piece)
        return n

    def linger_close(self, timeout=2.0):
        """Half-close, then read until EOF (bounded) so unread client bytes
        do not turn our FIN into a RST that could eat the response."""
        s = self.request
        try:
            s.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([s], [], [], left)
                if not r or not s.recv(65536):
                    break
        except OSError:
            pass

    def stall(self, seconds):
        """Wait until the client closes, bounded; discard what it sends."""
        s = self.request
        deadline = time.monotonic() + min(max(seconds, 0), STALL_MAX)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                r, _, _ = select.select([s], [], [], left)
                if r and not s.recv(65536):
                    return
        except OSError:
            return

    # -- connection loop ------------------------------------------------
    def setup(self):
        s = self.request
        s.settimeout(IDLE_TIMEOUT)
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with STATE.lock:
            STATE.conn_seq += 1
            self.conn_id = STATE.conn_seq
            STATE.accepted += 1
            STATE.open += 1
        self.counted = True
        self.nreq = 0
        self.reader = Reader(s)

    def finish(self):
        with STATE.lock:
            if self.counted:
                STATE.open -= 1
                self.counted = False
            STATE.lock.notify_all()

    def uncount(self):
        with STATE.lock:
            if self.counted:
                STATE.accepted -= 1
                STATE.open -= 1
                self.counted = False
            STATE.lock.notify_all()

    def handle(self):
        try:
            while True:
                if self.nreq > 0:
                    with STATE.lock:
                        drop = STATE.drop_idle_ms
                    if drop is not None and not self.reader.readable(drop / 1000.0):
                        return
                try:
                    raw = self.reader.read_head()
                    if raw is None:
                        return
                    req = Request(raw)
                except BadRequest as e:
                    self.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
                    self.linger_close()
                    return
                self.nreq += 1
                if self.nreq == 1 and req.path in CONTROL_PATHS:
                    self.uncount()
                else:
                    with STATE.lock:
                        STATE.requests += 1
                try:
                    keep = self.dispatch(req)
                except BadRequest:
                    self.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
                    self.linger_close()
                    return
                if not keep:
                    return
                if not req.body_done:       # endpoint did not consume it
                    self.drain(req)
        except (PeerClosed, OSError, socket.timeout):
            return

    # -- endpoints ------------------------------------------------------
    def dispatch(self, req):
        p = req.path
        fn = ROUTES.get(p)
        if fn is not None:
            return fn(self, req)
        if p.startswith("/status/"):
            return self.ep_status(req)
        self.drain(req)
        return self.respond(req, 404, "not found\n",
                            [("Content-Type", "text/plain")])

    def ep_hello(self, req):
        self.drain(req)
        return self.respond(req, 200, "hello", [("Content-Type", "text/plain")])

    def ep_conn_id(self, req):
        self.drain(req)
        return self.respond(req, 200, str(self.conn_id),
                            [("Content-Type", "text/plain"),
                             ("X-Requests-On-Conn", str(self.nreq))])

    def _stats_json(self):
        return json.dumps({"accepted": STATE.accepted, "open": STATE.open,
                           "requests": STATE.requests,
                           "drop_idle_ms": STATE.drop_idle_ms})

    def ep_stats(self, req):
        self.drain(req)
        want = req.query.get("wait_open")
        with STATE.lock:
            if want is not None:
                k = int(want)
                deadline = time.monotonic() + req.qint("timeout_ms", 5000) / 1000.0
                while STATE.open > k:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    STATE.lock.wait(left)
            body = self._stats_json()
        return self.respond(req, 200, body, [("Content-Type", "application/json")])

    def ep_stats_reset(self, req):
        self.drain(req)
        with STATE.lock:
            STATE.accepted = 0
            STATE.requests = 0
            STATE.drop_idle_ms = None
            body = self._stats_json()
        return self.respond(req, 200, body, [("Content-Type", "application/json")])

    def ep_drop_idle_after(self, req):
        self.drain(req)
        ms = req.qint("ms", -1)
        with STATE.lock:
            STATE.drop_idle_ms = ms if ms >= 0 else None
            body = self._stats_json()
        return self.respond(req, 200, body, [("Content-Type", "application/json")])

    def ep_chunked(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        if req.method != "HEAD":
            self.send(b"5\r\nhello\r\n")
            self.send(b"1;ext=val\r\n \r\n")
            self.send(b"5\r\nworld\r\n0\r\n\r\n")
        return req.keep_alive

    def ep_trailers(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Trailer: X-Checksum, X-Trailer-Two\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        if req.method != "HEAD":
            self.send(b"6\r\nhello \r\n5\r\nworld\r\n"
                      b"0\r\nX-Checksum: abc\r\nX-Trailer-Two: 2\r\n\r\n")
        return req.keep_alive

    def ep_continue(self, req):
        self.send_continue(req)
        n = self.drain(req)
        return self.respond(req, 200, str(n), [("Content-Type", "text/plain")])

    def ep_early_hints(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 103 Early Hints\r\n"
                  b"Link: </style.css>; rel=preload; as=style\r\n\r\n")
        return self.respond(req, 200, "final", [("Content-Type", "text/plain")])

    def ep_close_delimited(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        if req.method != "HEAD":
            self.send(b"until close")
        self.linger_close()
        return False

    def ep_http10(self, req):
        self.drain(req)
        self.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: 6\r\n\r\n" +
                  (b"" if req.method == "HEAD" else b"one-oh"))
        self.linger_close()
        return False

    def ep_truncated(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        self.linger_close()
        return False

    def ep_truncated_chunked(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n")
        self.linger_close()
        return False

    def ep_bad_status(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 abc\r\n\r\n")
        self.linger_close()
        return False

    def ep_garbage(self, req):
        self.drain(req)
        self.send(b"\x00\xff\xfe garbage \x01\x02\x03 not http at all\r\n" +
                  bytes((i * 37 + 11) % 256 for i in range(200)) + b"\r\n\r\n")
        self.linger_close()
        return False

    def ep_bad_chunk(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"zz\r\nhello\r\n0\r\n\r\n")
        self.linger_close()
        return False

    def ep_huge_head(self, req):
        self.drain(req)
        n = req.qint("n", 200000)
        h = [b"HTTP/1.1 200 OK", b"Content-Length: 0"]
        size = sum(len(x) + 2 for x in h) + 2
        if req.query.get("single") == "1":
            h.append(b"X-Big: " + b"b" * max(1, n - size - 9))
        else:
            i = 0
            while size < n:
                name = b"X-Pad-%06d: " % i
                val = b"p" * max(1, min(1000, n - size - len(name) - 2))
                h.append(name + val)
                size += len(name) + len(val) + 2
                i += 1
        self.send(b"\r\n".join(h) + b"\r\n\r\n")
        self.linger_close()
        return False

    def ep_stall_head(self, req):
        self.drain(req)
        self.stall(req.qint("s", int(STALL_MAX)))
        return False

    def ep_stall_body(self, req):
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + pattern(0, 10))
        self.stall(req.qint("s", int(STALL_MAX)))
        return False

    def ep_early_close(self, req):
        # a complete 200 at once, then read a little of the body and close
        # (the client is still uploading: it must get EPIPE, not SIGPIPE)
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        try:
            self.request.recv(65536)
        except OSError:
            pass
        time.sleep(0.1)
        return False

    def ep_early_stall(self, req):
        # answers at once (chunked, never ends) and never reads the body
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n")
        self.stall(req.qint("s", int(STALL_MAX)))
        return False

    def ep_no_read(self, req):
        # reads the request head, then neither reads the body nor answers
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.stall(req.qint("s", int(STALL_MAX)))
        return False

    def ep_reject(self, req):
        # 413 at once, body unread, then close
        self.send(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n"
                  b"Connection: close\r\n\r\nbig!")
        time.sleep(0.2)
        return False

    def ep_drip3(self, req):
        # 10 bytes, 10 more at 0.1 s, the last 80 at 0.3 s
        self.drain(req)
        self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        time.sleep(0.1)
        self.send(b"a" * 10)
        time.sleep(0.2)
        self.send(b"b" * 80)
        return req.keep_alive

    def ep_slow_body(self, req):
        self.drain(req)
        chunks = req.qint("chunks", 5)
        delay = req.qint("delay_ms", 100) / 1000.0
        size = req.qint("size", 10)
        chunked = req.query.get("chunked") == "1"
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        head += ("Transfer-Encoding: chunked\r\n" if chunked
                 else "Content-Length: %d\r\n" % (chunks * size))
        self.send((head + "\r\n").encode())
        if req.method == "HEAD":
            return req.keep_alive
        off = 0
        for _ in range(chunks):
            time.sleep(delay)
            data = pattern(off, size)
            off += size
            if chunked:
                data = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
            self.send(data)
        if chunked:
            self.send(b"0\r\n\r\n")
        return req.keep_alive

    def ep_drip(self, req):
        self.drain(req)
        n = req.qint("n", 64 << 20)
        sndbuf = req.qint("sndbuf", 65536)
        s = self.request
        if sndbuf > 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        with STATE.lock:
            seq = STATE.drip["seq"] + 1
            st = {"seq": seq, "n": n, "sent": 0, "done": False}
            STATE.drip = st
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\n\r\n" % n)
        if req.method == "HEAD":
            st["done"] = True
            return req.keep_alive
        off = 0
        try:
            while off < n:
                data = memoryview(pattern(off, min(16384, n - off)))
                while data:
                    k = s.send(data)
                    data = data[k:]
                    off += k
                    st["sent"] = off
        finally:
            st["done"] = True
        return req.keep_alive

    def ep_drip_status(self, req):
        self.drain(req)
        with STATE.lock:
            body = json.dumps(STATE.drip)
        return self.respond(req, 200, body, [("Content-Type", "application/json")])

    def ep_bytes(self, req):
        self.drain(req)
        n = req.qint("n", 1024)
        if req.query.get("chunked") != "1":
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: %d\r\n\r\n" % n)
            if req.method == "HEAD":
                return req.keep_alive
            off = 0
            while off < n:
                k = min(65536, n - off)
                self.send(pattern(off, k))
                off += k
            return req.keep_alive
        chunk = max(1, req.qint("chunk", 16384))
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        if req.method == "HEAD":
            return req.keep_alive
        off = 0
        while off < n:
            k = min(chunk, n - off)
            self.send(b"%x\r\n%s\r\n" % (k, pattern(off, k)))
            off += k
        self.send(b"0\r\n\r\n")
        return req.keep_alive

    def ep_upload_sha256(self, req):
        h = hashlib.sha256()
        n = 0
        for piece in self.body(req):
            h.update(piece)
            n += len(piece)
        hdrs = [("Content-Type", "text/plain"), ("X-Got-Length", str(n)),
                ("X-Got-Chunked", "1" if req.chunked else "0")]
        if req.chunked:
            hdrs.append(("X-Got-Trailers",
                         "; ".join("%s=%s" % kv for kv in req.trailers)))
        return self.respond(req, 200, "%d %s" % (n, h.hexdigest()), hdrs)

    def ep_echo_head(self, req):
        self.drain(req)
        return self.respond(req, 200, req.raw,
                            [("Content-Type", "application/octet-stream")])

    def ep_keepalive_drop(self, req):
        self.drain(req)
        self.respond(req, 200, "ok", [("Content-Type", "text/plain")])
        return False                       # close right away, no linger

    def ep_status(self, req):
        self.drain(req)
        try:
            code = int(req.path[len("/status/"):])
        except ValueError:
            return self.respond(req, 404, "not found\n")
        if not 100 <= code <= 999:
            return self.respond(req, 404, "not found\n")
        if code == 304:
            self.send(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n"
                      b"ETag: \"x\"\r\n" +
                      (b"" if req.keep_alive else b"Connection: close\r\n") +
                      b"\r\n")
            return req.keep_alive
        return self.respond(req, code, b"")

    def ep_head_cl(self, req):
        self.drain(req)
        if req.method == "HEAD":
            self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            return req.keep_alive
        return self.respond(req, 200, pattern(0, 1000))


ROUTES = {
    "/hello": Handler.ep_hello,
    "/conn-id": Handler.ep_conn_id,
    "/stats": Handler.ep_stats,
    "/stats/reset": Handler.ep_stats_reset,
    "/drop-idle-after": Handler.ep_drop_idle_after,
    "/chunked": Handler.ep_chunked,
    "/trailers": Handler.ep_trailers,
    "/continue": Handler.ep_continue,
    "/early-hints": Handler.ep_early_hints,
    "/close-delimited": Handler.ep_close_delimited,
    "/http10": Handler.ep_http10,
    "/truncated": Handler.ep_truncated,
    "/truncated-chunked": Handler.ep_truncated_chunked,
    "/bad-status": Handler.ep_bad_status,
    "/garbage": Handler.ep_garbage,
    "/bad-chunk": Handler.ep_bad_chunk,
    "/huge-head": Handler.ep_huge_head,
    "/stall-head": Handler.ep_stall_head,
    "/stall-body": Handler.ep_stall_body,
    "/early-close": Handler.ep_early_close,
    "/reject": Handler.ep_reject,
    "/no-read": Handler.ep_no_read,
    "/early-stall": Handler.ep_early_stall,
    "/drip3": Handler.ep_drip3,
    "/slow-body": Handler.ep_slow_body,
    "/drip": Handler.ep_drip,
    "/drip-status": Handler.ep_drip_status,
    "/bytes": Handler.ep_bytes,
    "/upload-sha256": Handler.ep_upload_sha256,
    "/echo-head": Handler.ep_echo_head,
    "/keepalive-drop": Handler.ep_keepalive_drop,
    "/head-cl": Handler.ep_head_cl,
}


# ------------------------------------------------ issue 9 (spec/regress/009)
# Endpoints of spec/regress/009-defects_spec.lua, kept apart from the rest.
import struct  # noqa: E402 (SO_LINGER)

def i9_bws_chunk(self, req):
    """Chunk-size lines with the optional whitespace RFC 9112 7.1.1
    allows; ?form=N picks one (0..4). Body: "hello world"."""
    self.drain(req)
    forms = [b"5 ;a=b", b"5; a=b", b"5;a = b", b"5\t;a=b",
             b"5 ; a = \"x y\" ; c"]
    f = forms[req.qint("form", 0) % len(forms)]
    self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
              f + b"\r\nhello\r\n6 ; last\r\n world\r\n0 ;end=1\r\n\r\n")
    return req.keep_alive


def i9_bad_chunk_ws(self, req):
    """Whitespace inside the chunk size: must stay an error."""
    self.drain(req)
    self.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"1 0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n")
    return False


def i9_many_100(self, req):
    """?n=N interim 100 Continue heads, then a 200."""
    self.drain(req)
    n = req.qint("n", 10)
    piece = b"HTTP/1.1 100 Continue\r\n\r\n" * 1000
    while n > 0:
        k = min(n, 1000)
        self.send(piece[:k * 25])
        n -= k
    return self.respond(req, 200, "after interims")


def i9_unexpected_101(self, req):
    self.drain(req)
    self.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n"
              b"Connection: upgrade\r\n\r\n")
    self.stall(2)
    return False


def i9_two_cl(self, req):
    self.drain(req)
    self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
              b"Content-Length: 5\r\n\r\nhello")
    return False


def i9_early_close(self, req):
    """A complete 200 with Connection: close before the body was read,
    then reads what comes for up to 2 s (or until the client closes)."""
    self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
              b"Connection: close\r\n\r\nearly")
    self.stall(2)
    return False


def i9_early_reset(self, req):
    """A complete 200 (keep-alive) at once, reads ~64 KiB, then resets."""
    self.request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
    got = 0
    try:
        while got < 65536:
            b = self.request.recv(65536)
            if not b:
                break
            got += len(b)
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
    except OSError:
        pass
    return False


ROUTES.update({
    "/i9/bws-chunk": i9_bws_chunk,
    "/i9/bad-chunk-ws": i9_bad_chunk_ws,
    "/i9/many-100": i9_many_100,
    "/i9/unexpected-101": i9_unexpected_101,
    "/i9/two-cl": i9_two_cl,
    "/i9/early-close": i9_early_close,
    "/i9/early-reset": i9_early_reset,
})


# ---------------------------------------------------------------- servers
class Server4(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, PeerClosed)):
            return
        super().handle_error(request, client_address)


class Server6(Server4):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()


def main():
    ap = argparse.ArgumentParser(description="raw HTTP/1.1 test peer")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-file")
    ap.add_argument("--no-ipv6", action="store_true")
    a = ap.parse_args()

    servers = [Server4((a.host, a.port), Handler)]
    port = servers[0].server_address[1]
    if not a.no_ipv6 and socket.has_ipv6:
        try:
            servers.append(Server6(("::1", port), Handler))
        except OSError:
            pass
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\nipv6=%d\n" % (port, 1 if len(servers) > 1 else 0))
        os.rename(tmp, a.ready_file)
    sys.stderr.write("raw_peer: listening on %s:%d%s\n"
                     % (a.host, port, " and [::1]" if len(servers) > 1 else ""))
    sys.stderr.flush()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
