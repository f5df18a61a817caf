-- spec/scripts/stall_script.lua URL N: for examples/embed/host with
-- CHC_HOST_STALL_MS (spec/loop_spec.lua). N concurrent GETs of URL (a body
-- that comes 0.3 s after its head) with a 1 s read timeout; once every head
-- is in, it asks the host to stop stepping (result.stall), during which
-- every body arrives. The host's summary counts the bodies read in full.
local http = require "c_http_core"
local url, n = ...
n = math.tointeger(tonumber(n)) or 300
local result = { n = n, responses = 0, ok = 0, errors = {} }
local pool = http.Pool{ max_connections = n,
                        timeout = { connect = 10, read = 1, pool = 10 } }
local heads = 0
for _ = 1, n do
  http.spawn(function()
    local resp, err = pool:request("GET", url)
    if not resp then result.errors[#result.errors + 1] = tostring(err); return end
    result.responses = result.responses + 1
    heads = heads + 1
    if heads == n then result.stall = true end
    local body, rerr = resp:read()
    if body and #body == 10 then result.ok = result.ok + 1
    else result.errors[#result.errors + 1] = tostring(rerr) end
  end)
end
return result
