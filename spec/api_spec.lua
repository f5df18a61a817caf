-- Smaller parts of the public API: the clock, the default pool, task
-- handles.
local H = require "helper"
local http = require "c_http_core"

describe("api", function()
  it("http.now() is monotonic with sub-second precision", function()
    local a = http.now()
    http.sleep(0.02)
    local b = http.now()
    assert.is_true(b - a >= 0.015 and b - a < 2, tostring(b - a))
    assert.is_true(math.type(a) == "float")
  end)

  it("lets the default pool be replaced", function()
    local mine = http.Pool{ max_connections = 1 }
    local old = http.default_pool(mine)
    assert.equals(mine, http.default_pool())
    assert.equals("hello", assert(http.request("GET", H.raw .. "/hello")):read())
    assert.equals(1, mine:stats().connections)
    http.default_pool(old or http.Pool())
    mine:close()
    assert.has_error(function() http.default_pool({}) end)
  end)

  it("task:cancel() says whether there was anything to cancel", function()
    http.run(function()
      local t = http.spawn(function() http.sleep(10) end)
      http.sleep(0.01)
      assert.is_true(t:cancel())
      assert.has_error(function() t:join() end)
      local done = http.spawn(function() return 1 end)
      assert.equals(1, done:join())
      assert.is_false(done:cancel())
    end)
  end)

  it("cancels a task sleeping, then lets it clean up with I/O", function()
    local got
    http.run(function()
      local t = http.spawn(function()
        local ok, err = pcall(http.sleep, 10)
        assert(not ok and http.is_error(err, "Cancelled"))
        -- after the Cancelled error the task may still do I/O
        got = assert(http.request("GET", H.raw .. "/hello")):read()
      end)
      http.sleep(0.01)
      t:cancel()
      t:join()
    end)
    assert.equals("hello", got)
  end)
end)

describe("resp:iter() on a finished response", function()
  it("ends at once on a body read to its end, raises Closed after close()", function()
    local r = assert(http.request("GET", H.raw .. "/hello"))
    local n = 0
    for _ in r:iter() do n = n + 1 end
    assert.is_true(n >= 1)
    local again = 0
    for _ in r:iter() do again = again + 1 end
    assert.equals(0, again)
    assert.equals("", r:read())
    local r2 = assert(http.request("GET", H.raw .. "/hello"))
    assert.equals("hello", r2:read())
    for _ in r2:iter() do again = again + 1 end
    assert.equals(0, again)
    local r3 = assert(http.request("GET", H.raw .. "/hello"))
    r3:close()
    local ok, err = pcall(function() for _ in r3:iter() do end end)
    assert.is_false(ok)
    assert.is_true(http.is_error(err, "Closed"), tostring(err))
    local body, err2 = r3:read()
    assert.is_nil(body)
    assert.is_true(http.is_error(err2, "Closed"))
  end)
end)

describe("waiting from the wrong place", function()
  it("says so when a task's own coroutine.wrap waits", function()
    local ok, err = pcall(http.run, function()
      local f = coroutine.wrap(function() http.sleep(0.01) end)
      f()
    end)
    assert.is_false(ok)
    assert.matches("coroutine of your own", tostring(err))
  end)
end)
