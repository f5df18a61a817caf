#!/usr/bin/node
'use strict';
/*
 * RFC 8441 test peer for c_http_core: WebSocket over HTTP/2 (extended
 * CONNECT), node's built-in http2 module only, WebSocket framing by hand.
 *
 *   node spec/peers/h2ws_peer.js --ready-file F [--certs DIR] [--parent PID]
 *
 * Servers, each on its own 127.0.0.1 port (the kernel picks them):
 *   h2c     HTTP/2 prior knowledge, settings { enableConnectProtocol: true }
 *   tls     the same over TLS (ALPN h2 only; --certs DIR: server.pem/.key)
 *   noext   HTTP/2 over TLS without enableConnectProtocol, ALPN h2 and
 *           http/1.1 (allowHTTP1): HTTP/1.1 Upgrade WebSockets are served
 *           on the same paths, for the client's fallback
 *   h2cnoext  h2c (prior knowledge) without enableConnectProtocol, and
 *           HTTP/1.1 with Upgrade WebSockets on the same port (told apart
 *           by the HTTP/2 preface), for the fallback of an h2c pool
 *   mute    accepts TCP connections and never writes (no SETTINGS)
 * Once all listen, the ready file is written atomically, one line:
 *   pid=PID h2c=PORT tls=PORT noext=PORT h2cnoext=PORT mute=PORT (tls and noext 0
 *   without --certs)
 * SIGTERM / SIGINT / SIGHUP: exits at once.
 *
 * WebSocket paths (CONNECT :protocol websocket, or GET Upgrade):
 *   /echo            echoes every text/binary message; pong for ping; the
 *                    close is echoed, then the stream ends
 *   /flood?n=N&size=S  sends N binary messages of S bytes as fast as the
 *                    stream takes them, counting writes that had to wait
 *                    (the client's window closed): /stats shows them
 *   /refuse          403 with the body "go away"
 *   /reset           resets the stream (RST_STREAM CANCEL) when the first
 *                    message arrives (HTTP/2 only)
 *   /frag            sends "fragmented message" in three fragments, with a
 *                    ping between them
 *   /silent          (HTTP/2) the CONNECT is never answered
 *   /stall           (HTTP/2) answered, then never read: the client's
 *                    sends meet a closed window
 * An extended CONNECT that offers permessage-deflate gets it, with both
 * no_context_takeover parameters; messages are then reassembled, and
 * the echo compressed.
 * Plain requests: /hello (200 "hello"), /kill (200 "bye", then every
 * HTTP/2 session is destroyed), /stats (JSON: sessions, sockets,
 * connections, blocked, websockets, flushed, clean, resets), /stats/reset.
 * Sessions
 * counted are HTTP/2 sessions of all servers; sockets counts HTTP/1.1
 * Upgrade sockets; connections, TCP connections accepted by all servers;
 * flushed, bytes of /flood messages whose write completed (what the
 * client's window let through); clean and resets, WebSocket streams that
 * closed with both END_STREAMs or with a RST_STREAM.
 */
const http2 = require('http2');
const fs = require('fs');
const crypto = require('crypto');
const net = require('net');
const zlib = require('zlib');

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
/* never outlive the test run that started us (--parent, else our parent) */
const parent = arg('--parent') ? +arg('--parent') : process.ppid;
setInterval(() => {
  try { process.kill(parent, 0); } catch (e) { process.exit(0); }
}, 1000).unref();

const live = new Set(); /* HTTP/2 sessions, for /kill */
const stats = { sessions: 0, sockets: 0, connections: 0, blocked: 0,
                websockets: 0, flushed: 0, clean: 0, resets: 0 };

/* One frame, unmasked (server to client); rsv1: compressed. */
function frame(opcode, payload, rsv1) {
  const n = payload.length;
  const b0 = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  let head;
  if (n < 126) {
    head = Buffer.from([b0, n]);
  } else if (n < 65536) {
    head = Buffer.alloc(4);
    head[0] = b0; head[1] = 126; head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = b0; head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/* Parses masked client frames from a duplex and calls onFrame(fin, op,
** payload). Fragments are reassembled by the caller (echo keeps opcode). */
function frames(duplex, onFrame) {
  let buf = Buffer.alloc(0);
  duplex.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const fin = (buf[0] & 0x80) !== 0, op = buf[0] & 0x0f;
      const rsv1 = (buf[0] & 0x40) !== 0;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (!(buf[1] & 0x80)) { duplex.destroy(); return; } /* unmasked client frame */
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const p = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < len; i++) p[i] ^= mask[i & 3];
      buf = buf.subarray(off + 4 + len);
      onFrame(fin, op, p, rsv1);
    }
  });
}

