-- fork (issue 18, item 5): a child that closes the inherited lua_State
-- neither hangs nor breaks the parent's kept-alive connections (plain and
-- TLS), and a fresh lua_State in the child works. Driven by
-- examples/embed/fork.c (C: Lua has no fork); the inherited loop refuses
-- to be driven in the child. See "fork" in docs/API.md.
local H = require "helper"

local bin = H.build .. "/embed/fork"

describe("fork", function()
  setup(function() -- `make test` and `make asan` build it (embed)
    assert(io.open(bin), bin .. " missing: make embed")
  end)

  it("the child closes the inherited state; the parent keeps its connections", function()
    -- localhost: the resolver has worker threads when the process forks
    local plain = H.raw:gsub("127%.0%.0%.1", "localhost")
    local out, ok = H.sh(("timeout 60 %s %s %s %s 2>&1"):format(H.q(bin), H.q(plain),
      H.q(H.tls), H.q(H.tls_dir .. "/ca.pem")))
    assert.matches("child: step says: the loop was inherited across fork()", out, 1, true)
    assert.matches("child: closed the inherited state", out, 1, true)
    assert.matches("child: a fresh state works", out, 1, true)
    assert.matches("parent: plain connection reused, TLS connection reused", out, 1, true)
    assert(ok, out)
  end)
end)
