-- A Response whose body was read to its end gives its stream back at once
-- (src/lua/lpool.c, resp_ended), not when the collector finds it: the pool
-- reuses the stream and its buffers for the next request. The Response
-- still answers as before: its head, its fields, the end again.
local H = require "helper"
local http = require "c_http_core"

describe("a Response read to its end", function()
  after_each(H.check_clean)

  -- The stream holds its origin: once the connection is gone too (the pool
  -- keeps none), the pool's origin count tells whether the stream went back.
  local function origin_freed(pool)
    H.wait_until(function() return pool:stats().origins == 0 end, 3,
                 "the stream to be given back")
  end

  for _, how in ipairs({ "read", "iter", "write_to" }) do
    it(("gives its stream back after resp:%s(), and still answers"):format(how), function()
      local pool = http.Pool{ max_keepalive = 0 }
      local r = assert(pool:request("GET", H.raw .. "/hello"))
      if how == "read" then
        assert.equals("hello", r:read())
      elseif how == "iter" then
        local got = {}
        local next_chunk = r:iter()   -- by hand: the loop would close r
        for chunk in next_chunk do got[#got + 1] = chunk end
        assert.equals("hello", table.concat(got))
      else
        local f = assert(io.open("/dev/null", "wb"))
        assert.equals(5, r:write_to(f))
        f:close()
      end
      origin_freed(pool)
      -- r is still referenced here: nothing but the end of the body freed it
      assert.equals(200, r.status)
      assert.equals("5", r.headers:get("content-length"))
      assert.equals("", r:read())
      assert.is_nil(r._core:chunk())
      local f = assert(io.open("/dev/null", "wb"))
      assert.equals(0, r:write_to(f))
      f:close()
      assert.is_nil(r.trailers)
      r:close()
      pool:close()
    end)
  end

  it("keeps the stream while trailers are there to read", function()
    local pool = http.Pool{ max_keepalive = 0 }
    local r = assert(pool:request("GET", H.raw .. "/trailers"))
    assert.equals("hello world", r:read())
    assert.equals("abc", r.trailers:get("x-checksum"))
    r:close()
    pool:close()
  end)
end)
