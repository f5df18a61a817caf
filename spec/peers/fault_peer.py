#!/usr/bin/python3
"""A fault-injecting loopback proxy for the reliability specs and the soak.

    fault_peer.py PORTFILE

Listens on two ports on 127.0.0.1 and writes "PROXY_PORT CTL_PORT" to
PORTFILE once both are open. Exits when its stdin closes (so it never
outlives the spec that started it) or on SIGTERM.

PROXY_PORT: each accepted connection takes a snapshot of the current mode:
  forward  connect to 127.0.0.1:target and relay both ways, but after `cut`
           bytes of the server's answer (-1: never) do `how`:
             fin    close our side towards the client (FIN) and the server's
             rst    reset the client connection (SO_LINGER 0, close)
             stall  stop relaying; close when the client does (or after 60 s)
           A connection is closed after 60 s without a byte either way (a
           busy kept-alive connection is never cut by that)
  canned   answer each request head with the next of the canned responses
           (counted across connections; the last one repeats): framing tests
CTL_PORT (HTTP/1.0, one request per connection):
  /set?target=P&cut=N&how=fin|rst|stall[&times=K]   forward mode; with
                          times, only the next K connections are cut (the
                          later ones are relayed whole): reconnections
  /canned?name=NAME                       canned mode (see CANNED)
  /freeze?how=stall|rst|kill   every connection open now stops relaying
                          (new ones do not): stall drops what either side
                          sends (a peer gone silent); rst resets the
                          client's connection when it next sends
                          something; kill resets it now (within 1 s).
                          What the client sent before it asked for the
                          freeze (bytes already waiting in our socket) is
                          still relayed as before: "next" is exact.
  /stats   {"conns": accepted, "open": still open, "pings": HTTP/2 PINGs
           (not ACKs) the clients sent on h2c connections, "down": bytes
           of the servers relayed to the clients}
  /reset   zero the counters, mode forward with no cut (a frozen
           connection stays frozen)
"""
import fcntl
import json
import os
import select
import socket
import struct
import sys
import termios
import threading
import time
import urllib.parse

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
CANNED = {
    # RFC 9112 6.3: a message with both is a smuggling attempt; what the TE
    # framing hides here is a whole second response
    "cl-te": [b"HTTP/1.1 200 OK\r\nContent-Length: 45\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED, OK],
    "te-cl": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
              b"Content-Length: 0\r\n\r\n0\r\n\r\n" + SMUGGLED, OK],
    "dup-cl": [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 45"
               b"\r\n\r\n" + SMUGGLED, OK],
    "cl-list": [b"HTTP/1.1 200 OK\r\nContent-Length: 0, 45\r\n\r\n" + SMUGGLED, OK],
    "te-not-chunked": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                       b"Connection: keep-alive\r\n\r\n" + SMUGGLED, OK],
    "ok": [OK],
}

lock = threading.Lock()
mode = {"kind": "forward", "target": 0, "cut": -1, "how": "fin", "name": "ok",
        "served": 0, "times": -1}
stats = {"conns": 0, "open": 0, "pings": 0, "down": 0}
frozen = {"upto": 0, "how": "stall", "seq": 0}  # ids <= upto are frozen
open_socks = {}  # id -> client socket, of the connections open now
backlog = {}  # id -> bytes the client sent before its connection froze
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2Frames:
    """Counts the PINGs in the client's bytes of a prior-knowledge h2c
    connection (anything else is not looked at)."""

    def __init__(self):
        self.buf, self.h2 = b"", None

    def feed(self, d):
        if self.h2 is False:
            return
        self.buf += d
        if self.h2 is None:
            if len(self.buf) < len(PREFACE):
                return
            self.h2 = self.buf.startswith(PREFACE)
            self.buf = self.buf[len(PREFACE):]
        while self.h2 and len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                break
            if self.buf[3] == 6 and not self.buf[4] & 1:
                with lock:
                    stats["pings"] += 1
            self.buf = self.buf[9 + n:]


def read_head(sock, buf):
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            return None, buf
        buf += d
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def serve_canned(c, name):
    answers = CANNED.get(name, [OK])
    buf = b""
    while True:
        head, buf = read_head(c, buf)
        if head is None:
            return
        with lock:
            k = mode["served"]
            mode["served"] += 1
        c.sendall(answers[min(k, len(answers) - 1)])


