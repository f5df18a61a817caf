#!/usr/bin/node
'use strict';
/*
 * HTTP/2 test peer for c_http_core (node's built-in http2 module only).
 *
 *   node spec/peers/h2_peer.js --ready-file F [--certs DIR]
 *
 * Servers, each on its own 127.0.0.1 port (the kernel picks them):
 *   h2c    plain HTTP/2, prior knowledge (http2.createServer)
 *   max5   the same, with SETTINGS_MAX_CONCURRENT_STREAMS = 5
 *   win0   the same, with SETTINGS_INITIAL_WINDOW_SIZE = 0 (a request body
 *          never gets window unless the handler reads: /upload-sha256 does)
 *   tls    HTTP/2 over TLS with ALPN h2 and http/1.1 (allowHTTP1), only
 *          with --certs DIR (DIR/server.pem, DIR/server.key: certs.sh)
 * Once all listen, the ready file is written atomically, one line each:
 *   pid=PID  h2c=PORT  max5=PORT  tls=PORT (0 without --certs)  win0=PORT
 * SIGTERM / SIGINT / SIGHUP: exits at once.
 *
 * Every response carries x-conn-id: the id of its HTTP/2 session (unique
 * across all servers, increasing), and x-stream-id.
 *
 * Statistics are per server. Sessions whose first request is a control
 * endpoint (/stats, /stats/reset) are not counted, nor are those requests,
 * so querying out of band (curl) does not disturb the counts.
 *
 * Endpoints (query strings allowed; numbers are decimal):
 *   /hello                 200 "hello"
 *   /hold                  never answers (the client must time out)
 *   /many-100?n=N          N interim 100 heads, then 200 "after"
 *   /conn-id               200, body = the session id
 *   /bytes?n=N             N bytes of the pattern (byte i is i % 251)
 *   /slow?chunks=N&delay_ms=D&size=S
 *                          head at once, then S pattern bytes after each
 *                          D ms (defaults 1, 100, 10); content-length set
 *   /stall-head            never answers (until the client resets)
 *   /stall-body            a head (content-length 1000) and 10 pattern
 *                          bytes, then nothing
 *   /no-read               never reads the request body (its flow-control
 *                          window closes) and never answers
 *   /trailers              "hello world" then trailers x-checksum: abc and
 *                          x-trailer-two: 2
 *   /echo-headers          the request's header block as received, one
 *                          "name: value\n" line per field, in wire order
 *                          (pseudo-headers included)
 *   /upload-sha256         reads the whole request body (streaming), then
 *                          200 "LENGTH SHA256HEX"
 *   /rst[?code=N&head=1&delay_ms=D]
 *                          RST_STREAM(N) (default 2, INTERNAL_ERROR) after D
 *                          ms (default 0); head=1: a 200 head goes first
 *   /rst-after-data[?bytes=N&code=C&delay_ms=D]
 *                          200 head, N pattern bytes (default 10000), then
 *                          after D ms (default 100) RST_STREAM(C) (default 2)
 *   /refuse-once?key=K     the first request with key K is reset with
 *                          REFUSED_STREAM (never processed); later ones get
 *                          200 "attempt N" (header x-attempt: N)
 *   /goaway?key=K&n=N[&wait_ms=W]
 *                          collects the requests for key K on one session
 *                          until N have arrived (or W ms passed, default
 *                          2000), then sends GOAWAY(NO_ERROR) whose
 *                          last-stream-id is the id of the max(1, floor(M/2))-th
 *                          lowest of those M streams, and 50 ms later
 *                          answers the streams at or below it. Streams
 *                          above it are never answered (never processed).
 *                          The session is destroyed 1.5 s after the GOAWAY
 *                          (nghttp2 stops reading it, so the client's own
 *                          close would go unseen).
 *                          Once key K is done, requests with K are answered
 *                          at once. Body: {"session":S,"stream":I,
 *                          "goaway":true|false,"last":L}
 *   /stats[?wait_open=K&timeout_ms=T]
 *                          JSON {"sessions","open","streams","active",
 *                          "peak","refused","goaways","max_session_streams",
 *                          "epoch"} of this server: sessions that carried a
 *                          counted stream since the last reset (a session
 *                          kept across a reset counts again at its next
 *                          stream), sessions counted and still open,
 *                          streams counted, streams
 *                          active now, the most active at once since the
 *                          last reset, REFUSED_STREAM resets sent, GOAWAYs
 *                          sent, the most streams one session carried.
 *                          wait_open: first waits (bounded, default 5000
 *                          ms) until open <= K.
 *   /stats/reset           zeroes the counters (peak = active now); 200
 *                          with the stats before the reset
 *   anything else          404
 * The tls server answers HTTP/1.1 requests (ALPN http/1.1 or none) with
 * 200 "http/1.1 PATH" and header x-proto: http/1.1.
 */

