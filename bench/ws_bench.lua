-- bench/ws_bench.lua: our side of W8/W9 (bench/run.sh): WebSocket echo
-- against the npm `ws` server (spec/peers/ws_node_peer.js), compression off
-- on every client so that the rows measure the transport, not zlib.
--
--   lua5.4 bench/ws_bench.lua echo url=ws://... n=20000        W8
--   lua5.4 bench/ws_bench.lua bulk url=ws://... n=8 size=16777216   W9
--   lua5.4 bench/ws_bench.lua stream url=ws://... n=8 size=16777216 W9s
--
-- W8: n small text messages, one in flight (send, wait for the echo);
-- W9: n binary messages of `size` bytes, one in flight. Every echo is
-- checked; prints "RESULT requests= bytes= secs= rate= unit=".
local http = require "c_http_core"

local A = { mode = arg[1] }
for i = 2, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  A[assert(k, "key=value expected")] = v
end
local url = assert(A.url, "url= is required")
local n = tonumber(A.n or 1000)
local size = tonumber(A.size or 16 * 1024 * 1024)

local function wrong(...)
  print("WRONG " .. string.format(...))
  os.exit(1)
end

local ws, err = http.websocket(url, { compress = false,
                                      max_message = math.max(size, 1 << 20) })
if not ws then wrong("%s", tostring(err)) end
local t0, bytes
if A.mode == "echo" then
  local msg = "Hello, World!"
  t0 = http.now()
  for i = 1, n do
    assert(ws:send(msg))
    local got = ws:receive()
    if got ~= msg then wrong("echo %d: %s", i, tostring(got)) end
  end
  bytes = n * #msg
elseif A.mode == "stream" then
  -- W9s: the same messages, never whole in this process: each sent from
  -- an iterator of 1 MiB parts (one string, reused) and received in 1 MiB
  -- parts (ws:receive_part), every part checked
  local part = 1 << 20
  local chunk = string.rep("0123456789abcdef", part // 16)
  local nparts = size // part
  t0 = http.now()
  for i = 1, n do
    local k = 0
    assert(ws:send(function()
      k = k + 1
      if k <= nparts then return chunk end
    end, "binary"))
    local total = 0
    for _ = 1, nparts + 1 do
      local got, kind, last = ws:receive_part(part)
      if got == nil or kind ~= "binary" or got ~= chunk then
        wrong("echo %d: %s", i, got and #got or tostring(kind))
      end
      total = total + #got
      if last then break end
    end
    if total ~= size then wrong("echo %d: %d bytes", i, total) end
  end
  bytes = n * size
elseif A.mode == "bulk" then
  local msg = string.rep("0123456789abcdef", size // 16)
  t0 = http.now()
  for i = 1, n do
    assert(ws:send(msg, "binary"))
    local got, kind = ws:receive()
    if got == nil or #got ~= size or kind ~= "binary" then
      wrong("echo %d: %s", i, got and #got or tostring(kind))
    end
  end
  bytes = n * size
else
  error("unknown mode " .. tostring(A.mode))
end
local secs = http.now() - t0
ws:close()
print(("RESULT requests=%d bytes=%d secs=%.4f rate=%.1f unit=%s"):format(
  n, bytes, secs, A.mode == "echo" and n / secs or bytes / secs / 1e6,
  A.mode == "echo" and "msg/s" or "MB/s"))
