-- Regressions found in review (each failed before its fix).
local H = require "helper"
local http = require "c_http_core"

local function producer(piece, count)
  local n = 0
  return function()
    if n == count then return nil end
    n = n + 1
    return piece
  end
end

describe("regressions", function()
  it("a server closing mid-upload is not SIGPIPE", function()
    -- the process used to die (exit 141): writev without MSG_NOSIGNAL.
    -- The server answered before it closed: since issue 9 (item 7) the
    -- complete response stands (read() returns it, not the WriteError)
    local piece = string.rep("x", 64 * 1024)
    local r, err = http.request("POST", H.raw .. "/early-close",
      { body = producer(piece, 256), timeout = 5 })
    if r then r, err = r:read() end
    assert.equals("ok", r, tostring(err))
  end)

  it("a 413 before the body was read stops the upload with the response", function()
    local piece = string.rep("x", 64 * 1024)
    local r = assert(http.request("POST", H.raw .. "/reject",
      { body = producer(piece, 1024), timeout = 5 }))
    assert.equals(413, r.status)
  end)

  it("closing a response wakes its producer (no hang)", function()
    local done = false
    http.run(function()
      -- the server answers at once and never reads: the producer fills
      -- the socket and waits for it; closing must wake it
      local piece = string.rep("y", 64 * 1024)
      local r = assert(http.request("POST", H.raw .. "/early-stall", {
        body = function() return piece end,
        timeout = { read = 30, write = 30 },
      }))
      http.sleep(0.1)
      r:close()
    end)
    done = true
    assert.is_true(done)
  end)

  it("no read timeout while the reader holds a chunk", function()
    local r = assert(http.request("GET", H.raw .. "/drip3", { timeout = { read = 0.4 } }))
    local it = r:iter()
    assert.equals("0123456789", it())
    http.sleep(0.5) -- longer than the read timeout, but the server is done
    local rest, err = r:read()
    assert.is_truthy(rest, tostring(err))
    assert.equals(90, #rest)
  end)

  it("a producer returning empty strings does not starve the loop", function()
    local n, other = 0, false
    http.run(function()
      local t = http.spawn(function() other = true end)
      local r = assert(http.request("POST", H.raw .. "/upload-sha256", {
        body = function()
          n = n + 1
          if n > 100 then return nil end
          return n % 2 == 0 and "" or "z"
        end,
      }))
      assert.equals("50 ", r:read():sub(1, 3))
      t:join()
    end)
    assert.is_true(other)
  end)
end)
