local options = require "c_http_core.options"

describe("options", function()
  describe("pool", function()
    it("fills in DESIGN.md's defaults", function()
      assert.same({
        max_connections = 100, max_keepalive = 20, keepalive_expiry = 5.0, h2_ping_after = 10,
        http1 = true, http2 = false, retries = 0,
        timeout = { connect = 30, read = 30, write = 30, pool = 30 },
        tls = { verify = true }, max_header_size = 65536,
      }, options.pool())
      assert.same(options.pool(), options.pool {})
    end)

    it("keeps given values and copies tls", function()
      local tls = { verify = false, ca_file = "/ca.pem", server_name = "x" }
      local o = options.pool { max_connections = 4, max_keepalive = 0, keepalive_expiry = 0.5,
                               http1 = false, http2 = true, retries = 2, tls = tls,
                               uds = "/tmp/s.sock", max_header_size = 1024,
                               timeout = { connect = 1, total = 10 } }
      assert.equal(4, o.max_connections)
      assert.equal(0, o.max_keepalive)
      assert.equal(0.5, o.keepalive_expiry)
      assert.is_false(o.http1)
      assert.is_true(o.http2)
      assert.equal(2, o.retries)
      assert.equal("/tmp/s.sock", o.uds)
      assert.equal(1024, o.max_header_size)
      assert.same({ connect = 1, total = 10 }, o.timeout)
      assert.same(tls, o.tls)
      assert.are_not.equal(tls, o.tls)
      assert.same({ verify = true, ca_path = "/d" }, options.pool { tls = { ca_path = "/d" } }.tls)
      assert.equal("1.3", options.pool { tls = { min_version = "1.3" } }.tls.min_version)
      -- handed to C as one string
      assert.equal("TLS_A:TLS_B", options.pool { tls = { ciphers = { "TLS_A", "TLS_B" } } }.tls.ciphers)
    end)

    it("turns a number timeout into connect/read/write/pool, and false into none", function()
      assert.same({ connect = 2, read = 2, write = 2, pool = 2 }, options.pool { timeout = 2 }.timeout)
      assert.same({}, options.pool { timeout = false }.timeout)
    end)

    it("accepts integral floats for integers", function()
      local o = options.pool { max_connections = 10.0 }
      assert.equal(10, o.max_connections)
      assert.equal("integer", math.type(o.max_connections))
    end)

    local function raises(t, pattern)
      local ok, msg = pcall(options.pool, t)
      assert.is_false(ok)
      assert.matches(pattern, msg, 1, true)
    end

    it("raises with clear messages", function()
      raises({ max_connections = 0 }, "max_connections must be a positive integer")
      raises({ max_connections = 1.5 }, "max_connections must be a positive integer")
      raises({ max_connections = "10" }, "max_connections must be a positive integer")
      raises({ max_keepalive = -1 }, "max_keepalive must be a non-negative integer")
      raises({ retries = -1 }, "retries must be a non-negative integer")
      raises({ max_header_size = 0 }, "max_header_size must be an integer >= 256")
      raises({ max_header_size = 255 }, "max_header_size must be an integer >= 256")
      raises({ keepalive_expiry = -1 }, "keepalive_expiry must be a non-negative number")
      raises({ http2 = "yes" }, "http2 must be a boolean")
      raises({ http1 = false }, "at least one of http1 and http2")
      raises({ timeout = { connect = -1 } }, "timeout.connect must be a non-negative")
      raises({ timeout = 0 / 0 }, "timeout must be a non-negative")
      raises({ keepalive_expiry = math.huge }, "keepalive_expiry must be a finite")
      raises({ tls = true }, "tls must be a table")
      raises({ tls = { verify = "no" } }, "tls.verify must be a boolean")
      raises({ tls = { verfiy = false } }, "unknown tls option 'verfiy'")
      raises({ tls = { min_version = "1.1" } }, 'tls.min_version must be "1.2" or "1.3"')
      raises({ tls = { min_version = 1.2 } }, "tls.min_version must be a string")
      raises({ tls = { ciphers = {} } }, "tls.ciphers must be a non-empty list")
      raises({ tls = { ciphers = { "A", x = "B" } } }, "tls.ciphers must be a list")
      raises({ tls = { ciphers = { "A", 3 } } }, "tls.ciphers[2] must be a cipher suite name, got number")
      raises({ tls = { ciphers = { "A:B" } } }, 'tls.ciphers[1] must be a cipher suite name, got "A:B"')
      raises({ uds = "" }, "uds must be a socket path")
      raises({ uds = 1 }, "uds must be a socket path")
      raises({ max_conections = 1 }, "unknown Pool option 'max_conections'")
      raises("x", "Pool options must be a table")
    end)
  end)

  describe("check_timeout", function()
    it("normalizes", function()
      assert.is_nil(options.check_timeout(nil))
      assert.is_nil(options.check_timeout(false))
      assert.same({ connect = 0, read = 0, write = 0, pool = 0 }, options.check_timeout(0))
      assert.same({ read = 1.5, write = false, total = false },
                  options.check_timeout { read = 1.5, write = false, total = math.huge })
      assert.same({ connect = false, read = false, write = false, pool = false },
                  options.check_timeout(math.huge))
    end)
  end)

  describe("check_method", function()
    it("uppercases tokens and raises on others", function()
      assert.equal("GET", options.check_method("get"))
      assert.equal("M-SEARCH", options.check_method("M-SEARCH"))
      assert.has_error(function() options.check_method("GET /") end, nil)
      assert.has_error(function() options.check_method(nil) end)
    end)

    it("caches valid methods, boundedly, and never an invalid one", function()
      -- the cache is the upvalue method_ok of check_method
      local function cache()
        for i = 1, math.huge do
          local name, v = debug.getupvalue(options.check_method, i)
          if name == nil then break end
          if name == "method_ok" then return v end
        end
        error("check_method has no method_ok upvalue any more")
      end
      assert.equal("GET", options.check_method("get"))
      assert.equal("GET", cache()["get"])
      -- a cached entry is what is returned: the cache is really used
      cache()["get"] = "CACHED-GET"
      assert.equal("CACHED-GET", options.check_method("get"))
      cache()["get"] = nil
      assert.equal("GET", options.check_method("get"))
      assert.has_error(function() options.check_method("GE T") end)
      assert.is_nil(cache()["GE T"])
      -- bounded: many distinct methods never grow it past its limit
      for i = 1, 1000 do options.check_method("X-M" .. i) end
      local n = 0
      for _ in pairs(cache()) do n = n + 1 end
      assert.is_true(n <= 64, n .. " cached methods")
    end)
  end)

  describe("check_body", function()
    it("accepts nil, strings and functions", function()
      assert.is_nil(options.check_body(nil))
      assert.is_nil(options.check_body(false))
      assert.equal("x", options.check_body("x"))
      assert.equal(print, options.check_body(print))
      assert.has_error(function() options.check_body({}) end)
    end)
  end)
end)
