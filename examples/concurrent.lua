-- concurrent.lua: many requests at once on one thread, with http.map.
--
--   lua5.4 examples/concurrent.lua URL [REQUESTS] [CONNECTIONS]  (50 and 10)
--
-- Each request runs in a task (a coroutine). A task that waits for the
-- network yields, and the others run meanwhile. http.map keeps at most
-- CONNECTIONS requests in flight, so none of them waits long in the pool
-- for a connection: 50 requests share 10 keep-alive connections.

-- From a checkout without LUA_PATH/LUA_CPATH: use ../lua and ../build.
local root = (arg[0]:match("^(.*)/") or ".") .. "/.."
if not package.searchpath("c_http_core", package.path) then
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
end
if not package.searchpath("c_http_core.core", package.cpath) then
  package.cpath = root .. "/build/?.so;" .. package.cpath
end

local http = require "c_http_core"

local url = arg[1]
local n, conns = tonumber(arg[2] or 50), tonumber(arg[3] or 10)
if not (url and n and conns) then
  io.stderr:write("usage: lua5.4 examples/concurrent.lua URL [REQUESTS] [CONNECTIONS]\n")
  os.exit(2)
end


local pool = http.Pool{ max_connections = conns }

-- One request; returns the status, or nil, err.
local function get()
  local resp, err = pool:request("GET", url)
  if not resp then return nil, err end
  local body, berr = resp:read()
  if not body then return nil, berr end
  return resp.status
end

local t0 = http.now()
local list = {}
for i = 1, n do list[i] = i end
-- results[i]: { status } or { nil, err } of request i, in order
local results = http.map(list, function() return { get() } end,
                         { concurrency = conns })
local elapsed = http.now() - t0
local ok, failed = 0, 0
for i, r in ipairs(results) do
  if r[1] and r[1] < 400 then
    ok = ok + 1
  else
    failed = failed + 1
    io.stderr:write(("request %d: %s\n"):format(i, r[2] or "status " .. tostring(r[1])))
  end
end

print(("%d requests (%d ok, %d failed) over %d connections in %.3f s: %.0f requests/s"):format(
  n, ok, failed, pool:stats().connections, elapsed, n / elapsed))
pool:close()
os.exit(failed == 0)
