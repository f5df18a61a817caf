#!/usr/bin/node
'use strict';
/*
 * RFC 8441 test peer for c_http_core: WebSocket over HTTP/2 (extended
 * CONNECT), node's built-in http2 module only, WebSocket framing by hand.
 *
 *   node spec/peers/h2ws_peer.js --ready-file F [--certs DIR]
 *
 * Servers, each on its own 127.0.0.1 port (the kernel picks them):
 *   h2c     HTTP/2 prior knowledge, settings { enableConnectProtocol: true }
 *   tls     the same over TLS (ALPN h2 only; --certs DIR: server.pem/.key)
 *   noext   HTTP/2 over TLS without enableConnectProtocol, ALPN h2 and
 *           http/1.1 (allowHTTP1): HTTP/1.1 Upgrade WebSockets are served
 *           on the same paths, for the client's fallback
 * Once all listen, the ready file is written atomically, one line:
 *   pid=PID h2c=PORT tls=PORT noext=PORT (0 without --certs)
 * SIGTERM / SIGINT / SIGHUP: exits at once.
 *
 * WebSocket paths (CONNECT :protocol websocket, or GET Upgrade):
 *   /echo            echoes every text/binary message; pong for ping; the
 *                    close is echoed, then the stream ends
 *   /flood?n=N&size=S  sends N binary messages of S bytes as fast as the
 *                    stream takes them, counting writes that had to wait
 *                    (the client's window closed): /stats shows them
 *   /refuse          403 with the body "go away"
 * Plain requests: /hello (200 "hello"), /stats (JSON: sessions, sockets,
 * blocked, websockets), /stats/reset. Sessions counted are HTTP/2
 * sessions of all servers; sockets counts HTTP/1.1 Upgrade sockets.
 */
const http2 = require('http2');
const fs = require('fs');
const crypto = require('crypto');

const args = process.argv.slice(2);
function arg(name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const readyFile = arg('--ready-file');
const certs = arg('--certs');
if (!readyFile) {
  process.stderr.write('usage: h2ws_peer.js --ready-file F [--certs DIR]\n');
  process.exit(2);
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(0));

const stats = { sessions: 0, sockets: 0, blocked: 0, websockets: 0 };

/* One frame, unmasked (server to client). */
function frame(opcode, payload) {
  const n = payload.length;
  let head;
  if (n < 126) {
    head = Buffer.from([0x80 | opcode, n]);
  } else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode; head[1] = 126; head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode; head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/* Parses masked client frames from a duplex and calls onFrame(fin, op,
** payload). Fragments are reassembled by the caller (echo keeps opcode). */
function frames(duplex, onFrame) {
  let buf = Buffer.alloc(0);
  duplex.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0, op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (!(buf[1] & 0x80)) { duplex.destroy(); return; } /* unmasked client frame */
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const p = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < len; i++) p[i] ^= mask[i & 3];
      buf = buf.subarray(off + 4 + len);
      onFrame(fin, op, p);
    }
  });
}

/* The WebSocket behind a handshake, on any duplex (HTTP/2 stream or
** socket). */
function serve(duplex, path) {
  stats.websockets++;
  const u = new URL(path, 'http://x');
  if (u.pathname === '/flood') {
    const n = Number(u.searchParams.get('n') || 100);
    const size = Number(u.searchParams.get('size') || 65536);
    const msg = frame(2, Buffer.alloc(size, 0x61));
    let i = 0;
    const more = () => {
      while (i < n) {
        i++;
        if (!duplex.write(msg)) { stats.blocked++; duplex.once('drain', more); return; }
      }
      duplex.write(frame(8, Buffer.from([0x03, 0xe8])));
    };
    more();
  }
  frames(duplex, (fin, op, p) => {
    if (op === 9) { duplex.write(frame(10, p)); return; }
    if (op === 10) return;
    if (op === 8) { duplex.write(frame(8, p)); duplex.end(); return; }
    /* echo fragments as they come, keeping the message's opcode */
    const f = frame(0, p);
    f[0] = (fin ? 0x80 : 0) | op;
    if (u.pathname === '/echo') duplex.write(f);
  });
  duplex.on('error', () => {});
}

function onStream(stream, headers) {
  const method = headers[':method'], path = headers[':path'] || '/';
  if (method === 'CONNECT' && headers[':protocol'] === 'websocket') {
    if (path.startsWith('/refuse')) {
      stream.respond({ ':status': 403 });
      stream.end('go away');
      return;
    }
    stream.respond({ ':status': 200 });
    serve(stream, path);
    return;
  }
  if (path === '/stats') {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify(stats));
  } else if (path === '/stats/reset') {
    for (const k of Object.keys(stats)) stats[k] = 0;
    stream.respond({ ':status': 200 });
    stream.end('ok');
  } else if (path === '/hello') {
    stream.respond({ ':status': 200 });
    stream.end('hello');
  } else {
    stream.respond({ ':status': 404 });
    stream.end('not found');
  }
}

function upgrade(req, socket) {
  stats.sockets++;
  if (req.url.startsWith('/refuse')) {
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 7\r\n\r\ngo away');
    return;
  }
  const accept = crypto.createHash('sha1')
    .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
    .digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n' +
               'connection: Upgrade\r\nsec-websocket-accept: ' + accept + '\r\n\r\n');
  serve(socket, req.url);
}

function listen(server) {
  server.on('session', () => { stats.sessions++; });
  server.on('stream', onStream);
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server.address().port)));
}

(async () => {
  const ext = { enableConnectProtocol: true };
  const h2c = await listen(http2.createServer({ settings: ext }));
  let tls = 0, noext = 0;
  if (certs) {
    const key = fs.readFileSync(certs + '/server.key');
    const cert = fs.readFileSync(certs + '/server.pem');
    tls = await listen(http2.createSecureServer({ key, cert, settings: ext }));
    const plain = http2.createSecureServer({ key, cert, allowHTTP1: true });
    plain.on('upgrade', upgrade);
    noext = await listen(plain);
  }
  const tmp = readyFile + '.tmp';
  fs.writeFileSync(tmp, `pid=${process.pid} h2c=${h2c} tls=${tls} noext=${noext}\n`);
  fs.renameSync(tmp, readyFile);
})();
