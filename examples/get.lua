-- get.lua: one GET, from a plain script: the response head, then the body.
--
--   lua5.4 examples/get.lua http://127.0.0.1:8080/
--
-- Outside http.run the calls are synchronous: each drives the event loop
-- itself until its own operation is done. The same code runs concurrently
-- inside http.run (see concurrent.lua).

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
if not url then
  io.stderr:write("usage: lua5.4 examples/get.lua URL\n")
  os.exit(2)
end

-- I/O failures are returned as nil, err (err.kind says which: ConnectError,
-- ReadTimeout, ...). <close> gives the connection back to the pool when
-- `resp` goes out of scope, whatever happens.
local resp <close>, err = http.request("GET", url, {
  headers = { { "Accept", "*/*" }, { "User-Agent", "c_http_core/" .. http.VERSION } },
  timeout = 10,
})
if not resp then
  io.stderr:write("get: ", tostring(err), "\n")
  os.exit(1)
end

print(resp.version, resp.status, resp.reason)
for _, h in ipairs(resp.headers) do          -- in order, duplicates kept
  print(h[1] .. ": " .. h[2])
end
print("content-type is " .. (resp.headers:get("content-type") or "not given"))

local body, berr = resp:read()               -- the whole body, as a string
if not body then
  io.stderr:write("get: ", tostring(berr), "\n")
  os.exit(1)
end
print(("\n%d bytes of body:"):format(#body))
print(#body <= 1024 and body or body:sub(1, 1024) .. "...")
