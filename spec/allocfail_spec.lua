-- Allocation-failure injection (tools/allocfail/, src/allocfail.h): for each
-- scenario (HTTP/1.1 request with a body, three HTTP/2 streams, HTTPS,
-- WebSocket echo with permessage-deflate, SSE events) the Nth allocation of
-- the process (our C code, nghttp2, zlib and Lua on one counter) fails, for
-- N in 1..total; each run must end in success or an error, never a crash,
-- an ASan/UBSan report, a leak or a hang, and a normal request on the same
-- pool must work right after it. Every N of every scenario runs (about
-- 1100 runs, 20 s); CHC_AF_STRIDE=k runs every k-th N only. `make allocfail`
-- (CHC_AF_FULL=1) adds the C engine tests under the same counter
-- (tools/allocfail/ctests.sh) with more failure points.
local http = require "c_http_core"
local H = require "helper"

local HOST = "build-allocfail/af_host"
local full = os.getenv("CHC_AF_FULL") == "1"
local stride = tonumber(os.getenv("CHC_AF_STRIDE") or "") or 1
local first = 1

local function start_sse_peer()
  local dir = H.tmp .. "/af_sse"
  os.execute("mkdir -p " .. H.q(dir))
  local ready = dir .. "/ready"
  local f = assert(io.open("/proc/self/stat", "r"))
  local mypid = f:read("n")
  f:close()
  local out = H.sh(("env -u LD_PRELOAD setsid node spec/peers/sse_peer.js --ready-file %s "
    .. "--parent %d </dev/null >%s 2>&1 & echo $!"):format(H.q(ready), mypid,
                                                           H.q(dir .. "/log")))
  local pid = assert(tonumber(out:match("%d+")), "cannot start sse_peer.js")
  local url
  H.wait_until(function()
    local rf = io.open(ready, "r")
    if not rf then return false end
    local s = rf:read("a")
    rf:close()
    local port = s:match("h1=(%d+)")
    url = port and "http://127.0.0.1:" .. port
    return url ~= nil
  end, 10, "sse_peer.js to be ready")
  return url, function() os.execute(("kill -TERM -%d 2>/dev/null"):format(pid)) end
end

describe("allocation failures (tools/allocfail)", function()
  local ws_peers, sse_url, sse_stop
  setup(function()
    assert(io.open(HOST, "r"), HOST .. " missing: run make allocfail-build")
    ws_peers = H.ws_peers()
    sse_url, sse_stop = start_sse_peer()
  end)
  teardown(function()
    if ws_peers then ws_peers.stop() end
    if sse_stop then sse_stop() end
  end)

  local function run(name, from, to, step, ks)
    local cmd = ("env -u LD_PRELOAD CHC_AF_WS_URL=%s CHC_AF_SSE_URL=%s "
      .. "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 "
      .. (os.getenv("CHC_AF_TRACE") and "CHC_AF_TRACE=1 " or "")
      .. "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CHC_AF_TIMEOUT=%d "
      .. "%s tools/allocfail/run.lua %s %d %d %d %s 2>&1")
      :format(H.q(ws_peers.py .. "/echo"), H.q(sse_url), full and 3000 or 80,
              HOST, name, from, to, step, ks)
    -- read as it comes, so that a long run shows its progress (and where it
    -- hung); the summary, timeouts and other errors go to stderr
    local f = assert(io.popen(cmd, "r"))
    local lines = {}
    for line in f:lines() do
      lines[#lines + 1] = line
      if line:match("^allocfail %S+: total") or line:match("^allocfail .* other ")
         or line:match("^allocfail .* hang ") or os.getenv("CHC_AF_VERBOSE") == "1" then
        io.stderr:write(line, "\n")
      end
    end
    local ok = f:close()
    return table.concat(lines, "\n"), ok
  end

  -- CHC_AF_ONLY="h1 12 12": one scenario, N from..to (with CHC_AF_TRACE=1
  -- for a stack trace of each injected failure)
  local only = os.getenv("CHC_AF_ONLY")
  local oname, ofrom, oto = (only or ""):match("^(%S+) (%d+) (%d+)$")
  for _, name in ipairs({ "h1", "h2", "tls", "ws", "sse" }) do
    local from, to, step = first, 1 << 30, stride
    if oname then from, to, step = tonumber(ofrom), tonumber(oto), 1 end
    if not oname or oname == name then it(name .. ": every failed allocation is an error, never a crash, leak or hang;"
       .. " the next request works", function()
      local out, ok = run(name, from, to, step, os.getenv("CHC_AF_K") or "1,2")
      assert(ok, name .. " failed:\n" .. out)
      assert.matches("check failures 0", out)
    end) end
  end
end)
