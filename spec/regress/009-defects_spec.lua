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

    it("1: the same against nghttpd -m 1", function()
      local nghttpd = io.open("/usr/bin/nghttpd") or io.open("/usr/sbin/nghttpd")
      if not nghttpd then pending("nghttpd not installed") return end
      nghttpd:close()
      assert(H.www, "nginx www dir unknown")
      -- a free port: bind and let the kernel choose
      local port
      for _ = 1, 5 do
        port = 20000 + math.random(0, 30000)
        local out = H.sh("sh -c " .. H.q("ss -ltn 'sport = :" .. port .. "' | tail -n +2"))
        if out == "" then break end
      end
      local log = H.tmp .. "/i9-nghttpd.log"
      local pidf = H.tmp .. "/i9-nghttpd.pid"
      os.execute("env -u LD_PRELOAD sh -c " .. H.q("nghttpd --no-tls -m 1 -d " .. H.q(H.www)
        .. " " .. port .. " >" .. log .. " 2>&1 & echo $! >" .. pidf))
      local pid = io.open(pidf):read("l")
      local ok, err = pcall(function()
        local url = "http://127.0.0.1:" .. port .. "/1k"
        local deadline = http.now() + 10
        while http.now() < deadline do -- until it listens
          local r = http.Pool({ http1 = false, http2 = true, timeout = 1 })
          local resp = r:request("GET", url)
          r:close()
          if resp then break end
          http.sleep(0.05)
        end
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
        assert.is_true(took < 20, tostring(took))
      end
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
end)
