-- The loop's timers after a stall (issue 18, items 1 and 2): a timer never
-- fires for an operation whose data is already in its socket, however long
-- the loop was left alone, and a sleep or timeout is never shorter than
-- asked, however long the step that armed it has computed.
local H = require "helper"
local http = require "c_http_core"

-- A busy loop of `s` seconds that never yields (CPU work in a task).
local function compute(s)
  local t0 = http.now()
  local x = 0
  while http.now() - t0 < s do x = x + 1 end
  return x
end

-- Bodies that arrive 0.3 s after their heads: with a 1 s read timeout,
-- every one is in its socket long before its deadline.
local N = 300 -- more ready sockets than one epoll batch (256)
local SLOW = "/slow-body?chunks=1&delay_ms=300&size=10"

describe("the loop after a stall", function()
  it("a task that computes 2 s causes no ReadTimeout for responses already received", function()
    local pool = http.Pool{ max_connections = N, timeout = { connect = 10, read = 1, pool = 10 } }
    local heads, ok, errs = 0, 0, {}
    http.run(function()
      for _ = 1, N do
        http.spawn(function()
          local resp, err = pool:request("GET", H.raw .. SLOW)
          if not resp then errs[#errs + 1] = tostring(err); return end
          heads = heads + 1
          local body, rerr = resp:read()
          if body and #body == 10 then ok = ok + 1
          else errs[#errs + 1] = tostring(rerr) end
        end)
      end
      local deadline = http.now() + 20
      while heads + #errs < N and http.now() < deadline do http.sleep(0.01) end
      assert.equals(N, heads, "not every head came: " .. tostring(errs[1]))
      compute(2) -- meanwhile every body arrives
    end)
    pool:close()
    assert.equals(0, #errs, "errors: " .. tostring(errs[1]) .. " (" .. #errs .. ")")
    assert.equals(N, ok)
  end)

  it("an embedding host that does not step for 2 s causes no ReadTimeout", function()
    local host = H.build .. "/embed/host"
    assert(io.open(host), host .. " missing: make embed")
    local f = assert(io.popen(("CHC_HOST_STALL_MS=2000 %s spec/scripts/stall_script.lua %s %d 2>&1")
      :format(H.q(host), H.q(H.raw .. SLOW), N)))
    local out = f:read("a")
    local ok = f:close()
    assert.matches("host: not stepping for 2000 ms", out, 1, true)
    assert.matches(("host: %d responses, %d ok"):format(N, N), out, 1, true)
    assert(ok, out)
  end)
end)

describe("sleeps and timeouts", function()
  it("http.sleep after CPU work in the same task is not shorter than asked", function()
    http.run(function()
      compute(0.2)
      local t0 = http.now()
      http.sleep(0.3)
      local dt = http.now() - t0
      assert.is_true(dt >= 0.3, ("slept %.4f s"):format(dt))
      assert.is_true(dt < 0.3 + 1.5, ("slept %.4f s"):format(dt))
    end)
  end)

  it("a task's sleep after another task computed in the same step is not shorter", function()
    local dt
    http.run(function()
      local a = http.spawn(function() compute(0.25) end)
      local b = http.spawn(function()
        local t0 = http.now()
        http.sleep(0.3)
        dt = http.now() - t0
      end)
      a:join(); b:join()
    end)
    assert.is_true(dt >= 0.3, ("slept %.4f s"):format(dt))
    assert.is_true(dt < 0.3 + 1.5, ("slept %.4f s"):format(dt))
  end)

  it("sub-millisecond parts of a duration round up, never down", function()
    local function sleeps(n)
      for _ = 1, n do
        local t0 = http.now()
        http.sleep(0.0013)
        local dt = http.now() - t0
        assert.is_true(dt >= 0.0013, ("slept %.6f s"):format(dt))
      end
    end
    http.run(sleeps, 20)
    sleeps(5) -- the main chunk's sleep too
  end)

  it("a read timeout is not shorter than asked after CPU work in the task", function()
    local pool = http.Pool{ timeout = { read = 0.3 } }
    http.run(function()
      local resp = assert(pool:request("GET", H.raw .. "/stall-body?s=5"))
      compute(0.2)
      local t0 = http.now()
      local body, err = resp:read()
      local dt = http.now() - t0
      assert.is_nil(body)
      assert.equals("ReadTimeout", err.kind)
      assert.is_true(dt >= 0.3, ("timed out after %.4f s"):format(dt))
    end)
    pool:close()
  end)
end)
