-- Issue 9: defects found by trying the library as a demanding user would.
-- Each `it` failed before its fix. Peers: the node h2 peer (its max5 and
-- win0 servers, the latter read from the peer's ready file), the raw peer's
-- /i9/* endpoints (spec/peers/raw_peer.py, "issue 9" block).
local H = require "helper"
local http = require "c_http_core"

-- the node peer's extra servers are in its ready file only
local function h2peer_port(name)
  local f = H.tmp and io.open(H.tmp .. "/h2_peer.ready")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local p = text:match(name .. "=(%d+)")
  return p and tonumber(p) > 0 and ("http://127.0.0.1:" .. p) or nil
end

local function once(piece)
  local done = false
  return function()
    if done then return nil end
    done = true
    return piece
  end
end

local function h2pool(timeout)
  return http.Pool { http1 = false, http2 = true, timeout = timeout }
end

describe("issue 9", function()
  describe("HTTP/2", function()
    it("1: function bodies queued behind the server's stream limit all finish", function()
      assert(H.h2peer_max5, "node h2 peer not running")
      local pool = h2pool { connect = 5, read = 5, write = 5, pool = 5, total = 20 }
      local results = {}
      http.run(function()
        local tasks = {}
        for i = 1, 12 do
          tasks[i] = http.spawn(function()
            local r, err = pool:request("POST", H.h2peer_max5 .. "/upload-sha256",
              { body = once("abc") })
            if not r then return tostring(err) end
            local body, rerr = r:read()
            return body or tostring(rerr)
          end)
        end
        for i = 1, 12 do results[i] = tasks[i]:join() end
      end)
      pool:close()
      for i = 1, 12 do assert.matches("^3 ba7816bf", results[i]) end
    end)

    -- nghttpd --no-tls -m 1 over nginx's files on a free port (a few tries:
    -- another process may take the port first). Returns its URL and pid.
    local function start_nghttpd()
      for try = 1, 3 do
        local port = 20000 + math.random(0, 30000)
        local pidf = H.tmp .. "/i9-nghttpd.pid"
        os.execute("env -u LD_PRELOAD sh -c " .. H.q("nghttpd --no-tls -m 1 -d "
          .. H.q(H.www) .. " " .. port .. " >" .. H.tmp .. "/i9-nghttpd-" .. try
          .. ".log 2>&1 & echo $! >" .. pidf))
        local f = assert(io.open(pidf))
        local pid = f:read("l")
        f:close()
        local url = "http://127.0.0.1:" .. port
        local deadline = http.now() + 5
        while http.now() < deadline do -- until it answers
          local pool = http.Pool { http1 = false, http2 = true, timeout = 1 }
          local resp = pool:request("GET", url .. "/1k")
          pool:close()
          if resp then return url, pid end
          http.sleep(0.05)
        end
        os.execute("kill " .. pid .. " 2>/dev/null")
      end
      error("nghttpd did not start")
    end

    it("1: the same against nghttpd -m 1", function()
      local nghttpd = io.open("/usr/bin/nghttpd") or io.open("/usr/sbin/nghttpd")
      if not nghttpd then pending("nghttpd not installed") return end
      nghttpd:close()
      assert(H.www, "nginx www dir unknown")
      local base, pid = start_nghttpd()
      local ok, err = pcall(function()
        local url = base .. "/1k"
        local pool = h2pool { connect = 5, read = 5, write = 5, pool = 5, total = 20 }
        local got = {}
        http.run(function()
          local tasks = {}
          for i = 1, 3 do
            tasks[i] = http.spawn(function()
              local resp, e = pool:request("POST", url, { body = once("abc") })
              if not resp then return tostring(e) end
              local body, re = resp:read()
              return body and #body or tostring(re)
            end)
          end
          for i = 1, 3 do got[i] = tasks[i]:join() end
        end)
        pool:close()
        for i = 1, 3 do assert.equals(1024, got[i]) end
      end)
      os.execute("kill " .. pid)
      assert(ok, err)
    end)

    it("2: an empty function body (UBSan: memcpy from NULL)", function()
      assert(H.h2peer, "node h2 peer not running")
      local pool = h2pool(10)
      local r = assert(pool:request("POST", H.h2peer .. "/upload-sha256",
        { body = function() return nil end }))
      local body = assert(r:read())
      assert.matches("^0 e3b0c442", body)
      r = assert(pool:request("POST", H.h2peer .. "/upload-sha256",
        { body = function() return nil end }))
      assert.matches("^0 ", assert(r:read()))
      pool:close()
    end)

    it("3: a string body on a zero window gets WriteTimeout", function()
      local win0 = assert(h2peer_port("win0"), "node peer without win0 server")
      local function try(body)
        local pool = h2pool { write = 0.5, read = 30, total = 60 }
        local t0 = http.now()
        local r, err = pool:request("POST", win0 .. "/hold", { body = body })
        if r then r, err = r:read() end
        pool:close()
        return err, http.now() - t0
      end
      -- larger than the 65535 bytes that may go before the server's
      -- SETTINGS (window 0) arrive
      local big = string.rep("x", 200000)
      for _, body in ipairs { big, once(big) } do
        local err, took = try(body)
        assert.is_true(http.is_error(err, "WriteTimeout"), tostring(err))
        assert.matches("window", tostring(err))
        H.assert_window(took, 0.5, "the write timeout")
      end
    end)

    it("3: the write timeout goes on after the head came", function()
      local win0 = assert(h2peer_port("win0"), "node peer without win0 server")
      local pool = h2pool { write = 0.5, read = 30, total = 20 }
      -- the head comes at once, the body bytes after 15 s; ours never go
      local r, err = pool:request("POST", win0 .. "/slow?chunks=1&delay_ms=15000",
        { body = string.rep("x", 200000) })
      if r then r, err = r:read() end
      pool:close()
      assert.is_true(http.is_error(err, "WriteTimeout"), tostring(err))
    end)

    it("10: interim (1xx) heads count against the head limit", function()
      assert(H.h2peer, "node h2 peer not running")
      local pool = h2pool(10)
      local r, err = pool:request("GET", H.h2peer .. "/many-100?n=3")
      assert.equals("after", r and r:read(), tostring(err))
      r, err = pool:request("GET", H.h2peer .. "/many-100?n=5000")
      if r then r, err = r:read() end
      pool:close()
      assert.is_nil(r)
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
      assert.matches("interim", tostring(err))
    end)

    it("8: a PoolTimeout behind the stream limit names the limit", function()
      assert(H.h2peer_max5, "node h2 peer not running")
      local pool = h2pool { connect = 5, read = 10, write = 5, pool = 0.5 }
      local errs = {}
      http.run(function()
        local tasks = {}
        for i = 1, 6 do
          tasks[i] = http.spawn(function()
            local r, err = pool:request("GET", H.h2peer_max5 .. "/slow?chunks=1&delay_ms=2000")
            if r then r:read() r:close() return "ok" end
            return tostring(err)
          end)
        end
        for i = 1, 6 do errs[#errs + 1] = tasks[i]:join() end
      end)
      pool:close()
      local msg
      for _, e in ipairs(errs) do if e ~= "ok" then msg = e end end
      assert.is_string(msg)
      assert.matches("PoolTimeout", msg)
      assert.matches("5 concurrent streams", msg)
      assert.not_matches("max_connections", msg)
    end)
  end)

  describe("HTTP/1.1", function()
    local function get(path, opts)
      local r, err = http.request("GET", H.raw .. path, opts or { timeout = 5 })
      if r then return r:read() end
      return nil, err
    end

    it("4: chunk extensions with optional whitespace are accepted", function()
      for form = 0, 4 do
        local body, err = get("/i9/bws-chunk?form=" .. form)
        assert.equals("hello world", body, "form " .. form .. ": " .. tostring(err))
      end
      -- whitespace inside the size still breaks the framing: an error
      local body, err = get("/i9/bad-chunk-ws")
      assert.is_nil(body)
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
    end)

    it("7: a complete response that closes the connection stops the upload at once", function()
      local calls = 0
      local piece = string.rep("x", 1000)
      local t0 = http.now()
      local r, err = http.request("POST", H.raw .. "/i9/early-close", {
        timeout = 10,
        body = function()
          calls = calls + 1
          if calls > 200 then return nil end
          if calls > 1 then http.sleep(0.02) end -- 200 calls take >= 4 s
          return piece
        end,
      })
      assert.is_truthy(r, tostring(err))
      assert.equals(200, r.status)
      assert.equals("early", r:read())
      assert.is_true(calls <= 5, "producer called " .. calls .. " times")
      assert.is_true(http.now() - t0 < 3)
    end)

    it("7: a failed send after a complete response is not the reader's error", function()
      H.stats_reset()
      local pool = http.Pool { timeout = 10 }
      local calls = 0
      local piece = string.rep("x", 4096)
      local r, err = pool:request("POST", H.raw .. "/i9/early-reset", {
        body = function()
          calls = calls + 1
          if calls > 2000 then return nil end -- 8 MB: more than it reads
          return piece
        end,
      })
      assert.is_truthy(r, tostring(err))
      local body, rerr = r:read()
      assert.equals("early", body, tostring(rerr))
      assert.is_true(calls < 2000, "producer called " .. calls .. " times")
      -- not reused: the next request needs a new connection
      assert.equals("hello", pool:request("GET", H.raw .. "/hello"):read())
      assert.equals(2, H.stats().accepted)
      pool:close()
    end)

    it("8: two different Content-Length fields are called that", function()
      local body, err = get("/i9/two-cl")
      assert.is_nil(body)
      assert.matches("more than one Content%-Length", tostring(err))
    end)

    it("10: interim (1xx) responses count against the head limit", function()
      local body, err = get("/i9/many-100?n=3")
      assert.equals("after interims", body, tostring(err))
      body, err = get("/i9/many-100?n=80000")
      assert.is_nil(body)
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
      assert.matches("interim", tostring(err))
    end)

    it("10: a 101 the request did not ask for is a RemoteProtocolError", function()
      local body, err = get("/i9/unexpected-101")
      assert.is_nil(body)
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
      assert.matches("101", tostring(err))
    end)
  end)

  describe("pool", function()
    it("5: origins nothing uses are freed", function()
      local pool = http.Pool { timeout = 2 }
      -- nothing listens on port 1 of these: refused at once
      for i = 1, 300 do
        local r = pool:request("GET", "http://127.0.0." .. (i % 250 + 2) .. ":1/")
        assert.is_nil(r)
      end
      assert.equals(0, pool:stats().origins)
      local r = assert(pool:request("GET", H.raw .. "/hello"))
      assert.equals(1, pool:stats().origins) -- the response holds it
      assert.equals("hello", r:read())
      assert.equals(1, pool:stats().origins) -- and now its idle connection
      pool:close()
    end)
  end)

  describe("tasks and misuse", function()
    it("6: a failure joined from the main chunk is not reported again", function()
      local loop = http.loop()
      local t = http.spawn(function() http.sleep(0.01) error("boom") end)
      local ok, err = pcall(t.join, t)
      assert.is_false(ok)
      assert.matches("boom", tostring(err))
      assert.is_true(loop:step(0))
    end)

    it("6: a cancelled task is not reported as a failure", function()
      -- in a child process: the warning goes to its stderr at exit
      local script = H.tmp .. "/i9-cancel.lua"
      local f = assert(io.open(script, "w"))
      f:write([[
        local http = require "c_http_core"
        local loop = http.loop()
        local t = http.spawn(function() http.sleep(10) end)
        loop:step(0)
        t:cancel()
        for _ = 1, 100 do
          local ok, err = loop:step(0.01)
          if not ok then print("REPORTED " .. tostring(err)) end
          if t:status() ~= "waiting" and t:status() ~= "ready" then break end
        end
        print("STATUS " .. t:status())
        t = nil
        collectgarbage()
      ]])
      f:close()
      local lua = arg and arg[-1] or "lua5.4"
      -- (not H.sh: an ASan run needs its LD_PRELOAD in the child too)
      local proc = assert(io.popen(H.q(lua) .. " " .. H.q(script) .. " 2>&1"))
      local out = proc:read("a")
      proc:close()
      assert.matches("STATUS", out)
      assert.not_matches("REPORTED", out)
      assert.not_matches("never joined", out)
    end)

    -- fn must not end in a tail call (its frame, the caller, would be gone)
    local function raises_here(fn, pattern)
      local ok, err = pcall(fn)
      assert.is_false(ok)
      assert.matches(pattern, err)
      assert.matches("009%-defects_spec%.lua:%d+:", err)
    end

    it("8: misuse errors point at the caller's line", function()
      raises_here(function() local v = http.Pool { timeout = 1e10 } return v end,
        "timeout must be at most")
      raises_here(function() local v = http.Pool { timeout = { read = 1e10 } } return v end,
        "timeout.read must be at most")
      raises_here(function() local v = http.request("GET", H.raw .. "/hello", { timeout = 1e10 }) return v end,
        "timeout must be at most")
      local msg
      http.run(function()
        local t
        t = http.spawn(function()
          local r = t:join()
          return r
        end)
        local ok, err = pcall(t.join, t)
        msg = ok and "no error" or tostring(err)
      end)
      assert.matches("a task cannot join itself", msg)
      assert.matches("009%-defects_spec%.lua:%d+:", msg)
    end)

    it("9: a Unix-socket path with a NUL byte raises", function()
      raises_here(function() local v = http.Pool { uds = "/tmp/x\0/other" } return v end,
        "NUL")
    end)

    it("10: keepalive_expiry is bounded like the timeouts", function()
      raises_here(function() local v = http.Pool { keepalive_expiry = 1e300 } return v end,
        "keepalive_expiry must be a finite number of seconds, at most")
    end)
  end)
end)
