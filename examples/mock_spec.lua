-- Testing your own HTTP code under busted with the mock transport: no server,
-- no socket. Copy this file next to your code and run `busted --lua=lua5.4`.
local http = require "c_http_core"

-- The code under test: takes its pool as a parameter, so a spec can hand it
-- a mock pool and a program a real one.
local function latest_release(pool, repo)
  local resp, err = pool:request("GET", "https://api.example.test/repos/" ..
                                 repo .. "/latest", { timeout = 5 })
  if not resp then return nil, "unreachable: " .. tostring(err) end
  local body = resp:read()
  if resp.status ~= 200 then return nil, "HTTP " .. resp.status end
  return body:match('"tag":"([^"]+)"')
end

describe("latest_release", function()
  it("reads the tag from the answer", function()
    local seen
    local pool = http.Pool{ mock = function(req)
      seen = req
      return 200, { ["Content-Type"] = "application/json" }, '{"tag":"v1.2"}'
    end }
    assert.equals("v1.2", latest_release(pool, "me/tool"))
    assert.equals("GET", seen.method)
    assert.equals("https://api.example.test:443/repos/me/tool/latest", seen.url)
  end)

  it("reports a server error", function()
    local pool = http.Pool{ mock = function() return 503, {}, "busy" end }
    assert.same({ nil, "HTTP 503" }, { latest_release(pool, "me/tool") })
  end)

  it("reports a network failure", function()
    local pool = http.Pool{ mock = function()
      error(http.Error("ConnectError", "connection refused"))
    end }
    local tag, err = latest_release(pool, "me/tool")
    assert.is_nil(tag)
    assert.equals("unreachable: ConnectError: connection refused", err)
  end)
end)
