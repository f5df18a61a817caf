// spec/peers/ws_node_peer.js: the npm `ws` package's server (echo, with
// permessage-deflate) on 127.0.0.1, plain and over TLS, for
// spec/ws_spec.lua and bench/ws.
//
//   node ws_node_peer.js READY_FILE CERT_DIR [PARENT_PID]
//
// Writes "PLAIN_PORT\nTLS_PORT\n" to READY_FILE once both listen (no
// CERT_DIR: no TLS server, and TLS_PORT 0). `ws` is
// found through NODE_PATH (spec/peers/ws_peers.sh installs it).
'use strict';
const fs = require('fs');
const path = require('path');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');

const [ready, certs, parent] = process.argv.slice(2);

/* PARENT: never outlive the test run that started us, even when it was
** killed (a spec file over its watchdog) before its teardown stopped us */
if (parent) {
  setInterval(() => {
    try { process.kill(+parent, 0); } catch (e) { process.exit(0); }
  }, 1000).unref();
}

function serve(server) {
  const wss = new WebSocketServer({ server, perMessageDeflate: true,
                                    maxPayload: 0 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () =>
    res(server.address().port)));
}

(async () => {
  const plain = await serve(http.createServer());
  const tls = certs === undefined ? 0 : await serve(https.createServer({
    cert: fs.readFileSync(path.join(certs, 'server.pem')),
    key: fs.readFileSync(path.join(certs, 'server.key')),
  }));
  fs.writeFileSync(ready + '.tmp', `${plain}\n${tls}\n`);
  fs.renameSync(ready + '.tmp', ready);
})();
process.on('SIGTERM', () => process.exit(0));
