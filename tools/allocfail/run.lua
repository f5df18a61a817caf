-- tools/allocfail/run.lua: one allocation-failure scenario, run by
-- tools/allocfail/host.c (the `allocfail` global is the host's counter).
--
--   af_host tools/allocfail/run.lua SCENARIO FIRST LAST STRIDE [KS]
--
-- The URLs come from the environment (spec/allocfail_spec.lua sets them):
-- CHC_NGINX_URL, CHC_NGHTTPD_URL, CHC_NGINX_TLS_URL + CHC_TLS_DIR,
-- CHC_AF_WS_URL (an echo WebSocket), CHC_AF_SSE_URL (the SSE peer).
--
-- It runs the scenario once without failures and counts its allocations
-- (T). Then, for N = FIRST, FIRST+STRIDE, ... up to min(LAST, T) and each
-- K in KS (default "1,2"): arms the counter to fail allocations N..N+K-1
-- (K = 2 also fails Lua's retry after its emergency collection, so Lua
-- raises), runs the scenario, disarms, and runs the scenario's check (a
-- normal request on the same pool), which must work. A run under failure
-- must succeed (the allocation was not needed, or was retried) or fail with
-- an error that names memory ("not enough memory", "out of memory",
-- "Memory allocation failure"); a timeout (a failure swallowed, the request
-- left waiting) or any other error is printed and fails the run, as does a
-- failed check. Crashes, ASan reports and hangs end the process (the host's
-- alarm). Prints one summary line:
--   allocfail SCENARIO: total T, ran R (N FIRST..LAST step STRIDE, K KS):
--   ok A, memory errors B, timeouts C, other errors D, check failures E
-- and returns true iff C, D and E are 0.
local name, first, last, stride, kinds = ...
first, last, stride = tonumber(first) or 1, tonumber(last) or math.huge,
  tonumber(stride) or 1
