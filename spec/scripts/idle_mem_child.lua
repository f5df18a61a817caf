-- spec/scripts/idle_mem_child.lua URL N TRIM: run by spec/memory_spec.lua
-- in a fresh process. Opens N keep-alive connections to URL at once (N
-- tasks, one pool that keeps them all), then lets the loop stay quiet
-- until the library's memory trim ran (at most 6 s; TRIM=0 turns the trim
-- off and waits 2.5 s). Prints one line:
--   RESULT idle=<n> burst_b=<RSS per connection right after the burst>
--          after_b=<RSS per connection after the quiet period>
--          trims=<trims done> quiet_s=<seconds the quiet period took>
local http = require "c_http_core"
local core = require "c_http_core.core"

local url, n, trim = arg[1], assert(tonumber(arg[2])), arg[3] ~= "0"
local function rss_kb()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return assert(tonumber(s:match("VmRSS:%s*(%d+)")))
end

http.config{ trim_memory = trim }
assert(assert(http.request("GET", url)):read()) -- load everything first
local pool = http.Pool{ max_connections = n, max_keepalive = n,
                        keepalive_expiry = 3600 }
collectgarbage("collect"); collectgarbage("collect")
local rss0 = rss_kb()
local burst, quiet
http.run(function()
  local tasks = {}
  for i = 1, n do
    tasks[i] = http.spawn(function()
      local r = assert(pool:request("GET", url))
      assert(r:read())
    end)
  end
  for i = 1, n do tasks[i]:join() end
  tasks = nil
  collectgarbage("collect"); collectgarbage("collect")
  burst = rss_kb()
  local t0 = http.now()
  if trim then
    for _ = 1, 60 do -- the trim comes after a quiet second
      if core.mem_stats().trims > 0 then break end
      http.sleep(0.1)
    end
  else
    http.sleep(2.5)
  end
  quiet = http.now() - t0
end)
local st = pool:stats()
print(("RESULT idle=%d burst_b=%.0f after_b=%.0f trims=%d quiet_s=%.2f"):format(
  st.idle, (burst - rss0) * 1024 / n, (rss_kb() - rss0) * 1024 / n,
  core.mem_stats().trims, quiet))
pool:close()
