// bench/sse_es.mjs: the W10 peer, the npm `eventsource` client (node) reading
// one event stream of n events (bench/server.sh's /sse1m, from nginx).
//
//   node bench/sse_es.mjs ESDIR url=URL n=N
//
// ESDIR holds node_modules/eventsource (bench/run.sh: $BENCH_CACHE/es; made
// with `npm install --prefix $BENCH_CACHE/es eventsource@5`). Checks every
// event's data (58 bytes) and prints "RESULT requests=N rate=EV/S unit=ev/s
// ..." as bench/chc.lua does; exits 1 on a wrong answer.
import { createRequire } from "node:module";
import path from "node:path";

const esDir = process.argv[2];
const A = {};
for (const a of process.argv.slice(3)) { const i = a.indexOf("="); A[a.slice(0, i)] = a.slice(i + 1); }
const require = createRequire(path.join(esDir, "package.json"));
const { EventSource } = require("eventsource");
const n = +A.n;
let got = 0;
const t0 = process.hrtime.bigint();
const es = new EventSource(A.url);
es.onmessage = (ev) => {
  if (ev.data.length !== 58) { console.log("WRONG data length " + ev.data.length); process.exit(1); }
  if (++got === n) {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    es.close();
    const cpu = process.cpuUsage();
    console.log(`RESULT requests=${n} events=${n} bytes=${n * 58} secs=${secs.toFixed(4)} rate=${(n / secs).toFixed(1)} unit=ev/s cpu=${((cpu.user + cpu.system) / 1e6).toFixed(3)}`);
    process.exit(0);
  }
};
es.onerror = (e) => {
  console.log("WRONG error after " + got + " events: " + (e && e.message));
  process.exit(1);
};
