-- spec/scripts/dns_child.lua MODE PORT: run by spec/resolver_spec.lua as a
-- child lua5.4 with tests/c/slow_gai.c preloaded (names "slow-*" resolve
-- late, as 127.0.0.1). Prints one line per result.
--   hol     six slow names in flight, then localhost with connect = 1:
--           "fast <ok|err> <seconds>"
--   abandon a slow name with connect = 0.3: "abandon <err kind> <seconds>";
--           the process must then exit without waiting for the lookup
--   shared  five requests to one slow name at once: "shared <n ok>"
local http = require "c_http_core"
local mode, port = ...
local function url(host) return ("http://%s:%s/hello"):format(host, port) end
local function say(...) io.stdout:write(table.concat({...}, " "), "\n"); io.stdout:flush() end

if mode == "hol" then
  local pool = http.Pool{ max_connections = 20, timeout = { connect = 10 } }
  http.run(function()
    for i = 1, 6 do
      http.spawn(function() pool:request("GET", url("slow-" .. i .. ".test")) end)
    end
    http.sleep(0.1) -- all six lookups are in getaddrinfo now
    local t0 = http.now()
    local resp, err = pool:request("GET", url("localhost"), { timeout = { connect = 1 } })
    say("fast", resp and "ok" or tostring(err), ("%.3f"):format(http.now() - t0))
    if resp then resp:read() end
    os.exit(0) -- not waiting for the slow ones
  end)
elseif mode == "abandon" then
  local t0 = http.now()
  local resp, err = http.request("GET", url("slow-gone.test"), { timeout = { connect = 0.3 } })
  say("abandon", resp and "ok" or err.kind, ("%.3f"):format(http.now() - t0))
elseif mode == "shared" then
  local pool = http.Pool{ max_connections = 10 }
  local ok = 0
  http.run(function()
    local tasks = {}
    for i = 1, 5 do
      tasks[i] = http.spawn(function()
        local resp = assert(pool:request("GET", url("slow-shared.test")))
        if resp:read() then ok = ok + 1 end
      end)
    end
    for _, t in ipairs(tasks) do t:join() end
  end)
  say("shared", ok)
end
