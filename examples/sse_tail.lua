-- sse_tail.lua: `tail -f` of a Server-Sent Events stream. Prints each
-- event's data as it arrives, reconnecting (with Last-Event-ID) when the
-- stream ends or the network fails, until the server says 204 or Ctrl-C.
--
--   lua5.4 examples/sse_tail.lua [-v] [-n COUNT] [--from ID] [--once] [--h2] URL
--
--   -v          prefix each event with "[type #id]"
--   -n COUNT    stop after COUNT events
--   --from ID   resume after event ID (sent as Last-Event-ID)
--   --once      no reconnection: stop when the stream ends
--   --h2        HTTP/2 (h2c with prior knowledge on http://, ALPN on https://)
--
-- Exit status: 0 when the stream ended (or COUNT events came), 1 on an
-- error (printed to stderr), 2 on bad arguments, 130 on Ctrl-C.

-- From a checkout without LUA_PATH/LUA_CPATH: use ../lua and ../build.
local root = (arg[0]:match("^(.*)/") or ".") .. "/.."
if not package.searchpath("c_http_core", package.path) then
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
end
if not package.searchpath("c_http_core.core", package.cpath) then
  package.cpath = root .. "/build/?.so;" .. package.cpath
end

local http = require "c_http_core"

local function usage(msg)
  if msg then io.stderr:write("sse_tail: ", msg, "\n") end
  io.stderr:write("usage: lua5.4 examples/sse_tail.lua [-v] [-n COUNT] "
                  .. "[--from ID] [--once] [--h2] URL\n")
  os.exit(2)
end

local verbose, count, from, once, h2, url = false, nil, nil, false, false, nil
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "-v" then verbose = true
  elseif a == "-n" then
    i = i + 1
    count = math.tointeger(tonumber(arg[i] or ""))
    if not count or count < 1 then usage("-n needs a positive count") end
  elseif a == "--from" then
    i = i + 1
    from = arg[i] or usage("--from needs an event ID")
  elseif a == "--once" then once = true
  elseif a == "--h2" then h2 = true
  elseif a:sub(1, 1) == "-" then usage("unknown option " .. a)
  elseif url then usage("one URL only")
  else url = a end
  i = i + 1
end
if not url then usage() end

local pool = http.Pool(h2 and { http2 = true, http1 = not url:match("^http:") }
                          or nil)
-- Heartbeat comments keep a quiet stream alive; a server silent for
-- longer than `read` is taken for dead and reconnected to.
local es <close> = pool:sse(url, { last_event_id = from, reconnect = not once,
                                   timeout = { connect = 10, read = 120 } })

-- es:next() returns nil, err rather than raising (es:events() raises):
-- here an error is a message and an exit status, not a traceback.
local n = 0
local ok, err = pcall(function()
  while true do
    local ev, e = es:next()
    if not ev then return e end
    n = n + 1
    if verbose then
      io.stdout:write(("[%s #%s] "):format(ev.event, ev.id))
    end
    io.stdout:write(ev.data, "\n")
    io.stdout:flush()
    if count and n >= count then return nil end
  end
end)
if not ok then -- raised: Ctrl-C ("interrupted!") or a bug
  io.stderr:write("sse_tail: ", tostring(err), "\n")
  os.exit(tostring(err):find("interrupted", 1, true) and 130 or 1)
end
if err then
  io.stderr:write("sse_tail: ", tostring(err), "\n")
  os.exit(1)
end
