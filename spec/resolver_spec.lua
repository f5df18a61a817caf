-- The resolver (issue 18, items 3 and 4): a slow name does not hold up a
-- fast one, lookups of one name in flight are shared, and an abandoned
-- lookup costs nothing at exit. The slow DNS is an LD_PRELOAD shim over
-- getaddrinfo (tests/c/slow_gai.c, built here), so every case runs in a
-- child lua5.4 (spec/scripts/dns_child.lua).
local H = require "helper"
local http = require "c_http_core"

local shim = H.tmp .. "/slow_gai.so"

local function build_shim()
  if io.open(shim) then return end
  local out, ok = H.sh(("cc -shared -fPIC -O1 -o %s tests/c/slow_gai.c -ldl 2>&1")
    :format(H.q(shim)))
  assert(ok, "cannot build the getaddrinfo shim:\n" .. out)
end

-- Runs the child; returns its output, whether it exited 0, and its wall time.
local function child(mode, env)
  build_shim()
  local pre = os.getenv("LD_PRELOAD") -- the ASan runtime must stay first
  pre = (pre and pre ~= "" and pre .. ":" or "") .. shim
  local cmd = ("env LD_PRELOAD=%s %s lua5.4 spec/scripts/dns_child.lua %s %d 2>&1")
    :format(H.q(pre), env or "", mode, H.raw_port)
  local t0 = http.now()
  local f = assert(io.popen(cmd, "r"))
  local out = f:read("a")
  local ok = f:close()
  return out, ok, http.now() - t0
end

describe("the resolver", function()
  it("a request to localhost does not wait behind six slow lookups", function()
    local out, ok = child("hol", "CHC_SLOW_GAI_MS=3000")
    assert(ok, out)
    local res, secs = out:match("fast (%S+) (%S+)")
    assert.equals("ok", res, out)
    assert.is_true(tonumber(secs) < 1, out)
  end)

  it("shares one getaddrinfo among the lookups of a name in flight", function()
    local log = H.tmp .. "/gai.log"
    os.remove(log)
    local out, ok = child("shared", "CHC_SLOW_GAI_MS=500 CHC_GAI_LOG=" .. H.q(log))
    assert(ok, out)
    assert.matches("shared 5", out, 1, true)
    local n = 0
    for line in io.lines(log) do
      if line == "slow-shared.test" then n = n + 1 end
    end
    assert.equals(1, n)
  end)

  it("exit does not wait for a lookup abandoned after a ConnectTimeout", function()
    local out, ok, secs = child("abandon", "CHC_SLOW_GAI_MS=8000")
    assert(ok, out)
    assert.matches("abandon ConnectTimeout", out, 1, true)
    assert.is_true(secs < 4, ("the child took %.2f s to exit:\n%s"):format(secs, out))
  end)
end)
