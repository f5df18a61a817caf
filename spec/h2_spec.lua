-- HTTP/2 (issue 5) against real servers on loopback, all started by
-- spec/run.sh:
--   nginx      h2 over TLS by ALPN on its main TLS server (H.tls, which
--              also offers http/1.1), and h2c with prior knowledge on its
--              own port (H.nginx_h2c), same locations as the plain server
--   nghttpd    h2c over nginx's www dir (H.nghttpd)
--   node       spec/peers/h2_peer.js: what the others will not do on
--              demand -- RST_STREAM, GOAWAY, trailers, a low
--              SETTINGS_MAX_CONCURRENT_STREAMS (H.h2peer_max5), an upload
--              sink reporting length and sha256, per-session counters
--              (H.h2_stats) and ids (x-conn-id on every response)
--
-- Selection: http.Pool{ http2 = true } offers h2 by ALPN on https;
-- http.Pool{ http1 = false, http2 = true } speaks h2c with prior knowledge
-- on http://.
--
-- Pool policy for streams (the lead's choice, DESIGN.md / issue 5):
-- concurrent requests to one origin share ONE connection up to the
-- server's SETTINGS_MAX_CONCURRENT_STREAMS; past it they wait in the pool
-- for a free stream slot on that same connection. No second connection is
-- opened for them (pool limits count connections, not streams).
--
-- Every test runs under a watchdog (within(): 10 to 30 s) and every pool
-- has a 10 s timeout, so a hang fails in bounded time.
local H = require "helper"
local http = require "c_http_core"
local core = require "c_http_core.core"

local MiB = 1024 * 1024

local function check_clean()
  collectgarbage()
  collectgarbage()
  assert.equals(0, core.stats().tasks, "tasks left behind")
end

-- {==================================================================
-- Bounded tests. Each test body runs as a task under a watchdog: past
-- its limit every task the test started is cancelled (their waits raise
-- Cancelled) and the test fails, so a hang costs seconds, not the run.
-- If cancelling does not end the test within 5 s more, the watchdog ends
-- the process (run.sh then reports the missing summary as a failure).
-- Inside a test, spawn()/par() replace http.spawn/http.run (http.run
-- cannot be nested).

local running = {} -- the tasks of the current test

local function spawn(fn, ...)
  local t = http.spawn(fn, ...)
  running[#running + 1] = t
  return t
end

-- fn(i) in n concurrent tasks; returns the packed results of each, in
-- order (a task's error is raised by its join)
local function par(n, fn)
  local ts = {}
  for i = 1, n do ts[i] = spawn(fn, i) end
  local out = {}
  for i = 1, n do out[i] = table.pack(ts[i]:join()) end
  return out
end

local function within(limit, fn)
  return function()
    running = {}
    local timed_out = false
    local ok, err
    http.run(function()
      local main = spawn(fn)
      local done = false
      local dog = http.spawn(function()
        local deadline = core.now() + limit
        while not done and core.now() < deadline do http.sleep(0.02) end
        if not done then
          timed_out = true
          for _, t in ipairs(running) do t:cancel() end
        end
        -- every other task of this run (the test's, and any the library
        -- runs for it) must end soon after the test did or was cancelled;
        -- 2 = this run's own function + this watchdog
        deadline = core.now() + 5
        while (not done or core.stats().tasks > 2) and core.now() < deadline do
          http.sleep(0.02)
        end
        if not done or core.stats().tasks > 2 then
          -- last resort, when cancelling does not free the test (an
          -- engine bug): end the run rather than hang it
          io.stderr:write(("\nh2_spec: a test did not finish within %g s and "
            .. "ignored cancellation (%d tasks left); exiting\n"):format(
              limit, core.stats().tasks))
          os.exit(1)
        end
      end)
      ok, err = pcall(main.join, main)
      done = true
      -- a failed test must not leave its other tasks waiting
      for _, t in ipairs(running) do t:cancel() end
      dog:join()
    end)
    running = {}
    if timed_out then
      error(("test did not finish within %g s (%s)"):format(limit, tostring(err)), 0)
    end
    if not ok then error(err, 0) end
  end
end
-- }==================================================================

local function merge(o, extra)
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- prior-knowledge h2c on http://
local function h2c_pool(extra)
  return http.Pool(merge({ http1 = false, http2 = true, timeout = 10 }, extra))
end

-- h2 offered by ALPN (http/1.1 too); trusts the test CA
local function tls_pool(extra)
  return http.Pool(merge({ http2 = true, timeout = 10,
                           tls = { ca_file = H.tls_dir .. "/ca.pem" } }, extra))
end

-- GET -> resp, body; asserts success
local function get(pool, url, opts)
  local resp, err = pool:request("GET", url, opts)
  assert(resp, tostring(err))
  local body, berr = resp:read()
  assert(body, tostring(berr))
  return resp, body
end

local function assert_h2(resp)
  assert.equals("HTTP/2", resp.version)
  assert.equals("", resp.reason)
end

local check_pattern = H.check_pattern

-- sha256 of piece repeated n times, through a file: no big string is
-- built (multi-MiB strings raise glibc's mmap/trim thresholds, which makes
-- later specs' RSS bounds fail)
local function sha256_rep(piece, n)
  local path = H.tmpname("rep")
  local f = assert(io.open(path, "wb"))
  for _ = 1, n do f:write(piece) end
  f:close()
  local sum = H.sha256_file(path)
  os.remove(path)
  return sum
end

local key_seq = 0
local function unique_key(prefix)
  key_seq = key_seq + 1
  return ("%s-%d-%d-%d"):format(prefix, os.time(), math.random(1 << 30), key_seq)
end

-- the minimal JSON of h2_peer.js's /goaway answers
local function goaway_answer(body)
  local t = H.json_flat(body)
  assert(t.session and t.stream, "unexpected /goaway answer: " .. body)
  return t
end

-- "name: value\n" lines of /echo-headers -> list of { name, value }
local function echoed(body)
  local t = {}
  for line in body:gmatch("([^\n]*)\n") do
    local name, value = line:match("^(:?[^:]+): (.*)$")
    assert(name, "unexpected echo line: " .. line)
    t[#t + 1] = { name, value }
  end
  return t
end

local function find_field(fields, name)
  for _, f in ipairs(fields) do
    if f[1] == name then return f[2] end
  end
  return nil
end

describe("HTTP/2", function()
  setup(function()
    assert(H.nginx_h2c, "CHC_NGINX_H2C_URL not set (run through spec/run.sh)")
    assert(H.tls and H.tls_dir, "CHC_NGINX_TLS_URL not set (run through spec/run.sh)")
    assert(H.nghttpd, "CHC_NGHTTPD_URL not set: nghttpd (nghttp2-server) missing?")
    assert(H.h2peer and H.h2peer_max5 and H.h2peer_tls,
           "CHC_H2_PEER_*_URL not set: node missing? (spec/peers/h2_peer.js)")
  end)
  after_each(check_clean)

  -- {==================================================================
  describe("prior knowledge (h2c)", function()
    it("speaks HTTP/2 to nginx on http:// when http1 = false", within(10, function()
      local pool <close> = h2c_pool()
      local resp, body = get(pool, H.nginx_h2c .. "/small")
      assert_h2(resp)
      assert.equals(200, resp.status)
      assert.equals("Hello, World!", body)
      assert.equals("13", resp.headers:get("Content-Length"))
      assert.equals("Response: HTTP/2 200 ", tostring(resp))
      -- more requests share the connection (nginx's $connection)
      local r1 = get(pool, H.nginx_h2c .. "/headers")
      local r2 = get(pool, H.nginx_h2c .. "/headers")
      assert_h2(r1)
      assert.is_truthy(r1.headers:get("x-conn"))
      assert.equals(r1.headers:get("x-conn"), r2.headers:get("x-conn"))
      assert.equals(1, pool:stats().connections)
    end))

    it("reports status codes, and HEAD without a body (nginx)", within(10, function()
      local pool <close> = h2c_pool()
      for _, code in ipairs({ 204, 404, 500 }) do
        local resp = assert(pool:request("GET", H.nginx_h2c .. "/status/" .. code))
        assert_h2(resp)
        assert.equals(code, resp.status)
        assert(resp:read())
      end
      local resp = assert(pool:request("HEAD", H.nginx_h2c .. "/1m"))
      assert.equals(200, resp.status)
      assert.equals(tostring(MiB), resp.headers:get("content-length"))
      assert.equals("", resp:read())
      -- the connection is still good afterwards
      local _, body = get(pool, H.nginx_h2c .. "/small")
      assert.equals("Hello, World!", body)
      assert.equals(1, pool:stats().connections)
    end))

    it("speaks HTTP/2 to nghttpd", within(10, function()
      local pool <close> = h2c_pool()
      local resp, body = get(pool, H.nghttpd .. "/1k")
      assert_h2(resp)
      assert.equals(200, resp.status)
      assert.equals(H.pattern(1024), body)
      local r2, big = get(pool, H.nghttpd .. "/1m")
      assert_h2(r2)
      assert.equals(MiB, #big)
      assert.equals(H.www_sha256("1m"), H.sha256(big))
      assert.equals(1, pool:stats().connections)
    end))

    it("speaks HTTP/2 to node's http2 server, on one session", within(10, function()
      H.h2_stats_reset(H.h2peer)
      local pool <close> = h2c_pool()
      local id
      for _ = 1, 5 do
        local resp, body = get(pool, H.h2peer .. "/hello")
        assert_h2(resp)
        assert.equals("hello", body)
        id = id or resp.headers:get("x-conn-id")
        assert.equals(id, resp.headers:get("x-conn-id"))
      end
      local st = H.h2_stats(H.h2peer)
      assert.equals(1, st.sessions)
      assert.equals(5, st.streams)
    end))
  end)

  -- {==================================================================
  describe("ALPN", function()
    it("gets HTTP/2 from nginx over TLS when http2 = true", within(10, function()
      local pool <close> = tls_pool()
      local resp, body = get(pool, H.tls .. "/headers")
      assert_h2(resp)
      assert.equals(200, resp.status)
      assert.equals("ok", body)
      assert.equals("h2", resp.headers:get("x-tls-alpn"))
      local r2 = get(pool, H.tls .. "/headers")
      assert.equals(resp.headers:get("x-conn"), r2.headers:get("x-conn"))
    end))

    it("gets HTTP/1.1 from the same server when http2 = false", within(10, function()
      local pool <close> = http.Pool{ timeout = 10,
                                      tls = { ca_file = H.tls_dir .. "/ca.pem" } }
      local resp = get(pool, H.tls .. "/headers")
      assert.equals("HTTP/1.1", resp.version)
      assert.equals("OK", resp.reason)
      assert.equals("http/1.1", resp.headers:get("x-tls-alpn"))
    end))

    it("offers h2 alone when http1 = false", within(10, function()
      local pool <close> = tls_pool{ http1 = false }
      local resp = get(pool, H.tls .. "/headers")
      assert_h2(resp)
      assert.equals("h2", resp.headers:get("x-tls-alpn"))
    end))

    it("gets HTTP/2 from node over TLS, and HTTP/1.1 without http2", within(10, function()
      local pool <close> = tls_pool()
      local resp, body = get(pool, H.h2peer_tls .. "/hello")
      assert_h2(resp)
      assert.equals("hello", body)
      assert.is_truthy(resp.headers:get("x-conn-id"))
      local p1 <close> = http.Pool{ timeout = 10,
                                    tls = { ca_file = H.tls_dir .. "/ca.pem" } }
      local r1, b1 = get(p1, H.h2peer_tls .. "/hello")
      assert.equals("HTTP/1.1", r1.version)
      assert.equals("http/1.1 /hello", b1)
    end))
  end)

  -- {==================================================================
  describe("multiplexing", function()
    it("runs 300 concurrent tasks over one nginx h2c connection", within(15, function()
      local before = H.nginx_status()
      local pool <close> = h2c_pool()
      local max_conns = 0
      -- nginx allows 128 streams at once: the rest wait for slots
      local res = par(300, function()
        local resp, body = get(pool, H.nginx_h2c .. "/headers")
        local c = pool:stats().connections
        if c > max_conns then max_conns = c end
        assert_h2(resp)
        assert.equals("ok", body)
        return resp.status, resp.headers:get("x-conn")
      end)
      for i = 1, 300 do
        assert.equals(200, res[i][1])
        assert.equals(res[1][2], res[i][2], "request " .. i .. " on another connection")
      end
      assert.equals(1, max_conns)
      local after = H.nginx_status()
      -- ours, plus the curl connection of the second status query
      assert.equals(2, after.accepts - before.accepts)
      assert.equals(1, pool:stats().connections)
    end))

    it("keeps 300 slow streams in flight at once on one node session", within(15, function()
      H.h2_stats_reset(H.h2peer)
      local pool <close> = h2c_pool()
      local t0 = core.now()
      local res = par(300, function()
        local resp, body = get(pool, H.h2peer .. "/slow?chunks=2&delay_ms=250&size=100")
        return #body, resp.headers:get("x-conn-id")
      end)
      local elapsed = core.now() - t0
      for i = 1, 300 do
        assert.equals(200, res[i][1])
        assert.equals(res[1][2], res[i][2], "request " .. i .. " on another connection")
      end
      -- one after another it would take 150 s
      assert.is_true(elapsed < 5, ("took %.1f s"):format(elapsed))
      local st = H.h2_stats(H.h2peer)
      assert.equals(1, st.sessions)
      assert.equals(300, st.streams)
      -- node sets no stream limit: beyond the 100 that nghttp2 assumes
      -- until the server's SETTINGS arrive
      assert.is_true(st.peak > 100, "at most " .. st.peak .. " streams at once")
    end))

    it("shares one connection among 100 concurrent nghttpd downloads", within(15, function()
      local pool <close> = h2c_pool()
      local max_conns = 0
      local want = H.pattern(64 * 1024)
      local res = par(100, function()
        local _, body = get(pool, H.nghttpd .. "/64k")
        local c = pool:stats().connections
        if c > max_conns then max_conns = c end
        return body == want
      end)
      for i = 1, 100 do assert.is_true(res[i][1], "body " .. i .. " differs") end
      assert.equals(1, max_conns)
    end))
  end)

  -- {==================================================================
  describe("flow control and bodies", function()
    it("reads 64 MiB slowly from nginx h2c with bounded memory", within(30, function()
      collectgarbage()
      collectgarbage()
      local rss0 = H.rss_kb()
      local pool <close> = h2c_pool()
      local resp = assert(pool:request("GET", H.nginx_h2c .. "/64m"))
      assert_h2(resp)
      local n, steps, peak = 0, 0, 0
      local function sample()
        collectgarbage()
        local rss = H.rss_kb()
        if rss - rss0 > peak then peak = rss - rss0 end
      end
      for chunk in resp:iter() do
        assert(check_pattern(chunk, n), "body bytes differ at offset " .. n)
        n = n + #chunk
        steps = steps + 1
        if steps <= 5 then
          -- a slow reader: nginx could push the whole body meanwhile if
          -- the window opened by itself
          http.sleep(0.25)
          sample()
        elseif n % (8 * MiB) < #chunk then
          sample()
        end
      end
      assert.equals(64 * MiB, n)
      -- far below the body size (64 MiB = 65536 kB); not checked under
      -- ASan or valgrind (H.rss_meaningful)
      if H.rss_meaningful then
        assert.is_true(peak < 16 * 1024, "RSS grew by " .. peak .. " kB")
      end
    end))

    it("streams 64 MiB over TLS h2 (nginx) intact", within(30, function()
      local pool <close> = tls_pool()
      local resp = assert(pool:request("GET", H.tls .. "/64m"))
      assert_h2(resp)
      local n = 0
      for chunk in resp:iter() do
        assert(check_pattern(chunk, n), "body bytes differ at offset " .. n)
        n = n + #chunk
      end
      assert.equals(64 * MiB, n)
    end))

    it("uploads 16 MiB from a producer, checked by length and sha256", within(20, function()
      collectgarbage()
      collectgarbage()
      local rss0 = H.rss_kb()
      local pool <close> = h2c_pool()
      local piece = H.pattern(64 * 1024)
      local left, peak = 256, 0
      local resp = assert(pool:request("POST", H.h2peer .. "/upload-sha256", {
        body = function()
          if left == 0 then return nil end
          left = left - 1
          if left % 64 == 0 then
            http.sleep(0.01) -- a producer may wait on its own I/O
            local rss = H.rss_kb()
            if rss - rss0 > peak then peak = rss - rss0 end
          end
          return piece
        end,
      }))
      assert_h2(resp)
      assert.equals(200, resp.status)
      local len, sum = assert(resp:read()):match("^(%d+) (%x+)$")
      assert.equals(16 * MiB, tonumber(len))
      assert.equals(sha256_rep(piece, 256), sum)
      if H.rss_meaningful then
        assert.is_true(peak < 16 * 1024, "RSS grew by " .. peak .. " kB")
      end
    end))

    it("uploads string bodies, and several producers at once", within(20, function()
      local pool <close> = h2c_pool()
      local s = H.pattern(MiB + 17)
      local resp = assert(pool:request("POST", H.h2peer .. "/upload-sha256", { body = s }))
      assert_h2(resp)
      assert.equals(("%d %s"):format(#s, H.sha256(s)), resp:read())
      resp = assert(pool:request("POST", H.h2peer .. "/upload-sha256", { body = "" }))
      assert.equals("0 " .. H.sha256(""), resp:read())
      -- four producers share the connection, each gets its own bytes
      local want = {}
      for i = 1, 4 do
        local piece = string.rep(string.char(64 + i), 32 * 1024)
        want[i] = ("%d %s"):format(#piece * 32 * i, sha256_rep(piece, 32 * i))
      end
      local res = par(4, function(i)
        local piece = string.rep(string.char(64 + i), 32 * 1024)
        local left = 32 * i
        local r = assert(pool:request("POST", H.h2peer .. "/upload-sha256", {
          body = function()
            if left == 0 then return nil end
            left = left - 1
            return piece
          end,
        }))
        return assert(r:read()), r.headers:get("x-conn-id")
      end)
      for i = 1, 4 do
        assert.equals(want[i], res[i][1])
        assert.equals(res[1][2], res[i][2])
      end
    end))

    it("exposes trailers as resp.trailers after the body", within(10, function()
      local pool <close> = h2c_pool()
      local resp, body = get(pool, H.h2peer .. "/trailers")
      assert_h2(resp)
      assert.equals("hello world", body)
      assert.is_truthy(resp.trailers)
      assert.equals("abc", resp.trailers:get("x-checksum"))
      assert.equals("2", resp.trailers:get("X-Trailer-Two"))
      -- trailers are not headers
      assert.is_nil(resp.headers:get("x-checksum"))
      -- and after an iter() loop too
      local r2 = assert(pool:request("GET", H.h2peer .. "/trailers"))
      local parts = {}
      for chunk in r2:iter() do parts[#parts + 1] = chunk end
      assert.equals("hello world", table.concat(parts))
      assert.equals("abc", r2.trailers:get("x-checksum"))
      -- a response without trailers: nil
      local r3 = get(pool, H.h2peer .. "/hello")
      assert.is_nil(r3.trailers)
    end))
  end)

  -- {==================================================================
  describe("stream errors", function()
    it("fails only the stream reset by RST_STREAM", within(10, function()
      H.h2_stats_reset(H.h2peer)
      local pool <close> = h2c_pool()
      local warm = get(pool, H.h2peer .. "/hello")
      local id = warm.headers:get("x-conn-id")
      local res = par(12, function(i)
        if i % 4 == 0 then
          -- reset while the others are in flight
          local resp, err = pool:request("GET", H.h2peer .. "/rst?delay_ms=50")
          if resp then resp, err = resp:read() end
          return "rst", resp, err
        end
        local resp, body = get(pool, H.h2peer .. "/slow?chunks=2&delay_ms=100&size=10")
        return "ok", body, resp.headers:get("x-conn-id")
      end)
      local failed = 0
      for i = 1, 12 do
        local what, a, b = res[i][1], res[i][2], res[i][3]
        if what == "rst" then
          assert.is_nil(a, "the reset request succeeded")
          assert.is_true(http.is_error(b, "RemoteProtocolError"), tostring(b))
          assert.is_true(http.is_error(b, "ProtocolError"))
          local msg = tostring(b)
          assert.is_truthy(msg:lower():find("reset", 1, true), msg)
          assert.is_truthy(msg:find("INTERNAL_ERROR", 1, true), msg)
          failed = failed + 1
        else
          assert.equals(20, #a)
          assert.equals(id, b, "request moved to another connection")
        end
      end
      assert.equals(3, failed)
      -- the connection is the same and still good
      local after = get(pool, H.h2peer .. "/hello")
      assert.equals(id, after.headers:get("x-conn-id"))
      assert.equals(1, H.h2_stats(H.h2peer).sessions)
    end))

    it("fails a body cut by RST_STREAM after some data", within(10, function()
      local pool <close> = h2c_pool()
      local resp = assert(pool:request("GET", H.h2peer .. "/rst-after-data?bytes=10000&code=8"))
      assert_h2(resp)
      assert.equals(200, resp.status)
      local body, err = resp:read()
      assert.is_nil(body, "the cut body was read as complete")
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
      assert.is_truthy(tostring(err):find("CANCEL", 1, true), tostring(err))
      -- iter() hands out the bytes that did arrive, then raises
      local r2 = assert(pool:request("GET", H.h2peer .. "/rst-after-data?bytes=10000"))
      local n = 0
      local ok, e2 = pcall(function()
        for chunk in r2:iter() do n = n + #chunk end
      end)
      assert.is_false(ok, "the cut body ended as if complete")
      assert.is_true(http.is_error(e2, "RemoteProtocolError"), tostring(e2))
      assert.equals(10000, n)
      -- and the connection serves the next request
      local _, hello = get(pool, H.h2peer .. "/hello")
      assert.equals("hello", hello)
      assert.equals(1, pool:stats().connections)
    end))

    it("retries a stream refused with REFUSED_STREAM", within(10, function()
      local pool <close> = h2c_pool()
      local resp, body = get(pool, H.h2peer .. "/refuse-once?key=" .. unique_key("refuse"))
      assert_h2(resp)
      assert.equals(200, resp.status)
      assert.equals("attempt 2", body)
    end))
  end)

  -- {==================================================================
  describe("GOAWAY", function()
    it("retries streams above last-stream-id on a new connection", within(10, function()
      H.h2_stats_reset(H.h2peer)
      local pool <close> = h2c_pool()
      local key = unique_key("goaway")
      local N = 10
      -- the peer answers when all N arrived: GOAWAY with last-stream-id
      -- at the 5th, then answers streams 1..5 on that connection only
      local res = par(N, function()
        local resp, body = get(pool,
          ("%s/goaway?key=%s&n=%d&wait_ms=3000"):format(H.h2peer, key, N))
        assert.equals(200, resp.status)
        return goaway_answer(body)
      end)
      local first, second
      local processed, retried = 0, 0
      for i = 1, N do
        local a = res[i][1]
        if a.goaway then
          first = first or a.session
          assert.equals(first, a.session)
          assert.is_true(a.stream <= a.last)
          processed = processed + 1
        else
          second = second or a.session
          assert.equals(second, a.session)
          retried = retried + 1
        end
      end
      assert.is_truthy(first, "no request was answered before the GOAWAY")
      assert.is_truthy(second, "no request was retried")
      assert.are_not.equal(first, second)
      assert.equals(N // 2, processed)
      assert.equals(N - N // 2, retried)
      -- new requests go to the new connection, never the old one
      local resp = get(pool, H.h2peer .. "/hello")
      assert.equals(tostring(second), resp.headers:get("x-conn-id"))
      local st = H.h2_stats(H.h2peer)
      assert.equals(2, st.sessions)
      assert.equals(1, st.goaways)
    end))
  end)

  -- {==================================================================
  describe("concurrency limit", function()
    -- Policy: past the server's SETTINGS_MAX_CONCURRENT_STREAMS, requests
    -- wait in the pool for a free stream slot on the same connection; no
    -- second connection is opened.
    it("runs 20 tasks at most 5 at a time on one connection (MAX_CONCURRENT_STREAMS 5)",
       within(10, function()
      local pool <close> = h2c_pool()
      -- One request alone first, so the server's SETTINGS (the limit of 5)
      -- are known: a burst sent before them may legally exceed the limit,
      -- and the server refuses the excess (REFUSED_STREAM, retried on
      -- another connection).
      local warm = get(pool, H.h2peer_max5 .. "/hello")
      local id = warm.headers:get("x-conn-id")
      H.h2_stats_reset(H.h2peer_max5)
      local max_waiting = 0
      local t0 = core.now()
      local sampler = spawn(function()
        for _ = 1, 10 do
          local w = pool:stats().waiting or 0
          if w > max_waiting then max_waiting = w end
          http.sleep(0.02)
        end
      end)
      local res = par(20, function()
        local resp, body = get(pool, H.h2peer_max5 .. "/slow?chunks=1&delay_ms=100&size=10")
        return #body, resp.headers:get("x-conn-id")
      end)
      local elapsed = core.now() - t0
      sampler:join()
      for i = 1, 20 do
        assert.equals(10, res[i][1])
        assert.equals(id, res[i][2], "request " .. i .. " on another connection")
      end
      local st = H.h2_stats(H.h2peer_max5)
      assert.equals(20, st.streams)
      assert.equals(1, st.sessions)
      assert.is_true(st.peak <= 5, "server saw " .. st.peak .. " streams at once")
      assert.is_true(st.peak >= 2, "no concurrency at all?")
      -- 20 streams of 100 ms, 5 at a time: at least 4 rounds
      assert.is_true(elapsed >= 0.35, ("took only %.2f s"):format(elapsed))
      assert.is_true(elapsed < 5, ("took %.2f s"):format(elapsed))
      assert.is_true(max_waiting > 0, "no request ever waited in the pool for a slot")
      assert.equals(1, pool:stats().connections)
    end))
  end)

  -- {==================================================================
  describe("mixed origins", function()
    it("serves HTTP/1.1 and HTTP/2 origins from one pool", within(15, function()
      local pool <close> = tls_pool()
      local want = {
        { url = H.nginx .. "/small", version = "HTTP/1.1", body = "Hello, World!" },
        { url = H.tls .. "/headers", version = "HTTP/2", body = "ok" },
        { url = H.h2peer_tls .. "/hello", version = "HTTP/2", body = "hello" },
      }
      local res = par(60, function(i)
        local w = want[(i - 1) % 3 + 1]
        local resp, body = get(pool, w.url)
        return w, resp.version, body,
               resp.headers:get("x-conn") or resp.headers:get("x-conn-id")
      end)
      local h2conn = {}
      for i = 1, 60 do
        local w, version, body, conn = res[i][1], res[i][2], res[i][3], res[i][4]
        assert.equals(w.version, version, w.url)
        assert.equals(w.body, body, w.url)
        if version == "HTTP/2" then
          h2conn[w.url] = h2conn[w.url] or conn
          assert.equals(h2conn[w.url], conn, "h2 origin " .. w.url .. " used two connections")
        end
      end
      -- plain http:// stays HTTP/1.1 in a pool with http2 = true
      local r = get(pool, H.nginx .. "/headers")
      assert.equals("HTTP/1.1", r.version)
    end))
  end)

  -- {==================================================================
  -- Timeouts are timed: the kind, and that each fired within a window
  -- around its configured value (H.assert_window).
  describe("timeouts", function()
    it("times out waiting for a head (ReadTimeout, timed)", within(15, function()
      local pool <close> = h2c_pool{ timeout = { read = 0.5, connect = 10, write = 10, pool = 10 } }
      local elapsed, r, err = H.timed(pool.request, pool, "GET", H.h2peer .. "/stall-head")
      assert.is_nil(r)
      assert.is_true(http.is_error(err, "ReadTimeout"), tostring(err))
      H.assert_window(elapsed, 0.5, "the read timeout before the head")
      -- the connection is still good for other streams
      local resp = get(pool, H.h2peer .. "/hello")
      assert_h2(resp)
    end))

    it("times out a body that stops mid-way (ReadTimeout, timed)", within(15, function()
      local pool <close> = h2c_pool{ timeout = { read = 0.5, connect = 10, write = 10, pool = 10 } }
      local resp = assert(pool:request("GET", H.h2peer .. "/stall-body"))
      assert_h2(resp)
      local it = resp:iter()
      assert.equals(H.pattern(10), it())
      local elapsed, ok, e = H.timed(pcall, it)
      assert.is_false(ok)
      assert.is_true(http.is_error(e, "ReadTimeout"), tostring(e))
      H.assert_window(elapsed, 0.5, "the read timeout mid-body")
    end))

    it("times out sending to a stream whose window stays shut (WriteTimeout, timed)",
       within(15, function()
      local pool <close> = h2c_pool{ timeout = { write = 0.5, read = 10, connect = 10, pool = 10 } }
      local piece = string.rep("w", 16 * 1024)
      local sent = 0
      -- a body function (endless): a string body hits issue 9 item 3
      local elapsed, r, err = H.timed(function()
        local resp, e = pool:request("POST", H.h2peer .. "/no-read", {
          body = function() sent = sent + #piece; return piece end,
        })
        if resp then resp, e = resp:read() end
        return resp, e
      end)
      assert.is_nil(r)
      assert.is_true(http.is_error(err, "WriteTimeout"), tostring(err))
      -- the window (64 KiB by default) was filled before the wait began
      assert.is_true(sent >= 64 * 1024, "sent " .. sent)
      H.assert_window(elapsed, 0.5, "the write timeout")
    end))

    it("bounds the whole exchange with the total timeout (timed)", within(15, function()
      local pool <close> = h2c_pool{ timeout = { total = 0.8, read = 5, connect = 10,
                                                 write = 10, pool = 10 } }
      -- 20 pieces 100 ms apart: each read wait is short, the whole is not
      local elapsed, body, err = H.timed(function()
        local resp = assert(pool:request("GET", H.h2peer .. "/slow?chunks=20&delay_ms=100"))
        return resp:read()
      end)
      assert.is_nil(body)
      assert.is_true(http.is_error(err, "ReadTimeout"), tostring(err))
      H.assert_window(elapsed, 0.8, "the total timeout")
    end))

    it("gives PoolTimeout when no stream slot frees up in time (timed)", within(15, function()
      -- the max5 peer allows 5 concurrent streams; 5 stalled ones hold them
      local pool <close> = h2c_pool{ timeout = { pool = 0.5, read = 10, connect = 10,
                                                 write = 10 } }
      local held = {}
      for i = 1, 5 do
        held[i] = spawn(function()
          return pool:request("GET", H.h2peer_max5 .. "/stall-head")
        end)
      end
      H.wait_until(function() return H.h2_stats(H.h2peer_max5).active >= 5 end, 5,
                   "the 5 stalled streams to reach the peer")
      local elapsed, r, err = H.timed(pool.request, pool, "GET", H.h2peer_max5 .. "/hello")
      assert.is_nil(r)
      assert.is_true(http.is_error(err, "PoolTimeout"), tostring(err))
      H.assert_window(elapsed, 0.5, "the pool timeout")
      for i = 1, 5 do held[i]:cancel() end
      for i = 1, 5 do pcall(held[i].join, held[i]) end
    end))
  end)

  -- {==================================================================
  describe("request headers", function()
    it("sends lower-case names and no connection-specific fields", within(10, function()
      local pool <close> = h2c_pool()
      local resp, body = get(pool, H.h2peer .. "/echo-headers?x=1", { headers = {
        { "X-Mixed-Case", "Value" },
        { "X-Dup", "1" },
        { "Connection", "keep-alive, X-Hop" },
        { "X-Hop", "hop-by-hop" },
        { "Keep-Alive", "timeout=5" },
        { "Proxy-Connection", "keep-alive" },
        { "Transfer-Encoding", "chunked" },
        { "Upgrade", "websocket" },
        { "TE", "trailers" },
        { "X-Other", "2" },
        { "X-Dup", "3" },
      } })
      assert_h2(resp)
      assert.equals(200, resp.status)
      local fields = echoed(body)
      for _, f in ipairs(fields) do
        assert.equals(f[1]:lower(), f[1], "upper-case name on the wire: " .. f[1])
      end
      assert.equals("GET", find_field(fields, ":method"))
      assert.equals("http", find_field(fields, ":scheme"))
      assert.equals("/echo-headers?x=1", find_field(fields, ":path"))
      assert.equals(H.h2peer:match("^http://(.*)$"), find_field(fields, ":authority"))
      assert.equals("Value", find_field(fields, "x-mixed-case"))
      assert.equals("trailers", find_field(fields, "te"))
      for _, name in ipairs({ "connection", "keep-alive", "proxy-connection",
                              "transfer-encoding", "upgrade", "x-hop", "host" }) do
        assert.is_nil(find_field(fields, name), name .. " was sent")
      end
      -- order and duplicates kept
      local seq = {}
      for _, f in ipairs(fields) do
        if f[1] == "x-dup" or f[1] == "x-other" then seq[#seq + 1] = f[1] .. "=" .. f[2] end
      end
      assert.same({ "x-dup=1", "x-other=2", "x-dup=3" }, seq)
    end))

    it("drops TE other than trailers and connection fields on uploads", within(10, function()
      local pool <close> = h2c_pool()
      local resp = assert(pool:request("POST", H.h2peer .. "/upload-sha256", {
        headers = { { "Transfer-Encoding", "chunked" }, { "Connection", "keep-alive" },
                    { "TE", "gzip" } },
        body = "hello",
      }))
      assert_h2(resp)
      assert.equals("5 " .. H.sha256("hello"), resp:read())
      local i = 0
      local r2 = assert(pool:request("POST", H.h2peer .. "/echo-headers", {
        headers = { { "TE", "gzip, deflate" }, { "Transfer-Encoding", "chunked" } },
        body = function()
          i = i + 1
          if i <= 3 then return "x" end
          return nil
        end,
      }))
      local fields = echoed(assert(r2:read()))
      assert.equals("POST", find_field(fields, ":method"))
      assert.is_nil(find_field(fields, "te"))
      assert.is_nil(find_field(fields, "transfer-encoding"))
    end))

    it("turns a Host header into :authority", within(10, function()
      local pool <close> = h2c_pool()
      local _, body = get(pool, H.h2peer .. "/echo-headers",
                          { headers = { Host = "example.test" } })
      local fields = echoed(body)
      assert.equals("example.test", find_field(fields, ":authority"))
      assert.is_nil(find_field(fields, "host"))
    end))
  end)
end)
