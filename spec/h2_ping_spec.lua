-- HTTP/2 liveness (docs/API.md, "h2_ping_after"): a request that would go
-- to an HTTP/2 connection idle for h2_ping_after or longer, or on which a
-- stream just timed out, waits until the server answers a PING; without an answer within the connect timeout the
-- connection is dropped and the request goes to a new one (nothing was
-- sent on the old one, so this is not a retry of the request).
--
-- The fault peer (spec/peers/fault_peer.py) relays to nginx's h2c server,
-- counts the PINGs the client sends, and can freeze the connections open
-- at a moment (a server, or a path, gone silent) or reset them.
local H = require "helper"
local http = require "c_http_core"

local F, target
setup(function()
  F = H.fault_start()
  target = tonumber(H.nginx_h2c:match(":(%d+)$"))
end)
teardown(function() if F then F.stop() end end)

local small = "Hello, World!"

local function h2pool(opts)
  local o = { http1 = false, http2 = true, keepalive_expiry = 60,
              timeout = { connect = 1, read = 20, pool = 20 } }
  for k, v in pairs(opts or {}) do o[k] = v end
  return http.Pool(o)
end

local function get(pool)
  local r, err = pool:request("GET", F.url .. "/small")
  if not r then return nil, err end
  local body, berr = r:read()
  if body == nil then return nil, berr end
  return r, body
end

describe("HTTP/2 PING before reusing an idle connection", function()
  after_each(H.check_clean)
  before_each(function()
    F.reset()
    F.set(target, -1)
  end)

  it("a live server answers and the same connection is reused", function()
    local pool = h2pool{ h2_ping_after = 0.2 }
    local r1 = assert(get(pool))
    assert.is_false(r1.reused)
    http.sleep(0.4) -- idle past h2_ping_after
    local r2, body = get(pool)
    assert(r2, body)
    assert.equals(small, body)
    assert.is_true(r2.reused)
    local st = F.stats()
    assert.equals(1, st.conns)
    assert.equals(1, st.pings)
    pool:close()
  end)

  it("no PING when the connection was idle for less, or with false", function()
    for _, after in ipairs({ 30, false }) do
      F.reset()
      local pool = h2pool{ h2_ping_after = after }
      assert(get(pool))
      http.sleep(0.3)
      local r2 = assert(get(pool))
      assert.is_true(r2.reused)
      local st = F.stats()
      assert.equals(1, st.conns)
      assert.equals(0, st.pings)
      pool:close()
    end
  end)

  it("a server gone silent: the request gets a new connection within the connect timeout", function()
    local fd0 = H.fd_count()
    local pool = h2pool{ h2_ping_after = 0.2 }
    assert(get(pool))
    F.freeze("stall") -- the kept connection hears nothing any more
    http.sleep(0.4)
    local elapsed, r2, body = H.timed(get, pool)
    assert(r2, body)
    assert.equals(small, body)
    assert.is_false(r2.reused) -- a new connection, not the frozen one
    -- the PING's wait (connect = 1 s) bounds it, far below read = 20 s
    assert.is_true(elapsed < 1 + H.slack, "took " .. elapsed .. " s")
    assert.is_true(elapsed >= 0.9, "the PING was not waited for")
    local st = F.stats()
    assert.equals(2, st.conns)
    assert.equals(1, st.pings)
    -- the new connection is the pool's now: reused without a PING
    local r3 = assert(get(pool))
    assert.is_true(r3.reused)
    assert.equals(2, F.stats().conns)
    pool:close()
    collectgarbage()
    H.wait_until(function() return H.fd_count() <= fd0 end, 5, "fds closed")
  end)

  it("a connection reset while the PING is out: the waiting requests get a new one", function()
    local pool = h2pool{ h2_ping_after = 0.2 }
    assert(get(pool))
    F.freeze("rst") -- the PING is answered by a reset
    http.sleep(0.4)
    local results = {}
    local tasks = {}
    for i = 1, 3 do -- all three wait for the PING's ACK together
      tasks[i] = http.spawn(function()
        local r, body = get(pool)
        results[i] = { r, body }
      end)
    end
    for i = 1, 3 do tasks[i]:join() end
    for i = 1, 3 do
      assert(results[i][1], tostring(results[i][2]))
      assert.equals(small, results[i][2])
    end
    local st = F.stats()
    assert.equals(2, st.conns) -- the three share the new connection
    assert.equals(1, st.pings)
    pool:close()
  end)

  it("after a stream timed out, the next request checks the connection first", function()
    local pool = h2pool{ h2_ping_after = 30, timeout = { connect = 1, read = 0.3, pool = 20 } }
    assert(get(pool))
    F.freeze("stall")
    local _, err = get(pool)
    assert(http.is_error(err, "ReadTimeout"), tostring(err))
    -- not a second read timeout on the same silent connection: the PING
    -- goes unanswered for the connect timeout, then a new connection
    local elapsed, r3, body = H.timed(get, pool)
    assert(r3, body)
    assert.equals(small, body)
    assert.is_false(r3.reused)
    assert.is_true(elapsed < 1 + H.slack, "took " .. elapsed .. " s")
    local st = F.stats()
    assert.equals(2, st.conns)
    assert.equals(1, st.pings)
    pool:close()
  end)

  it("h2_ping_after is checked like the other seconds", function()
    assert.has_error(function() http.Pool{ h2_ping_after = -1 } end)
    assert.has_error(function() http.Pool{ h2_ping_after = "1" } end)
    assert.equals(10, http.Pool{}.options.h2_ping_after)
    assert.equals(false, http.Pool{ h2_ping_after = false }.options.h2_ping_after)
  end)
end)
