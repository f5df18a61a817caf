-- Regressions found in review (each failed before its fix).
local H = require "helper"
local http = require "c_http_core"
local core = require "c_http_core.core"

-- a producer of `count` pieces; calls() tells how often it was called
local function producer(piece, count)
  local n = 0
  return function()
    if n == count then return nil end
    n = n + 1
    return piece
  end, function() return n end
end

describe("regressions", function()
  after_each(H.check_clean)

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
    local body, calls = producer(piece, 1024) -- 64 MiB if nothing stopped it
    local r = assert(http.request("POST", H.raw .. "/reject",
      { body = body, timeout = 5 }))
    assert.equals(413, r.status)
    assert.equals("big!", r:read())
    -- the producer's task has ended (not just paused): no more calls
    H.wait_until(function() return core.stats().tasks == 0 end, 5,
                 "the producer task to end")
    assert.is_true(calls() < 1024, "the producer ran to its end: " .. calls() .. " calls")
    local n = calls()
    assert.equals(n, calls())
  end)

  it("closing a response wakes its producer (no hang)", function()
    local calls, closed_at, ended_in = 0, nil, nil
    http.run(function()
      -- the server answers at once and never reads: the producer fills
      -- the socket and waits for it; closing must wake it
      local piece = string.rep("y", 64 * 1024)
      local r = assert(http.request("POST", H.raw .. "/early-stall", {
        body = function() calls = calls + 1; return piece end,
        timeout = { read = 30, write = 30 },
      }))
      -- wait until the producer is blocked: called, then no new call
      -- over three polls in a row (bounded)
      local last, same = -1, 0
      H.wait_until(function()
        if calls > 0 and calls == last then same = same + 1 else same = 0 end
        last = calls
        return same >= 3
      end, 10, "the producer to block on the full socket")
      closed_at = http.now()
      r:close()
      -- the run's own task is the only one left once the producer ended;
      -- if it never ends, http.run would wait forever: end the process
      -- instead (run.sh counts the missing summary as a failure)
      local ok = pcall(H.wait_until, function() return core.stats().tasks <= 1 end, 3,
                       "the producer to end")
      if not ok then
        io.stderr:write("\nreview_spec: closing a response did not wake its request-body "
                        .. "producer (still waiting 3 s later); exiting rather than hang\n")
        os.exit(1)
      end
      ended_in = http.now() - closed_at
    end)
    assert.is_true(ended_in < 1.5, ("the producer ended %.3f s after the close"):format(ended_in))
  end)

  it("no read timeout while the reader holds a chunk", function()
    local read_to = 0.3
    local r = assert(http.request("GET", H.raw .. "/drip3", { timeout = { read = read_to } }))
    local it = r:iter()
    assert.equals("0123456789", it())
    -- hold the chunk for well over twice the read timeout (the server
    -- sends the rest meanwhile), measured on the clock
    local t0 = http.now()
    H.wait_until(function() return http.now() - t0 >= 3 * read_to end, 5, "time to pass")
    local rest, err = r:read()
    assert.is_truthy(rest, tostring(err))
    assert.equals(90, #rest)
  end)

  it("a producer returning empty strings does not starve the loop", function()
    -- the producer says "nothing now" ("") until another task has had
    -- three turns; a starved loop never gives it one, and the cap on
    -- calls ends the upload instead of hanging
    local CAP = 5000
    local n, ticks, finished, empties = 0, 0, false, 0
    local zs = 0
    http.run(function()
      local t = http.spawn(function()
        while not finished do
          ticks = ticks + 1
          http.sleep(0)
        end
      end)
      local t0 = nil
      local r = assert(http.request("POST", H.raw .. "/upload-sha256", {
        body = function()
          n = n + 1
          if n > CAP then return nil end
          t0 = t0 or ticks
          if ticks - t0 < 3 then empties = empties + 1; return "" end
          if zs == 50 then return nil end
          zs = zs + 1
          return "z"
        end,
      }))
      local body = r:read()
      finished = true
      t:join()
      assert.is_true(n <= CAP, ("the other task got no turn in %d calls that returned "
        .. "empty strings"):format(CAP))
      assert.equals("50 " .. H.sha256(string.rep("z", 50)), body)
    end)
    assert.is_true(empties > 0)
  end)
end)
