-- Issue 15's loose ends: the backoff between connect retries, the HTTP/2
-- liveness PING before reusing a long-idle connection, and responses with
-- ambiguous framing on kept-alive connections.
local H = require "helper"
local http = require "c_http_core"

local function closed_port()
  return tonumber((H.sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); " ..
    "s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'")))
end

describe("connect retries", function()
  after_each(H.check_clean)

  -- retry k waits 50 ms * 2^(k-1) times a factor in [0.5, 1)
  it("back off exponentially with jitter between attempts", function()
    local url = "http://127.0.0.1:" .. closed_port() .. "/"
    local pool = http.Pool{ retries = 4 }
    local elapsed, r, err = H.timed(pool.request, pool, "GET", url)
    assert.is_nil(r)
    assert.is_true(http.is_error(err, "ConnectError"))
    assert.is_truthy(err.message:find("5 attempts", 1, true), err.message)
    -- at least half of 50 + 100 + 200 + 400 ms, at most all of it + slack
    assert.is_true(elapsed >= 0.375 * 0.9, "no backoff: " .. elapsed)
    assert.is_true(elapsed <= 0.75 + 1.5, "backoff too long: " .. elapsed)
    pool:close()
  end)

  it("spread their waits (jitter), so retries do not arrive in lockstep", function()
    local url = "http://127.0.0.1:" .. closed_port() .. "/"
    local times = {}
    for i = 1, 8 do
      local pool = http.Pool{ retries = 3 }
      times[i] = H.timed(pool.request, pool, "GET", url)
      pool:close()
    end
    table.sort(times)
    -- eight draws of waits totalling 175-350 ms (sd ~33 ms): a fixed
    -- delay would spread them by scheduling noise only
    assert.is_true(times[8] - times[1] > 0.02,
                   "all runs took the same time: " .. table.concat(times, " "))
  end)

  it("let the total timeout end a backoff", function()
    local url = "http://127.0.0.1:" .. closed_port() .. "/"
    local pool = http.Pool{ retries = 20, timeout = { total = 0.4 } }
    local elapsed, r, err = H.timed(pool.request, pool, "GET", url)
    assert.is_nil(r)
    assert.is_true(http.is_error(err, "TimeoutError"), tostring(err))
    H.assert_window(elapsed, 0.4, "total timeout")
    pool:close()
  end)

  it("end with Closed when the pool closes during a backoff", function()
    local url = "http://127.0.0.1:" .. closed_port() .. "/"
    local pool = http.Pool{ retries = 20 }
    local r, err
    http.run(function()
      local t = http.spawn(function() return pool:request("GET", url) end)
      http.sleep(0.3) -- 20 retries back off for far longer
      pool:close()
      r, err = t:join()
    end)
    assert.is_nil(r)
    assert.is_true(http.is_error(err, "Closed"), tostring(err))
  end)
end)
