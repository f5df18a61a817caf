// bench/ws_client.js: the npm `ws` client for W8/W9 (see bench/ws_bench.lua:
// the same modes, arguments and RESULT line). NODE_PATH must find `ws`.
'use strict';
const WebSocket = require('ws');
const A = { mode: process.argv[2] };
for (const a of process.argv.slice(3)) { const [k, v] = a.split('='); A[k] = v; }
const n = Number(A.n || 1000);
const size = Number(A.size || 16777216);
const ws = new WebSocket(A.url, { perMessageDeflate: false, maxPayload: 0 });
const msg = A.mode === 'echo' ? 'Hello, World!' : Buffer.alloc(size, 'a');
let i = 0; let t0;
ws.on('open', () => { t0 = process.hrtime.bigint(); ws.send(msg, { binary: A.mode !== 'echo' }); });
ws.on('message', (data) => {
  if (data.length !== msg.length) { console.log(`WRONG echo ${i}`); process.exit(1); }
  if (++i < n) { ws.send(msg, { binary: A.mode !== 'echo' }); return; }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const bytes = n * msg.length;
  const rate = A.mode === 'echo' ? n / secs : bytes / secs / 1e6;
  console.log(`RESULT requests=${n} bytes=${bytes} secs=${secs.toFixed(4)} rate=${rate.toFixed(1)} unit=${A.mode === 'echo' ? 'msg/s' : 'MB/s'}`);
  ws.close();
});
ws.on('error', (e) => { console.log(`WRONG ${e.message}`); process.exit(1); });
