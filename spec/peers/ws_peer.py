#!/usr/bin/python3
"""WebSocket test peers for spec/ws_spec.lua, on 127.0.0.1 (free ports).

    ws_peer.py --ready-file F --certs DIR [--parent PID]

Writes three lines to F once listening: the port of the python3-websockets
server (plain), the same server over TLS (DIR/server.pem), and the port of
a scripted raw peer that breaks the protocol on purpose.

The websockets server (permessage-deflate on, subprotocols chat/superchat):
  /echo              echoes every message
  /close?code=C&reason=R   closes at once with that code and reason
  /push?n=N&size=S   sends N binary messages of S bytes, then echoes
  /pushed            sends how many /push messages were sent so far
  /refuse            is refused: 403 with a short body
  /headers           sends back the request's X-Test header as a message

The raw peer answers the handshake itself (GET /PATH) and then:
  /masked /badutf8 /opcode /bigping /rsv /badclose /bomb /fragctl
                     one violation each (see SCRIPTS)
  /badaccept /badproto /badext   a 101 that must be refused by the client
  /silent            a correct 101, then reads and drops everything
  /stall             never answers the handshake
  /early             a 101 and a text frame "early" in the same write
  /noclose           a correct 101, one message, then the TCP close
"""
import argparse
import asyncio
import base64
import hashlib
import http
import os
import ssl
import struct
import sys
import urllib.parse
import zlib

import websockets

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PUSHED = [0]  # messages /push has handed to the socket, over all clients


# -------------------------------------------------------------- websockets

async def handler(ws, path):
    u = urllib.parse.urlsplit(path)
    q = dict(urllib.parse.parse_qsl(u.query))
    if u.path == "/close":
        await ws.close(int(q.get("code", "1000")), q.get("reason", ""))
        return
    if u.path == "/push":
        for _ in range(int(q.get("n", "10"))):
            await ws.send(b"p" * int(q.get("size", "1000")))
            PUSHED[0] += 1
    if u.path == "/pushed":
        await ws.send(str(PUSHED[0]))
    if u.path == "/headers":
        await ws.send(ws.request_headers.get("X-Test", ""))
    try:
        async for m in ws:
            await ws.send(m)
    except websockets.ConnectionClosed:
        pass


async def process_request(path, headers):
    if path.startswith("/refuse"):
        return (http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")],
                b"go away\n")
    return None


# -------------------------------------------------------------- raw peer

def frame(opcode, payload, fin=True, rsv=0, mask=False):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if mask:
        key = b"\x01\x02\x03\x04"
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        head += key
    return head + payload


def deflated(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]  # RFC 7692 7.2.1: drop the 00 00 ff ff tail


SCRIPTS = {
    "/masked": lambda: frame(1, b"hi", mask=True),
    # U+00CE... cut: 0xCE then 0xFF in the continuation: invalid, split
    "/badutf8": lambda: frame(1, b"ok\xce", fin=False) + frame(0, b"\xff"),
    "/opcode": lambda: frame(3, b"x"),
    "/bigping": lambda: frame(9, b"p" * 126),
    "/rsv": lambda: frame(1, b"x", rsv=0x20),
    "/badclose": lambda: frame(8, struct.pack("!H", 1005)),
    "/fragctl": lambda: frame(9, b"x", fin=False),
    # 64 MiB of zeros, about 64 KiB compressed: refused above max_message
    "/bomb": lambda: frame(2, deflated(b"\0" * (64 << 20)), rsv=0x40),
    "/early": lambda: frame(1, b"early"),
}


async def raw_client(reader, writer):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    except Exception:
        writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    if path == "/stall":  # never answers the handshake
        try:
            await asyncio.wait_for(reader.read(), 30)
        except Exception:
            pass
        writer.close()
        return
    fields = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            fields[k.strip().lower()] = v.strip()
    key = fields.get("sec-websocket-key", "").encode()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    extra = ""
    if path == "/badaccept":
        accept = base64.b64encode(b"x" * 20).decode()
    elif path == "/badproto":
        extra = "Sec-WebSocket-Protocol: nope\r\n"
    elif path == "/badext":
        extra = "Sec-WebSocket-Extensions: x-foo\r\n"
    elif path == "/bomb":
        extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n"
            % (accept, extra)).encode()
    if path in SCRIPTS:
        resp += SCRIPTS[path]()
    elif path == "/noclose":
        resp += frame(1, b"bye")
    try:
        writer.write(resp)
        await writer.drain()
        if path == "/noclose":
            writer.close()
            return
        if path == "/sink":  # reads nothing: the client's sends back up
            await asyncio.sleep(20)
            writer.close()
            return
        # read (and drop) until the client goes
        while await asyncio.wait_for(reader.read(65536), 30):
            pass
    except Exception:
        pass
    writer.close()


async def watch_parent(pid):
    """Never outlive the test run that started us, even when it was killed
    (a spec file over its watchdog) before its teardown could stop us."""
    while True:
        await asyncio.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--parent", type=int, default=0,
                    help="exit once this process is gone (the test run)")
    a = ap.parse_args()
    watcher = None  # (a reference keeps the task alive)
    if a.parent:
        watcher = asyncio.get_running_loop().create_task(watch_parent(a.parent))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(a.certs, "server.pem"),
                        os.path.join(a.certs, "server.key"))
    kw = dict(subprotocols=["chat", "superchat"], max_size=None,
              process_request=process_request, ping_interval=None)
    plain = await websockets.serve(handler, "127.0.0.1", 0, **kw)
    tls = await websockets.serve(handler, "127.0.0.1", 0, ssl=ctx, **kw)
    raw = await asyncio.start_server(raw_client, "127.0.0.1", 0)
    ports = [s.sockets[0].getsockname()[1] for s in (plain, tls, raw)]
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(str(p) for p in ports) + "\n")
    os.rename(tmp, a.ready_file)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
