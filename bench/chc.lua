-- bench/chc.lua: the c_http_core side of the benchmarks (bench/run.sh).
--
--   lua5.4 bench/chc.lua MODE key=value ...
--
-- Modes (url= is always required; h2=1 asks for HTTP/2: ALPN h2 on https,
-- prior-knowledge h2c on http; every https pool skips verification of the
-- self-signed test certificate, as the peers do with -k):
--   seq    n=          W1: n sequential keep-alive GETs on ONE connection
--   conc   n= c=       W2: c tasks, one per connection (Pool max_connections=c),
--                      each making sequential GETs until n are done
--   mux    n= c= m=    W3: c pools of ONE connection each, m tasks per pool
--                      (m requests in flight per connection); needs h2=1
--   get    size= [via=write_to]  W4: one GET, body read with resp:iter() (or
--                      resp:write_to(/dev/null)) and discarded
--   close  n=          W5: n GETs, each on a new connection (one Pool with
--                      max_keepalive=0, and "Connection: close"); on https
--                      counts the responses nginx marks X-Reused: r (TLS
--                      session resumed; only the resumption port allows it)
--   upload size= [chunk=] W6: POST of size bytes from a producer function
--                      returning the same chunk (default 256 KiB) each time
--   idle   n= settle= trim=  W7: n concurrent GETs on one pool that keeps every
--                      connection: n idle keep-alive connections; prints the
--                      RSS delta per connection after the loop stayed quiet
--                      for settle seconds (default 2; burst_per_conn_b: at
--                      once) and the time to open them; trim=0 turns the
--                      library's memory trim off
--   sse    n=          W10: one SSE stream of n events through pool:sse()
--   status             prints "accepts requests" from nginx's stub_status
--
-- Every mode first makes one probe request (and checks it). If the probe
-- fails (an error, UnsupportedProtocol, HTTP/1.1 where h2 was asked for) the
-- driver prints "UNSUPPORTED <reason>" and exits 3. After the probe, every
-- response is checked (status, body bytes, protocol version, connection
-- counts); a wrong answer prints "WRONG <reason>" and exits 1. On success it
-- prints one line: "RESULT key=value ..." (rate is the driver's own clock,
-- process start-up excluded).
local http = require "c_http_core"

local A = { mode = arg[1] }
for i = 2, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  if not k then error("bad argument " .. arg[i] .. " (key=value expected)") end
  A[k] = v
end
local function num(k, d)
  local v = A[k]
  if v == nil then return d end
  return assert(tonumber(v), k .. " must be a number")
end

local url = assert(A.url, "url= is required")
local H2 = A.h2 == "1"
local TLS = url:match("^https:") ~= nil
local SMALL = "Hello, World!"
local TIMEOUT = num("timeout", 30)

