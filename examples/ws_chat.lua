-- ws_chat.lua: a WebSocket client with one task reading and another
-- writing on the same connection (full duplex).
--
--   lua5.4 examples/ws_chat.lua ws://127.0.0.1:8765/ hello "how are you"
--
-- Every argument after the URL is sent as a text message; each message the
-- server sends is printed as it arrives. With an echo server the output is
-- the messages back. The WebSocket is closed once as many messages came
-- back as were sent (or the server closed it).
--
-- WS_HTTP2=1 goes through a pool that allows HTTP/2 (for ws://, prior-
-- knowledge h2c): where the server enables RFC 8441 the WebSocket is a
-- stream of an HTTP/2 connection ("connected (HTTP/2)"), otherwise an
-- HTTP/1.1 Upgrade on a connection of its own.

local root = (arg[0]:match("^(.*)/") or ".") .. "/.."
if not package.searchpath("c_http_core", package.path) then
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
end
if not package.searchpath("c_http_core.core", package.cpath) then
  package.cpath = root .. "/build/?.so;" .. package.cpath
end

local http = require "c_http_core"

local url = arg[1] or error("usage: ws_chat.lua ws://host:port/path [message...]")
local out = { table.unpack(arg, 2) }

http.run(function()
  local opts = { protocols = { "chat" } }
  local ws
  if os.getenv("WS_HTTP2") then
    local pool = http.Pool { http2 = true, http1 = not url:match("^ws://") }
    ws = assert(pool:websocket(url, opts))
  else
    ws = assert(http.websocket(url, opts))
  end
  io.stderr:write(("connected (%s%s)\n"):format(ws.version,
    ws.extensions and ", " .. ws.extensions or ""))
  local reader = http.spawn(function()
    local n = 0
    for msg, kind in ws:messages() do
      print(kind == "text" and msg or ("<%d binary bytes>"):format(#msg))
      n = n + 1
      if n == #out then break end
    end
  end)
  for _, m in ipairs(out) do
    assert(ws:send(m))
  end
  reader:join()
  ws:close()
  io.stderr:write(("closed (%s)\n"):format(tostring(ws.close_code)))
end)
