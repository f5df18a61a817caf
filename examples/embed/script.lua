-- examples/embed/script.lua: the script examples/embed/host runs.
--
--   host script.lua URL [N]
--
-- Spawns N (default 20) concurrent GETs of URL with http.spawn and returns
-- at once: the main chunk never drives the loop. The host's own poll loop
-- does, through chc_loop_fd/chc_loop_step. Task i first sleeps (i-1)*10 ms,
-- so the requests are spread over ~200 ms of the host's ticks and the
-- loop's timers must wake the host; and every other task asks for
-- "localhost" instead of "127.0.0.1" (so the resolver's worker threads must
-- wake it too). The chunk returns a table the host reads at the end:
-- { n = N, responses = R, ok = K, errors = {...} }.
local http = require "c_http_core"

local url, n = ...
assert(type(url) == "string", "usage: host script.lua URL [N]")
n = math.tointeger(tonumber(n or 20)) or 20

local result = { n = n, responses = 0, ok = 0, bytes = 0, errors = {} }
local pool = http.Pool{ max_connections = 8, timeout = 10 }

for i = 1, n do
  local target = url
  if i % 2 == 0 then target = url:gsub("//127%.0%.0%.1([:/])", "//localhost%1", 1) end
  http.spawn(function()
    http.sleep((i - 1) * 0.01)
    local resp, err = pool:request("GET", target)
    if not resp then
      result.errors[#result.errors + 1] = tostring(err)
      return
    end
    result.responses = result.responses + 1
    local body, rerr = resp:read()
    local len = tonumber(resp.headers:get("content-length"))
    if resp.status == 200 and body and (len == nil or len == #body) then
      result.ok = result.ok + 1
      result.bytes = result.bytes + #body
    else
      result.errors[#result.errors + 1] =
        ("%s: status %s, %s"):format(target, resp.status, tostring(rerr))
    end
    resp:close()
  end)
end

return result