/* The WebSocket behind a handshake, on any duplex (HTTP/2 stream or
** socket). */
function serve(duplex, path, deflate, onFirst) {
  stats.websockets++;
  const u = new URL(path, 'http://x');
  if (u.pathname === '/frag') {
    const a = frame(1, Buffer.from('fragmented ')), b = frame(0, Buffer.from('mess'));
    a[0] &= 0x7f; b[0] &= 0x7f;
    for (const f of [a, frame(9, Buffer.from('p')), b, frame(0, Buffer.from('age'))])
      duplex.write(f);
  }
  if (u.pathname === '/flood') {
    const n = Number(u.searchParams.get('n') || 100);
    const size = Number(u.searchParams.get('size') || 65536);
    const msg = frame(2, Buffer.alloc(size, 0x61));
    let i = 0;
    const more = () => {
      while (i < n) {
        i++;
        const ok = duplex.write(msg, () => { stats.flushed += size; });
        if (!ok) { stats.blocked++; duplex.once('drain', more); return; }
      }
      duplex.write(frame(8, Buffer.from([0x03, 0xe8])));
    };
    more();
  }
  let parts = [], mop = 0, mrsv = false;
  frames(duplex, (fin, op, p, rsv1) => {
    if (onFirst && op !== 9 && op !== 10) { const f = onFirst; onFirst = null; f(); return; }
    if (op === 9) { duplex.write(frame(10, p)); return; }
    if (op === 10) return;
    if (op === 8) { duplex.write(frame(8, p)); duplex.end(); return; }
    if (u.pathname !== '/echo') return;
    if (!deflate) {
      /* echo fragments as they come, keeping the message's opcode */
      const f = frame(0, p);
      f[0] = (fin ? 0x80 : 0) | op;
      duplex.write(f);
      return;
    }
    if (op !== 0) { mop = op; mrsv = rsv1; parts = []; }
    parts.push(p);
    if (!fin) return;
    let data = Buffer.concat(parts);
    if (mrsv) data = zlib.inflateRawSync(Buffer.concat([data, TAIL]),
                                         { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    let z = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    z = z.subarray(0, z.length - 4); /* RFC 7692 7.2.1: without the tail */
    duplex.write(frame(mop, z, true));
  });
  duplex.on('error', () => {});
}

function onStream(stream, headers) {
  const method = headers[':method'], path = headers[':path'] || '/';
  if (method === 'CONNECT' && headers[':protocol'] === 'websocket') {
    if (path.startsWith('/silent')) return;
    if (path.startsWith('/stall')) { stream.respond({ ':status': 200 }); return; }
    if (path.startsWith('/refuse')) {
      stream.respond({ ':status': 403 });
      stream.end('go away');
      return;
    }
    const offer = headers['sec-websocket-extensions'] || '';
    const deflate = /permessage-deflate/.test(offer);
    const h = { ':status': 200 };
    if (deflate)
      h['sec-websocket-extensions'] =
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
    stream.respond(h);
    stream.on('close', () => { if (stream.rstCode) stats.resets++; else stats.clean++; });
    const reset = path.startsWith('/reset')
      ? () => stream.close(http2.constants.NGHTTP2_CANCEL) : null;
    serve(stream, path, deflate, reset);
    return;
  }
  if (path === '/stats') {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify(stats));
  } else if (path === '/stats/reset') {
    for (const k of Object.keys(stats)) stats[k] = 0;
    stream.respond({ ':status': 200 });
    stream.end('ok');
  } else if (path === '/kill') {
    stream.respond({ ':status': 200 });
    stream.end('bye', () => setTimeout(() => {
      for (const s of live) s.destroy();
    }, 50));
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
  serve(socket, req.url, false, null);
}

function count(session) {
  stats.sessions++;
  live.add(session);
  session.on('close', () => live.delete(session));
}

function listen(server) {
  server.on('session', count);
  server.on('stream', onStream);
  server.on('connection', () => { stats.connections++; });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server.address().port)));
}

/* A duplex over sock (whose first bytes were unshifted back). */
function relay(sock) {
  const d = new (require('stream').Duplex)({
    read() { sock.resume(); },
    write(chunk, enc, cb) { sock.write(chunk, cb); },
    final(cb) { sock.end(); cb(); },
    destroy(err, cb) { sock.destroy(); cb(err); },
  });
  sock.on('data', (c) => { if (!d.push(c)) sock.pause(); });
  sock.on('end', () => d.push(null));
  sock.on('close', () => d.destroy());
  return d;
}

/* h2c without enableConnectProtocol and HTTP/1.1 on one port: the first
** bytes tell which (the HTTP/2 client preface starts "PRI * HTTP/2.0"). */
function listenBoth() {
  const h2 = http2.createServer();
  h2.on('session', count);
  h2.on('stream', onStream);
  const h1 = require('http').createServer((req, res) => {
    res.writeHead(404); res.end('not found');
  });
  h1.on('upgrade', upgrade);
  const front = net.createServer((sock) => {
    stats.connections++;
    sock.once('data', (d) => {
      sock.pause();
      sock.unshift(d);
      if (d.subarray(0, 3).toString() === 'PRI') {
        /* http2 would read the socket's handle and miss what was read
        ** already: give it a stream that starts with those bytes */
        sock.resume();
        h2.emit('connection', relay(sock));
        return;
      }
      h1.emit('connection', sock);
      sock.resume();
    });
    sock.on('error', () => {});
  });
  return new Promise((ok) => front.listen(0, '127.0.0.1', () => ok(front.address().port)));
}

(async () => {
  const ext = { enableConnectProtocol: true };
  const h2c = await listen(http2.createServer({ settings: ext }));
  const h2cnoext = await listenBoth();
  const muted = net.createServer((sock) => { sock.on('error', () => {}); sock.resume(); });
  const mute = await new Promise((ok) => muted.listen(0, '127.0.0.1', () => ok(muted.address().port)));
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
  fs.writeFileSync(tmp, `pid=${process.pid} h2c=${h2c} tls=${tls} noext=${noext} h2cnoext=${h2cnoext} mute=${mute}\n`);
  fs.renameSync(tmp, readyFile);
})();