-- {=========================================================== helpers
local function now()
  local p = assert(io.popen("date +%s.%N"))
  local s = p:read("n")
  p:close()
  return s
end

local function status_kv(path, key)
  local f = io.open(path)
  if not f then return nil end
  for line in f:lines() do
    local v = line:match("^" .. key .. ":%s*(%d+)")
    if v then f:close() return tonumber(v) end
  end
  f:close()
end
local function rss_kb() return status_kv("/proc/self/status", "VmRSS") end
local function hwm_kb() return status_kv("/proc/self/status", "VmHWM") end

local function lo_bytes()   -- loopback rx bytes (a lower-bound check for uploads)
  local f = io.open("/proc/net/dev")
  if not f then return nil end
  for line in f:lines() do
    local rx = line:match("^%s*lo:%s*(%d+)")
    if rx then f:close() return tonumber(rx) end
  end
  f:close()
end

local function wrong(fmt, ...)
  local msg = fmt:format(...):gsub("\\\n", "\\n"):gsub("\n", " ")
  io.stdout:write("WRONG ", msg, "\n")
  io.stdout:flush()
  os.exit(1)
end

local function unsupported(why)
  io.stdout:write("UNSUPPORTED ", tostring(why):gsub("\n", " "), "\n")
  io.stdout:flush()
  os.exit(3)
end

local function pool_opts(extra)
  local o = { timeout = TIMEOUT }
  if H2 then
    o.http2 = true
    if not TLS then o.http1 = false end
  end
  if TLS then o.tls = { verify = false } end
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local PROBE_TLS   -- the probe's X-TLS header: protocol/cipher nginx negotiated
local WANT_VERSION = H2 and "HTTP/2" or "HTTP/1.1"

-- check one /small response; returns its body length
local function check_small(r, err, what)
  if not r then wrong("%s: %s", what, tostring(err)) end
  if r.status ~= 200 then wrong("%s: status %s", what, tostring(r.status)) end
  local body, e = r:read()
  if body ~= SMALL then wrong("%s: body %q (%s)", what, tostring(body), tostring(e)) end
  return #body
end

-- The probe: one request on a pool (a fresh one unless given); any failure,
-- or a protocol version other than the one asked for, is "not supported".
local function probe(pool, purl, method, opts)
  opts = opts or {}
  opts.timeout = num("probe_timeout", 5)   -- a hang is "not supported" too
  local ok, r, err = pcall(function()
    local p = pool or http.Pool(pool_opts())
    local resp, e = p:request(method or "GET", purl or url, opts)
    if not resp then return nil, e end
    local body, e2 = resp:read()
    if not body then return nil, e2 end
    if resp.status ~= 200 then return nil, "status " .. resp.status end
    if resp.version ~= WANT_VERSION then
      return nil, "got " .. tostring(resp.version) .. ", wanted " .. WANT_VERSION
    end
    PROBE_TLS = resp.headers:get("x-tls")
    if not pool then p:close() end
    return resp
  end)
  if not ok then unsupported(r) end
  if not r then
    unsupported(type(err) == "table" and (tostring(err.kind) .. ": " .. tostring(err.message))
                or tostring(err))
  end
  io.stderr:write("PROBE_OK\n")
  return r
end

local function result(t)
  if PROBE_TLS and PROBE_TLS ~= "" then t.tls = PROBE_TLS end
  t.cpu = ("%.3f"):format(os.clock())
  t.hwm_kb = hwm_kb()
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = { "RESULT" }
  for _, k in ipairs(keys) do out[#out + 1] = k .. "=" .. tostring(t[k]) end
  io.stdout:write(table.concat(out, " "), "\n")
  io.stdout:flush()
  os.exit(0)
end

-- run fn inside http.run; a raised error (a failed assert in a task) is a
-- wrong answer.
local function run(fn)
  local ok, err = pcall(http.run, fn)
  if not ok then wrong("task failed: %s", tostring(err)) end
end
-- }===================================================================

local mode = A.mode

if mode == "status" then
  local r = assert(http.request("GET", url))
  local body = assert(r:read())
  local a, _, q = body:match("\n%s*(%d+)%s+(%d+)%s+(%d+)")
  print(a, q)
  os.exit(0)

elseif mode == "seq" then
  local n = num("n", 20000)
  local pool = http.Pool(pool_opts{ max_connections = 1, max_keepalive = 1 })
  probe(pool)
  local bytes = 0
  local request = pool.request
  local t0 = now()
  for i = 1, n do
    local r, err = request(pool, "GET", url)
    if not r then wrong("request %d: %s", i, tostring(err)) end
    if r.status ~= 200 then wrong("request %d: status %s", i, r.status) end
    local body = r:read()
    if body ~= SMALL then wrong("request %d: body %q", i, tostring(body)) end
    bytes = bytes + #body
  end
  local secs = now() - t0
  local st = pool:stats()
  if st.connections ~= 1 then wrong("%d connections, wanted 1", st.connections) end
  if bytes ~= n * #SMALL then wrong("bytes %d", bytes) end
  result{ requests = n, bytes = bytes, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(n / secs), unit = "req/s", conns = 1 }

elseif mode == "conc" then
  local n, c = num("n", 100000), num("c", 50)
  local pool = http.Pool(pool_opts{ max_connections = c, max_keepalive = c })
  probe(pool)
  local issued, done, bytes = 0, 0, 0
  local t0 = now()
  run(function()
    for _ = 1, c do
      http.spawn(function()
        while issued < n do
          issued = issued + 1
          local r, err = pool:request("GET", url)
          local len = check_small(r, err, "request")   -- may yield: add after it
          bytes = bytes + len
          done = done + 1
        end
      end)
    end
  end)
  local secs = now() - t0
  local st = pool:stats()
  if done ~= n or bytes ~= n * #SMALL then wrong("done %d bytes %d", done, bytes) end
  if st.connections > c then wrong("%d connections, max %d", st.connections, c) end
  result{ requests = n, bytes = bytes, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(n / secs), unit = "req/s", conns = st.connections }

elseif mode == "mux" then
  local n, c, m = num("n", 100000), num("c", 1), num("m", 100)
  if not H2 then error("mux needs h2=1") end
  local pools = {}
  for i = 1, c do
    pools[i] = http.Pool(pool_opts{ max_connections = 1, max_keepalive = 1 })
    probe(pools[i])
  end
  local issued, done, bytes = 0, 0, 0
  local t0 = now()
  run(function()
    for i = 1, c do
      local pool = pools[i]
      for _ = 1, m do
        http.spawn(function()
          while issued < n do
            issued = issued + 1
            local r, err = pool:request("GET", url)
            if r and r.version ~= "HTTP/2" then wrong("version %s", r.version) end
            local len = check_small(r, err, "request")   -- may yield: add after it
            bytes = bytes + len
            done = done + 1
          end
        end)
      end
    end
  end)
  local secs = now() - t0
  local conns = 0
  for i = 1, c do
    local st = pools[i]:stats()
    if st.connections ~= 1 then wrong("pool %d: %d connections, wanted 1", i, st.connections) end
    conns = conns + st.connections
  end
  if done ~= n or bytes ~= n * #SMALL then wrong("done %d bytes %d", done, bytes) end
  result{ requests = n, bytes = bytes, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(n / secs), unit = "req/s", conns = conns }

elseif mode == "get" then
  local size = num("size", 536870912)
  local small = url:gsub("/[^/]*$", "/small")
  probe(nil, small)
  local pool = http.Pool(pool_opts{ max_connections = 1 })
  local t0 = now()
  local r, err = pool:request("GET", url)
  if not r then wrong("request: %s", tostring(err)) end
  if r.status ~= 200 then wrong("status %s", r.status) end
  if r.version ~= WANT_VERSION then wrong("version %s", r.version) end
  local cl = tonumber(r.headers:get("content-length"))
  if cl ~= size then wrong("content-length %s, wanted %d", tostring(cl), size) end
  local bytes, chunks, maxchunk = 0, 0, 0
  local ok, e = pcall(function()
    if A.via == "write_to" then   -- C to the file, no Lua strings
      local f = assert(io.open("/dev/null", "wb"))
      local n, werr = r:write_to(f)
      f:close()
      if not n then error(werr, 0) end
      bytes, chunks, maxchunk = n, 1, n
      return
    end
    for chunk in r:iter() do
      local l = #chunk
      bytes = bytes + l
      chunks = chunks + 1
      if l > maxchunk then maxchunk = l end
    end
  end)
  local secs = now() - t0
  if not ok then wrong("body: %s", tostring(e)) end
  if bytes ~= size then wrong("got %d bytes, wanted %d", bytes, size) end
  result{ requests = 1, bytes = bytes, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(bytes / secs / 1e6), unit = "MB/s", conns = 1,
          chunks = chunks, maxchunk = maxchunk }

elseif mode == "close" then
  local n = num("n", 2000)
  local hdrs = { { "Connection", "close" } }
  probe(nil, nil, "GET", { headers = hdrs })
  -- one pool that keeps nothing: every request opens a connection (the
  -- pool's TLS context, and so any session cache it has, is shared; the
  -- full-handshake port has no session cache on the server side)
  local pool = http.Pool(pool_opts{ max_connections = 1, max_keepalive = 0 })
  local bytes, reused = 0, 0
  local t0 = now()
  for i = 1, n do
    local r, err = pool:request("GET", url, { headers = hdrs })
    if r and r.headers:get("x-reused") == "r" then reused = reused + 1 end
    bytes = bytes + check_small(r, err, "request " .. i)
    r:close()
    local st = pool:stats()
    if st.connections ~= 0 then wrong("request %d: connection kept (%d)", i, st.connections) end
  end
  local secs = now() - t0
  result{ requests = n, bytes = bytes, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(n / secs), unit = "req/s", conns = n,
          reused = TLS and reused or nil }

elseif mode == "upload" then
  local size = num("size", 268435456)
  local csize = num("chunk", 262144)
  local chunk = string.rep("x", csize)
  local nchunks = size // csize
  if nchunks * csize ~= size then error("size must be a multiple of chunk") end
  probe(nil, url, "POST", { body = "probe" })
  local pool = http.Pool(pool_opts{ max_connections = 1 })
  local left, sent, ended = nchunks, 0, false
  local function producer()
    if left == 0 then ended = true return nil end
    left = left - 1
    sent = sent + csize
    return chunk
  end
  local lo0 = lo_bytes()
  local t0 = now()
  local r, err = pool:request("POST", url, { body = producer })
  if not r then wrong("request: %s", tostring(err)) end
  local body, e = r:read()
  if r.status ~= 200 or body ~= "ok\n" then
    wrong("status %s body %q (%s)", r.status, tostring(body), tostring(e))
  end
  -- nginx may answer before it has read the whole body: the upload must
  -- still run to its end (the producer returned nil)
  if not ended then
    r:close()
    wrong("the producer was not drained: %d of %d bytes taken", sent, size)
  end
  local secs = now() - t0
  local lo1 = lo_bytes()
  if lo0 and lo1 and lo1 - lo0 < size then
    wrong("loopback moved %d bytes, less than the %d uploaded", lo1 - lo0, size)
  end
  result{ requests = 1, bytes = sent, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(sent / secs / 1e6), unit = "MB/s", conns = 1 }

elseif mode == "idle" then
  local n = num("n", 10000)
  probe(nil)
  if A.trim == "0" then http.config{ trim_memory = false } end
  local pool = http.Pool(pool_opts{ max_connections = n, max_keepalive = n,
                                    keepalive_expiry = 3600 })
  collectgarbage("collect"); collectgarbage("collect")
  local rss0, heap0 = rss_kb(), collectgarbage("count")
  local done = 0
  local t0, secs, rssb = now(), nil, nil
  run(function()
    local tasks = {}
    for i = 1, n do
      tasks[i] = http.spawn(function()
        local r, err = pool:request("GET", url)
        check_small(r, err, "request")
        r:close()
        done = done + 1
      end)
    end
    for i = 1, n do tasks[i]:join() end
    secs = now() - t0
    tasks = nil
    collectgarbage("collect"); collectgarbage("collect")
    rssb = rss_kb()
    -- then the loop stays quiet for `settle` seconds, as in a program that
    -- holds idle connections (the library's memory trim runs after 1 s)
    http.sleep(num("settle", 2))
  end)
  collectgarbage("collect"); collectgarbage("collect")
  local rss1, heap1 = rss_kb(), collectgarbage("count")
  local st = pool:stats()
  if done ~= n then wrong("done %d of %d", done, n) end
  if st.connections ~= n or st.idle ~= n then
    wrong("pool holds %d connections (%d idle), wanted %d", st.connections, st.idle, n)
  end
  result{ requests = n, bytes = n * #SMALL, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(n / secs), unit = "conn/s", conns = n,
          rss_delta_kb = rss1 - rss0,
          per_conn_b = ("%.0f"):format((rss1 - rss0) * 1024 / n),
          burst_per_conn_b = ("%.0f"):format((rssb - rss0) * 1024 / n),
          lua_heap_per_conn_b = ("%.0f"):format((heap1 - heap0) * 1024 / n) }

elseif mode == "sse" then
  -- W10: one event stream of n events (bench/server.sh's /sse1m: each a
  -- 64-byte "data: " line with 58 bytes of data), read through pool:sse()
  -- and es:events(), every event's data checked
  local n = num("n", 1000000)
  local pool = http.Pool(pool_opts{ max_connections = 1 })
  probe(pool, (url:gsub("/[^/]*$", "/small")))
  local got, bytes = 0, 0
  local t0 = now()
  run(function()
    local es <close> = pool:sse(url, { reconnect = false })
    for ev in es:events() do
      local d = ev.data
      if #d ~= 58 then wrong("event %d: data of %d bytes", got + 1, #d) end
      got = got + 1
      bytes = bytes + #d
    end
  end)
  local secs = now() - t0
  if got ~= n then wrong("got %d events of %d", got, n) end
  result{ requests = n, events = n, bytes = bytes, secs = ("%.4f"):format(secs),
          rate = ("%.1f"):format(n / secs), unit = "ev/s" }

else
  error("unknown mode " .. tostring(mode))
end