def inq(c):
    """Bytes waiting in c's receive buffer (0 once it is closed)."""
    try:
        b = fcntl.ioctl(c.fileno(), termios.FIONREAD, struct.pack("i", 0))
        return struct.unpack("i", b)[0]
    except (OSError, ValueError):
        return 0


def rst(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def serve_forward(c, m):
    u = socket.create_connection(("127.0.0.1", m["target"]))
    frames = H2Frames()
    try:
        cut, sent, stalled = m["cut"], 0, False
        deadline = time.monotonic() + 60
        socks = [c, u]
        while time.monotonic() < deadline:
            r, _, _ = select.select(socks, [], [], 1.0)
            if r and not stalled:
                deadline = time.monotonic() + 60
            d = None
            with lock:  # the freeze check and the read, as one step
                freeze = frozen["how"] if m["id"] <= frozen["upto"] else None
                if c in r and freeze != "kill":
                    early = backlog.get(m["id"], 0)
                    d = c.recv(early or 65536)
                    if early:  # sent before the freeze: relayed as before
                        backlog[m["id"]] = early - len(d)
                        freeze = None
            if freeze == "kill":
                rst(c)
                return
            if freeze:
                stalled = True
                socks = [c]
            if d is not None:
                if not d:
                    return
                frames.feed(d)
                if freeze == "rst":
                    rst(c)
                    return
                if not stalled:
                    u.sendall(d)
            if u in r and not stalled:
                d = u.recv(65536)
                if not d:
                    c.shutdown(socket.SHUT_WR)
                    socks = [c]
                    continue
                if cut >= 0 and sent + len(d) >= cut:
                    c.sendall(d[:cut - sent])
                    sent = cut
                    if m["how"] == "rst":
                        rst(c)
                        return
                    if m["how"] == "fin":
                        c.shutdown(socket.SHUT_WR)
                        u.close()
                        socks = [c]
                        stalled = True  # read the client until it closes
                        continue
                    stalled = True
                    socks = [c]
                    continue
                c.sendall(d)
                sent += len(d)
                with lock:
                    stats["down"] += len(d)
    finally:
        u.close()


def handle(c):
    with lock:
        m = dict(mode)
        if mode["times"] == 0:
            m["cut"] = -1
        elif mode["times"] > 0:
            mode["times"] -= 1
        stats["conns"] += 1
        stats["open"] += 1
        frozen["seq"] += 1
        m["id"] = frozen["seq"]
        open_socks[m["id"]] = c
    try:
        if m["kind"] == "canned":
            serve_canned(c, m["name"])
        else:
            serve_forward(c, m)
    except OSError:
        pass
    finally:
        with lock:
            stats["open"] -= 1
            open_socks.pop(m["id"], None)
            backlog.pop(m["id"], None)
        c.close()


def control(c):
    try:
        head, _ = read_head(c, b"")
        path = head.split(b" ")[1].decode() if head else "/"
        u = urllib.parse.urlparse(path)
        q = dict(urllib.parse.parse_qsl(u.query))
        with lock:
            if u.path == "/set":
                mode.update(kind="forward", target=int(q["target"]),
                            cut=int(q.get("cut", -1)), how=q.get("how", "fin"),
                            times=int(q.get("times", -1)))
            elif u.path == "/canned":
                mode.update(kind="canned", name=q["name"], served=0)
            elif u.path == "/freeze":
                # the client sent its bytes before this request: those
                # already in a socket are not yet "next" (see /freeze)
                for i, s in open_socks.items():
                    if i > frozen["upto"]:
                        backlog[i] = inq(s)
                frozen.update(upto=frozen["seq"], how=q.get("how", "stall"))
            elif u.path == "/reset":
                stats.update(conns=0, pings=0, down=0)
                mode.update(kind="forward", cut=-1, times=-1)
            body = json.dumps(stats).encode()
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
    except (OSError, KeyError, ValueError, IndexError):
        pass
    finally:
        c.close()


def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


def accept_loop(s, fn):
    while True:
        c, _ = s.accept()
        threading.Thread(target=fn, args=(c,), daemon=True).start()


def main():
    px, ctl = listen(), listen()
    for s, fn in ((px, handle), (ctl, control)):
        threading.Thread(target=accept_loop, args=(s, fn), daemon=True).start()
    tmp = sys.argv[1] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (px.getsockname()[1], ctl.getsockname()[1]))
    os.rename(tmp, sys.argv[1])
    sys.stdin.read()  # the spec holds our stdin: EOF means it is gone


if __name__ == "__main__":
    main()