const http2 = require('http2');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const {
  NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM,
} = http2.constants;

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const readyFile = arg('--ready-file');
const certs = arg('--certs');

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => process.exit(0));
// a peer must never die of one broken exchange
process.on('uncaughtException', (e) => { console.error('h2_peer: uncaught', e); });

const UNIT = Buffer.from(Array.from({ length: 251 }, (_, i) => i));
const BLOCK = Buffer.concat(Array(261).fill(UNIT)); // 65511 bytes, 251 * 261
function pattern(n, offset) {
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  let start = offset % 251;
  while (o < n) {
    const take = Math.min(n - o, BLOCK.length - start);
    BLOCK.copy(out, o, start, start + take);
    o += take;
    start = 0;
  }
  return out;
}

let sessionSeq = 0;
const refused = new Map();  // refuse-once key -> attempts
const goaways = new Map();  // goaway key -> { session, streams, done, last }

function newStats() {
  return { sessions: 0, open: 0, streams: 0, active: 0, peak: 0, refused: 0,
           goaways: 0, max_session_streams: 0, epoch: 0 };
}

function live(stream) { return !stream.destroyed && !stream.closed; }

// RST_STREAM(code) now, without END_STREAM first: stream.close(code)
// ends the writable side before it resets, so a response already under
// way would end cleanly instead (node 20). The stream's native handle
// resets at once; stream.close() is the fallback.
function rawReset(stream, code) {
  if (!live(stream)) return;
  const sym = Object.getOwnPropertySymbols(stream).find((s) => s.description === 'kHandle');
  const handle = sym && stream[sym];
  if (handle && typeof handle.rstStream === 'function') handle.rstStream(code);
  else stream.close(code);
}

function respond(stream, status, body, extra) {
  if (!live(stream)) return;
  const h = Object.assign({ ':status': status, 'content-type': 'text/plain',
                            'content-length': Buffer.byteLength(body) }, extra);
  stream.respond(h);
  stream.end(body);
}

