-- Issue 20: the conveniences real programs needed (DESIGN.md, "Conveniences
-- every program needed"): http.map, response metadata, deadlines and
-- err.timeout, files as bodies, the HTTP/2-only hint, headers by name.
local H = require "helper"
local http = require "c_http_core"

describe("http.map", function()
  it("caps concurrency and returns results in order", function()
    local pool = http.Pool{ max_connections = 2, timeout = { pool = 0.5 } }
    local live, peak = 0, 0
    local list = {}
    for i = 1, 30 do list[i] = i end
    local out = http.map(list, function(n, i)
      live = live + 1
      if live > peak then peak = live end
      local resp = assert(pool:request("GET", H.raw .. "/hello"))
      local body = resp:read()
      live = live - 1
      return body .. n .. ":" .. i
    end, { concurrency = 2 })
    assert.equals(30, #out)
    for i = 1, 30 do assert.equals("hello" .. i .. ":" .. i, out[i]) end
    assert.equals(2, peak)
    pool:close()
  end)

  it("works inside a task, and raises the first error after cancelling", function()
    local started = 0
    local ok, err = pcall(http.run, function()
      return http.map({ 1, 2, 3, 4, 5, 6 }, function(n)
        started = started + 1
        if n == 2 then error("boom at 2", 0) end
        http.sleep(0.05)
        return n
      end, { concurrency = 2 })
    end)
    assert.is_false(ok)
    assert.matches("boom at 2", tostring(err))
    assert.is_true(started <= 3, "started " .. started)
    assert.same({}, http.map({}, function() end))
  end)

  it("raises on misuse at the caller", function()
    assert.has_error(function() http.map({}, print, { concurrency = 0 }) end,
      "concurrency must be a positive integer, got 0")
    assert.has_error(function() http.map({}, print, { workers = 1 }) end)
    assert.has_error(function() http.map("x", print) end)
  end)
end)

describe("response metadata", function()
  it("has url, request, elapsed and reused", function()
    local pool = http.Pool()
    local u = H.raw .. "/hello"
    local r1 = assert(pool:request("GET", u, { headers = { ["X-A"] = "1" } }))
    assert.equals(u, r1.url)
    assert.is_false(r1.reused)
    assert.is_true(r1.elapsed >= 0 and r1.elapsed < 10)
    assert.equals("GET", r1.request.method)
    assert.equals(u, r1.request.url)
    assert.equals("1", r1.request.headers:get("x-a"))
    r1:read()
    local req = http.Request{ method = "GET", url = u }
    local r2 = assert(pool:request(req))
    assert.equals(req, r2.request)
    assert.is_true(r2.reused)
    r2:read()
    -- elapsed is the time to the head, not to the end of the body: /drip3
    -- sends its head at once and the rest of its body over 0.3 s
    local t0 = http.now()
    local r3 = assert(pool:request("GET", H.raw .. "/drip3"))
    assert(r3:read())
    local total = http.now() - t0
    assert.is_true(r3.elapsed > 0 and r3.elapsed <= total - 0.25,
                   r3.elapsed .. " s to the head, " .. total .. " s in all")
    pool:close()
  end)

  it("marks HTTP/2 streams sharing a connection as reused", function()
    local pool = http.Pool{ http1 = false, http2 = true }
    local r1 = assert(pool:request("GET", H.nghttpd .. "/1k"))
    assert.is_false(r1.reused)
    r1:read()
    local r2 = assert(pool:request("GET", H.nghttpd .. "/1k"))
    assert.is_true(r2.reused)
    r2:read()
    pool:close()
  end)
end)

describe("deadlines", function()
  it("a negative total is an expired deadline, not misuse", function()
    local deadline = http.now() - 1
    local resp, err = http.request("GET", H.raw .. "/hello",
                                   { timeout = { total = deadline - http.now() } })
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "TimeoutError"), tostring(err))
    assert.equals("total", err.timeout)
  end)

  it("err.timeout names the limit that fired (HTTP/1.1)", function()
    local _, err = http.request("GET", H.raw .. "/stall-head?s=5",
                                { timeout = 0.2 })
    assert.equals("ReadTimeout", err.kind)
    assert.equals("read", err.timeout)
    _, err = http.request("GET", H.raw .. "/stall-head?s=5",
                          { timeout = { total = 0.2 } })
    assert.equals("total", err.timeout)
    local pool = http.Pool{ max_connections = 1, timeout = { pool = 0.1 } }
    local held = assert(pool:request("GET", H.raw .. "/stall-body?s=5"))
    _, err = pool:request("GET", H.raw .. "/hello")
    assert.equals("PoolTimeout", err.kind)
    assert.equals("pool", err.timeout)
    held:close()
    pool:close()
  end)

  it("err.timeout on HTTP/2 too", function()
    local pool = http.Pool{ http1 = false, http2 = true }
    local _, err = pool:request("GET", H.h2peer .. "/stall-head",
                                { timeout = { total = 0.2 } })
    assert.is_true(http.is_error(err, "TimeoutError"), tostring(err))
    assert.equals("total", err.timeout)
    pool:close()
  end)
end)

