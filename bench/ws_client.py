#!/usr/bin/python3
"""bench/ws_client.py: Debian's python3-websockets client for W8/W9 (the
same modes, arguments and RESULT line as bench/ws_bench.lua)."""
import asyncio
import sys
import time

import websockets


async def main():
    a = {"mode": sys.argv[1]}
    for kv in sys.argv[2:]:
        k, v = kv.split("=", 1)
        a[k] = v
    n = int(a.get("n", "1000"))
    size = int(a.get("size", str(16 << 20)))
    msg = "Hello, World!" if a["mode"] == "echo" else b"a" * size
    async with websockets.connect(a["url"], compression=None,
                                  max_size=None) as ws:
        t0 = time.monotonic()
        for i in range(n):
            await ws.send(msg)
            got = await ws.recv()
            if len(got) != len(msg):
                print("WRONG echo %d" % i)
                sys.exit(1)
        secs = time.monotonic() - t0
    nbytes = n * len(msg)
    rate = n / secs if a["mode"] == "echo" else nbytes / secs / 1e6
    print("RESULT requests=%d bytes=%d secs=%.4f rate=%.1f unit=%s"
          % (n, nbytes, secs, rate, "msg/s" if a["mode"] == "echo" else "MB/s"))


asyncio.run(main())