function makeHandler(name, st) {
  const waiters = []; // /stats?wait_open

  function wakeWaiters() {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (st.open <= waiters[i].k) { const w = waiters[i]; waiters.splice(i, 1); w.fn(); }
    }
  }

  function onSession(session) {
    session.chcId = ++sessionSeq;
    session.chcOpen = false;   // counted in st.open
    session.chcEpoch = -1;     // the reset epoch it was counted in
    session.chcStreams = 0;
    session.on('error', () => {});
    session.on('close', () => {
      if (session.chcOpen) { st.open--; wakeWaiters(); }
    });
  }

  function onStream(stream, headers, flags, rawHeaders) {
    const session = stream.session;
    const url = new URL(headers[':path'] || '/', 'http://x');
    const p = url.pathname;
    const q = (k, d) => {
      const v = url.searchParams.get(k);
      return v === null ? d : v;
    };
    const qn = (k, d) => { const v = Number(q(k, d)); return Number.isFinite(v) ? v : d; };
    const control = p === '/stats' || p === '/stats/reset';
    stream.on('error', () => {});
    if (!control) {
      if (!session.chcOpen) {
        session.chcOpen = true;
        st.open++;
      }
      if (session.chcEpoch !== st.epoch) { // counted again after a reset
        session.chcEpoch = st.epoch;
        session.chcStreams = 0;
        st.sessions++;
      }
      session.chcStreams++;
      if (session.chcStreams > st.max_session_streams) st.max_session_streams = session.chcStreams;
      st.streams++;
      st.active++;
      if (st.active > st.peak) st.peak = st.active;
      stream.on('close', () => { st.active--; });
    }
    const ids = { 'x-conn-id': String(session.chcId), 'x-stream-id': String(stream.id) };

    // GET bodies are empty; drain so the readable side ends
    if (p !== '/upload-sha256' && p !== '/no-read') stream.resume();

    switch (p) {
      case '/hold': // issue 9: never answers (the client gives up)
        return;
      case '/many-100': { // issue 9: n interim heads, then 200 "after"
        const n = Math.max(0, Math.floor(qn('n', 10)));
        for (let i = 0; i < n && live(stream); i++)
          stream.additionalHeaders({ ':status': 100 });
        if (live(stream)) respond(stream, 200, 'after', ids);
        return;
      }
      case '/hello':
        return respond(stream, 200, 'hello', ids);
      case '/conn-id':
        return respond(stream, 200, String(session.chcId), ids);
      case '/bytes': {
        const n = Math.max(0, Math.floor(qn('n', 1024)));
        stream.respond(Object.assign({ ':status': 200, 'content-length': n,
                                       'content-type': 'application/octet-stream' }, ids));
        let off = 0;
        const pump = () => {
          while (off < n && live(stream)) {
            const k = Math.min(65536, n - off);
            const ok = stream.write(pattern(k, off));
            off += k;
            if (!ok) return stream.once('drain', pump);
          }
          if (live(stream)) stream.end();
        };
        return pump();
      }
      case '/slow': {
        const chunks = Math.max(0, Math.floor(qn('chunks', 1)));
        const delay = Math.max(0, qn('delay_ms', 100));
        const size = Math.max(0, Math.floor(qn('size', 10)));
        stream.respond(Object.assign({ ':status': 200, 'content-length': chunks * size,
                                       'content-type': 'application/octet-stream' }, ids));
        let i = 0;
        const tick = () => {
          if (!live(stream)) return;
          if (i >= chunks) return stream.end();
          stream.write(pattern(size, i * size));
          i++;
          if (i >= chunks) return stream.end();
          setTimeout(tick, delay);
        };
        if (chunks === 0) return stream.end();
        return setTimeout(tick, delay);
      }
      // {-- timeouts (issue 17): endpoints that stop on purpose; each
      // ends when the client resets the stream or the session ends
      case '/stall-head':               // never answers
        return undefined;
      case '/stall-body':               // a head and 10 of 1000 bytes, then nothing
        stream.respond(Object.assign({ ':status': 200, 'content-length': 1000 }, ids));
        return stream.write(pattern(10, 0));
      case '/no-read':                  // never reads the request body nor answers:
        return stream.pause();          // the stream's window closes
      // --}
      case '/trailers':
        stream.respond(Object.assign({ ':status': 200, 'content-type': 'text/plain' }, ids),
                       { waitForTrailers: true });
        stream.on('wantTrailers', () => {
          stream.sendTrailers({ 'x-checksum': 'abc', 'x-trailer-two': '2' });
        });
        return stream.end('hello world');
      case '/echo-headers': {
        const lines = [];
        for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
          lines.push(rawHeaders[i] + ': ' + rawHeaders[i + 1] + '\n');
        }
        return respond(stream, 200, lines.join(''), ids);
      }
      case '/upload-sha256': {
        const h = crypto.createHash('sha256');
        let n = 0;
        stream.on('data', (c) => { n += c.length; h.update(c); });
        stream.on('end', () => respond(stream, 200, n + ' ' + h.digest('hex'), ids));
        return undefined;
      }
      case '/rst': {
        const code = Math.floor(qn('code', NGHTTP2_INTERNAL_ERROR));
        if (q('head', '0') === '1') stream.respond(Object.assign({ ':status': 200 }, ids));
        if (code === NGHTTP2_REFUSED_STREAM) st.refused++;
        const delay = qn('delay_ms', 0);
        if (delay > 0) return setTimeout(() => rawReset(stream, code), delay);
        return rawReset(stream, code);
      }
      case '/rst-after-data': {
        const n = Math.max(0, Math.floor(qn('bytes', 10000)));
        const code = Math.floor(qn('code', NGHTTP2_INTERNAL_ERROR));
        stream.respond(Object.assign({ ':status': 200, 'content-type': 'application/octet-stream' },
                                     ids));
        if (n > 0) stream.write(pattern(n, 0));
        return setTimeout(() => rawReset(stream, code), qn('delay_ms', 100));
      }
      case '/refuse-once': {
        const key = q('key', '');
        const n = (refused.get(key) || 0) + 1;
        refused.set(key, n);
        if (n === 1) {
          st.refused++;
          return rawReset(stream, NGHTTP2_REFUSED_STREAM);
        }
        return respond(stream, 200, 'attempt ' + n, Object.assign({ 'x-attempt': String(n) }, ids));
      }
      case '/goaway': {
        const key = q('key', '');
        const want = Math.max(1, Math.floor(qn('n', 2)));
        let g = goaways.get(key);
        const answer = (s, isGoaway, last) => respond(s, 200, JSON.stringify({
          session: s.session ? s.session.chcId : -1, stream: s.id, goaway: isGoaway, last,
        }), { 'x-conn-id': String(session.chcId), 'x-stream-id': String(s.id) });
        if (g && g.done) return answer(stream, false, g.last);
        if (!g) {
          g = { session, streams: [], done: false, last: 0, timer: null };
          goaways.set(key, g);
        }
        if (g.session !== session) return answer(stream, false, 0);
        g.streams.push(stream);
        const fire = () => {
          if (g.done) return;
          g.done = true;
          clearTimeout(g.timer);
          const ss = g.streams.slice().sort((a, b) => a.id - b.id);
          // node sends last-stream-id 0 as "the last one processed": keep >= 1
          const keep = Math.max(1, Math.floor(ss.length / 2));
          g.last = ss[keep - 1].id;
          st.goaways++;
          if (!session.destroyed && !session.closed) session.goaway(NGHTTP2_NO_ERROR, g.last);
          setTimeout(() => {
            for (const s of ss) if (s.id <= g.last) answer(s, true, g.last);
          }, 50);
          // After its GOAWAY nghttp2 stops reading once no stream is left,
          // so the client's close would never be seen: drop the session
          // after a grace period.
          setTimeout(() => { if (!session.destroyed) session.destroy(); }, 1500);
        };
        if (g.streams.length >= want) return fire();
        if (!g.timer) g.timer = setTimeout(fire, qn('wait_ms', 2000));
        return undefined;
      }
      case '/stats': {
        const send = () => respond(stream, 200, JSON.stringify(st),
                                   { 'content-type': 'application/json', ...ids });
        if (url.searchParams.has('wait_open')) {
          const k = qn('wait_open', 0);
          if (st.open > k) {
            const w = { k, fn: () => { clearTimeout(w.t); send(); } };
            w.t = setTimeout(() => {
              const i = waiters.indexOf(w);
              if (i >= 0) waiters.splice(i, 1);
              send();
            }, Math.min(qn('timeout_ms', 5000), 60000));
            waiters.push(w);
            return undefined;
          }
        }
        return send();
      }
      case '/stats/reset': {
        const before = JSON.stringify(st);
        st.epoch++;
        st.sessions = 0; st.streams = 0; st.peak = st.active; st.refused = 0;
        st.goaways = 0; st.max_session_streams = 0;
        return respond(stream, 200, before, { 'content-type': 'application/json', ...ids });
      }
      default:
        return respond(stream, 404, 'not found: ' + p + '\n', ids);
    }
  }
  return { onSession, onStream, name };
}

