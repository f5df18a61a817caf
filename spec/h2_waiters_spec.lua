-- Requests that wait for an origin's HTTP/2 connection (while the first
-- connection to an h2-capable origin is made, or for a stream slot) are
-- not left waiting for a connection that will never take them: when it
-- fails they try again themselves (the PING cases: spec/h2_ping_spec.lua).
local H = require "helper"
local http = require "c_http_core"

local F
teardown(function() if F then F.stop() end end)

describe("requests waiting for an HTTP/2 connection", function()
  after_each(H.check_clean)

  it("for the first one: its connect error at once when it fails, not a PoolTimeout", function()
    -- a port nobody listens on: bind one, close it
    local port = tonumber((H.sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); "
                                .. "s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'")))
    local pool = http.Pool{ http1 = false, http2 = true,
                            timeout = { connect = 2, pool = 20 } }
    local errs, tasks = {}, {}
    local elapsed = H.timed(function()
      for i = 1, 3 do
        tasks[i] = http.spawn(function()
          local r, err = pool:request("GET", "http://127.0.0.1:" .. port .. "/x")
          errs[i] = r and "a response" or err
        end)
      end
      for i = 1, 3 do tasks[i]:join() end
    end)
    for i = 1, 3 do
      assert(http.is_error(errs[i], "ConnectError"), tostring(errs[i]))
    end
    assert.is_true(elapsed < 2 + H.slack, "took " .. elapsed .. " s")
    pool:close()
  end)

  it("a request waiting for a stream slot gets a new connection when the connection dies", function()
    -- the node peer's server with SETTINGS_MAX_CONCURRENT_STREAMS = 5,
    -- through the fault peer (which resets the connection on demand)
    F = F or H.fault_start()
    F.reset()
    F.set(tonumber(H.h2peer_max5:match(":(%d+)$")), -1)
    local pool = http.Pool{ http1 = false, http2 = true,
                            timeout = { connect = 2, read = 20, pool = 20 } }
    local url = F.url
    assert(pool:request("GET", url .. "/hello")):read() -- the SETTINGS are in
    local held, errs = {}, {}
    for i = 1, 5 do -- the five slots, held by the server
      held[i] = http.spawn(function()
        local r, err = pool:request("GET", url .. "/stall-head")
        errs[i] = r and "a response" or err
      end)
    end
    H.wait_until(function() return pool:stats().active == 1 end, 5, "five streams")
    local body, err
    local waiter = http.spawn(function()
      local r, e = pool:request("GET", url .. "/hello")
      if r then body, err = r:read() else err = e end
    end)
    H.wait_until(function() return pool:stats().waiting == 1 end, 5, "the sixth waiting")
    local elapsed = H.timed(function()
      F.freeze("kill") -- the connection is reset under them
      waiter:join()
    end)
    for i = 1, 5 do held[i]:join() end
    assert.equals("hello", body, tostring(err))
    -- the reset (within the fault peer's 1 s tick), far below the pool timeout
    assert.is_true(elapsed < 1 + H.slack, "took " .. elapsed .. " s")
    for i = 1, 5 do
      assert(H.kind_in(errs[i], { "ReadError", "RemoteProtocolError" }), tostring(errs[i]))
    end
    assert.equals(2, F.stats().conns)
    pool:close()
  end)
end)
