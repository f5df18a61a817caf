// sse_peer.js: a scripted Server-Sent Events server for spec/sse_spec.lua.
// The same routes over HTTP/1.1 (node:http, chunked) and h2c with prior
// knowledge (node:http2), each on its own port:
//
//   node sse_peer.js --ready-file F [--parent PID]   writes "h1=PORT\nh2=PORT\n" to F
//
// Routes (GET unless said):
//   /events?n=N[&id=1][&type=T]   N events "e1".."eN" (ids 1..N if id=1)
//   /seq?key=K&steps=a,b,...      connection c to K plays steps[c]: "ok"
//                   (retry field if &retry=MS, then "id: c" and data
//                   "lei=<Last-Event-ID header>", then the end), "noid" (the
//                   same without an id), "cut" (an event, then the
//                   connection is destroyed mid-body), "wrong" (200
//                   text/plain), or a status number (e.g. 204, 503, 404;
//                   503 carries Retry-After: 0), or "503raN" (503 with
//                   Retry-After: N)
//   /open?key=K                   event "first", then waits for /signal?key=K,
//                   then event "second" and the end
//   /slowhead?key=K               the head (and event "late", then nothing)
//                   only after /signal?key=K
//   /barrier?key=K&n=N            event "hello"; once N streams of K are open,
//                   event "go" to each and the end
//   /split                        one event written one byte per write (a TCP
//                   segment each: no delay) 2 ms apart
//   /big?size=N                   one event of N data bytes, then "after"
//   /heartbeat?n=N&ms=M           N comments M ms apart, then event "alive"
//   /hold                         a comment, then nothing until the client
//                   goes; /stats gives {"hold_open": n}
//   POST /post                    each line of the request body as an event
//   /signal?key=K, /stats         control (plain text / JSON)
"use strict";
const http = require("node:http");
const http2 = require("node:http2");
const fs = require("node:fs");

const args = process.argv.slice(2);
const readyFile = args[args.indexOf("--ready-file") + 1];
// the process to outlive no longer than (the busted that started us)
const parent = args.includes("--parent") ? +args[args.indexOf("--parent") + 1]
                                         : process.ppid;

const conns = new Map();   // /seq key -> connections so far
const waiters = new Map(); // /open key -> function to release
const signalled = new Set();
const barriers = new Map(); // key -> list of waiting responses
let holdOpen = 0;

function sseHead(res, extra) {
  res.writeHead(200, Object.assign({ "content-type": "text/event-stream",
                                     "cache-control": "no-cache" }, extra || {}));
}

function noDelay(req) {
  if (req.socket && req.socket.setNoDelay) req.socket.setNoDelay(true);
}

function handle(req, res) {
  const u = new URL(req.url, "http://x");
  const q = (k) => u.searchParams.get(k);
  noDelay(req);
  switch (u.pathname) {
  case "/events": {
    const n = +q("n") || 1;
    sseHead(res);
    let s = "";
    for (let i = 1; i <= n; i++) {
      if (q("type")) s += "event: " + q("type") + "\n";
      if (q("id")) s += "id: " + i + "\n";
      s += "data: e" + i + "\n\n";
    }
    res.end(s);
    return;
  }
  case "/seq": {
    const key = q("key");
    const c = (conns.get(key) || 0) + 1;
    conns.set(key, c);
    const steps = (q("steps") || "ok").split(",");
    const step = steps[Math.min(c, steps.length) - 1];
    const lei = req.headers["last-event-id"] || "";
    const retry = q("retry") ? "retry: " + q("retry") + "\n" : "";
    if (step === "ok" || step === "noid") {
      sseHead(res);
      res.end(retry + (step === "ok" ? "id: " + c + "\n" : "") +
              "data: lei=" + lei + "\n\n");
    } else if (step === "cut") {
      sseHead(res);
      res.write(retry + "id: " + c + "\ndata: lei=" + lei + "\n\n");
      setTimeout(() => {
        if (req.stream) req.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        else req.socket.destroy();
      }, 20);
    } else if (step === "wrong") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("data: not an event stream\n\n");
    } else if (/^503ra\d+$/.test(step)) {
      res.writeHead(503, { "retry-after": step.slice(5) });
      res.end();
    } else {
      res.writeHead(+step, +step === 503 ? { "retry-after": "0" } : {});
      res.end();
    }
    return;
  }
  case "/open": {
    const key = q("key");
    sseHead(res);
    res.write("data: first\n\n");
    const release = () => { res.end("data: second\n\n"); };
    if (signalled.has(key)) release(); else waiters.set(key, release);
    return;
  }
  case "/slowhead": {
    const key = q("key");
    const go = () => { sseHead(res); res.write("data: late\n\n"); };
    if (signalled.has(key)) go(); else waiters.set(key, go);
    return;
  }
  case "/heartbeat": {
    // n comments ms apart, then one event and the end
    let n = +q("n") || 5;
    const ms = +q("ms") || 100;
    sseHead(res);
    const beat = () => {
      if (n-- > 0) { res.write(": beat\n"); setTimeout(beat, ms); }
      else res.end("data: alive\n\n");
    };
    beat();
    return;
  }
  case "/signal": {
    const key = q("key");
    const w = waiters.get(key);
    waiters.delete(key);
    if (w) w(); else signalled.add(key);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  case "/barrier": {
    const key = q("key"), n = +q("n");
    sseHead(res);
    res.write("data: hello\n\n");
    const list = barriers.get(key) || [];
    list.push(res);
    barriers.set(key, list);
    if (list.length >= n) {
      barriers.delete(key);
      for (const r of list) r.end("data: go\n\n");
    }
    return;
  }
  case "/split": {
    const s = "id: s1\ndata: split across\ndata: segments\n\n";
    sseHead(res);
    let i = 0;
    const next = () => {
      if (i < s.length) { res.write(s[i++]); setTimeout(next, 2); }
      else res.end();
    };
    next();
    return;
  }
  case "/big": {
    sseHead(res);
    res.write("data: " + "b".repeat(+q("size")) + "\n\n");
    res.end("data: after\n\n");
    return;
  }
  case "/hold": {
    sseHead(res);
    res.write(": hello\n\n");
    holdOpen++;
    res.on("close", () => { holdOpen--; });
    return;
  }
  case "/post": {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d) => { body += d; });
    req.on("end", () => {
      sseHead(res);
      let s = "";
      for (const line of body.split("\n")) if (line) s += "data: " + line + "\n\n";
      res.end(s);
    });
    return;
  }
  case "/stats":
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ hold_open: holdOpen }));
    return;
  default:
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("no such route\n");
  }
}

const h1 = http.createServer(handle);
h1.keepAliveTimeout = 30000;
const h2 = http2.createServer({}, handle);
h2.on("sessionError", () => {});
let up = 0;
function ready() {
  if (++up < 2) return;
  fs.writeFileSync(readyFile + ".tmp",
    "h1=" + h1.address().port + "\nh2=" + h2.address().port + "\n");
  fs.renameSync(readyFile + ".tmp", readyFile);
}
h1.listen(0, "127.0.0.1", ready);
h2.listen(0, "127.0.0.1", ready);

// never outlive the test run that started us
setInterval(() => {
  try { process.kill(parent, 0); } catch (e) { process.exit(0); }
}, 1000).unref();
process.on("SIGTERM", () => process.exit(0));
