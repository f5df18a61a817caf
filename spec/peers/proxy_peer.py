#!/usr/bin/env python3
"""A scripted proxy for the failure cases real proxies will not produce.

    python3 spec/peers/proxy_peer.py READY_FILE

Listens on 127.0.0.1, one free port per behaviour, and writes one line per
behaviour to READY_FILE: "name port". Behaviours:
  connect502    answers a CONNECT with 502 Bad Gateway
  connectclose  reads the CONNECT and closes without answering
  connectearly  answers 200 and, in the same write, an h2c origin's
                SETTINGS; then answers stream 1 with :status 200
  socksreply    SOCKS5, no auth; answers the request with reply code
                (destination port) for ports 1..8, else succeeds and serves
                a response as the origin
  socksclose    reads the greeting and closes
  socksearly    SOCKS5 success and, in the same write, the origin's response
  garbage       answers anything with bytes that are not HTTP nor SOCKS
Runs until killed.
"""
import socket
import struct
import sys
import threading

RESP = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
        b"early")


def read_head(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return None
        buf += d
    return buf


def read_n(c, n):
    buf = b""
    while len(buf) < n:
        d = c.recv(n - len(buf))
        if not d:
            return None
        buf += d
    return buf


def socks_request(c):
    """Greeting and request: the destination port, or None."""
    g = read_n(c, 2)
    if g is None or read_n(c, g[1]) is None:
        return None
    c.sendall(b"\x05\x00")
    h = read_n(c, 4)
    if h is None:
        return None
    if h[3] == 1:
        read_n(c, 4)
    elif h[3] == 4:
        read_n(c, 16)
    else:
        read_n(c, read_n(c, 1)[0])
    return struct.unpack("!H", read_n(c, 2))[0]


def serve(name, c):
    try:
        if name == "connect502":
            read_head(c)
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad")
        elif name == "connectclose":
            read_head(c)
        elif name == "connectearly":
            # an HTTP/2 origin (h2c) whose SETTINGS come in the same write
            # as the proxy's 200; it then answers stream 1 with :status 200
            read_head(c)
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n" +
                      b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            if read_n(c, 24) is None:
                return
            while True:
                h = read_n(c, 9)
                if h is None:
                    return
                n = int.from_bytes(h[0:3], "big")
                if n and read_n(c, n) is None:
                    return
                if h[3] == 4 and not h[4] & 1:
                    c.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
                if h[3] == 1:
                    c.sendall(b"\x00\x00\x01\x01\x05\x00\x00\x00\x01\x88")
                    read_n(c, 1)
                    return
        elif name == "socksreply":
            port = socks_request(c)
            if port is None:
                return
            code = port if 1 <= port <= 8 else 0
            c.sendall(bytes([5, code, 0, 1, 127, 0, 0, 1, 0, 80]))
            if code == 0:
                read_head(c)
                c.sendall(RESP)
        elif name == "socksclose":
            read_n(c, 3)
        elif name == "socksearly":
            if socks_request(c) is None:
                return
            c.sendall(bytes([5, 0, 0, 1, 127, 0, 0, 1, 0, 80]) + RESP)
            read_head(c)
        elif name == "garbage":
            c.recv(4096)
            c.sendall(b"\x07\x07\x07 not a proxy\r\n\r\n")
    except OSError:
        pass
    finally:
        c.close()


def listen(name, s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(name, c), daemon=True).start()


def main():
    names = ["connect502", "connectclose", "connectearly", "socksreply",
             "socksclose", "socksearly", "garbage"]
    lines = []
    for n in names:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        lines.append("%s %d" % (n, s.getsockname()[1]))
        threading.Thread(target=listen, args=(n, s), daemon=True).start()
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    threading.Event().wait()


if __name__ == "__main__":
    main()
