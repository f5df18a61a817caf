-- Regressions found reading the whole of the 2026-12-01 change once more.
local H = require "helper"
local http = require "c_http_core"

describe("review of the 2026-12-01 change", function()
  after_each(H.check_clean)

  it("an https proxy's tls table takes every Pool tls key (min_version)", function()
    -- lproxy.c read some keys by hand and dropped min_version and ciphers
    local ok, err = pcall(http.Pool, { proxy = { url = "https://127.0.0.1:9",
                                                 tls = { min_version = "1.3" } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("min_version", 1, true), tostring(err))
  end)

  it("a WebSocket's timeout takes false and math.huge as a request's does", function()
    -- lws.c parsed the table itself and refused "no limit"
    local ws, err = http.websocket("ws://127.0.0.1:1/", { timeout = { read = false, connect = 2 } })
    assert.is_nil(ws)
    assert.equals("ConnectError", err.kind)
    ws, err = http.websocket("ws://127.0.0.1:1/", { timeout = math.huge })
    assert.is_nil(ws)
    assert.equals("ConnectError", err.kind)
  end)

  it("a WebSocket's ping_interval is bounded like every other number of seconds", function()
    local ok, err = pcall(function()
      return http.websocket("ws://127.0.0.1:1/", { ping_interval = 2e9 })
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("ping_interval must be a finite number of seconds", 1, true),
                  tostring(err))
  end)
end)
