-- The public module over a fake "c_http_core.core" (no C build needed): checks
-- the call shapes handed to the binding and the Response/Task wrappers.

describe("c_http_core (over a fake core)", function()
  local http, fake, saved

  -- A scripted response: chunks are strings, or an error object (returned as
  -- nil, err by chunk()).
  local function fake_resp(spec)
    local r = { spec = spec, i = 0, closed = 0, ended = false }
    function r.head() return spec.status or 200, spec.reason or "OK",
                             spec.version or "HTTP/1.1" end
    function r.headers() return spec.headers or {} end
    function r.chunk()
      r.i = r.i + 1
      local c = spec.chunks and spec.chunks[r.i]
      if type(c) == "table" then return nil, c end
      if c == nil then r.ended = true end
      return c
    end
    function r.read()
      local parts = {}
      while true do
        local c, err = r.chunk()
        if err then return nil, err end
        if not c then return table.concat(parts) end
        parts[#parts + 1] = c
      end
    end
    function r.trailers() if r.ended and r.closed == 0 then return spec.trailers end end
    function r.close() r.closed = r.closed + 1 end
    return setmetatable(r, { __index = function(_, k) error("no method " .. k) end })
  end

  local function install_fake()
    fake = { calls = {}, next_resp = {} }
    local Pool = {}
    Pool.__index = Pool
    function Pool:request(...)
      fake.calls[#fake.calls + 1] = table.pack(...)
      local spec = table.remove(fake.next_resp, 1) or {}
      if spec.fail then return nil, spec.fail end
      fake.last = fake_resp(spec)
      return fake.last
    end
    function Pool:close() self.closed = (self.closed or 0) + 1 end
    function Pool:stats() return { connections = 0, idle = 0, active = 0, waiting = 0 } end
    local core = {
      set_error_factory = function(fn) fake.factory = fn end,
      Pool = function(o) fake.pool_opts = o; fake.pool = setmetatable({}, Pool); return fake.pool end,
      run = function(fn, ...) return pcall(fn, ...) end,
      spawn = function(fn, ...)
        local res = table.pack(pcall(fn, ...))
        return { join = function() return table.unpack(res, 1, res.n) end,
                 cancel = function() fake.cancelled = true end }
      end,
      sleep = function() end,
      now = function() return 0 end,
      loop = function() return "loop" end,
    }
    package.loaded["c_http_core.core"] = core
    package.loaded["c_http_core"] = nil
    http = require "c_http_core"
  end

  setup(function()
    saved = { core = package.loaded["c_http_core.core"], http = package.loaded["c_http_core"] }
    install_fake()
  end)

  teardown(function()
    package.loaded["c_http_core.core"] = saved.core
    package.loaded["c_http_core"] = saved.http
  end)

  before_each(function()
    fake.calls, fake.next_resp = {}, {}
  end)

  it("registers the error constructor with the core", function()
    local err = fake.factory("ReadTimeout", "slow")
    assert.is_true(http.is_error(err, "TimeoutError"))
    assert.equal("ReadTimeout: slow", tostring(err))
  end)

  it("exports the contract's names", function()
    for _, k in ipairs { "request", "Pool", "Request", "Headers", "is_error", "run",
                         "spawn", "sleep", "loop", "errors" } do
      assert.is_not_nil(http[k], k)
    end
    assert.equal("0.1.0", http.VERSION)
    assert.equal("ReadTimeout", http.errors.ReadTimeout)
    assert.equal("TimeoutError", http.errors.TimeoutError)
    assert.equal("loop", http.loop())
  end)

  it("creates the core pool with normalized options", function()
    local pool = http.Pool { max_connections = 3, timeout = 7 }
    assert.equal(3, fake.pool_opts.max_connections)
    assert.same({ connect = 7, read = 7, write = 7, pool = 7 }, fake.pool_opts.timeout)
    assert.same({ verify = true }, fake.pool_opts.tls)
    pool:close()
    assert.equal(1, fake.pool.closed)
    assert.has_error(function() http.Pool { max_connections = 0 } end,
                     nil)
  end)

  it("calls pool:request with the exact shape", function()
    local pool = http.Pool()
    local resp = assert(pool:request("get", "http://[::1]:8080/a?b#c",
                                     { headers = { { "X-A", "1" } }, body = "hi", timeout = 2 }))
    local c = fake.calls[1]
    assert.equal(10, c.n)   -- the 9th: on_progress, the 10th: trace (nil here)
    assert.is_nil(c[9]); assert.is_nil(c[10])
    assert.equal("GET", c[1])
    assert.equal("http", c[2])
    assert.equal("::1", c[3])
    assert.equal(8080, c[4])
    assert.equal("/a?b", c[5])
    assert.same({ { "X-A", "1" } }, c[6])
    assert.equal("hi", c[7])
    assert.same({ connect = 2, read = 2, write = 2, pool = 2 }, c[8])
    resp:close()
  end)

  it("passes nil headers, body and timeout when not given; maps become pairs", function()
    local pool = http.Pool()
    pool:request("GET", "https://h/")
    local c = fake.calls[1]
    assert.equal("https", c[2]); assert.equal(443, c[4]); assert.equal("/", c[5])
    assert.is_nil(c[6]); assert.is_nil(c[7]); assert.is_nil(c[8])
    pool:request("GET", "https://h/", { headers = { B = "2", A = 1 } })
    assert.same({ { "A", "1" }, { "B", "2" } }, { table.unpack(fake.calls[2][6]) })
  end)

  it("sends a Request object", function()
    local pool = http.Pool()
    local req = http.Request { method = "PUT", url = "http://h:81/x", body = "b",
                               headers = { { "A", "1" } }, timeout = { read = 1 } }
    assert(pool:request(req))
    local c = fake.calls[1]
    assert.equal("PUT", c[1]); assert.equal("h", c[3]); assert.equal(81, c[4])
    assert.equal("/x", c[5]); assert.equal("1", c[6]:get("a")); assert.equal("b", c[7])
    assert.same({ read = 1 }, c[8])
  end)

  it("returns UnsupportedProtocol without calling the core", function()
    local pool = http.Pool()
    local resp, err = pool:request("GET", "ftp://h/")
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "UnsupportedProtocol"))
    resp, err = pool:request(http.Request { method = "GET", url = "ws://h/" })
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "UnsupportedProtocol"))
    assert.equal(0, #fake.calls)
  end)

  it("raises on misuse", function()
    local pool = http.Pool()
    assert.has_error(function() pool:request("GE T", "http://h/") end)
    assert.has_error(function() pool:request("GET", "nope") end)
    assert.has_error(function() pool:request("GET", "http://h/", { bdy = "x" }) end)
    assert.has_error(function() pool:request("GET", "http://h/", { body = 1 }) end)
    assert.has_error(function() pool:request("GET", "http://h/", { headers = { { "A", "\n" } } }) end)
    assert.has_error(function() pool:request("GET", "http://h/", "opts") end)
    assert.equal(0, #fake.calls)
  end)

  it("returns the core's errors", function()
    local err = fake.factory("ConnectError", "refused")
    fake.next_resp[1] = { fail = err }
    local resp, e = http.request("GET", "http://h/")
    assert.is_nil(resp)
    assert.equal(err, e)
  end)

  describe("responses", function()
    it("expose status, reason, version and headers", function()
      fake.next_resp[1] = { status = 404, reason = "Not Found", version = "HTTP/1.0",
                            headers = { "Content-Type", "text/plain", "X-A", "1", "x-a", "2" } }
      local resp = http.request("GET", "http://h/")
      assert.equal(404, resp.status)
      assert.equal("Not Found", resp.reason)
      assert.equal("HTTP/1.0", resp.version)
      assert.equal("text/plain", resp.headers:get("content-type"))
      assert.same({ "1", "2" }, resp.headers:get_all("X-A"))
      assert.equal(resp.headers, resp.headers)
      assert.equal(3, #resp.headers)
      assert.equal("Response: HTTP/1.0 404 Not Found", tostring(resp))
    end)

    it("read the whole body, then give trailers", function()
      fake.next_resp[1] = { chunks = { "a", "b" }, trailers = { "X-T", "v" } }
      local resp = http.request("GET", "http://h/")
      assert.is_nil(resp.trailers)
      assert.equal("ab", resp:read())
      assert.equal("v", resp.trailers:get("x-t"))
      resp:close()
      resp:close()
      assert.equal("v", resp.trailers:get("x-t"))
    end)

    it("iterate over chunks and close at the end of the loop", function()
      fake.next_resp[1] = { chunks = { "a", "b", "c" }, trailers = { "X-T", "v" } }
      local resp = http.request("GET", "http://h/")
      local got = {}
      for chunk in resp:iter() do got[#got + 1] = chunk end
      assert.same({ "a", "b", "c" }, got)
      assert.equal(1, fake.last.closed)
      assert.equal("v", resp.trailers:get("X-T"))
    end)

    it("close when the loop is left by break", function()
      fake.next_resp[1] = { chunks = { "a", "b" } }
      local resp = http.request("GET", "http://h/")
      for _ in resp:iter() do break end
      assert.equal(1, fake.last.closed)
      assert.is_nil(resp.trailers)
    end)

    it("raise the error object from the iterator instead of ending silently", function()
      local err = fake.factory("RemoteProtocolError", "truncated body")
      fake.next_resp[1] = { chunks = { "a", err } }
      local resp = http.request("GET", "http://h/")
      local got = {}
      local ok, e = pcall(function()
        for chunk in resp:iter() do got[#got + 1] = chunk end
      end)
      assert.is_false(ok)
      assert.equal(err, e)
      assert.same({ "a" }, got)
      assert.equal(1, fake.last.closed)
    end)

    it("return nil, err from read on failure", function()
      local err = fake.factory("ReadTimeout", "slow")
      fake.next_resp[1] = { chunks = { "a", err } }
      local resp = http.request("GET", "http://h/")
      local body, e = resp:read()
      assert.is_nil(body)
      assert.equal(err, e)
    end)

    it("support <close>", function()
      do
        local resp <close> = http.request("GET", "http://h/")
        assert.equal(200, resp.status)
      end
      assert.equal(1, fake.last.closed)
    end)
  end)

  describe("tasks", function()
    it("run returns the results or raises the error", function()
      assert.same({ 1, 2 }, { http.run(function(a, b) return a, b end, 1, 2) })
      local err = fake.factory("Cancelled", "x")
      local ok, e = pcall(http.run, function() error(err) end)
      assert.is_false(ok)
      assert.equal(err, e)
      assert.has_error(function() http.run(42) end)
    end)

    it("spawn gives tasks whose join returns results or raises", function()
      local t = http.spawn(function(x) return x * 2 end, 21)
      assert.equal(42, t:join())
      local t2 = http.spawn(function() error("boom", 0) end)
      local ok, e = pcall(t2.join, t2)
      assert.is_false(ok)
      assert.equal("boom", e)
      t2:cancel()
      assert.is_true(fake.cancelled)
    end)
  end)
end)
