local errors = require "c_http_core.errors"

describe("errors", function()
  local GROUPS = {
    TimeoutError = { "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout" },
    NetworkError = { "ConnectError", "ReadError", "WriteError" },
    ProtocolError = { "RemoteProtocolError", "LocalProtocolError" },
  }
  local ALONE = { "UnsupportedProtocol", "TLSError", "ProxyError", "Closed", "Cancelled" }

  it("builds objects with kind, message and group", function()
    local err = errors.new("ReadTimeout", "no data for 5s")
    assert.equal("ReadTimeout", err.kind)
    assert.equal("no data for 5s", err.message)
    assert.equal("TimeoutError", err.group)
    assert.is_true(errors.is(err))
  end)

  it("formats as 'Kind: message'", function()
    assert.equal("ConnectError: connection refused",
                 tostring(errors.new("ConnectError", "connection refused")))
    assert.equal("Closed", tostring(errors.new("Closed", "")))
  end)

  it("gives a default message per kind", function()
    local err = errors.new("PoolTimeout")
    assert.is_string(err.message)
    assert.is_true(#err.message > 0)
  end)

  it("knows every kind and group of DESIGN.md", function()
    for group, kinds in pairs(GROUPS) do
      assert.equal(group, errors.kinds[group])
      for _, kind in ipairs(kinds) do
        assert.equal(kind, errors.kinds[kind])
        local err = errors.new(kind, "x")
        assert.equal(group, err.group)
        assert.is_true(errors.is_error(err, kind))
        assert.is_true(errors.is_error(err, group))
        for other in pairs(GROUPS) do
          if other ~= group then assert.is_false(errors.is_error(err, other)) end
        end
      end
    end
    for _, kind in ipairs(ALONE) do
      assert.equal(kind, errors.kinds[kind])
      local err = errors.new(kind, "x")
      assert.is_nil(err.group)
      assert.is_true(errors.is_error(err, kind))
      assert.is_false(errors.is_error(err, "TimeoutError"))
      assert.is_false(errors.is_error(err, "ProtocolError"))
    end
  end)

  it("has exactly the DESIGN.md names", function()
    local n = 0
    for _ in pairs(errors.kinds) do n = n + 1 end
    assert.equal(3 + 4 + 3 + 2 + 5, n)
  end)

  it("treats TLSError as a ConnectError and a NetworkError", function()
    local err = errors.new("TLSError", "certificate verify failed")
    assert.is_true(errors.is_error(err, "TLSError"))
    assert.is_true(errors.is_error(err, "ConnectError"))
    assert.is_true(errors.is_error(err, "NetworkError"))
    assert.is_false(errors.is_error(err, "ReadError"))
    assert.is_false(errors.is_error(errors.new("ConnectError"), "TLSError"))
  end)

  it("does not confuse kinds of the same group", function()
    assert.is_false(errors.is_error(errors.new("ReadTimeout"), "ConnectTimeout"))
    assert.is_false(errors.is_error(errors.new("ReadError"), "WriteError"))
  end)

  it("is false for values that are not error objects", function()
    for _, v in ipairs { "ReadTimeout", 42, true, { kind = "ReadTimeout" } } do
      assert.is_false(errors.is_error(v, "ReadTimeout"))
      assert.is_false(errors.is_error(v))
    end
    assert.is_false(errors.is_error(nil, "ReadTimeout"))
  end)

  it("without a name, tells whether the value is an error object", function()
    assert.is_true(errors.is_error(errors.new("Closed")))
  end)

  it("raises on an unknown kind or group name", function()
    local err = errors.new("Closed")
    assert.has_error(function() errors.is_error(err, "Timeout") end)
    assert.has_error(function() errors.is_error(nil, "NoSuchKind") end)
    assert.has_error(function() errors.is_error(err, 42) end)
    assert.has_error(function() errors.new("NoSuchKind", "x") end)
    assert.has_error(function() errors.new("TimeoutError", "a group is not a kind") end)
  end)

  it("points misuse errors at the caller", function()
    local ok, msg = pcall(function() errors.is_error(nil, "Bogus") end)
    assert.is_false(ok)
    assert.matches("errors_spec.lua:%d+: unknown error kind or group 'Bogus'", msg)
  end)

  it("has a factory for the core that never raises", function()
    local err = errors.from_core("ReadError", "reset by peer")
    assert.equal("ReadError", err.kind)
    assert.equal("NetworkError", err.group)
    assert.is_true(errors.is_error(err, "NetworkError"))
    assert.equal("ReadError: reset by peer", tostring(err))
    assert.is_true(#errors.from_core("Closed").message > 0)
    local odd = errors.from_core("Error", "unmapped code")
    assert.equal("Error: unmapped code", tostring(odd))
    assert.is_true(errors.is_error(odd))
    assert.is_false(errors.is_error(odd, "NetworkError"))
  end)

  it("can be raised and caught as an error value", function()
    local err = errors.new("Cancelled", "task cancelled")
    local ok, caught = pcall(error, err)
    assert.is_false(ok)
    assert.equal(err, caught)
    assert.is_true(errors.is_error(caught, "Cancelled"))
    assert.equal("Cancelled: task cancelled", tostring(caught))
  end)
end)
