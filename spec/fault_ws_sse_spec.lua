-- The fault peer (spec/peers/fault_peer.py) between the client and a
-- WebSocket server or an SSE server cuts the server's bytes at an offset,
-- with a FIN or a RST, or stalls there; only the first connection after
-- each setting is cut (`times = 1`), so reconnections and the checks that
-- follow are relayed whole. The offsets go from 0 to the length of the
-- whole exchange (measured first, uncut).
--
-- WebSocket (python3-websockets /echo, permessage-deflate): the handshake
-- response, the echoed message and the server's close. Each cut ends as
-- the API says: websocket() returns nil, err (RemoteProtocolError,
-- ReadError, or WriteError when a RST beats the request), receive()
-- returns nil, err (ReadError: a TCP close without a close frame;
-- RemoteProtocolError: a frame cut short; WriteError: a reset found by a
-- write, a ping's), close() returns true (without a
-- close code when the server's close was cut); a stall ends at the read
-- timeout (handshake) or the ping timeout. Then the same pool opens a
-- WebSocket that works.
--
-- SSE (sse_peer.js /events?n=3&id=1 over HTTP/1.1, and over h2c every
-- CHC_FAULT_SSE_H2_STRIDE-th byte, default 3): an EventSource with
-- max_reconnects = 2 reconnects after every cut (a head or body cut short,
-- a reset, a read timeout after a stall, or the clean end past the
-- response: the reconnection then reuses the kept-alive connection, which
-- the cut may hit in the second response) and ends without an error: its
-- events are runs of e1, e2, e3 (what each response delivered whole), the
-- last one complete, and its last event ID is "3". The pool then serves a
-- request.
--
-- Every sweep ends with no fd left open (/proc/self/fd).
-- CHC_FAULT_STRIDE (default 1; 3 under ASan or valgrind) samples every
-- n-th offset of the WebSocket and HTTP/1.1 SSE sweeps (the h2c one: 3, 7).
local H = require "helper"
local http = require "c_http_core"

-- under ASan or valgrind every exchange is slower: sample more sparsely
local SLOW = H.asan or H.valgrind
-- the read timeout that ends a stall: short, so that stalls are cheap, but
-- not so short that a busy machine (a sanitizer build) trips it on a
-- connection that is merely slow
local STALL_READ = SLOW and 1.5 or 0.4
local STRIDE = tonumber(os.getenv("CHC_FAULT_STRIDE") or "") or (SLOW and 3 or 1)
local H2_STRIDE = tonumber(os.getenv("CHC_FAULT_SSE_H2_STRIDE") or "") or (SLOW and 7 or 3)

local F, P, S
setup(function()
  F = H.fault_start()
  P = H.ws_peers()
  S = H.sse_peer()
end)
teardown(function()
  if F then F.stop() end
  if P then P.stop() end
  if S then S.stop() end
end)

local function port_of(url) return tonumber(url:match(":(%d+)$")) end

local kind_in = H.kind_in

-- The bytes the server sends in one uncut run of fn().
local function measure(target, fn)
  F.reset()
  F.set(target, -1)
  fn()
  local n = F.stats().down
  assert(n > 0, "nothing relayed")
  return n
end

-- {==================================================================
-- WebSocket

local MSG = string.rep("all work and no play ", 10) -- compressible: deflated

local function ws_pool()
  return http.Pool{ timeout = { connect = 2, read = 0.5 } }
end

-- One echo exchange; returns "ok" (the message came back and the server's
-- close 1000 arrived), or the stage that failed and its error.
local function ws_exchange(pool)
  local ws, err = pool:websocket("ws://127.0.0.1:" .. F.port .. "/echo",
                                 { ping_interval = 0.1, ping_timeout = 0.3,
                                   close_timeout = 0.5 })
  if not ws then return "open", err end
  local ok, serr = ws:send(MSG)
  local msg, rerr
  if ok then msg, rerr = ws:receive() end
  assert.is_true(ws:close())
  if not ok then return "send", serr end
  if msg == nil then return "receive", rerr end
  assert.equals(MSG, msg)
  if ws.close_code == 1000 then return "ok" end
  return "close"
end

local WS_KINDS = {
  open = { "RemoteProtocolError", "ReadError", "WriteError" },
  send = { "ReadError", "WriteError", "RemoteProtocolError" },
  receive = { "ReadError", "RemoteProtocolError", "WriteError" },
}

describe("a WebSocket cut at every byte", function()
  after_each(H.check_clean)

  it("each cut is an error of the stage it hit, and the pool carries on", function()
    local target = port_of(P.py)
    local total = measure(target, function()
      local pool = ws_pool()
      assert.equals("ok", ws_exchange(pool))
      pool:close()
    end)
    local fd0 = H.fd_count()
    local seen = {}
    for cut = 0, total, STRIDE do
      for _, how in ipairs({ "fin", "rst" }) do
        F.set(target, cut, how, 1)
        local pool = ws_pool()
        local stage, err = ws_exchange(pool)
        local why = ("cut %s at byte %d of %d: %s %s"):format(how, cut, total, stage,
                                                              tostring(err))
        if stage ~= "ok" and stage ~= "close" then
          assert(kind_in(err, WS_KINDS[stage]), why)
        end
        -- only the whole exchange gets the server's close
        assert(stage ~= "ok" or cut >= total, why)
        seen[stage] = (seen[stage] or 0) + 1
        assert.equals("ok", (ws_exchange(pool)), "after " .. why)
        pool:close()
      end
    end
    -- every stage was hit: the handshake, the message, the close
    assert.is_true((seen.open or 0) > 0 and (seen.receive or 0) > 0
                   and (seen.close or 0) > 0 and (seen.ok or 0) > 0)
    collectgarbage()
    collectgarbage()
    H.wait_until(function() return H.fd_count() <= fd0 end, 5, "fds closed")
  end)

  it("a stall ends at the read timeout (handshake) or the ping timeout", function()
    local target = port_of(P.py)
    local fd0 = H.fd_count()
    for _, cut in ipairs({ 0, 40, 200, 300, 330 }) do
      F.set(target, cut, "stall", 1)
      local pool = ws_pool()
      local elapsed, stage, err = H.timed(ws_exchange, pool)
      if stage == "open" or stage == "receive" then
        assert(http.is_error(err, "ReadTimeout"), cut .. ": " .. tostring(err))
      end
      -- at most: a read timeout, or a ping timeout, plus the close's wait
      assert.is_true(elapsed < 0.5 + 0.4 + 0.5 + H.slack, "stalled too long")
      assert.equals("ok", (ws_exchange(pool)), "after a stall at " .. cut)
      pool:close()
    end
    collectgarbage()
    H.wait_until(function() return H.fd_count() <= fd0 end, 5, "fds closed")
  end)
end)
-- }==================================================================

-- {==================================================================
-- SSE

-- One EventSource run; returns the events' data, and the error that ended
-- it (there should be none).
local function sse_run(pool, reconnects)
  local es <close> = pool:sse(F.url .. "/events?n=3&id=1",
                              { retry = 0, max_reconnects = reconnects })
  local got = {}
  while true do
    local ev, err = es:next()
    if ev == nil then return got, err, es.last_event_id end
    got[#got + 1] = ev.data
    if #got > 9 then return got, "more events than three responses give" end
  end
end

local function sse_sweep(target, pool_opts, stride, stall_at)
  local function new_pool() return http.Pool(pool_opts) end
  local total = measure(target, function()
    -- (uncut: a read timeout here would only say the machine is busy)
    local o = {}
    for k, v in pairs(pool_opts) do o[k] = v end
    o.timeout = { connect = 10, read = 10 }
    local pool = http.Pool(o)
    local got, err = sse_run(pool, 0)
    assert(#got == 3 and not err, tostring(err))
    pool:close()
  end)
  local fd0 = H.fd_count()
  local function one(cut, how)
    F.set(target, cut, how, 1)
    local pool = new_pool()
    local got, err, last_id = sse_run(pool, 2)
    local why = ("cut %s at byte %d of %d: %s %s"):format(how, cut, total,
                                                        table.concat(got, ","),
                                                        tostring(err))
    assert(err == nil, why)
    -- runs of e1, e2, e3 (each response's events delivered whole, from
    -- the first), the last one complete
    for i = 1, #got do
      local k = tonumber(got[i]:match("^e(%d)$"))
      assert(k and (k == 1 or got[i - 1] == "e" .. (k - 1)), why)
    end
    assert(got[#got] == "e3" and last_id == "3", why)
    assert(F.stats().conns >= 2, why)
    -- the pool serves a request afterwards
    local r = assert(pool:request("GET", F.url .. "/events?n=1"), "after " .. why)
    assert.equals("data: e1\n\n", r:read(), "after " .. why)
    pool:close()
  end
  for cut = 0, total, stride do
    F.reset()
    one(cut, "fin")
    F.reset()
    one(cut, "rst")
  end
  for _, cut in ipairs(stall_at) do
    F.reset()
    local elapsed = H.timed(one, cut, "stall")
    assert.is_true(elapsed < pool_opts.timeout.read + 1 + H.slack, "stalled too long")
  end
  collectgarbage()
  collectgarbage()
  H.wait_until(function() return H.fd_count() <= fd0 end, 5, "fds closed")
end

describe("an SSE stream cut at every byte", function()
  after_each(H.check_clean)

  it("HTTP/1.1: the EventSource reconnects after each cut and ends cleanly", function()
    sse_sweep(port_of(S.h1), { timeout = { connect = 2, read = STALL_READ } }, STRIDE,
              { 0, 60, 150 })
  end)

  it("HTTP/2 (h2c): the same, on a new connection", function()
    sse_sweep(port_of(S.h2), { http1 = false, http2 = true,
                               timeout = { connect = 2, read = STALL_READ } }, H2_STRIDE,
              { 0, 80 })
  end)
end)
-- }==================================================================
