-- spec/helper.lua: shared test helpers (local H = require "helper").
--
-- Peers are started by spec/run.sh; their addresses come from the
-- environment.  Out-of-band queries to the peers use curl through io.popen
-- (no LuaSocket here), with LD_PRELOAD removed so an ASan run does not
-- preload the sanitizer runtime into curl.
--
-- Body pattern used by both peers: byte at offset i is (i % 251).
--   nginx static files: /1k /64k /1m /64m (sha256 in H.www_sha256(name)),
--                       chunked copies at /chunked/NAME
--   raw peer:           /bytes?n=N[&chunked=1], /drip, /slow-body, ...
-- See spec/peers/raw_peer.py and spec/peers/nginx.conf.in for endpoints.

local H = {}

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

H.nginx      = env("CHC_NGINX_URL")         -- "http://127.0.0.1:PORT"
H.raw        = env("CHC_RAW_URL")
H.nginx_port = tonumber(env("CHC_NGINX_PORT"))
H.raw_port   = tonumber(env("CHC_RAW_PORT"))
H.nginx6     = env("CHC_NGINX6_URL")        -- "http://[::1]:PORT" or nil
H.raw6       = env("CHC_RAW6_URL")
H.ipv6       = env("CHC_IPV6", "0") == "1"
H.www        = env("CHC_NGINX_WWW")         -- nginx's static files
-- TLS (spec/peers/nginx-tls.conf.in; certificates from spec/peers/certs.sh
-- in H.tls_dir: ca.pem, client.pem/.key, ...)
H.tls        = env("CHC_NGINX_TLS_URL")     -- "https://127.0.0.1:PORT"
H.tls_port   = tonumber(env("CHC_NGINX_TLS_PORT"))
H.tls6       = env("CHC_NGINX6_TLS_URL")    -- "https://[::1]:PORT" or nil
H.tls_dir    = env("CHC_TLS_DIR")
H.tls_wrong  = env("CHC_TLS_WRONG_URL")     -- cert for wrong.test
H.tls_expired = env("CHC_TLS_EXPIRED_URL")
H.tls_iponly = env("CHC_TLS_IPONLY_URL")    -- cert for IP 127.0.0.1 only
H.tls_noip   = env("CHC_TLS_NOIP_URL")      -- CN 127.0.0.1, no IP entry
H.tls_client = env("CHC_TLS_CLIENT_URL")    -- requires a client cert
-- HTTP/2 peers (spec/h2_spec.lua; see spec/run.sh)
H.nginx_h2c  = env("CHC_NGINX_H2C_URL")     -- nginx, h2c with prior knowledge
H.nghttpd    = env("CHC_NGHTTPD_URL")       -- nghttpd --no-tls over H.www
H.h2peer     = env("CHC_H2_PEER_URL")       -- spec/peers/h2_peer.js, h2c
H.h2peer_max5 = env("CHC_H2_PEER_MAX5_URL") -- the same, MAX_CONCURRENT_STREAMS 5
H.h2peer_tls = env("CHC_H2_PEER_TLS_URL")   -- the same over TLS (ALPN h2, http/1.1)
H.tmp        = env("CHC_TMP")               -- scratch dir, removed after the run
H.build      = env("CHC_BUILD", "build")
H.asan       = H.build:find("asan", 1, true) ~= nil
-- tools/valgrind.sh sets CHC_VALGRIND=1 (memcheck: ~20x slower)
H.valgrind   = env("CHC_VALGRIND", "0") == "1"
-- RSS bounds mean nothing under ASan (quarantine) or valgrind (its own
-- heap and shadow memory grow with what we allocate)
H.rss_meaningful = not H.asan and not H.valgrind

-- shell quoting for io.popen / os.execute
function H.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- H.sh(cmd) -> output, ok, code : run a shell command, capture stdout.
function H.sh(cmd)
  local f = assert(io.popen("env -u LD_PRELOAD " .. cmd, "r"))
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok == true, code
end

