-- ws_file.lua: a file sent as one WebSocket message, and the message that
-- comes back written to another file, neither ever whole in memory.
--
--   lua5.4 examples/ws_file.lua ws://127.0.0.1:8765/echo big.bin copy.bin
--
-- The file goes out from an iterator (`f:lines(65536)`: 64 KiB parts, one
-- frame each, sent as the connection takes them); the server's next
-- message is taken with `ws:receive_part`, 1 MiB at a time, and appended
-- to the output. With an echo server the two files are the same.

local root = (arg[0]:match("^(.*)/") or ".") .. "/.."
if not package.searchpath("c_http_core", package.path) then
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
end
if not package.searchpath("c_http_core.core", package.cpath) then
  package.cpath = root .. "/build/?.so;" .. package.cpath
end

local http = require "c_http_core"

local url, inpath, outpath = arg[1], arg[2], arg[3]
if not outpath then error("usage: ws_file.lua ws://host:port/path IN OUT") end

local ws = assert(http.websocket(url, { max_message = 1 << 30 }))
local f = assert(io.open(inpath, "rb"))
assert(ws:send(f:lines(65536), "binary"))
f:close()

local out = assert(io.open(outpath, "wb"))
local total, parts = 0, 0
repeat
  local part, kind, last = ws:receive_part(1 << 20)
  if not part then error(tostring(kind)) end
  out:write(part)
  total, parts = total + #part, parts + 1
until last
out:close()
ws:close()
io.stderr:write(("received %d bytes in %d parts\n"):format(total, parts))