local ks = {}
for k in (kinds or "1,2"):gmatch("%d+") do ks[#ks + 1] = tonumber(k) end
local http = require "c_http_core"
local verbose = os.getenv("CHC_AF_VERBOSE") == "1"

local function env(k)
  local v = os.getenv(k)
  assert(v and v ~= "", k .. " is not set")
  return v
end

-- read a response whole; errors as nil, err
local function body_of(resp, err)
  if not resp then return nil, err end
  local b, e = resp:read()
  resp:close()
  if not b then return nil, e end
  return b, resp.status
end

local S = {}

-- The request scenarios run their exchange twice: on the long-lived pool
-- (a kept-alive connection: the reuse path, and the pool that must still
-- work afterwards) and on a fresh pool (connect, TLS handshake, HTTP/2
-- session), closed at the end.
local function request_scenario(url_env, opts, once)
  return {
    setup = function()
      return { url = env(url_env), pool = http.Pool(opts()) }
    end,
    run = function(c)
      local ok, err = once(c.pool, c.url)
      if not ok then return nil, err end
      local p = http.Pool(opts())
      ok, err = once(p, c.url)
      p:close()
      return ok, err
    end,
    check = function(c) return once(c.pool, c.url) end,
  }
end

-- HTTP/1.1: a POST with a streamed body, then a GET of 1 KiB
S.h1 = request_scenario("CHC_NGINX_URL", function() return { timeout = 5 } end,
  function(pool, url)
    local chunks = { "hello ", "streamed ", "body" }
    local i = 0
    local b, st = body_of(pool:request("POST", url .. "/echo", {
      headers = { { "Content-Type", "text/plain" }, { "X-A", "1" } },
      body = function() i = i + 1 return chunks[i] end }))
    if not b then return nil, st end
    assert(st == 200 and b == "ok\n", "unexpected answer")
    b, st = body_of(pool:request("GET", url .. "/1k"))
    if not b then return nil, st end
    assert(st == 200 and #b == 1024, "unexpected answer")
    return true
  end)

-- HTTP/2 (h2c, prior knowledge): three streams at once on one connection
S.h2 = request_scenario("CHC_NGHTTPD_URL",
  function() return { timeout = 5, http2 = true, http1 = false } end,
  function(pool, url)
    local res = {}
    http.run(function()
      local t = {}
      for i = 1, 3 do
        t[i] = http.spawn(function()
          return body_of(pool:request("GET", url .. "/1k"))
        end)
      end
      for i = 1, 3 do res[i] = table.pack(pcall(t[i].join, t[i])) end
    end)
    for i = 1, 3 do
      local r = res[i]
      if not r[1] then error(r[2], 0) end
      if not r[2] then return nil, r[3] end
      assert(#r[2] == 1024, "short body")
    end
    return true
  end)

-- HTTPS (mbedTLS; its own allocations are not counted, see allocfail.h)
S.tls = request_scenario("CHC_NGINX_TLS_URL",
  function()
    return { timeout = 5, tls = { ca_file = env("CHC_TLS_DIR") .. "/ca.pem" } }
  end,
  function(pool, url)
    local b, st = body_of(pool:request("GET", url .. "/1k"))
    if not b then return nil, st end
    assert(st == 200 and #b == 1024, "unexpected answer")
    return true
  end)

-- WebSocket: handshake, a compressed echo (permessage-deflate: zlib), close
S.ws = {
  setup = function()
    return { url = env("CHC_AF_WS_URL"), pool = http.Pool{ timeout = 5 } }
  end,
  run = function(c)
    local ws, err = c.pool:websocket(c.url, { close_timeout = 2 })
    if not ws then return nil, err end
    local msg = string.rep("hello websocket ", 8)
    local ok, e = ws:send(msg)
    if not ok then ws:close() return nil, e end
    local got, e2 = ws:receive()
    ws:close()
    if not got then return nil, e2 end
    assert(got == msg, "wrong echo")
    return true
  end,
}
S.ws.check = S.ws.run

-- Server-Sent Events: three events, no reconnection
S.sse = {
  setup = function()
    return { url = env("CHC_AF_SSE_URL"), pool = http.Pool{ timeout = 5 } }
  end,
  run = function(c)
    local es <close> = c.pool:sse(c.url .. "/events?n=3&id=1", { reconnect = false })
    local n = 0
    while true do
      local ev, err = es:next()
      if ev == nil then
        if err then return nil, err end
        break
      end
      n = n + 1
    end
    assert(n == 3, "got " .. n .. " events")
    return true
  end,
}
S.sse.check = S.sse.run

local sc = assert(S[name], "unknown scenario " .. tostring(name))
local ctx = sc.setup()

local function errtext(e)
  if type(e) == "table" then
    return tostring(e.kind) .. ": " .. tostring(e.message)
  end
  return tostring(e)
end

-- one run: "ok", or "mem"/"hang"/"other" and the error's text
local function attempt()
  local ok, r, e = pcall(sc.run, ctx)
  if ok and r then return "ok" end
  local text = errtext(ok and e or r)
  if text:lower():find("memory") then return "mem", text end
  -- nghttp2 reports a failed allocation in its HPACK encoder as a header
  -- compression error (the session is then unusable and closed)
  if text:find("Header compression/decompression error", 1, true) then
    return "mem", text
  end
  if text:find("^%a*Timeout:") then return "hang", text end
  return "other", text
end

-- the total: a run without failures (after a warm-up run, so that lazy
-- one-time allocations do not count)
allocfail.arm(0)
assert(attempt() == "ok", name .. ": the scenario fails without injected failures")
collectgarbage()
allocfail.arm(0)
local r, why = attempt()
local total = allocfail.count()
assert(r == "ok", name .. ": the scenario fails without injected failures: " .. tostring(why))

local counts = { ok = 0, mem = 0, hang = 0, other = 0, check = 0 }
local ran = 0
for n = first, math.min(last, total), stride do
  for _, k in ipairs(ks) do
    if verbose then print(("allocfail %s N=%d K=%d ..."):format(name, n, k)) io.stdout:flush() end
    collectgarbage()
    allocfail.arm(n, k)
    local res, text = attempt()
    local failed = allocfail.failed()
    allocfail.arm(0)
    ran = ran + 1
    counts[res] = counts[res] + 1
    if res ~= "ok" and res ~= "mem" or verbose then
      print(("allocfail %s N=%d K=%d failed=%d %s %s"):format(name, n, k, failed,
        res, text or ""))
    end
    local ok, good, cerr = pcall(sc.check, ctx)
    if not (ok and good) then
      counts.check = counts.check + 1
      local ok2, good2, cerr2 = pcall(sc.check, ctx)
      print(("allocfail %s N=%d K=%d: the request after the failure failed: %s (a second one: %s)")
        :format(name, n, k, errtext(ok and cerr or good),
                (ok2 and good2) and "ok" or errtext(ok2 and cerr2 or good2)))
    end
    io.stdout:flush()
  end
end
if ctx.pool then ctx.pool:close() end
print(("allocfail %s: total %d, ran %d (N %d..%d step %d, K %s): ok %d, memory errors %d, "
       .. "timeouts %d, other errors %d, check failures %d"):format(name, total, ran,
  first, math.min(last, total), stride, table.concat(ks, ","), counts.ok, counts.mem,
  counts.hang, counts.other, counts.check))
return counts.check == 0 and counts.hang == 0 and counts.other == 0
