-- Memory of idle keep-alive connections (issue 16, W7): 2,000 connections
-- opened at once by 2,000 requests, in a fresh process against the
-- suite's nginx (spec/scripts/idle_mem_child.lua). Once the loop has been
-- quiet for a second the library's trim gives the burst's freed memory
-- back: what stays is the connections' slab objects (about 1 KiB each;
-- before the slab and the trim, 5.8 KiB each stayed). http.config{
-- trim_memory = false } keeps it. See "Memory" in docs/API.md.
local H = require "helper"
local http = require "c_http_core"

local N = 2000

-- (io.popen, not H.sh: under ASan the child needs the runtime preloaded)
local function child(trim)
  local f = assert(io.popen(("timeout 60 lua5.4 spec/scripts/idle_mem_child.lua %s %d %s 2>&1")
    :format(H.q(H.nginx .. "/1k"), N, trim and "1" or "0")))
  local out = f:read("a")
  assert(f:close(), out)
  local r = {}
  for k, v in out:gmatch("([%w_]+)=([%d.]+)") do r[k] = tonumber(v) end
  assert(r.idle, out)
  return r, out
end

describe("memory of idle connections", function()
  it("2,000 idle connections stay under 3 KiB each once the loop is quiet", function()
    local r, out = child(true)
    assert.equals(N, r.idle, out)
    assert.equals(1, r.trims, out)         -- one trim, after the burst
    assert(r.quiet_s >= 0.9 and r.quiet_s < 1 + 3 * H.slack, out)
    if H.rss_meaningful then               -- not under ASan or valgrind
      assert(r.after_b <= 3072, out)       -- 1 KiB measured; 5.8 KiB before
      assert(r.after_b <= r.burst_b / 2, out)
    end
  end)

  it("trim_memory = false: no trim, the burst's memory stays", function()
    local r, out = child(false)
    assert.equals(N, r.idle, out)
    assert.equals(0, r.trims, out)
    if H.rss_meaningful then
      assert(r.after_b >= r.burst_b * 0.8, out)
    end
  end)

  it("http.config checks its options and reports the settings", function()
    assert.same({ trim_memory = true }, http.config())
    assert.same({ trim_memory = false }, http.config{ trim_memory = false })
    assert.same({ trim_memory = false }, http.config())
    assert.same({ trim_memory = true }, http.config{ trim_memory = true })
    assert.has_error(function() http.config{ trim_memory = 1 } end,
      "config: trim_memory must be a boolean, got number")
    assert.has_error(function() http.config{ trim = true } end,
      "config: unknown option trim")
    assert.has_error(function() http.config("x") end,
      "config expects a table, got string")
  end)
end)
