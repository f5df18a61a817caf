-- upload.lua: stream a generated body up from a producer function.
--
--   lua5.4 examples/upload.lua URL [MIB]        (POST, 32 MiB by default)
--
-- The body is never in memory as a whole: `body` is a function returning the
-- next piece (a string), then nil at the end. The transport calls it only
-- when it can take more bytes, so it runs as fast as the server reads
-- (backpressure) -- a producer may just as well read a file or another
-- response (`body = other_resp:iter()`).
--
-- The bytes follow the test peers' pattern (byte i is i % 251), so a server
-- that checksums what it got (spec/peers/raw_peer.py /upload-sha256) can be
-- checked against it.

-- From a checkout without LUA_PATH/LUA_CPATH: use ../lua and ../build.
local root = (arg[0]:match("^(.*)/") or ".") .. "/.."
if not package.searchpath("c_http_core", package.path) then
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
end
if not package.searchpath("c_http_core.core", package.cpath) then
  package.cpath = root .. "/build/?.so;" .. package.cpath
end

local http = require "c_http_core"

local MiB = 1024 * 1024
local url, mib = arg[1], tonumber(arg[2] or 32)
if not url or not mib then
  io.stderr:write("usage: lua5.4 examples/upload.lua URL [MIB]\n")
  os.exit(2)
end

local function fail(msg)
  io.stderr:write("upload: ", tostring(msg), "\n")
  os.exit(1)
end


local total = math.floor(mib * MiB)
local unit = {}
for i = 0, 250 do unit[#unit + 1] = string.char(i) end
local piece = table.concat(unit):rep(261)     -- 65511 bytes, whole patterns
local sent = 0

local function producer()
  local left = total - sent
  if left == 0 then return nil end
  local chunk = left >= #piece and piece or piece:sub(1, left)
  sent = sent + #chunk
  return chunk
end

local t0 = http.now()
local resp, err = http.request("POST", url, {
  headers = { { "Content-Type", "application/octet-stream" } },
  body = producer,
})
if not resp then fail(err) end
local reply, rerr = resp:read()
if not reply then fail(rerr) end
local elapsed = http.now() - t0

print(("%d %s after sending %.1f MiB in %.2f s (%.0f MiB/s)"):format(
  resp.status, resp.reason, sent / MiB, elapsed, sent / MiB / elapsed))
print("reply: " .. reply:gsub("%s+$", ""):sub(1, 200))
if sent < total then
  fail(("the server answered after %.1f of %.1f MiB: the rest was not sent"):format(
    sent / MiB, total / MiB))
end
if resp.status >= 400 then fail("the server refused the upload") end
