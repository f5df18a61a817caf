-- The mock transport (lua/c_http_core/mock.lua): http.Pool{ mock = handler }.
local http = require "c_http_core"

describe("mock transport", function()
  it("answers with the handler's status, headers and body", function()
    local got
    local pool = http.Pool{ mock = function(req)
      got = req
      return 201, { { "X-A", "1" }, { "Content-Type", "text/plain" } }, "made"
    end }
    local resp = assert(pool:request("POST", "http://h.test/p?q=1",
                                     { headers = { ["X-Req"] = "r" }, body = "in" }))
    assert.equals(201, resp.status)
    assert.equals("Created", resp.reason)
    assert.equals("HTTP/1.1", resp.version)
    assert.equals("1", resp.headers:get("x-a"))
    assert.equals("text/plain", resp.headers["content-type"])
    assert.equals("made", resp:read())
    assert.is_false(resp.reused)
    assert.equals("http://h.test/p?q=1", resp.url)
    assert.equals("POST", got.method)
    assert.equals("http://h.test:80/p?q=1", got.url)
    assert.equals("r", got.headers:get("x-req"))
    assert.equals("in", got.body)
    assert.equals(getmetatable(resp), http.Response)
  end)

  it("streams a body given as a function, with trailers, through iter()", function()
    local pool = http.Pool{ mock = function()
      local n = 0
      return 200, {}, function()
        n = n + 1
        if n <= 3 then return "c" .. n end
      end, { ["X-Sum"] = "3" }
    end }
    local resp = assert(pool:request("GET", "http://h.test/"))
    local parts = {}
    for c in resp:iter() do parts[#parts + 1] = c end
    assert.same({ "c1", "c2", "c3" }, parts)
    assert.equals("3", resp.trailers:get("x-sum"))
    local list = http.Pool{ mock = function() return 200, {}, { "a", "", "b" } end }
    assert.equals("ab", assert(list:request("GET", "http://h.test/")):read())
  end)

  it("turns an error object raised by the handler into nil, err", function()
    local pool = http.Pool{ mock = function()
      error(http.Error("ConnectError", "connection refused"))
    end }
    local resp, err = pool:request("GET", "http://h.test/")
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "NetworkError"))
    assert.equals("connection refused", err.message)
    local ret = http.Pool{ mock = function()
      return nil, http.Error("ReadTimeout")
    end }
    local _, e2 = ret:request("GET", "http://h.test/")
    assert.equals("ReadTimeout", e2.kind)
    assert.equals("read", e2.timeout)
  end)

  it("fails a body mid-way, and iter() raises it", function()
    local pool = http.Pool{ mock = function()
      local sent = false
      return 200, {}, function()
        if sent then error(http.Error("ReadTimeout", "stalled")) end
        sent = true
        return "part"
      end
    end }
    local resp = assert(pool:request("GET", "http://h.test/"))
    local ok, err = pcall(function() for _ in resp:iter() do end end)
    assert.is_false(ok)
    assert.equals("ReadTimeout", err.kind)
    resp = assert(pool:request("GET", "http://h.test/"))
    local body, e2 = resp:read()
    assert.is_nil(body)
    assert.equals("stalled", e2.message)
  end)

  it("raises a handler's own bug as it is", function()
    local pool = http.Pool{ mock = function() error("oops in handler", 0) end }
    assert.has_error(function() pool:request("GET", "http://h.test/") end,
                     "oops in handler")
  end)

  it("works inside tasks, where the handler may wait", function()
    local pool = http.Pool{ mock = function(req)
      http.sleep(0.01)
      return 200, {}, req.url:match("/(%d+)$")
    end }
    local out = http.run(function()
      return http.map({ 1, 2, 3, 4 }, function(i)
        return assert(pool:request("GET", "http://h.test/" .. i)):read()
      end, { concurrency = 2 })
    end)
    assert.same({ "1", "2", "3", "4" }, out)
    assert.equals(4, pool:stats().requests)
  end)

  it("checks the other options as a real pool does", function()
    assert.has_error(function() http.Pool{ mock = function() end, bogus = 1 } end,
                     "unknown Pool option 'bogus'")
    assert.has_error(function() http.Pool{ mock = 42 } end)
  end)

  it("hands a file body to the handler as a function", function()
    local f = io.tmpfile(); f:write("file data"); f:seek("set")
    local pool = http.Pool{ mock = function(req)
      local parts = {}
      for c in req.body do parts[#parts + 1] = c end
      return 200, {}, req.headers:get("content-length") .. " " .. table.concat(parts)
    end }
    assert.equals("9 file data",
                  assert(pool:request("PUT", "http://h.test/", { body = f })):read())
    f:close()
  end)

  it("gives the events of an event-stream body (resp:events, next_event)", function()
    -- an event split across chunks, a CR line end, a persisting id
    local pool = http.Pool{ mock = function()
      return 200, { { "Content-Type", "text/event-stream" } },
             { "data: a\n\nid: 7\nda", "ta: b\r\r", "event: x\ndata: c\n\ndata: cut" }
    end }
    local got = {}
    local r = assert(pool:request("GET", "http://h.test/ev"))
    for ev in r:events() do got[#got + 1] = ev.event .. "|" .. ev.data .. "|" .. ev.id end
    assert.same({ "message|a|", "message|b|7", "x|c|7" }, got)
    -- next_event: the step by hand; a body that fails mid-way is nil, err
    pool = http.Pool{ mock = function()
      local sent = false
      return 200, {}, function()
        if sent then return nil, http.Error("ReadError", "cut") end
        sent = true
        return "data: one\n\n"
      end
    end }
    r = assert(pool:request("GET", "http://h.test/ev"))
    assert.equals("one", r:next_event().data)
    local ev, err = r:next_event()
    assert.is_nil(ev)
    assert.equals("ReadError", err.kind)
    -- and the iterator raises it, as resp:iter() does
    r = assert(pool:request("GET", "http://h.test/ev"))
    local ok, e = pcall(function() for _ in r:events() do end end)
    assert.is_false(ok)
    assert.equals("ReadError", e.kind)
  end)

  describe("examples/mock_spec.lua", function()
    assert(loadfile("examples/mock_spec.lua", "t", _ENV))()
  end)
end)
