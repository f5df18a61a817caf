-- WebSocket over HTTP/2 (RFC 8441, issue 11): pool:websocket on a pool
-- with http2, against spec/peers/h2ws_peer.js (node's http2 module with
-- enableConnectProtocol, WebSocket framing by hand; started here): the
-- extended CONNECT stream over h2c and TLS, sharing one connection with
-- requests and other WebSockets, the HTTP/1.1 fallback when the server
-- did not enable it, refusals, resets, flow control as backpressure,
-- timeouts and permessage-deflate.
local http = require "c_http_core"
local H = require "helper"

-- {==================================================================
-- The peer: started once for the file, stopped in teardown.
local peer = {}

local function start_peer()
  local P = H.node_peer("h2ws_peer", "--certs " .. H.q(H.tls_dir))
  peer.pid, peer.stop = P.pid, P.stop
  peer.h2c = "127.0.0.1:" .. P.ports.h2c
  peer.tls = "localhost:" .. P.ports.tls
  peer.noext = "localhost:" .. P.ports.noext
  peer.h2cnoext = "127.0.0.1:" .. P.ports.h2cnoext
  peer.mute = "127.0.0.1:" .. P.ports.mute
end

local function stop_peer()
  if peer.stop then peer.stop() end
  peer.pid, peer.stop = nil, nil
end
-- }==================================================================

local function h2c_pool(extra)
  local o = { http2 = true, http1 = false }
  for k, v in pairs(extra or {}) do o[k] = v end
  return http.Pool(o)
end

