-- spec/scripts/sigint_child.lua MODE URL_STALL URL_OK: run by
-- spec/signal_spec.lua as a child lua5.4 that gets a real SIGINT while it
-- waits. It prints "ready" when about to wait, then what happened:
--   caught <seconds> <message>   the wait raised (Ctrl-C reached Lua)
--   after <status>               a request on the same pool afterwards
--   stats <active> <idle>        the pool's connections at the end
-- MODE: "sync" (a plain http.request-style call from the main chunk),
-- "run" (inside http.run), "sleep" (http.sleep in the main chunk).
local http = require "c_http_core"
local mode, stall, okurl = ...
local pool = http.Pool{ timeout = false }

local function say(...) io.stdout:write(table.concat({...}, " "), "\n"); io.stdout:flush() end

local t0 = http.now()
local stalled
local ok, err = pcall(function()
  say("ready")
  if mode == "sync" then
    return pool:request("GET", stall)
  elseif mode == "sleep" then
    return http.sleep(8)
  else
    return http.run(function()
      stalled = http.spawn(function() return pool:request("GET", stall) end)
      return stalled:join()
    end)
  end
end)
say("caught", ("%.3f"):format(http.now() - t0), tostring(not ok and err))
if stalled then stalled:cancel() end -- its wait raises Cancelled at the next run
local resp = assert(http.run(function() return pool:request("GET", okurl) end))
assert(resp:read())
say("after", resp.status)
local st = pool:stats()
say("stats", st.active or "?", st.idle or "?")
pool:close()