function h1Handler(req, res) {
  if (req.httpVersion === '2.0') return; // served by the 'stream' handler
  const body = 'http/1.1 ' + req.url;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body),
                       'x-proto': 'http/1.1' });
  res.end(body);
}

// Generous limits: hundreds of concurrent streams and large uploads must
// not trip node's ENHANCE_YOUR_CALM protection.
const common = { maxSessionMemory: 256, maxHeaderListPairs: 2000, peerMaxConcurrentStreams: 1000 };

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

async function main() {
  const servers = {};
  const defs = [
    ['h2c', () => http2.createServer(Object.assign({}, common))],
    ['max5', () => http2.createServer(Object.assign({}, common,
      { settings: { maxConcurrentStreams: 5 } }))],
    // issue 9: the client may send no request body at all (initial
    // window 0, never updated while nothing is read)
    ['win0', () => http2.createServer(Object.assign({}, common,
      { settings: { initialWindowSize: 0 } }))],
  ];
  if (certs) {
    const key = fs.readFileSync(path.join(certs, 'server.key'));
    const cert = fs.readFileSync(path.join(certs, 'server.pem'));
    defs.push(['tls', () => {
      const s = http2.createSecureServer(Object.assign({}, common, { key, cert, allowHTTP1: true }));
      s.on('request', h1Handler);
      return s;
    }]);
  }
  const ports = { h2c: 0, max5: 0, win0: 0, tls: 0 };
  for (const [name, make] of defs) {
    const server = make();
    const st = newStats();
    const h = makeHandler(name, st);
    server.on('session', h.onSession);
    server.on('stream', h.onStream);
    server.on('sessionError', () => {});
    server.on('tlsClientError', () => {});
    server.on('error', (e) => console.error('h2_peer:', name, e));
    ports[name] = await listen(server);
    servers[name] = server;
  }
  const text = `pid=${process.pid}\nh2c=${ports.h2c}\nmax5=${ports.max5}\ntls=${ports.tls}\nwin0=${ports.win0}\n`;
  if (readyFile) {
    fs.writeFileSync(readyFile + '.tmp', text);
    fs.renameSync(readyFile + '.tmp', readyFile);
  } else {
    process.stdout.write(text);
  }
}

main().catch((e) => { console.error('h2_peer: startup failed:', e); process.exit(1); });
