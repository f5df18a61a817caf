-- Pool policy: limits, waiters, expiry, stale connections, cancellation,
-- deadlines. Connection counts are checked on the server's side.
local H = require "helper"
local http = require "c_http_core"

local check_clean = H.check_clean

describe("pool", function()
  after_each(check_clean)

  it("runs 100 concurrent tasks over at most max_connections = 10", function()
    H.stats_reset()
    local pool = http.Pool{ max_connections = 10 }
    local peak = 0
    local ok = http.run(function()
      local tasks = {}
      for i = 1, 100 do
        tasks[i] = http.spawn(function()
          local r = assert(pool:request("GET", H.raw .. "/slow-body?chunks=1&delay_ms=20&size=10"))
          local st = pool:stats()
          if st.connections > peak then peak = st.connections end
          return #r:read()
        end)
      end
      local n = 0
      for i = 1, 100 do if tasks[i]:join() == 10 then n = n + 1 end end
      return n
    end)
    assert.equals(100, ok)
    assert.is_true(peak <= 10)
    local st = H.stats()
    assert.is_true(st.accepted <= 10, "server saw " .. st.accepted .. " connections")
    assert.is_true(st.accepted >= 2, "no concurrency at all?")
    assert.equals(100, st.requests)
    pool:close()
  end)

  it("gives PoolTimeout when no connection frees up in time", function()
    local pool = http.Pool{ max_connections = 1, timeout = { pool = 0.5, read = 5 } }
    http.run(function()
      -- another origin (localhost vs 127.0.0.1) holds the only slot
      local holder = assert(pool:request("GET",
        "http://localhost:" .. H.raw_port .. "/stall-body"))
      local elapsed, r, err = H.timed(pool.request, pool, "GET", H.raw .. "/hello")
      assert.is_nil(r)
      assert.is_true(http.is_error(err, "PoolTimeout"), tostring(err))
      assert.is_true(http.is_error(err, "TimeoutError"))
      H.assert_window(elapsed, 0.5, "the pool timeout")
      holder:close()
      -- the slot is back
      local r2 = assert(pool:request("GET", H.raw .. "/hello"))
      assert.equals("hello", r2:read())
    end)
    pool:close()
  end)

  it("serves waiters first in, first out", function()
    local pool = http.Pool{ max_connections = 1 }
    local order = {}
    http.run(function()
      local ts = {}
      for i = 1, 5 do
        ts[i] = http.spawn(function()
          local r = assert(pool:request("GET", H.raw .. "/hello"))
          r:read()
          order[#order + 1] = i
        end)
      end
      for i = 1, 5 do ts[i]:join() end
    end)
    assert.same({ 1, 2, 3, 4, 5 }, order)
    pool:close()
  end)

  it("expires idle connections after keepalive_expiry", function()
    local pool = http.Pool{ keepalive_expiry = 0.15 }
    local id1 = assert(pool:request("GET", H.raw .. "/conn-id")):read()
    assert.equals(1, pool:stats().idle)
    http.sleep(0.4)
    assert.equals(0, pool:stats().idle)
    assert.equals(0, pool:stats().connections)
    local id2 = assert(pool:request("GET", H.raw .. "/conn-id")):read()
    assert.are_not.equal(id1, id2)
    pool:close()
  end)

  it("keeps at most max_keepalive idle connections", function()
    local pool = http.Pool{ max_keepalive = 2 }
    http.run(function()
      local ts = {}
      for i = 1, 6 do
        ts[i] = http.spawn(function()
          assert(pool:request("GET", H.raw .. "/slow-body?chunks=1&delay_ms=30&size=5")):read()
        end)
      end
      for i = 1, 6 do ts[i]:join() end
    end)
    assert.equals(2, pool:stats().idle)
    pool:close()
  end)

  it("cancels 1,000 waiting tasks without losing a slot", function()
    local pool = http.Pool{ max_connections = 10 }
    http.run(function()
      local ts = {}
      for i = 1, 1000 do
        ts[i] = http.spawn(function()
          -- the first 10 wait for a response, the rest for a slot
          return pool:request("GET", H.raw .. "/stall-head")
        end)
      end
      http.sleep(0.1)
      local st = pool:stats()
      assert.equals(10, st.connections)
      assert.equals(990, st.waiting)
      for i = 1, 1000 do ts[i]:cancel() end
      local cancelled = 0
      for i = 1, 1000 do
        local ok, err = pcall(ts[i].join, ts[i])
        if not ok and http.is_error(err, "Cancelled") then cancelled = cancelled + 1 end
      end
      assert.equals(1000, cancelled)
      st = pool:stats()
      assert.equals(0, st.waiting)
      assert.equals(0, st.connections)
      -- full size again: 10 concurrent requests each get a connection
      H.stats_reset()
      local ok = {}
      for i = 1, 10 do
        ok[i] = http.spawn(function()
          return assert(pool:request("GET", H.raw .. "/slow-body?chunks=1&delay_ms=50&size=1")):read()
        end)
      end
      for i = 1, 10 do assert.equals(1, #ok[i]:join()) end
      -- a lost slot would leave 9 connections for the 10 (each request
      -- then still ends, after another); one of the cancelled connections
      -- may be accepted by the peer only after the reset, hence >=
      assert.is_true(H.stats().accepted >= 10)
    end)
    pool:close()
  end)

  it("bounds the whole exchange with the total timeout, body included", function()
    -- 20 chunks 100 ms apart: each read wait is short, the whole is not
    local elapsed, body, err = H.timed(function()
      local r = assert(http.request("GET", H.raw .. "/slow-body?chunks=20&delay_ms=100&size=10",
        { timeout = { total = 0.8, read = 5 } }))
      return r:read()
    end)
    assert.is_nil(body)
    H.assert_window(elapsed, 0.8, "the total timeout")
    assert.is_true(http.is_error(err, "ReadTimeout"), tostring(err))
    assert.is_truthy(err.message:find("total", 1, true))
  end)

  it("gives the connection back when a small rest of the body is drained", function()
    local pool = http.Pool{ max_connections = 1 }
    H.stats_reset()
    local r = assert(pool:request("GET", H.raw .. "/slow-body?chunks=3&delay_ms=30&size=100"))
    assert.is_truthy(r:iter()())
    r:close()
    local r2 = assert(pool:request("GET", H.raw .. "/hello"))
    assert.equals("hello", r2:read())
    assert.equals(1, H.stats().accepted)
    pool:close()
  end)

  it("discards the connection when a large body is closed early", function()
    local pool = http.Pool{}
    H.stats_reset()
    local r = assert(pool:request("GET", H.nginx .. "/64m"))
    assert.is_truthy(r:iter()())
    r:close()
    assert.equals(0, pool:stats().connections)
    pool:close()
  end)

  it("retries failed connects `retries` times", function()
    local port = tonumber((H.sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'")))
    local pool = http.Pool{ retries = 2 }
    local r, err = pool:request("GET", "http://127.0.0.1:" .. port .. "/")
    assert.is_nil(r)
    assert.is_true(http.is_error(err, "ConnectError"))
    assert.is_truthy(err.message:find("3 attempts", 1, true), err.message)
    pool:close()
  end)

  it("fails requests of a closed pool with Closed", function()
    local pool = http.Pool{}
    pool:close()
    local r, err = pool:request("GET", H.raw .. "/hello")
    assert.is_nil(r)
    assert.is_true(http.is_error(err, "Closed"))
  end)
end)

-- The stale-connection retry rule: a request that dies on a reused
-- keep-alive connection before any response byte (the server closed it
-- while it sat idle) is sent again on a new connection only when that is
-- safe: an idempotent method (GET, HEAD, PUT, DELETE, OPTIONS) whose body
-- can be sent again (none, or a string). POST and PATCH are never replayed,
-- nor is a body from a function (it was consumed). The raw peer counts the
-- requests it received, so a replay is visible.
describe("pool: stale keep-alive connections", function()
  after_each(function()
    H.drop_idle_after(-1)
    check_clean()
  end)

  -- A pool whose one idle connection the server has already closed. The
  -- script does not step the loop meanwhile, so the pool cannot notice.
  local function stale_pool()
    -- a long keepalive_expiry: the pool must not drop the connection itself
    local pool = http.Pool{ keepalive_expiry = 60, timeout = 10 }
    -- other pools of this file may hold connections to the peer: count them
    local open0 = H.stats_reset().open
    -- the server closes idle connections 50 ms after a response
    H.drop_idle_after(50)
    assert.equals("hello", assert(pool:request("GET", H.raw .. "/hello")):read())
    H.stats{ wait_open = open0 }
    H.drop_idle_after(-1)
    assert.equals(1, pool:stats().idle)
    return pool
  end

  local function body_of(kind)
    if kind == "none" then return nil end
    if kind == "string" then return "payload" end
    local sent = false
    return function()
      if sent then return nil end
      sent = true
      return "payload"
    end
  end

  local function try(method, kind)
    local pool = stale_pool()
    local r, err = pool:request(method, H.raw .. "/hello", { body = body_of(kind) })
    local body
    if r then body, err = r:read() end
    local st = H.stats()
    pool:close()
    return body, err, st
  end

  for _, method in ipairs({ "GET", "HEAD", "PUT", "DELETE", "OPTIONS" }) do
    for _, kind in ipairs({ "none", "string" }) do
      it(("replays %s with %s body on a new connection"):format(method, kind), function()
        local body, err, st = try(method, kind)
        assert.is_truthy(body, tostring(err))
        assert.equals(method == "HEAD" and "" or "hello", body)
        assert.equals(2, st.accepted, "connections the server accepted")
        assert.equals(2, st.requests, "requests the server received")
      end)
    end
  end

  local function refuses(method, kind)
    local body, err, st = try(method, kind)
    assert.is_nil(body)
    assert.is_truthy(err)
    assert.is_true(http.is_error(err, "NetworkError") or http.is_error(err, "ProtocolError"),
      tostring(err))
    -- only the first request reached the server: nothing was sent again
    assert.equals(1, st.requests, "requests the server received")
    assert.equals(1, st.accepted, "connections the server accepted")
  end

  for _, method in ipairs({ "POST", "PATCH" }) do
    for _, kind in ipairs({ "none", "string", "function" }) do
      it(("does not replay %s with %s body"):format(method, kind), function()
        refuses(method, kind)
      end)
    end
  end

  for _, method in ipairs({ "GET", "PUT", "DELETE" }) do
    it(("never replays a %s whose body comes from a function"):format(method), function()
      refuses(method, "function")
    end)
  end
end)
