local request = require "c_http_core.request"
local errors = require "c_http_core.errors"

describe("Request", function()
  local Request = request.new

  it("exposes its fields, normalized", function()
    local body = function() return nil end
    local req = Request { method = "post", url = "http://example.com/x",
                          headers = { { "A", "1" } }, body = body, timeout = 5 }
    assert.equal("POST", req.method)
    assert.equal("http://example.com/x", req.url)
    assert.equal("1", req.headers:get("a"))
    assert.equal(body, req.body)
    assert.same({ connect = 5, read = 5, write = 5, pool = 5 }, req.timeout)
  end)

  it("has empty headers and no body or timeout by default", function()
    local req = Request { method = "GET", url = "http://h/" }
    assert.equal(0, #req.headers)
    assert.is_nil(req.headers:get("x"))
    assert.is_nil(req.body)
    assert.is_nil(req.timeout)
    assert.equal("Request: GET http://h/", tostring(req))
  end)

  it("is immutable", function()
    local req = Request { method = "GET", url = "http://h/" }
    for _, k in ipairs { "method", "url", "headers", "body", "timeout", "other" } do
      local ok, msg = pcall(function() req[k] = "x" end)
      assert.is_false(ok)
      assert.matches("Request is immutable", msg, 1, true)
    end
    assert.equal("GET", req.method)
    assert.is_nil(req.other)
  end)

  it("makes modified copies with :with", function()
    local req = Request { method = "GET", url = "http://h/a", headers = { { "A", "1" } },
                          body = "x" }
    local req2 = req:with { method = "PUT", headers = { { "B", "2" } } }
    assert.equal("PUT", req2.method)
    assert.equal("http://h/a", req2.url)
    assert.equal("x", req2.body)
    assert.is_nil(req2.headers:get("a"))          -- headers replaced entirely
    assert.equal("2", req2.headers:get("b"))
    -- the original is unchanged
    assert.equal("GET", req.method)
    assert.equal("1", req.headers:get("a"))
    assert.is_nil(req.headers:get("b"))

    local req3 = req:with { url = "https://other:8443/b", timeout = { read = 1 } }
    assert.equal("https://other:8443/b", req3.url)
    local u = request.target(request.fields(req3))
    assert.equal("other", u.host)
    assert.equal(8443, u.port)
    assert.same({ read = 1 }, req3.timeout)
    assert.equal(req.headers, req3.headers)
  end)

  it("clears body, timeout and headers with false in :with", function()
    local req = Request { method = "POST", url = "http://h/", body = "x", timeout = 1,
                          headers = { { "A", "1" } } }
    local req2 = req:with { body = false, timeout = false, headers = false }
    assert.is_nil(req2.body)
    assert.is_nil(req2.timeout)
    assert.equal(0, #req2.headers)
    assert.equal("x", req.body)
  end)

  it("validates :with arguments", function()
    local req = Request { method = "GET", url = "http://h/" }
    assert.has_error(function() req:with { method = "BAD METHOD" } end)
    assert.has_error(function() req:with { url = "nope" } end)
    assert.has_error(function() req:with { bogus = 1 } end)
    assert.has_error(function() req:with "x" end)
    assert.has_error(function() req.with({}, {}) end)
  end)

  it("accepts map headers", function()
    local req = Request { method = "GET", url = "http://h/", headers = { Accept = "*/*" } }
    assert.equal("*/*", req.headers:get("accept"))
  end)

  it("keeps the parsed URL for the transport", function()
    local req = Request { method = "GET", url = "http://[::1]:8080/p?q#f" }
    local u, err = request.target(request.fields(req))
    assert.is_nil(err)
    assert.same({ scheme = "http", host = "::1", port = 8080, target = "/p?q",
                  authority = "[::1]:8080" }, u)
    assert.is_nil(request.fields({}))
    assert.is_nil(request.fields("GET"))
  end)

  it("builds with an unsupported scheme; the error comes at request time", function()
    local req = Request { method = "GET", url = "ftp://h/file" }
    assert.equal("ftp://h/file", req.url)
    local u, err = request.target(request.fields(req))
    assert.is_nil(u)
    assert.is_true(errors.is_error(err, "UnsupportedProtocol"))
  end)

  local function raises(t, pattern)
    local ok, msg = pcall(Request, t)
    assert.is_false(ok)
    if pattern then assert.matches(pattern, msg, 1, true) end
  end

  it("raises on misuse", function()
    raises(nil, "Request expects a table")
    raises({ url = "http://h/" }, "Request needs a method")
    raises({ method = "GET" }, "Request needs a url")
    raises({ method = "GE T", url = "http://h/" }, "invalid method token")
    raises({ method = "", url = "http://h/" }, "invalid method token")
    raises({ method = "GET\r\n", url = "http://h/" }, "invalid method token")
    raises({ method = 1, url = "http://h/" }, "method must be a string")
    raises({ method = "GET", url = "h/" }, "invalid URL")
    raises({ method = "GET", url = 42 }, "URL must be a string")
    raises({ method = "GET", url = "http://h/", headers = { { "A B", "1" } } },
           "invalid header name")
    raises({ method = "GET", url = "http://h/", body = 42 }, "body must be nil, a string, a function or an open file, got number")
    raises({ method = "GET", url = "http://h/", timeout = -1 }, "timeout must be a non-negative")
    raises({ method = "GET", url = "http://h/", timeout = { reed = 1 } }, "unknown timeout 'reed'")
    raises({ method = "GET", url = "http://h/", timeout = "5" }, "timeout must be a number or a table")
    raises({ method = "GET", url = "http://h/", header = {} }, "unknown Request field 'header'")
  end)

  it("reports misuse at the caller's line", function()
    local ok, msg = pcall(function() Request { method = "GE T", url = "http://h/" } end)
    assert.is_false(ok)
    assert.matches("request_spec%.lua:%d+: invalid method token", msg)
  end)
end)