-- H.curl(args) -> stdout, exit_code : args is a string (already quoted) or
-- a list of arguments (each quoted here).  -s and a 60 s cap are added.
function H.curl(args)
  if type(args) == "table" then
    local t = {}
    for i, a in ipairs(args) do t[i] = H.q(a) end
    args = table.concat(t, " ")
  end
  local out, _, code = H.sh("curl -s --max-time 60 " .. args)
  return out, code
end

-- H.get(url) -> body (asserts curl succeeded)
function H.get(url)
  local out, code = H.curl({ url })
  assert(code == 0, "curl " .. url .. " failed with exit code " .. tostring(code))
  return out
end

-- minimal decoder for the peers' flat JSON objects
function H.json_flat(s)
  local t = {}
  for k, v in s:gmatch('"([^"]+)"%s*:%s*("?[^,}"]*"?)') do
    if v == "true" then t[k] = true
    elseif v == "false" then t[k] = false
    elseif v == "null" then t[k] = nil
    elseif v:sub(1, 1) == '"' then t[k] = v:sub(2, -2)
    else t[k] = tonumber(v) end
  end
  return t
end

local function raw_json(path)
  assert(H.raw, "CHC_RAW_URL not set (run through spec/run.sh)")
  return H.json_flat(H.get(H.raw .. path))
end

-- Raw peer counters: { accepted = N, open = M, requests = R, drop_idle_ms }.
-- The curl query itself is not counted.  opts.wait_open = K: the peer first
-- waits (bounded by opts.timeout_ms, default 5000) until open <= K -- use it
-- after closing connections, since the peer sees the close asynchronously.
function H.stats(opts)
  local path = "/stats"
  if opts and opts.wait_open then
    path = ("/stats?wait_open=%d&timeout_ms=%d"):format(opts.wait_open,
                                                        opts.timeout_ms or 5000)
  end
  return raw_json(path)
end

function H.stats_reset() return raw_json("/stats/reset") end

-- { seq, n, sent, done } of the raw peer's most recent /drip
function H.drip_status() return raw_json("/drip-status") end

-- raw peer closes connections idle for ms after a response; nil/-1: off
function H.drop_idle_after(ms) return raw_json("/drop-idle-after?ms=" .. (ms or -1)) end

-- nginx stub_status: { active, accepts, handled, requests, reading, writing,
-- waiting }.  The curl query itself is included (active >= 1, and accepts
-- and requests each grow by one per call).
function H.nginx_status()
  assert(H.nginx, "CHC_NGINX_URL not set (run through spec/run.sh)")
  local s = H.get(H.nginx .. "/nginx_status")
  local t = {}
  t.active = tonumber(s:match("Active connections:%s*(%d+)"))
  t.accepts, t.handled, t.requests = s:match("\n%s*(%d+)%s+(%d+)%s+(%d+)")
  t.accepts, t.handled, t.requests =
    tonumber(t.accepts), tonumber(t.handled), tonumber(t.requests)
  t.reading = tonumber(s:match("Reading:%s*(%d+)"))
  t.writing = tonumber(s:match("Writing:%s*(%d+)"))
  t.waiting = tonumber(s:match("Waiting:%s*(%d+)"))
  return t
end

-- Counters of a spec/peers/h2_peer.js server, base = one of H.h2peer,
-- H.h2peer_max5, H.h2peer_tls: { sessions, open, streams, active, peak,
-- refused, goaways, max_session_streams } (see h2_peer.js).  The curl query
-- is not counted.  opts.wait_open = K: first wait (bounded by
-- opts.timeout_ms, default 5000) until open <= K.
local function h2peer_curl(base, path)
  assert(base, "h2 peer not configured (run through spec/run.sh; needs node)")
  local args = { "--http2-prior-knowledge", base .. path }
  if base:find("^https:") then
    args = { "--http2", "--cacert", H.tls_dir .. "/ca.pem", base .. path }
  end
  local out, code = H.curl(args)
  assert(code == 0, "curl " .. base .. path .. " failed with exit code " .. tostring(code))
  return H.json_flat(out)
end

function H.h2_stats(base, opts)
  local path = "/stats"
  if opts and opts.wait_open then
    path = ("/stats?wait_open=%d&timeout_ms=%d"):format(opts.wait_open,
                                                        opts.timeout_ms or 5000)
  end
  return h2peer_curl(base, path)
