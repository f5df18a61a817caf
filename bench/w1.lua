-- bench/w1.lua URL N: N sequential keep-alive GETs on one connection.
-- Prints "w1 REQS SECONDS REQ/S CPU" and checks every status and body.
local http = require "c_http_core"
local url, n = arg[1], tonumber(arg[2] or 20000)
local pool = http.Pool{ max_connections = 1 }
local function now()
  local f = assert(io.open("/proc/uptime"))
  local s = f:read("n")
  f:close()
  return s
end
-- warm up: connect once
assert(assert(pool:request("GET", url)):read())
local c0, t0 = os.clock(), now()
local bytes = 0
for _ = 1, n do
  local r = assert(pool:request("GET", url))
  assert(r.status == 200, "status " .. r.status)
  bytes = bytes + #assert(r:read())
end
local dt, cpu = now() - t0, os.clock() - c0
assert(pool:stats().connections == 1, "more than one connection")
print(("w1 %d %.3f %.0f %.3f %d"):format(n, dt, n / dt, cpu, bytes))
