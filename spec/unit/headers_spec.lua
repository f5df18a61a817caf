local headers = require "c_http_core.headers"

describe("Headers", function()
  local H = headers.new

  it("keeps order, duplicates and the names as given", function()
    local h = H { { "Accept", "*/*" }, { "X-A", "1" }, { "x-a", "2" }, { "Host", "h" } }
    assert.equal(4, #h)
    local seen = {}
    for i, p in ipairs(h) do seen[i] = p[1] .. "=" .. p[2] end
    assert.same({ "Accept=*/*", "X-A=1", "x-a=2", "Host=h" }, seen)
  end)

  it("gets the first value, case-insensitively", function()
    local h = H { { "Content-Type", "text/plain" }, { "X-A", "1" }, { "x-a", "2" } }
    assert.equal("text/plain", h:get("content-type"))
    assert.equal("text/plain", h:get("CONTENT-TYPE"))
    assert.equal("text/plain", h:get("Content-Type"))
    assert.equal("1", h:get("x-A"))
    assert.is_nil(h:get("missing"))
    assert.is_nil(h:get("Content-Typ"))
  end)

  it("gets all values in order", function()
    local h = H { { "Set-Cookie", "a=1" }, { "Other", "x" }, { "set-cookie", "b=2" } }
    assert.same({ "a=1", "b=2" }, h:get_all("SET-COOKIE"))
    assert.same({}, h:get_all("nope"))
  end)

  it("is empty without input", function()
    local h = H()
    assert.equal(0, #h)
    assert.is_nil(h:get("x"))
    assert.same({}, h:get_all("x"))
    assert.equal(0, #H {})
  end)

  it("accepts a map, sorted by name, with lists for duplicates", function()
    local h = H { ["X-B"] = "2", Accept = "*/*", ["Set-Cookie"] = { "a=1", "b=2" } }
    local seen = {}
    for _, p in ipairs(h) do seen[#seen + 1] = p[1] .. "=" .. p[2] end
    assert.same({ "Accept=*/*", "Set-Cookie=a=1", "Set-Cookie=b=2", "X-B=2" }, seen)
    assert.same({ "a=1", "b=2" }, h:get_all("set-cookie"))
  end)

  it("converts numbers to strings", function()
    local h = H { { "Content-Length", 42 }, { "X-Float", 1.5 }, { "X-Int-Float", 5.0 } }
    assert.equal("42", h:get("content-length"))
    assert.equal("1.5", h:get("x-float"))
    assert.equal("5", h:get("x-int-float"))
    assert.equal("7", H({ N = 7 }):get("n"))
  end)

  it("allows tabs and empty values, and any token characters in names", function()
    local h = H { { "X-Tab", "a\tb" }, { "X-Empty", "" }, { "!#$%&'*+-.^_`|~09az", "v" } }
    assert.equal("a\tb", h:get("x-tab"))
    assert.equal("", h:get("x-empty"))
    assert.equal("v", h:get("!#$%&'*+-.^_`|~09AZ"))
  end)

  it("returns a Headers object unchanged", function()
    local h = H { { "A", "1" } }
    assert.equal(h, H(h))
  end)

  it("builds from the flat list of the core", function()
    local h = headers.from_flat { "Content-Type", "text/html", "X-A", "1", "x-a", "2" }
    assert.equal(3, #h)
    assert.same({ "Content-Type", "text/html" }, h[1])
    assert.equal("text/html", h:get("content-type"))
    assert.same({ "1", "2" }, h:get_all("X-A"))
    assert.equal(0, #headers.from_flat {})
    assert.equal(getmetatable(H()), getmetatable(h))
  end)

  local function raises(t, pattern)
    local ok, msg = pcall(H, t)
    assert.is_false(ok)
    if pattern then assert.matches(pattern, msg, 1, true) end
  end

  it("raises on invalid names, naming them", function()
    raises({ { "Bad Name", "v" } }, "invalid header name 'Bad Name'")
    raises({ { "X:Y", "v" } }, "invalid header name 'X:Y'")
    raises({ { "", "v" } }, "invalid header name ''")
    raises({ { "X\r\nY", "v" } }, "invalid header name")
    raises({ { 42, "v" } }, "header name must be a string, got number")
    raises({ ["Bad Name"] = "v" }, "invalid header name 'Bad Name'")
  end)

  it("raises on CR, LF and other control characters in values, naming the header", function()
    raises({ { "X-Evil", "a\r\nInjected: 1" } }, "invalid value for header 'X-Evil'")
    raises({ { "X-Evil", "a\nb" } }, "X-Evil")
    raises({ { "X-Evil", "a\0b" } }, "X-Evil")
    raises({ { "X-Evil", "a\127" } }, "X-Evil")
    raises({ ["X-Evil"] = { "ok", "bad\r" } }, "X-Evil")
  end)

  it("raises on values that are not strings or numbers", function()
    raises({ { "X-A", {} } }, "value of header 'X-A' must be a string or a number, got table")
    raises({ { "X-A" } }, "got nil")
    raises({ ["X-A"] = true }, "got boolean")
  end)

  it("raises on malformed lists", function()
    raises("Accept: */*", "headers must be a table, got string")
    raises({ "Accept" }, "header #1 must be a {name, value} pair, got string")
    raises({ { "A", "1" }, B = "2" }, "not both")
  end)

  it("raises on a non-string name in get/get_all", function()
    local h = H()
    assert.has_error(function() h:get(nil) end)
    assert.has_error(function() h:get_all(1) end)
  end)

  describe("normalize", function()
    it("passes a valid list of string pairs through without copying", function()
      local list = { { "A", "1" }, { "B", "2" } }
      assert.equal(list, headers.normalize(list))
      local h = H { { "A", "1" } }
      assert.equal(h, headers.normalize(h))
      assert.is_nil(headers.normalize(nil))
    end)

    it("converts maps and number values", function()
      local h = headers.normalize { A = 1 }
      assert.same({ "A", "1" }, h[1])
      h = headers.normalize { { "A", 1 } }
      assert.same({ "A", "1" }, h[1])
    end)

    it("validates", function()
      assert.has_error(function() headers.normalize { { "A B", "1" } } end)
      assert.has_error(function() headers.normalize { { "A", "1\r\n" } } end)
      assert.has_error(function() headers.normalize { { "A", "1" }, B = "x" } end)
      assert.has_error(function() headers.normalize "x" end)
    end)
  end)
end)
