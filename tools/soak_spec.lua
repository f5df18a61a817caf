-- The soak (`make soak`, not in CI): mixed traffic for SOAK_SECONDS (default
-- 600) against the test peers, with RSS, open fds and the Lua heap sampled
-- every SOAK_SAMPLE seconds (default 5). It fails when a workload that should
-- succeed fails, or when any of the three trends up after the warm-up (the
-- first fifth of the run, at least 10 s): the mean of the last third of the
-- samples after the warm-up may exceed the mean of the first third by at most
-- 10% + 2 MiB (RSS), 8 fds, 10% + 512 KiB (Lua heap). The samples and a
-- summary per workload go to stdout (the README's reliability section has
-- the last 10-minute run's).
--
-- Workloads, each a task looping until the deadline: h1 (nginx, keep-alive,
-- small and 64 KiB bodies), h2 (h2c, 4 concurrent streams per round), TLS
-- (h1 over TLS, new pool every 20 requests: handshakes too), uploads (1 MiB
-- string body and a streamed body to the raw peer's /upload-sha256),
-- cancels (a 64 MiB download closed after its first chunk, a task cancelled
-- mid-request), timeouts (a stalled head, read timeout 0.2 s), faults (the
-- fault peer cuts an HTTP/1.1 exchange at a random byte, FIN or RST),
-- ws (WebSocket echo sessions, text and binary, deflated; every other one
-- through a fault peer that cuts it at a random byte or stalls it), sse
-- (EventSource streams, likewise cut: it must reconnect and end cleanly).
local H = require "helper"
local http = require "c_http_core"

local SECONDS = tonumber(os.getenv("SOAK_SECONDS") or "") or 600
local SAMPLE = tonumber(os.getenv("SOAK_SAMPLE") or "") or 5
local WARMUP = math.max(10, SECONDS / 5)

-- Hook for later workloads: name -> function(deadline, count) that loops
-- until deadline, calling count(ok, err) after each operation.
local EXTRA = {}

-- fn(F, ...) with a fault peer of its own (a fault peer's mode is global:
-- workloads sharing one would cut each other's connections) and the peers
-- start(); all stopped afterwards, also when fn raises.
local function with_peers(start, fn)
  local F = H.fault_start()
  local P = start()
  local ok, err = pcall(fn, F, P)
  F.stop()
  P.stop()
  if not ok then error(err, 0) end
end

local function port_of(url) return tonumber(url:match(":(%d+)$")) end

-- One WebSocket session through F: n echoes (text and binary), then the
-- close. Returns true, or nil and the error that ended it.
local function ws_session(pool, F, n)
  local ws, err = pool:websocket("ws://127.0.0.1:" .. F.port .. "/echo",
                                 { ping_interval = 0.2, ping_timeout = 0.5,
                                   close_timeout = 0.5 })
  if not ws then return nil, err end
  for i = 1, n do
    local kind = i % 2 == 0 and "binary" or "text"
    local m = string.rep(kind, i * 7)
    local ok, serr = ws:send(m, kind)
    if not ok then ws:close() return nil, serr end
    local got, rerr = ws:receive()
    if got ~= m then ws:close() return nil, rerr or "wrong echo" end
  end
  ws:close()
  return ws.close_code == 1000 or nil, "no close from the server"
end

local WS_FAULT_KINDS = { "RemoteProtocolError", "ReadError", "WriteError",
                         "ReadTimeout" }

function EXTRA.ws(deadline, count)
  with_peers(H.ws_peers, function(F, P)
    local target = port_of(P.py)
    local pool = http.Pool{ timeout = { connect = 5, read = 2 } }
    while http.now() < deadline do
      F.set(target, -1)
      count(ws_session(pool, F, 20))
      local how = ({ "fin", "rst", "fin", "rst", "stall" })[math.random(5)]
      F.set(target, math.random(0, 500), how, 1)
      local ok, err = ws_session(pool, F, 3)
      -- a cut: the session works (the cut came after it) or fails with a
      -- kind the API gives for it; a cut close is no close code
      count(ok or err == "no close from the server" or H.kind_in(err, WS_FAULT_KINDS),
            err)
    end
    pool:close()
  end)
end

-- One EventSource run through F; true when it ended without an error with
-- every event of its last connection.
local function sse_session(pool, F, n, reconnects)
  local es <close> = pool:sse(F.url .. "/events?id=1&n=" .. n,
                              { retry = 0, max_reconnects = reconnects })
  local last
  while true do
    local ev, err = es:next()
    if ev == nil then
      if err then return nil, err end
      break
    end
    last = ev.data
  end
  return last == "e" .. n and es.last_event_id == tostring(n) or nil, "events missing"
end

function EXTRA.sse(deadline, count)
  with_peers(H.sse_peer, function(F, P)
    local target = port_of(P.h1)
    local pool = http.Pool{ timeout = { connect = 5, read = 5 } }
    while http.now() < deadline do
      F.set(target, -1)
      count(sse_session(pool, F, 50, 0))
      local how = ({ "fin", "rst", "fin", "rst", "stall" })[math.random(5)]
      F.set(target, math.random(0, 300), how, 1)
      -- reconnects after the cut (a stall: after the read timeout); a pool
      -- of its own, so that no connection with a cut to come is kept for
      -- the clean sessions (which may not reconnect)
      local fpool = http.Pool{ timeout = { connect = 5, read = 1 } }
      count(sse_session(fpool, F, 3, 2))
      fpool:close()
    end
    pool:close()
  end)
end

local counts = {}
local function counter(name)
  counts[name] = counts[name] or { ok = 0, err = 0, kinds = {} }
  local c = counts[name]
  return function(ok, err)
    if ok then
      c.ok = c.ok + 1
    else
      c.err = c.err + 1
      local k = type(err) == "table" and err.kind or tostring(err)
      c.kinds[k] = (c.kinds[k] or 0) + 1
    end
  end
end

local function get_all(pool, url)
  local r, err = pool:request("GET", url)
  if not r then return nil, err end
  local body, berr = r:read()
  r:close()
  return body, berr
end

local WORK = {}

function WORK.h1(deadline, count)
  local pool = http.Pool{ timeout = 10 }
  while http.now() < deadline do
    count(get_all(pool, H.nginx .. "/small"))
    count(get_all(pool, H.nginx .. "/64k"))
  end
  pool:close()
end

function WORK.h2(deadline, count)
  local pool = http.Pool{ http1 = false, http2 = true, timeout = 10 }
  while http.now() < deadline do
    local ts = {}
    for i = 1, 4 do
      ts[i] = http.spawn(get_all, pool, H.nginx_h2c .. (i % 2 == 0 and "/64k" or "/1k"))
    end
    for i = 1, 4 do count(ts[i]:join()) end
  end
  pool:close()
end

function WORK.tls(deadline, count)
  while http.now() < deadline do
    local pool = http.Pool{ timeout = 10, tls = { ca_file = H.tls_dir .. "/ca.pem" } }
    for _ = 1, 20 do count(get_all(pool, H.tls .. "/small")) end
    pool:close()
  end
end

function WORK.upload(deadline, count)
  local pool = http.Pool{ timeout = 10 }
  local big = string.rep("u", 1 << 20)
  while http.now() < deadline do
    count(get_all(pool, H.raw .. "/upload-sha256"))
    local r, err = pool:request("POST", H.raw .. "/upload-sha256", { body = big })
    if r then r, err = r:read() end
    count(r, err)
    local n = 0
    r, err = pool:request("POST", H.raw .. "/upload-sha256", { body = function()
      n = n + 1
      if n <= 16 then return string.rep("s", 65536) end
    end })
    if r then r, err = r:read() end
    count(r, err)
  end
  pool:close()
end

function WORK.cancel(deadline, count)
  local pool = http.Pool{ timeout = 10 }
  while http.now() < deadline do
    local r, err = pool:request("GET", H.nginx .. "/64m")
    if r then
      local chunk = r:iter()()
      r:close()
      count(chunk ~= nil, chunk == nil and "no first chunk" or nil)
    else
      count(nil, err)
    end
    local t = http.spawn(get_all, pool, H.raw .. "/stall-head?s=2")
    http.sleep(0.05)
    t:cancel()
    count(true)
  end
  pool:close()
end

function WORK.timeout(deadline, count)
  local pool = http.Pool{ timeout = { connect = 5, read = 0.2 } }
  while http.now() < deadline do
    local _, err = get_all(pool, H.raw .. "/stall-head?s=1")
    -- the expected outcome is a ReadTimeout: count that as success
    count(http.is_error(err, "ReadTimeout"), err)
  end
  pool:close()
end

function WORK.faults(deadline, count, F)
  while http.now() < deadline do
    F.set(H.nginx_port, math.random(0, 200), math.random(2) == 1 and "fin" or "rst")
    local pool = http.Pool{ timeout = 10 }
    local body, err = get_all(pool, F.url .. "/small")
    -- a cut is an error or (past the end) the response: either is fine; an
    -- error of another kind is not
    count(body ~= nil or http.is_error(err, "RemoteProtocolError")
          or http.is_error(err, "ReadError"), err)
    pool:close()
  end
end
for k, v in pairs(EXTRA) do WORK[k] = v end

local function mean(t, a, b)
  local s = 0
  for i = a, b do s = s + t[i] end
  return s / (b - a + 1)
end

describe("soak", function()
  it("mixed traffic for SOAK_SECONDS leaks nothing", function()
    local F = H.fault_start()
    local samples = {}
    local t0 = http.now()
    local deadline = t0 + SECONDS
    http.run(function()
      local tasks = {}
      for name, fn in pairs(WORK) do
        tasks[#tasks + 1] = http.spawn(fn, deadline, counter(name), F)
      end
      while http.now() < deadline do
        collectgarbage()
        collectgarbage()
        local rss = H.rss_kb()
        samples[#samples + 1] = { t = http.now() - t0, rss = rss, fds = H.fd_count(),
                                  heap = collectgarbage("count") }
        local s = samples[#samples]
        print(("soak t=%4.0fs rss=%d KiB fds=%d lua=%.0f KiB"):format(s.t, s.rss, s.fds, s.heap))
        io.stdout:flush()
        http.sleep(math.min(SAMPLE, math.max(0.01, deadline - http.now())))
      end
      for _, t in ipairs(tasks) do t:join() end
    end)
    F.stop()
    local names = {}
    for name in pairs(counts) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do
      local c = counts[name]
      local ks = {}
      for k, v in pairs(c.kinds) do ks[#ks + 1] = k .. "=" .. v end
      table.sort(ks)
      print(("soak %-8s ok=%d failed=%d %s"):format(name, c.ok, c.err, table.concat(ks, " ")))
    end
    for _, name in ipairs(names) do
      assert.equals(0, counts[name].err, name .. " had failures")
      assert.is_true(counts[name].ok > 0, name .. " did nothing")
    end
    -- the trend after the warm-up
    local first = 1
    while samples[first] and samples[first].t < WARMUP do first = first + 1 end
    local n = #samples - first + 1
    assert.is_true(n >= 6, "too few samples after the warm-up: run longer")
    local third = n // 3
    local function series(key)
      local t = {}
      for i = first, #samples do t[#t + 1] = samples[i][key] end
      return mean(t, 1, third), mean(t, n - third + 1, n)
    end
    local r1, r2 = series("rss")
    local f1, f2 = series("fds")
    local h1, h2 = series("heap")
    print(("soak trend (first third -> last third after %ds warm-up): " ..
           "rss %.0f -> %.0f KiB, fds %.1f -> %.1f, lua %.0f -> %.0f KiB"):format(
           WARMUP, r1, r2, f1, f2, h1, h2))
    assert.is_true(r2 <= r1 * 1.10 + 2048, "RSS trends up")
    assert.is_true(f2 <= f1 + 8, "fds trend up")
    assert.is_true(h2 <= h1 * 1.10 + 512, "Lua heap trends up")
  end)
end)