local function tls_pool(extra)
  local o = { http2 = true, tls = { ca_file = H.tls_dir .. "/ca.pem" } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return http.Pool(o)
end

local function open(pool, url, opts) return H.ws_open(url, opts, pool) end
local echo_once = H.ws_echo_once

-- The peer's counters (a plain request through `pool`).
local function stats(pool, base)
  local resp = assert(pool:request("GET", base .. "/stats"))
  local body = resp:read()
  local t = {}
  for k, v in body:gmatch('"(%w+)":(%d+)') do t[k] = tonumber(v) end
  return t
end

describe("WebSocket over HTTP/2 (RFC 8441)", function()
  setup(start_peer)
  teardown(function()
    stop_peer()
    collectgarbage()
    collectgarbage()
  end)

  it("echoes text, binary and fragmented messages over h2c", function()
    local pool = h2c_pool()
    local ws = open(pool, "ws://" .. peer.h2c .. "/echo", { compress = false })
    assert.equals("HTTP/2", ws.version)
    assert.is_nil(ws.extensions)
    echo_once(ws, "hello")
    echo_once(ws, "", "text")
    echo_once(ws, string.rep("\0\1\2\255", 1000), "binary")
    echo_once(ws, H.pattern(1024 * 1024), "binary") -- beyond the window
    echo_once(ws, H.pattern(3 * 1024 * 1024 + 5), "binary") -- sent in parts
    -- a message the server sends in fragments, a ping between them
    local frag = open(pool, "ws://" .. peer.h2c .. "/frag")
    local msg, kind = frag:receive()
    assert.equals("fragmented message", msg)
    assert.equals("text", kind)
    assert.is_true(frag:close())
    assert.is_true(ws:close())
    assert.equals(1000, ws.close_code)
    pool:close()
  end)

  it("echoes over TLS (ALPN h2), with a subprotocol offer", function()
    local pool = tls_pool()
    local ws = open(pool, "wss://" .. peer.tls .. "/echo", { protocols = { "chat" } })
    assert.equals("HTTP/2", ws.version)
    assert.is_nil(ws.protocol) -- the server agreed none
    echo_once(ws, "over tls")
    echo_once(ws, H.pattern(300000), "binary")
    assert.is_true(ws:close())
    pool:close()
  end)

  it("shares one connection between two WebSockets and requests", function()
    local pool = h2c_pool()
    local base = "http://" .. peer.h2c
    assert.equals("ok", assert(pool:request("GET", base .. "/stats/reset")):read())
    local a = open(pool, "ws://" .. peer.h2c .. "/echo")
    local b = open(pool, "ws://" .. peer.h2c .. "/echo")
    assert.equals("hello", assert(pool:request("GET", base .. "/hello")):read())
    http.run(function()
      local t = {}
      for i, ws in ipairs { a, b } do
        t[i] = http.spawn(function()
          for j = 1, 20 do echo_once(ws, ("%d:%d"):format(i, j)) end
        end)
      end
      for j = 1, 5 do
        assert.equals("hello", assert(pool:request("GET", base .. "/hello")):read())
      end
      for _, task in ipairs(t) do task:join() end
    end)
    local st = stats(pool, base)
    assert.equals(0, st.connections) -- none since the reset on this one
    assert.equals(0, st.sessions)
    assert.equals(2, st.websockets)
    assert.equals(1, pool:stats().connections)
    a:close()
    b:close()
    -- the connection stays usable once the WebSockets' streams ended
    assert.equals("hello", assert(pool:request("GET", base .. "/hello")):read())
    assert.equals(1, pool:stats().connections)
    pool:close()
  end)

  it("falls back to HTTP/1.1 on a connection of its own (TLS) when the "
     .. "server did not enable extended CONNECT", function()
    local pool = tls_pool()
    local base = "https://" .. peer.noext
    assert.equals("ok", assert(pool:request("GET", base .. "/stats/reset")):read())
    local ws = open(pool, "wss://" .. peer.noext .. "/echo")
    assert.equals("HTTP/1.1", ws.version)
    echo_once(ws, "upgraded")
    local st = stats(pool, base)
    assert.equals(1, st.sockets)     -- an HTTP/1.1 Upgrade
    assert.equals(1, st.connections) -- its own connection
    assert.is_true(ws:close())
    pool:close()
  end)

  it("falls back to plain HTTP/1.1 for an h2c pool", function()
    local pool = h2c_pool()
    local ws = open(pool, "ws://" .. peer.h2cnoext .. "/echo")
    assert.equals("HTTP/1.1", ws.version)
    echo_once(ws, "upgraded")
    assert.is_true(ws:close())
    -- the pool's requests stay HTTP/2
    local resp = assert(pool:request("GET", "http://" .. peer.h2cnoext .. "/hello"))
    assert.equals("HTTP/2", resp.version)
    assert.equals("hello", resp:read())
    pool:close()
  end)

  it("a refused CONNECT (403) is an error with .status and the body", function()
    local pool = h2c_pool()
    local ws, err = pool:websocket("ws://" .. peer.h2c .. "/refuse")
    assert.is_nil(ws)
    assert.equals("RemoteProtocolError", err.kind)
    assert.equals(403, err.status)
    assert.matches("go away", err.message)
    -- the connection is still fine for others
    assert.equals("hello", assert(pool:request("GET", "http://" .. peer.h2c .. "/hello")):read())
    pool:close()
  end)

  it("a stream the server resets ends a waiting receive with ReadError", function()
    local pool = h2c_pool()
    local ws = open(pool, "ws://" .. peer.h2c .. "/reset")
    assert.is_true(ws:send("go"))
    local msg, err = ws:receive()
    assert.is_nil(msg)
    -- (node ends its side, then resets: either way the abnormal end)
    assert.equals("ReadError", err.kind)
    assert.matches("1006", err.message)
    assert.is_nil(ws:send("more")) -- failed for good
    -- only that stream went
    assert.equals("hello", assert(pool:request("GET", "http://" .. peer.h2c .. "/hello")):read())
    pool:close()
  end)

  it("a connection that goes away fails the WebSocket (ReadError)", function()
    local pool = h2c_pool()
    local ws = open(pool, "ws://" .. peer.h2c .. "/echo")
    echo_once(ws, "before")
    -- the peer closes every TCP connection: /kill answers, then does
    assert(pool:request("GET", "http://" .. peer.h2c .. "/kill"))
    local msg, err = ws:receive()
    assert.is_nil(msg)
    assert.equals("ReadError", err.kind)
    pool:close()
  end)

  it("close ends the stream with END_STREAM; a dropped WebSocket resets it",
     function()
    local pool = h2c_pool()
    local base = "http://" .. peer.h2c
    assert(pool:request("GET", base .. "/stats/reset"))
    local ws = open(pool, "ws://" .. peer.h2c .. "/echo")
    echo_once(ws, "a")
    assert.is_true(ws:close())
    H.wait_until(function() return stats(pool, base).clean == 1 end, 5,
                 "the stream's clean end")
    do
      local ws2 <close> = open(pool, "ws://" .. peer.h2c .. "/echo")
      echo_once(ws2, "b")
    end
    H.wait_until(function() return stats(pool, base).resets == 1 end, 5,
                 "the dropped WebSocket's RST_STREAM")
    local st = stats(pool, base)
    assert.equals(1, st.clean)
    assert.equals(0, st.connections) -- no new one since the reset
    pool:close()
  end)

  it("pool:close() ends a WebSocket on its HTTP/2 connection (Closed)",
     function()
    local pool = h2c_pool()
    local ws = open(pool, "ws://" .. peer.h2c .. "/echo")
    echo_once(ws, "a")
    pool:close()
    local msg, err = ws:receive()
    assert.is_nil(msg)
    assert.equals("Closed", err.kind)
    assert.is_nil(ws:send("b"))
  end)

  it("a message not taken stops the window (backpressure)", function()
    local pool = h2c_pool()
    local base = "http://" .. peer.h2c
    local size, n = 65536, 200
    assert(pool:request("GET", base .. "/stats/reset"))
    local ws = open(pool, ("ws://%s/flood?n=%d&size=%d"):format(peer.h2c, n, size))
    assert.equals(size, #assert(ws:receive()))
    -- the server's writes block, and what got through stops growing
    local st, last = nil, -1
    H.wait_until(function()
      st = stats(pool, base)
      local still = st.blocked >= 1 and st.flushed == last
      last = st.flushed
      if not still then http.sleep(0.2) end
      return still
    end, 20, "the flood to stop")
    -- at most: what Lua took, the message held, one stream window (256
    -- KiB) and a message the server had begun (without the window held
    -- back, the whole flood, 12.5 MiB, would get through)
    assert.is_true(st.flushed <= 3 * size + 256 * 1024,
                   "the server could send " .. st.flushed .. " bytes")
    for _ = 2, n do assert.equals(size, #assert(ws:receive())) end
    local msg, err = ws:receive()
    assert.is_nil(msg)
    assert.equals("Closed", err.kind)
    assert.equals(1000, err.code)
    pool:close()
  end)

  it("send waits while more than the high-water mark is unsent", function()
    local pool = h2c_pool()
    local ws = open(pool, "ws://" .. peer.h2c .. "/stall",
                    { compress = false, close_timeout = 0.2 })
    local big = H.pattern(1024 * 1024)
    local sent, ended = 0, false
    http.run(function()
      local task = http.spawn(function()
        for _ = 1, 4 do
          if not ws:send(big, "binary") then break end
          sent = sent + 1
        end
        ended = true
      end)
      -- the first message is queued at once; the server reads nothing,
      -- so the next send waits (the window and the queue are full)
      H.wait_until(function() return sent >= 1 end, 5, "the first send")
      http.sleep(0.5)
      assert.equals(1, sent)
      assert.is_false(ended)
      ws:close() -- gives up after close_timeout: the waiting send ends
      task:join()
    end)
    assert.equals(1, sent)
    assert.is_true(ended)
    -- only that stream went
    assert.equals("hello", assert(pool:request("GET", "http://" .. peer.h2c .. "/hello")):read())
    pool:close()
  end)

  it("an idle WebSocket outlives the pool's read and total timeouts", function()
    local pool = h2c_pool { timeout = { read = 0.3, total = 0.5 } }
    local ws = open(pool, "ws://" .. peer.h2c .. "/echo")
    http.sleep(1.2)
    echo_once(ws, "still here")
    assert.is_true(ws:close())
    pool:close()
  end)

  it("the handshake is under the read timeout", function()
    local pool = h2c_pool { timeout = { read = 0.3 } }
    local t0 = http.now()
    local ws, err = pool:websocket("ws://" .. peer.h2c .. "/silent")
    assert.is_nil(ws)
    assert.equals("ReadTimeout", err.kind)
    assert.is_true(http.now() - t0 < 0.3 + 1.5)
    pool:close()
  end)

  it("the CONNECT waits for the server's SETTINGS (bounded by the pool "
     .. "timeout)", function()
    local pool = h2c_pool { timeout = { pool = 0.3 } }
    local ws, err = pool:websocket("ws://" .. peer.mute .. "/echo")
    assert.is_nil(ws)
    assert.equals("PoolTimeout", err.kind)
    assert.matches("no HTTP/2 SETTINGS", err.message)
    pool:close()
  end)

  it("a WebSocket opens over a new HTTP/2 connection with max_keepalive = 0",
     function()
    -- the held CONNECT leaves the new connection without a stream until the
    -- server's SETTINGS: it must not be taken for an idle one and closed
    local pool = h2c_pool { max_keepalive = 0, timeout = { pool = 3 } }
    local ws = open(pool, "ws://" .. peer.h2c .. "/echo")
    assert.equals("HTTP/2", ws.version)
    echo_once(ws, "kept")
    assert.is_true(ws:close())
    pool:close()
  end)

  it("a connection that never sends SETTINGS is not kept once the CONNECT "
     .. "gave up", function()
    local pool = h2c_pool { timeout = { pool = 0.3 }, keepalive_expiry = 30 }
    local ws, err = pool:websocket("ws://" .. peer.mute .. "/echo")
    assert.is_nil(ws)
    assert.equals("PoolTimeout", err.kind)
    local st = pool:stats()
    assert.equals(0, st.connections, ("%d connections, %d idle"):format(st.connections, st.idle))
    pool:close()
  end)

  it("permessage-deflate works over HTTP/2", function()
    local pool = tls_pool()
    local ws = open(pool, "wss://" .. peer.tls .. "/echo")
    assert.equals("HTTP/2", ws.version)
    assert.matches("permessage%-deflate", ws.extensions)
    echo_once(ws, ("compress me "):rep(20000))
    echo_once(ws, "short")
    echo_once(ws, H.pattern(200000), "binary")
    assert.is_true(ws:close())
    pool:close()
  end)

  it("sends from an iterator and receives in parts, compressed or not",
     H.within(30, function()
    local pool = tls_pool()
    for _, compress in ipairs({ false, true }) do
      local ws = open(pool, "wss://" .. peer.tls .. "/echo",
                      { compress = compress })
      assert.equals("HTTP/2", ws.version)
      local chunk = ("part of a message in parts "):rep(10000) -- 270,000 B
      assert.is_true(ws:send(H.ws_parts(8, function() return chunk end)))
      local got, kind = H.ws_receive_parts(ws, 100000)
      assert.equals("text", kind)
      -- the first part holds what came while we were still sending (the
      -- peer echoes each fragment at once; messages are gathered whole
      -- until receive_part is first called); after it, parts of the size
      assert.truthy(#got >= 3 and #got[1] >= 100000)
      for i = 2, #got - 1 do assert.equals(100000, #got[i]) end
      assert.equals(chunk:rep(8), table.concat(got))
      -- one that inflates far past a read (the inflater owes output with
      -- its input all taken: the feed with no input must bring it)
      local text = ("héllo wörld € 😀 "):rep(20000)
      assert.is_true(ws:send(text))
      assert.equals(text, table.concat((H.ws_receive_parts(ws, 10000))))
      echo_once(ws, "whole again")
      assert.is_true(ws:close())
    end
    pool:close()
  end))

  it("traces the handshake and the close with version HTTP/2", function()
    local pool = h2c_pool()
    local ev = {}
    local ws = open(pool, "ws://" .. peer.h2c .. "/echo", {
      trace = function(name, info) ev[#ev + 1] = { name, info } end })
    echo_once(ws, "x")
    assert.is_true(ws:close())
    local names, complete = {}, nil
    for _, e in ipairs(ev) do
      names[#names + 1] = e[1]
      if e[1] == "ws_handshake.complete" then complete = e[2] end
    end
    local s = table.concat(names, " ")
    assert.matches("ws_handshake.started", s)
    assert.matches("receive_headers.complete", s)
    assert.matches("ws_close.complete", s)
    assert.equals("HTTP/2", complete.version)
    pool:close()
  end)
end)
