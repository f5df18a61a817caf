// sse_crosscheck.mjs: runs the byte-exact SSE cases of tests/c/test_sse.c
// through the npm `eventsource` client (the real EventSource class, with a
// fetch that serves the case's bytes as a text/event-stream body) and
// compares what a page would see with what our parser gives. Not run by CI:
// it needs the npm package, installed outside the repository:
//
//   mkdir -p /tmp/es && (cd /tmp/es && npm init -y && npm install eventsource)
//   make -C tests/c test_sse
//   node tools/sse_crosscheck.mjs [/tmp/es]
//
// Each case is fed whole, split in two at every offset and byte by byte.
// Compared: every event (type, data, lastEventId), the Last-Event-ID header
// of the reconnection after the stream ends, and the reconnection delay (our
// retry; -1 is eventsource's default of 3000 ms). Not compared: our
// per-event retry (no such thing in the spec's MessageEvent), whether eof
// discarded something, and the max_event cases (eventsource has no limit).
// Prints each case that differs and a summary; exits 0 either way: a
// difference is a finding to judge against the spec, not a failure.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const esDir = process.argv[2] || process.env.ES_DIR || "/tmp/es";
const require = createRequire(path.join(esDir, "package.json"));
const { EventSource } = require("eventsource");
const here = path.dirname(fileURLToPath(import.meta.url));
const testBin = path.join(here, "..", "tests", "c", "test_sse");

const unhex = (h) => Buffer.from(h, "hex");

// The rendering of test_sse.c, over UTF-8 bytes.
function esc(s) {
  let o = "";
  for (const c of Buffer.from(s, "utf8")) {
    if (c === 0x5c || c === 0x7c) o += "\\" + String.fromCharCode(c);
    else if (c === 0x0a) o += "\\n";
    else if (c === 0x0d) o += "\\r";
    else if (c >= 0x20 && c < 0x7f) o += String.fromCharCode(c);
    else o += "\\x" + c.toString(16).padStart(2, "0");
  }
  return o;
}

function pieces(bytes, cuts) {
  const out = [];
  let a = 0;
  for (const b of [...cuts, bytes.length]) {
    if (b > a) out.push(new Uint8Array(bytes.subarray(a, b)));
    a = b;
  }
  return out;
}

// One stream through EventSource; resolves with the rendering.
function runES(bytes, cuts) {
  return new Promise((resolve, reject) => {
    const lines = [];
    let delay = null, calls = 0, es;
    const realSetTimeout = globalThis.setTimeout;
    const guard = realSetTimeout(() => reject(new Error("timeout")), 5000);
    const fakeFetch = async (url, init) => {
      calls++;
      if (calls === 2) { // the reconnection: what it would send
        const lid = (init.headers && init.headers["Last-Event-ID"]) || "";
        es.close();
        clearTimeout(guard);
        lines.push(`end|${esc(lid)}|${delay}`);
        resolve(lines.join("\n"));
        return new Response(null, { status: 204 });
      }
      const parts = pieces(bytes, cuts);
      const body = new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(p);
          c.close();
        },
      });
      return new Response(body, {
        status: 200,
        headers: { "content-type": "text/event-stream" },
      });
    };
    // the reconnection timer: note its delay, reconnect at once
    globalThis.setTimeout = (fn, ms) => {
      delay = ms;
      globalThis.setTimeout = realSetTimeout;
      return realSetTimeout(fn, 0);
    };
    es = new EventSource("http://127.0.0.1:9/", { fetch: fakeFetch });
    es.dispatchEvent = function (ev) {
      if (ev instanceof MessageEvent)
        lines.push(`${esc(ev.type)}|${esc(String(ev.data))}|${esc(ev.lastEventId)}`);
      return EventTarget.prototype.dispatchEvent.call(this, ev);
    };
  });
}

// Our expected rendering, reduced to what eventsource can show.
function ours(want) {
  const out = [];
  for (const line of want.split("\n")) {
    if (line.startsWith("end|")) {
      const f = line.split("|"); // end, id, retry, pending (id escapes '|')
      const retry = f[f.length - 2], id = f.slice(1, f.length - 2).join("|");
      out.push(`end|${id}|${retry === "-1" ? 3000 : retry}`);
    } else {
      out.push(line.replace(/\|r=\d+$/, ""));
    }
  }
  return out.join("\n");
}

const cases = execFileSync(testBin, ["--dump"], { encoding: "utf8" })
  .trim().split("\n").map((l) => JSON.parse(l));
let same = 0, differ = 0, skipped = 0;
for (const c of cases) {
  const name = unhex(c.name).toString("latin1");
  if (c.max_event !== 0) { skipped++; continue; }
  const input = unhex(c.in), want = ours(unhex(c.want).toString("latin1"));
  const splits = [["whole", []]];
  for (let i = 1; i < input.length; i++) splits.push([`split at ${i}`, [i]]);
  splits.push(["byte by byte", [...Array(input.length).keys()].slice(1)]);
  const bad = [];
  for (const [how, cuts] of splits) {
    const got = await runES(input, cuts);
    if (got !== want) bad.push([how, got]);
  }
  if (bad.length === 0) { same++; continue; }
  differ++;
  console.log(`DIFFERS: ${name}  (input ${JSON.stringify(input.toString("latin1"))})`);
  console.log(`  ours:        ${want.replace(/\n/g, " / ")}`);
  const seen = new Set();
  for (const [how, got] of bad) {
    if (seen.has(got)) continue;
    seen.add(got);
    console.log(`  eventsource: ${got.replace(/\n/g, " / ")}   [${how}${bad.length > 1 ? `, ${bad.length} of ${splits.length} runs differ` : ""}]`);
  }
}
console.log(`${cases.length} cases: ${same} agree, ${differ} differ, ${skipped} skipped (max_event)`);
