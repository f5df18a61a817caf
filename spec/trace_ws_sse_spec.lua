-- Tracing of WebSockets and Server-Sent Events (issue 13): the handshake
-- request's own phases then the ws_handshake / ws_close lifecycle events;
-- each SSE connection's request phases, sse_reconnect and sse_stream; a
-- trace function that raises. Peers: spec/peers/ws_peers.sh (as
-- spec/ws_spec.lua) and spec/peers/sse_peer.js (as spec/sse_spec.lua).
local H = require "helper"
local http = require "c_http_core"

local LUA = os.getenv("LUA") or "lua5.4"

-- a trace function that keeps the events (and their info) in order
local function recorder()
  local evs, infos = {}, {}
  return evs, infos, function(event, info)
    evs[#evs + 1] = event
    infos[#infos + 1] = info
    infos[event] = infos[event] or info
  end
end

local function names(evs) return table.concat(evs, " ") end

-- the times never go back and lie within [t0, t1]
local function check_times(infos, t0, t1)
  local last = t0
  for i, info in ipairs(infos) do
    assert.is_number(info.t, "event " .. i)
    assert.is_true(info.t >= last and info.t <= t1, "event " .. i)
    last = info.t
  end
end

local HANDSHAKE = "resolve.started resolve.complete connect.started " ..
  "connect.complete send_headers.started send_headers.complete " ..
  "receive_headers.started receive_headers.complete"

-- {==================================================================
-- the SSE peer (as spec/sse_spec.lua): started for this file only
local sse = {}

local function start_sse_peer()
  local ready = H.tmp .. "/trace_sse_peer.ready"
  os.remove(ready)
  local f = assert(io.open("/proc/self/stat", "r"))
  local mypid = f:read("n")
  f:close()
  local node = os.getenv("CHC_NODE") or "node"
  local out = H.sh(("setsid %s spec/peers/sse_peer.js --ready-file %s "
    .. "--parent %d </dev/null >%s 2>&1 & echo $!"):format(node, H.q(ready),
    mypid, H.q(H.tmp .. "/trace_sse_peer.log")))
  sse.pid = tonumber(out:match("%d+"))
  assert(sse.pid, "could not start spec/peers/sse_peer.js (is node installed?)")
  H.wait_until(function()
    local rf = io.open(ready, "r")
    if not rf then return false end
    local s = rf:read("a")
    rf:close()
    sse.h1 = "http://127.0.0.1:" .. s:match("h1=(%d+)")
    return true
  end, 10, "sse_peer.js ready (node missing?)")
end
-- }==================================================================

describe("trace of WebSockets and SSE", function()
  local P
  setup(function()
    P = H.ws_peers()
    start_sse_peer()
  end)
  teardown(function()
    if P then P.stop() end
    if sse.pid then os.execute(("kill -TERM -%d 2>/dev/null"):format(sse.pid)) end
    collectgarbage()
    collectgarbage()
  end)

  it("traces a WebSocket's open, echo and local close, in order", function()
    local evs, infos, fn = recorder()
    local pool = http.Pool{ trace = fn }
    local t0 = http.now()
    local ws = assert(pool:websocket(P.py .. "/echo", { protocols = { "chat" } }))
    assert.equals("ws_handshake.started " .. HANDSHAKE ..
                  " ws_handshake.complete", names(evs))
    assert.equals(101, infos["receive_headers.complete"].status)
    local hc = infos["ws_handshake.complete"]
    assert.equals("HTTP/1.1", hc.version)
    assert.matches("permessage%-deflate", hc.extensions)
    local n = #evs
    assert.is_true(ws:send("hello"))
    assert.equals("hello", (ws:receive()))
    assert.equals(n, #evs) -- no per-message events
    assert.is_true(ws:close(4000, "done"))
    local t1 = http.now()
    assert.equals(" ws_close.started ws_close.complete",
                  names(evs):sub(-#" ws_close.started ws_close.complete" ))
    assert.same({ code = 4000, reason = "done", by = "local",
                  t = infos["ws_close.started"].t }, infos["ws_close.started"])
    local cc = infos["ws_close.complete"]
    assert.equals("local", cc.by)
    assert.equals(4000, cc.code) -- the python peer echoes our close
    check_times(infos, t0, t1)
    pool:close()
  end)

  it("traces a close the peer began", function()
    local evs, infos, fn = recorder()
    local ws = assert(http.websocket(P.py .. "/close?code=4001&reason=bye",
                                     { trace = fn }))
    local msg, err = ws:receive()
    assert.is_nil(msg)
    assert.equals("Closed", err.kind)
    assert.equals("ws_close.started ws_close.complete",
                  table.concat(evs, " ", #evs - 1))
    assert.equals("peer", infos["ws_close.started"].by)
    assert.equals(4001, infos["ws_close.started"].code)
    assert.equals("bye", infos["ws_close.complete"].reason)
    local n = #evs
    ws:close()
    assert.equals(n, #evs) -- once
  end)

  it("reports a local close once while another task is receiving", function()
    local evs, infos, fn = recorder()
    local rerr
    http.run(function()
      local ws = assert(http.websocket(P.py .. "/echo", { trace = fn }))
      local t = http.spawn(function() rerr = select(2, ws:receive()) end)
      http.sleep(0.05)
      assert.is_true(ws:close())
      t:join()
    end)
    assert.equals("Closed", rerr.kind)
    assert.equals("ws_close.started ws_close.complete",
                  table.concat(evs, " ", #evs - 1))
    assert.equals("ws_handshake.complete", evs[#evs - 2])
    assert.equals("local", infos["ws_close.started"].by)
    assert.equals("local", infos["ws_close.complete"].by)
  end)

  it("traces a refused handshake as ws_handshake.failed with the status", function()
    local evs, infos, fn = recorder()
    local ws, err = http.websocket(P.py .. "/refuse", { trace = fn })
    assert.is_nil(ws)
    assert.equals(403, err.status)
    assert.equals("ws_handshake.started", evs[1])
    assert.equals("ws_handshake.failed", evs[#evs])
    assert.equals(HANDSHAKE, table.concat(evs, " ", 2, 9))
    assert.equals(403, infos["receive_headers.complete"].status)
    local f = infos["ws_handshake.failed"]
    assert.equals(403, f.status)
    assert.equals(err, f.error)
  end)

  it("costs nothing without a trace function (no trace field kept)", function()
    local ws = assert(http.websocket(P.py .. "/echo"))
    assert.is_nil(rawget(ws, "_trace"))
    ws:close()
  end)

  it("traces an SSE stream that reconnects once, then ends", function()
    local evs, infos, fn = recorder()
    local pool = http.Pool{ timeout = 10 }
    local key = ("t%d_%d"):format(os.time(), math.random(1e6))
    local t0 = http.now()
    local es = pool:sse(sse.h1 .. "/seq?key=" .. key .. "&steps=ok,ok",
                        { trace = fn, retry = 0.05, max_reconnects = 1 })
    local got = {}
    for ev in es:events() do got[#got + 1] = ev.data end
    local t1 = http.now()
    assert.same({ "lei=", "lei=1" }, got)
    local s = names(evs)
    local conn = "send_headers.started send_headers.complete " ..
      "receive_headers.started receive_headers.complete receive_body.started " ..
      "receive_body.complete response_closed.started response_closed.complete"
    assert.matches("^resolve.started .- " .. conn:gsub("%.", "%%.") ..
                   " sse_reconnect%.started .- sse_reconnect%.complete .-" ..
                   " sse_stream%.complete$", s)
    local _, nreq = s:gsub("send_headers%.started", "")
    assert.equals(2, nreq)
    local rs = infos["sse_reconnect.started"]
    assert.equals(1, rs.attempt)
    assert.equals("ended", rs.reason)
    assert.is_true(rs.delay >= 0.05 and rs.delay <= 0.05 * 1.2 + 1e-9)
    assert.equals(200, infos["sse_reconnect.complete"].status)
    assert.is_nil(infos["sse_stream.failed"])
    check_times(infos, t0, t1)
    pool:close()
  end)

  it("traces a failed reconnection and the stream's failure", function()
    local evs, infos, fn = recorder()
    local pool = http.Pool{ timeout = 10, trace = fn } -- the pool's function
    local key = ("u%d_%d"):format(os.time(), math.random(1e6))
    local es = pool:sse(sse.h1 .. "/seq?key=" .. key .. "&steps=ok,500",
                        { retry = 0.05 })
    assert.equals("lei=", es:next().data)
    local ev, err = es:next()
    assert.is_nil(ev)
    assert.equals(500, err.status)
    assert.equals("sse_reconnect.failed sse_stream.failed",
                  table.concat(evs, " ", #evs - 1))
    assert.equals(500, infos["sse_reconnect.failed"].status)
    assert.equals(err, infos["sse_reconnect.failed"].error)
    assert.equals(err, infos["sse_stream.failed"].error)
    local n = #evs
    es:close()
    assert.equals(n, #evs) -- ended once
    pool:close()
  end)

  it("turns an error in the trace function into a warning", function()
    -- run in a child lua5.4 with warnings on (-W), to see them on stderr
    local script = H.tmpname("trace_warn.lua")
    local f = assert(io.open(script, "w"))
    f:write([[
local http = require "c_http_core"
local calls = 0
local function bad() calls = calls + 1; error("broken trace function") end
local ws = assert(http.websocket(arg[1] .. "/echo", { trace = bad }))
assert(ws:send("x")); assert(ws:receive() == "x"); assert(ws:close())
local es = http.sse(arg[2], { trace = bad, retry = 0.01, max_reconnects = 1 })
local n = 0
for _ in es:events() do n = n + 1 end
assert(n == 2, "events: " .. n)
print("ok " .. calls)
]])
    f:close()
    local key = ("w%d_%d"):format(os.time(), math.random(1e6))
    local errf = H.tmpname("stderr")
    local p = assert(io.popen(("%s -W %s %s %s 2>%s"):format(LUA, H.q(script),
      H.q(P.py), H.q(sse.h1 .. "/seq?key=" .. key .. "&steps=ok,ok"),
      H.q(errf))))
    local out = p:read("a")
    p:close()
    local ef = assert(io.open(errf))
    local stderr = ef:read("a")
    ef:close()
    local calls = tonumber(out:match("^ok (%d+)"))
    assert(calls, "child said: " .. out .. stderr)
    assert.is_true(calls >= 15)
    local _, warnings = stderr:gsub("c_http_core: trace function failed: " ..
      "[^\n]*broken trace function", "")
    assert.equals(calls, warnings)
    for _, e in ipairs { "ws_handshake", "ws_close", "sse_reconnect", "sse_stream" } do
      assert.is_nil(stderr:find("error in " .. e, 1, true))
    end
  end)

  it("rejects a trace option that is not a function", function()
    assert.has_error(function() http.websocket(P.py .. "/echo", { trace = 1 }) end,
                     "trace must be a function, got number")
    assert.has_error(function() http.sse(sse.h1 .. "/events", { trace = "x" }) end,
                     "trace must be a function, got string")
  end)
end)
