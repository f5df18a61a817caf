-- The C tests of the engines (tests/c: loop and resolver, HTTP/1.1 parser
-- split at every offset, HTTP/2 against an in-process nghttp2 server, the
-- SSE parser against a byte-exact table split at every offset, the
-- WebSocket engine split at every offset, a connection taken over after a
-- 101, plain and TLS), run from the suite so that `make test` counts them.
local H = require "helper"

describe("C engine tests (tests/c)", function()
  for _, prog in ipairs({ "test_loop", "test_h1", "test_h2", "test_sse",
                          "test_ws", "test_takeover",
                          "test_slab", "test_slab_asan" }) do
    it(prog .. " passes", function()
      local out, ok = H.sh("sh -c " .. H.q("cd tests/c && timeout 300 make -s "
        .. prog .. " >/dev/null 2>&1 && timeout 120 ./" .. prog .. " 2>&1"))
      assert(ok, prog .. " failed:\n" .. out)
    end)
  end
end)
