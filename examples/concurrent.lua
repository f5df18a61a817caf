-- concurrent.lua: many requests at once on one thread, with http.run and
-- http.spawn.
--
--   lua5.4 examples/concurrent.lua URL [REQUESTS] [CONNECTIONS]  (50 and 10)
--
-- Each request runs in a task (a coroutine). A task that waits for the
-- network yields, and the others run meanwhile. The pool caps the number of
-- connections: here 50 tasks share at most 10 keep-alive connections, taking
-- turns (first come, first served) for a free one.

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
local ok, failed = http.run(function()
  local tasks = {}
  for i = 1, n do tasks[i] = http.spawn(get) end
  local good, bad = 0, 0
  for i, task in ipairs(tasks) do
    local status, err = task:join()         -- get's results
    if status and status < 400 then
      good = good + 1
    else
      bad = bad + 1
      io.stderr:write(("request %d: %s\n"):format(i, err or "status " .. tostring(status)))
    end
  end
  return good, bad
end)
local elapsed = http.now() - t0

print(("%d requests (%d ok, %d failed) over %d connections in %.3f s: %.0f requests/s"):format(
  n, ok, failed, pool:stats().connections, elapsed, n / elapsed))
pool:close()
os.exit(failed == 0)
