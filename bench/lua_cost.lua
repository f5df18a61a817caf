-- bench/lua_cost.lua: what one `pool:request` + `resp:read()` costs on the
-- Lua side, load-independent: Lua VM instructions (a count hook, one tick
-- per VM instruction executed in Lua functions; C functions count 0) and
-- bytes allocated (collectgarbage("count") with the collector stopped).
--
--   lua5.4 bench/lua_cost.lua URL [N]     (URL: a keep-alive server's /small)
--
-- bench/profile.sh runs it against its nginx. Prints one line:
-- "LUACOST vm_instructions=... bytes=... per request".
local http = require "c_http_core"

local url = assert(arg[1], "usage: lua5.4 bench/lua_cost.lua URL [N]")
local n = tonumber(arg[2]) or 1000
local pool = http.Pool{ max_connections = 1, max_keepalive = 1 }
local request = pool.request

local function run(k)
  for _ = 1, k do
    local r = assert(request(pool, "GET", url))
    assert(r.status == 200)
    assert(r:read())
  end
end

run(100)   -- warm: the connection, the caches, the interned strings

local ticks = 0
debug.sethook(function() ticks = ticks + 1 end, "", 1)
run(n)
debug.sethook()
-- the loop's own instructions (the for, the asserts, r.status) are left in:
-- they are what a caller's minimal loop costs too

collectgarbage("collect")
collectgarbage("stop")
local kb0 = collectgarbage("count")
run(n)
local kb1 = collectgarbage("count")
collectgarbage("restart")
pool:close()
print(("LUACOST vm_instructions=%.1f bytes=%.0f per request (n=%d)")
      :format(ticks / n, (kb1 - kb0) * 1024 / n, n))
