-- tools/autobahn_client.lua: runs our WebSocket client against an Autobahn
-- fuzzingserver (see /work/shared/conformance/AUTOBAHN.md for how to start
-- one on loopback; nothing of it is part of this repository or of CI).
--
--   lua5.4 tools/autobahn_client.lua [ws://127.0.0.1:9001] [agent]
--
-- Each case: open /runCase?case=N&agent=A, echo every message with its kind
-- until the server closes (bounded per case), then /updateReports. The
-- reports (index.json) are written by the server into its outdir. The
-- quick profile of AUTOBAHN.md takes about 2.5 min here, the full suite
-- (517 cases) about 30 min, bound by the Python server.
--
-- AUTOBAHN_PARTS=N echoes every message in parts instead: received with
-- ws:receive_part(N) and sent back from an iterator that receives the
-- next part, so the echo of a message is on the wire before its end came
-- (the engine's parts mode under every framing, UTF-8 and deflate case).
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("CHC_BUILD") or "build") .. "/?.so;" .. package.cpath
local http = require "c_http_core"

local S = arg[1] or "ws://127.0.0.1:9001"
local A = arg[2] or "c_http_core"
local OPTS = { max_message = 64 * 1024 * 1024, close_timeout = 2,
               timeout = 30 }

local function text_of(url)
  local ws = assert(http.websocket(url, OPTS))
  local msg = ws:receive()
  ws:close()
  return msg
end

local PARTS = tonumber(os.getenv("AUTOBAHN_PARTS") or "")

-- One message echoed part by part; false once the WebSocket ended.
local function echo_parts(ws)
  local part, kind, last = ws:receive_part(PARTS)
  if not part then return false end
  if last then return ws:send(part, kind) ~= nil end
  local ok, r = pcall(ws.send, ws, function()
    if part then
      local p = part
      part = nil
      return p
    end
    if last then return nil end
    local p, e
    p, e, last = ws:receive_part(PARTS)
    if not p then error(e, 0) end -- the message failed: so does our echo
    return p
  end, kind)
  return ok and r ~= nil
end

local function run_case(n)
  local ws, err = http.websocket(("%s/runCase?case=%d&agent=%s"):format(S, n, A),
                                 OPTS)
  if not ws then return false, tostring(err) end
  while true do
    if PARTS then
      if not echo_parts(ws) then break end
    else
      local msg, kind = ws:receive()
      if not msg then break end
      local ok = ws:send(msg, kind)
      if not ok then break end
    end
  end
  ws:close()
  return true
end

local count = tonumber(text_of(S .. "/getCaseCount"))
io.stderr:write(("autobahn: %d cases\n"):format(count))
local t0 = http.now()
for n = 1, count do
  local task = http.spawn(run_case, n)
  local ok, err = task:join()
  if not ok then io.stderr:write(("case %d: %s\n"):format(n, err)) end
  if n % 50 == 0 then
    io.stderr:write(("autobahn: %d/%d (%.0f s)\n"):format(n, count, http.now() - t0))
  end
end
local ws = http.websocket(("%s/updateReports?agent=%s"):format(S, A), OPTS)
if ws then
  ws:receive()
  ws:close()
end
io.stderr:write(("autobahn: done in %.0f s\n"):format(http.now() - t0))