end

-- zero the counters of an h2_peer.js server; returns the stats before
function H.h2_stats_reset(base) return h2peer_curl(base, "/stats/reset") end

-- H.rss_kb() -> VmRSS, VmHWM of this process in kB
function H.rss_kb()
  local f = assert(io.open("/proc/self/status", "r"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

-- H.sha256_file(path) -> hex
function H.sha256_file(path)
  local out, ok = H.sh("sha256sum " .. H.q(path))
  assert(ok, "sha256sum failed for " .. path)
  return (out:match("^(%x+)"))
end

-- H.sha256(str) -> hex (via a temp file)
function H.sha256(s)
  local path = H.tmpname("sha")
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
  local h = H.sha256_file(path)
  os.remove(path)
  return h
end

-- sha256 hex of nginx's static file NAME ("1k", "64k", "1m", "64m")
function H.www_sha256(name)
  local f = assert(io.open(H.www .. "/" .. name .. ".sha256", "r"))
  local s = f:read("a")
  f:close()
  return (s:match("^(%x+)"))
end

-- n bytes of the peers' pattern (byte at offset i is i % 251), from offset
local unit
function H.pattern(n, offset)
  offset = offset or 0
  if not unit then
    local t = {}
    for i = 0, 250 do t[#t + 1] = string.char(i) end
    unit = table.concat(t)
  end
  local start = offset % 251
  local need = start + n
  local s = unit:rep(need // 251 + 1)
  return s:sub(start + 1, start + n)
end

-- H.check_pattern(chunk, offset): a body chunk that starts at `offset`
-- has the pattern's bytes (first, middle and last checked: cheap enough to
-- run on every chunk of a 64 MiB body)
function H.check_pattern(chunk, offset)
  local n = #chunk
  for _, i in ipairs({ 1, n // 2 + 1, n }) do
    if chunk:byte(i) ~= (offset + i - 1) % 251 then return false end
  end
  return true
end

-- a fresh file path inside CHC_TMP
local seq = 0
function H.tmpname(prefix)
  assert(H.tmp, "CHC_TMP not set (run through spec/run.sh)")
  seq = seq + 1
  return ("%s/%s-%d-%d"):format(H.tmp, prefix or "t", os.time(), seq)
end

-- write a file in CHC_TMP, return its path
function H.write_tmp(content, prefix)
  local path = H.tmpname(prefix)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

-- after_each(H.check_clean): no task is left behind by the spec (every
-- task it spawned finished, every producer ended).
function H.check_clean()
  collectgarbage()
  collectgarbage()
  local n = require("c_http_core.core").stats().tasks
  assert(n == 0, n .. " tasks left behind")
end

-- Timing windows for timeouts.  A timeout configured as `secs` must fire
-- no earlier than 0.9 * secs and no later than secs + H.slack: generous,
-- since the machine is shared, yet far below a timeout that fires 10x late.
H.slack = H.valgrind and 10 or (H.asan and 3 or 1.5)

-- H.timed(fn, ...) -> seconds fn took (http.now()), fn's results...
function H.timed(fn, ...)
  local now = require("c_http_core").now
  local t0 = now()
  local r = table.pack(fn(...))
  return now() - t0, table.unpack(r, 1, r.n)
end

-- H.assert_window(elapsed, secs, what): elapsed lies in the window
-- around a timeout configured as secs.
function H.assert_window(elapsed, secs, what)
  local lo, hi = 0.9 * secs, secs + H.slack
  assert(elapsed >= lo and elapsed <= hi,
    ("%s fired after %.3f s; configured %.3f s, expected within [%.3f, %.3f]")
      :format(what or "timeout", elapsed, secs, lo, hi))
end

-- H.wait_until(cond, secs, what): calls cond() every 10 ms (http.sleep,
-- so the loop runs meanwhile) until it returns true; fails after secs.
function H.wait_until(cond, secs, what)
  local http = require "c_http_core"
  local deadline = http.now() + (secs or 5)
  while not cond() do
    assert(http.now() < deadline, "gave up waiting for " .. (what or "a condition"))
    http.sleep(0.01)
  end
end

-- {==================================================================
-- WebSocket peers (spec/peers/ws_peers.sh): started by the spec that
-- needs them, stopped by its teardown (and gone with this process if it
-- is killed first). Returns a table of URLs and a
-- stop() function; raises (with the reason) when a peer is missing.
function H.ws_peers()
  local dir = H.tmp .. "/ws"
  os.execute("mkdir -p " .. H.q(dir))
  local f = io.popen("env -u LD_PRELOAD sh spec/peers/ws_peers.sh " .. H.q(dir)
                     .. " " .. H.q(H.tls_dir) .. " " .. H.pid())
  local line = f:read("l") or "ERROR no output from ws_peers.sh"
  f:close()
  local why = line:match("^ERROR (.*)")
  if why then error("WebSocket peers: " .. why, 2) end
  local pypid, nodepid, py, pytls, raw, node, nodetls =
    line:match("^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$")
  assert(pypid, "ws_peers.sh said: " .. line)
  local P = {
    py = "ws://127.0.0.1:" .. py, py_tls = "wss://localhost:" .. pytls,
    raw = "ws://127.0.0.1:" .. raw,
    node = "ws://127.0.0.1:" .. node, node_tls = "wss://localhost:" .. nodetls,
  }
  function P.stop()
    os.execute("kill -TERM -" .. pypid .. " -" .. nodepid .. " 2>/dev/null")
  end
  return P
end

-- Starts a node peer script (spec/peers/NAME.js ARGS --ready-file F
-- --parent PID) that writes "key=port" lines to F once it listens; returns
-- {pid, ports = {key = port}, stop()}. The peer also exits with the Lua
-- process that started it (--parent).
function H.node_peer(name, args)
  local http = require "c_http_core"
  local dir = assert(H.tmp, "CHC_TMP not set (run through spec/run.sh)")
  local ready = H.tmpname(name .. ".ready")
  os.remove(ready)
  local node = os.getenv("CHC_NODE") or "node"
  local cmd = ("setsid %s spec/peers/%s.js %s --ready-file %s --parent %d "
    .. "</dev/null >%s 2>&1 & echo $!"):format(node, name, args or "",
      H.q(ready), H.pid(), H.q(dir .. "/" .. name .. ".log"))
  local P = { pid = tonumber(H.sh(cmd):match("%d+")), ports = {} }
  assert(P.pid, "could not start spec/peers/" .. name .. ".js (is node installed?)")
  function P.stop()
    if P.pid then os.execute(("kill -TERM -%d 2>/dev/null"):format(P.pid)) end
    P.pid = nil
  end
  local deadline = http.now() + 10
  while true do
    local rf = io.open(ready, "r")
    if rf then
      local s = rf:read("a")
      rf:close()
      for k, v in s:gmatch("(%w+)=(%d+)") do P.ports[k] = v end
      return P
    end
    if http.now() >= deadline then
      P.stop()
      error(name .. ".js not ready within 10 s (node missing?)", 2)
    end
    http.sleep(0.05)
  end
end

-- The SSE peer (spec/peers/sse_peer.js): H.sse_peer() starts it and returns
-- {pid, h1 = "http://127.0.0.1:PORT", h2 = (h2c), stop()}.
function H.sse_peer()
  local P = H.node_peer("sse_peer")
  P.h1 = "http://127.0.0.1:" .. P.ports.h1
  P.h2 = "http://127.0.0.1:" .. P.ports.h2
  return P
end

-- A spec body run as a task with a deadline: `it("...", H.within(10,
-- function() ... end))`. The task is cancelled at the deadline and the
-- spec fails saying so, instead of hanging until the file's watchdog.
function H.within(limit, fn)
  return function()
    local http = require "c_http_core"
    local ok, err
    local timed_out = false
    http.run(function()
      local done = false
      local main = http.spawn(function()
        ok, err = pcall(fn)
        done = true
      end)
      local deadline = http.now() + limit
      while not done and http.now() < deadline do http.sleep(0.02) end
      if not done then
        timed_out = true
        main:cancel()
      end
      main:join()
    end)
    if timed_out then
      error(("test did not finish within %g s (%s)"):format(limit, tostring(err)), 0)
    end
    if not ok then error(err, 0) end
  end
end

-- WebSocket spec helpers: open (through `pool` when given) or fail the
-- spec with the error; one message sent and its echo checked.
function H.ws_open(url, opts, pool)
  local http = require "c_http_core"
  local ws, err
  if pool then ws, err = pool:websocket(url, opts)
  else ws, err = http.websocket(url, opts) end
  assert(ws, tostring(err))
  return ws
end

function H.ws_echo_once(ws, msg, kind)
  local assert = require "luassert" -- (busted's, outside a spec file's env)
  assert.is_true(ws:send(msg, kind))
  local got, k = ws:receive()
  assert.equals(#msg, got and #got)
  assert.equals(msg, got)
  assert.equals(kind or "text", k)
end

-- For messages in parts (ws:send(iterator), ws:receive_part): an
-- iterator over `n` parts made by part(i).
function H.ws_parts(n, part)
  local i = 0
  return function()
    i = i + 1
    if i <= n then return part(i) end
  end
end

-- Receives one message in parts of `size`: the list of parts, and their
-- kind (one kind for all; raises on an error or without a last part).
function H.ws_receive_parts(ws, size)
  local got, kind, last = {}, nil, false
  for _ = 1, 100000 do
    local part, k, l = ws:receive_part(size)
    assert(part, tostring(k))
    got[#got + 1] = part
    assert(kind == nil or kind == k, "one kind per message")
    kind, last = k, l
    if last then break end
  end
  assert(last, "no last part")
  return got, kind
end

-- The fault-injecting proxy (spec/peers/fault_peer.py), for the
-- reliability specs and tools/soak.lua. H.fault_start() returns
-- {url = "http://127.0.0.1:PORT", port, set(target, cut, how, times),
-- canned(name), freeze(how), stats(), stop()}; stop() closes its stdin, which ends it,
-- so it never outlives the Lua process that started it.

local function ctl_get(ctl, path)
  local core_pool = require("c_http_core").Pool{ timeout = 10, max_keepalive = 0 }
  local r = assert(core_pool:request("GET", ctl .. path))
  local body = r:read()
  core_pool:close()
  return H.json_flat(body)
end

function H.fault_start()
  local portfile = H.tmpname("fault-ports")
  local proc = assert(io.popen("exec /usr/bin/python3 spec/peers/fault_peer.py " ..
                               H.q(portfile), "w"))
  local line
  H.wait_until(function()
    local f = io.open(portfile)
    if f then line = f:read("l") f:close() end
    return line ~= nil
  end, 10, "fault peer start")
  local px, cp = line:match("^(%d+) (%d+)$")
  local ctl = "http://127.0.0.1:" .. cp
  local F = { port = tonumber(px), url = "http://127.0.0.1:" .. px,
              tls_url = "https://127.0.0.1:" .. px }
  function F.set(target, cut, how, times)
    return ctl_get(ctl, ("/set?target=%d&cut=%d&how=%s&times=%d"):format(
                          target, cut or -1, how or "fin", times or -1))
  end
  function F.canned(name) return ctl_get(ctl, "/canned?name=" .. name) end
  function F.stats() return ctl_get(ctl, "/stats") end
  function F.reset() return ctl_get(ctl, "/reset") end
  function F.freeze(how) return ctl_get(ctl, "/freeze?how=" .. (how or "stall")) end
  function F.stop() if proc then proc:close() proc = nil end end
  return F
end

-- Is err of one of the kinds (names, as http.is_error takes them)?
function H.kind_in(err, kinds)
  local http = require "c_http_core"
  for _, k in ipairs(kinds) do
    if http.is_error(err, k) then return true end
  end
  return false
end

-- Open file descriptors of this process (leak checks).
function H.fd_count()
  local p = assert(io.popen("ls /proc/" .. H.pid() .. "/fd"))
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n - 1 -- the pipe of this very popen
end

function H.pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  return pid
end
-- }==================================================================

return H