describe("files as request bodies", function()
  it("sends a file with its Content-Length from the size", function()
    local name = H.tmpname("body")
    local data = H.pattern(300000)
    local f = assert(io.open(name, "wb")); f:write(data); f:close()
    f = assert(io.open(name, "rb"))
    local resp = assert(http.request("POST", H.raw .. "/upload-sha256",
                                     { body = f }))
    assert.equals("300000 " .. H.sha256(data), resp:read())
    assert.equals("0", resp.headers:get("x-got-chunked"))
    f:close()
    -- from the current position on
    f = assert(io.open(name, "rb")); f:seek("set", 1000)
    resp = assert(http.request("POST", H.raw .. "/upload-sha256", { body = f }))
    assert.equals("299000 " .. H.sha256(data:sub(1001)), resp:read())
    f:close()
    os.remove(name)
  end)

  it("sends a fixed-length file on plain HTTP/1.1 with sendfile", function()
    local core = require "c_http_core.core"
    local name = H.tmpname("sendfile")
    local data = H.pattern(5000000)
    local f = assert(io.open(name, "wb")); f:write(data); f:close()
    f = assert(io.open(name, "rb"))
    assert.equals(100, #f:read(100))          -- a FILE with buffered bytes
    local before = core.stats().sendfile_bytes
    local resp = assert(http.request("POST", H.raw .. "/upload-sha256", { body = f }))
    assert.equals("4999900 " .. H.sha256(data:sub(101)), resp:read())
    assert.equals("0", resp.headers["x-got-chunked"])
    local sent = core.stats().sendfile_bytes - before
    assert.is_true(sent > 0 and sent <= 4999900, tostring(sent))
    assert.equals(5000000, f:seek("cur"))     -- the position followed
    f:close()
    os.remove(name)
  end)

  it("sends a file over HTTP/2, read from C in blocks", function()
    local name = H.tmpname("body2")
    local data = H.pattern(1000000)
    local f = assert(io.open(name, "wb")); f:write(data); f:close()
    f = assert(io.open(name, "rb"))
    local pool = http.Pool{ http1 = false, http2 = true }
    local resp = assert(pool:request("POST", H.h2peer .. "/upload-sha256", { body = f }))
    assert.matches(H.sha256(data), resp:read(), 1, true)
    assert.equals("HTTP/2", resp.version)
    f:close()
    pool:close()
    os.remove(name)
  end)

  it("stops reading the file at an early response; the caller closes it", function()
    local name = H.tmpname("body3")
    local size = 32 * 1024 * 1024
    local f = assert(io.open(name, "wb")); f:write(("z"):rep(size)); f:close()
    f = assert(io.open(name, "rb"))
    -- a complete 200 at once; the server reads a little of the body, closes
    local resp = assert(http.request("POST", H.raw .. "/early-close", { body = f }))
    assert.equals(200, resp.status)
    assert.equals("ok", resp:read())
    assert.is_true(f:seek("cur") < size, "the whole file was read")
    assert.is_true(f:close())
    os.remove(name)
  end)

  it("sends a pipe (no size) chunked", function()
    local f = assert(io.popen("printf abcdef", "r"))
    local resp = assert(http.request("POST", H.raw .. "/upload-sha256",
                                     { body = f }))
    assert.equals("6 " .. H.sha256("abcdef"), resp:read())
    assert.equals("1", resp.headers:get("x-got-chunked"))
    f:close()
  end)

  it("rejects a closed file at the caller", function()
    local f = io.tmpfile(); f:close()
    assert.has_error(function()
      http.request("POST", H.raw .. "/upload-sha256", { body = f })
    end, "body must be nil, a string, a function or an open file, got closed file")
  end)
end)

describe("error hints", function()
  it("names http1 = false when an h2c-only port answers HTTP/1.1", function()
    local pool = http.Pool{ http2 = true }
    local resp, err = pool:request("GET", H.nghttpd .. "/1k")
    assert.is_nil(resp)
    assert.equals("RemoteProtocolError", err.kind)
    assert.matches("HTTP/2 SETTINGS frame", err.message, 1, true)
    assert.matches("http1 = false", err.message, 1, true)
    pool:close()
  end)
end)

describe("headers by name", function()
  it("h[name] is h:get(name); h[i] stays the pair", function()
    local resp = assert(http.request("GET", H.raw .. "/hello"))
    resp:read()
    assert.equals("text/plain", resp.headers["content-type"])
    assert.equals("text/plain", resp.headers["Content-Type"])
    assert.is_nil(resp.headers["x-none"])
    assert.equals("table", type(resp.headers[1]))
    local h = http.Headers{ { "A", "1" } }
    assert.equals("1", h.a)
    assert.equals("function", type(h.get))
  end)
end)

describe("on_progress", function()
  it("reports body bytes written to the socket, ending at the total", function()
    local name = H.tmpname("prog")
    local data = H.pattern(3000000)
    local f = assert(io.open(name, "wb")); f:write(data); f:close()
    f = assert(io.open(name, "rb"))
    local calls = {}
    local resp = assert(http.request("POST", H.raw .. "/upload-sha256", {
      body = f,
      on_progress = function(sent, total) calls[#calls + 1] = { sent, total } end,
    }))
    assert.equals("3000000 " .. H.sha256(data), resp:read())
    f:close()
    os.remove(name)
    assert.is_true(#calls >= 2, "calls: " .. #calls)
    for i, c in ipairs(calls) do
      assert.equals(3000000, c[2])
      assert.is_true(c[1] > 0 and c[1] <= 3000000)
      if i > 1 then assert.is_true(c[1] > calls[i - 1][1]) end
    end
    assert.equals(3000000, calls[#calls][1])
  end)

  it("counts what left, not what the producer handed over", function()
    local given, seen = 0, 0
    local block = string.rep("x", 65536)
    local _, err = http.request("POST", H.raw .. "/no-read?s=3", {
      headers = { { "Content-Length", "100000000" } },
      body = function() given = given + #block; return block end,
      timeout = { write = 0.5, read = 5 },
      on_progress = function(sent, total)
        assert(total == 100000000)
        seen = sent
      end,
    })
    assert.equals("WriteTimeout", err.kind)
    assert.equals("write", err.timeout)
    assert.is_true(given > 0)
    assert.is_true(seen < given, ("reported %d of %d handed over"):format(seen, given))
  end)

  it("a string body gets one report when the head comes", function()
    local calls = {}
    local resp = assert(http.request("POST", H.raw .. "/upload-sha256", {
      body = "hello", on_progress = function(n, t) calls[#calls + 1] = n .. "/" .. t end }))
    resp:read()
    assert.same({ "5/5" }, calls)
  end)

  it("an error in on_progress fails the request", function()
    local f = io.tmpfile(); f:write(string.rep("y", 1000000)); f:seek("set")
    local resp, err = http.request("POST", H.raw .. "/upload-sha256", {
      body = f, on_progress = function() error("stop here", 0) end })
    if resp then resp, err = resp:read() end
    assert.is_nil(resp)
    assert.equals("LocalProtocolError", err.kind)
    assert.matches("on_progress function failed: stop here", err.message, 1, true)
    f:close()
    assert.has_error(function()
      http.request("GET", H.raw .. "/hello", { on_progress = 1 })
    end, "on_progress must be a function, got number")
  end)
end)

describe("http.semaphore", function()
  it("bounds the tasks inside it; with() releases on error too", function()
    local sem = http.semaphore(2)
    local live, peak, done = 0, 0, 0
    http.run(function()
      local tasks = {}
      for i = 1, 8 do
        tasks[i] = http.spawn(function()
          return sem:with(function(x)
            live = live + 1
            if live > peak then peak = live end
            http.sleep(0.02)
            live = live - 1
            if x == 3 then error("task 3 fails", 0) end
            done = done + 1
            return x * 10
          end, i)
        end)
      end
      for i = 1, 8 do
        local ok, v = pcall(tasks[i].join, tasks[i])
        if i == 3 then assert.is_false(ok); assert.matches("^task 3 fails", v)
        else assert.equals(i * 10, v) end
      end
    end)
    assert.equals(2, peak)
    assert.equals(7, done)
    assert.equals(2, sem:available())
  end)

  it("works from the main chunk, and a cancelled waiter loses no permit", function()
    local sem = http.semaphore(1)
    sem:acquire()
    local waiter = http.spawn(function() sem:acquire(); return "got" end)
    http.sleep(0.02)
    assert.is_true(waiter:cancel())
    assert.has_error(function() waiter:join() end)
    sem:release()
    assert.equals(1, sem:available())
    local t = http.spawn(function() sem:acquire(); sem:release(); return "ok" end)
    assert.equals("ok", t:join())
    sem:acquire()
    sem:release()
    assert.has_error(function() sem:release() end,
                     "semaphore released more often than acquired")
    assert.has_error(function() http.semaphore(0) end,
                     "semaphore expects a positive integer, got 0")
  end)
end)
