-- Requests that wait for an origin's HTTP/2 connection (while the first
-- connection to an h2-capable origin is made, or for a stream slot) are
-- not left waiting for a connection that will never take them: when it
-- fails they try again themselves (the PING cases: spec/h2_ping_spec.lua).
local H = require "helper"
local http = require "c_http_core"

describe("requests waiting for the first HTTP/2 connection", function()
  after_each(H.check_clean)

  it("fail with its connect error at once when it fails, not a PoolTimeout", function()
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
end)
