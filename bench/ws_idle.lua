-- bench/ws_idle.lua: memory of idle WebSockets (issue 11: 10,000 in one
-- process at <= 8 KiB each). Opens n WebSockets to url, sends one message
-- on each and takes its echo (so that what a used WebSocket keeps is
-- counted), then prints the RSS and Lua-heap growth per WebSocket.
--
--   lua5.4 bench/ws_idle.lua url=ws://... n=10000 compress=0|1 [size=N] [nct=1]
--
-- size: the message's length (default 48: under compress_min (64), so
-- only the server's echo may be compressed; 64 and more: ours too);
-- nct=1: no_context_takeover = true.
--
-- Needs `ulimit -n` above n (one socket each). Prints
-- "RESULT n= rss_per_ws= lua_per_ws= unit=bytes".
local http = require "c_http_core"

local A = {}
for i = 1, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  A[assert(k, "key=value expected")] = v
end
local url = assert(A.url, "url= is required")
local n = tonumber(A.n or 1000)
local compress = A.compress == "1"
local size = tonumber(A.size or 48)
local wopts = { compress = compress, no_context_takeover = A.nct == "1" }

local function rss()
  local f = assert(io.open("/proc/self/status"))
  local kib = tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
  f:close()
  return kib * 1024
end

local pool = http.Pool { max_connections = n + 10 }
-- warm up: the first WebSocket's one-time costs (code paths, TLS-free)
local w0 = assert(pool:websocket(url, wopts))
assert(w0:send("warm up"))
assert(w0:receive())
collectgarbage(); collectgarbage()
local r0, l0 = rss(), collectgarbage("count") * 1024
local all = {}
for i = 1, n do
  local ws, err = pool:websocket(url, wopts)
  if not ws then print("WRONG " .. tostring(err)); os.exit(1) end
  local m = tostring(i) .. " "
  assert(ws:send(m .. ("idle "):rep(size):sub(1, size - #m)))
  assert(ws:receive())
  all[i] = ws
end
collectgarbage(); collectgarbage()
local r1, l1 = rss(), collectgarbage("count") * 1024
print(("RESULT n=%d size=%d compress=%s rss_per_ws=%.0f lua_per_ws=%.0f ext=%s unit=bytes"):format(
  n, size, tostring(compress), (r1 - r0) / n, (l1 - l0) / n, tostring(all[1].extensions)))
for i = 1, n do all[i]:close() end
