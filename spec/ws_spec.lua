-- WebSocket client (issue 11): http.websocket / pool:websocket over
-- HTTP/1.1 Upgrade, against real servers on loopback (spec/peers/ws_peers.sh):
-- Debian's python3-websockets (permessage-deflate), the npm `ws` server,
-- both also over TLS with the test CA, and a scripted raw peer for
-- protocol violations and broken handshakes (spec/peers/ws_peer.py).
local H = require "helper"
local http = require "c_http_core"
local core = require "c_http_core.core"

local P

local function ca_pool(extra)
  local o = { tls = { ca_file = H.tls_dir .. "/ca.pem" } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return http.Pool(o)
end

local open, echo_once = H.ws_open, H.ws_echo_once

describe("WebSocket", function()
  setup(function() P = H.ws_peers() end)
  teardown(function()
    if P then P.stop() end
    collectgarbage()
    collectgarbage()
  end)

  describe("against python3-websockets", function()
    it("echoes text and binary, with permessage-deflate agreed", function()
      local ws = open(P.py .. "/echo")
      assert.equals("HTTP/1.1", ws.version)
      assert.matches("permessage%-deflate", ws.extensions)
      assert.is_nil(ws.protocol)
      echo_once(ws, "hello")
      echo_once(ws, "", "text")
      echo_once(ws, string.rep("\0\1\2\255", 1000), "binary")
      echo_once(ws, ("héllo wörld "):rep(5000))
      assert.is_true(ws:close())
      assert.equals(1000, ws.close_code)
    end)

    it("works without compression (compress = false)", function()
      local ws = open(P.py .. "/echo", { compress = false })
      assert.is_nil(ws.extensions)
      echo_once(ws, string.rep("z", 70000), "binary")
      ws:close()
    end)

    it("no_context_takeover = true asks for it both ways and echoes",
       function()
      local ws = open(P.py .. "/echo", { no_context_takeover = true })
      assert.matches("server_no_context_takeover", ws.extensions)
      assert.matches("client_no_context_takeover", ws.extensions)
      for i = 1, 3 do echo_once(ws, ("compressible %d "):format(i):rep(50)) end
      echo_once(ws, H.pattern(100000), "binary")
      ws:close()
      assert.has_error(function()
        http.websocket(P.py .. "/echo", { no_context_takeover = "yes" })
      end, "no_context_takeover must be a boolean")
    end)

    it("round-trips a 4 MiB message", function()
      local ws = open(P.py .. "/echo")
      local big = H.pattern(4 * 1024 * 1024)
      echo_once(ws, big, "binary")
      ws:close()
    end)

    it("agrees a subprotocol and sends extra headers", function()
      local ws = open(P.py .. "/headers", { protocols = { "chat" },
                                             headers = { ["X-Test"] = "yes" } })
      assert.equals("chat", ws.protocol)
      assert.equals("yes", (ws:receive()))
      ws:close()
    end)

    it("reports the server's close code and reason on receive", function()
      local ws = open(P.py .. "/close?code=4001&reason=bye")
      local msg, err = ws:receive()
      assert.is_nil(msg)
      assert.equals("Closed", err.kind)
      assert.equals(4001, err.code)
      assert.equals("bye", err.reason)
      assert.equals(4001, ws.close_code)
      assert.equals("bye", ws.close_reason)
      -- and again: the end is sticky
      msg, err = ws:receive()
      assert.is_nil(msg)
      assert.equals("Closed", err.kind)
    end)

    it("messages() iterates until the close handshake", function()
      local ws = open(P.py .. "/push?n=5&size=10")
      local n = 0
      http.spawn(function()
        http.sleep(0.2)
        ws:close()
      end)
      for msg, kind in ws:messages() do
        assert.equals(("p"):rep(10), msg)
        assert.equals("binary", kind)
        n = n + 1
      end
      assert.equals(5, n)
    end)

    it("stops reading while a message waits for receive (backpressure)",
       function()
      local function pushed()
        local c = open(P.py .. "/pushed")
        local n = tonumber((c:receive()))
        c:close()
        return n
      end
      local before = pushed()
      local ws = open(P.py .. "/push?n=64&size=1048576", { compress = false })
      assert.equals(1048576, #ws:receive())
      http.sleep(0.5)
      -- socket buffers hold a few MiB at most; without backpressure the
      -- client would have read (and the server sent) all 64
      local sent = pushed() - before
      assert.truthy(sent < 32, "the server could send " .. sent .. " MiB")
      for _ = 2, 64 do assert.equals(1048576, #ws:receive()) end
      ws:close()
    end)

    it("a refused handshake is an error carrying .status", function()
      local ws, err = http.websocket(P.py .. "/refuse")
      assert.is_nil(ws)
      assert.equals(403, err.status)
      assert.equals("RemoteProtocolError", err.kind)
      assert.matches("403", err.message)
      assert.matches("go away", err.message)
    end)

    it("echoes 1000 messages in a task", function()
      http.run(function()
        local ws = open(P.py .. "/echo")
        for i = 1, 1000 do
          ws:send("m" .. i)
          assert.equals("m" .. i, (ws:receive()))
        end
        ws:close()
      end)
    end)

    it("is full duplex: one task receives while another sends", function()
      http.run(function()
        local ws = open(P.py .. "/echo")
        local got = {}
        local r = http.spawn(function()
          for _ = 1, 200 do got[#got + 1] = ws:receive() end
        end)
        local s1 = http.spawn(function()
          for i = 1, 100 do ws:send(("a"):rep(3000) .. i) end
        end)
        local s2 = http.spawn(function()
          for i = 1, 100 do ws:send(("b"):rep(5000) .. i) end
        end)
        s1:join(); s2:join(); r:join()
        assert.equals(200, #got)
        local na, nb = 0, 0
        for _, m in ipairs(got) do
          local c = m:sub(1, 1)
          if c == "a" then na = na + 1 else nb = nb + 1 end
          assert.equals(#m:match("^[ab]+"), c == "a" and 3000 or 5000)
        end
        assert.equals(100, na)
        assert.equals(100, nb)
        ws:close()
      end)
    end)

    it("raises when two tasks receive at once", function()
      http.run(function()
        local ws = open(P.py .. "/echo")
        local t = http.spawn(function() return ws:receive() end)
        http.sleep(0.05)
        assert.has_error(function() ws:receive() end,
          "another task is already receiving on this WebSocket")
        ws:send("x")
        assert.equals("x", (t:join()))
        ws:close()
      end)
    end)

    it("a task blocked in receive can be cancelled", function()
      http.run(function()
        local ws = open(P.py .. "/echo")
        local t = http.spawn(function() return ws:receive() end)
        http.sleep(0.05)
        t:cancel()
        local ok, err = pcall(t.join, t)
        assert.is_false(ok)
        assert.equals("Cancelled", err.kind)
        -- the WebSocket goes on: receiving is possible again
        echo_once(ws, "after")
        ws:close()
      end)
    end)

    it("works over wss:// with the pool's TLS settings", function()
      local pool = ca_pool()
      local ws = open(P.py_tls .. "/echo", nil, pool)
      echo_once(ws, "secure")
      echo_once(ws, H.pattern(300000), "binary")
      ws:close()
      pool:close()
    end)

    it("a wss:// WebSocket outlives pool:close() (it holds the TLS settings)",
       function()
      local pool = ca_pool()
      local ws = open(P.py_tls .. "/echo", nil, pool)
      pool:close()
      collectgarbage()
      echo_once(ws, "still here")
      ws:close()
      ws = nil
      pool = nil
      collectgarbage()
      collectgarbage()
    end)

    it("a wss:// server the pool does not trust fails with TLSError", function()
      local ws, err = http.websocket(P.py_tls .. "/echo")
      assert.is_nil(ws)
      assert.equals("TLSError", err.kind)
    end)

    it("the WebSocket's connection leaves the pool", function()
      local pool = http.Pool()
      local ws = open(P.py .. "/echo", nil, pool)
      assert.equals(0, pool:stats().connections)
      echo_once(ws, "x")
      ws:close()
      pool:close()
    end)
  end)

  describe("against the npm ws server", function()
    it("echoes over ws://", function()
      local ws = open(P.node .. "/")
      assert.matches("permessage%-deflate", ws.extensions)
      echo_once(ws, "hello node")
      echo_once(ws, H.pattern(1024 * 1024), "binary")
      ws:close()
      assert.equals(1000, ws.close_code)
    end)

    it("500 idle WebSockets that each echoed 2,000 bytes take at most 6 KiB "
       .. "each (issue 11's target: 8 KiB; about 4 KiB now)", function()
      -- in a fresh process (bench/ws_idle.lua): this one's heap has room
      -- freed by earlier specs, which new WebSockets would fill unseen.
      -- RSS means nothing under ASan (quarantine) or valgrind.
      if not H.rss_meaningful then return end
      local cmd = ("lua5.4 bench/ws_idle.lua url=%s/ n=500 compress=0 "
                   .. "size=2000 2>&1")
          :format(P.node)
      local f = assert(io.popen(cmd))
      local out = f:read("a")
      f:close()
      local per = tonumber(out:match("rss_per_ws=(%d+)"))
      assert.truthy(per, out)
      assert.truthy(per <= 6144, ("%d bytes per idle WebSocket"):format(per))
    end)

    it("echoes over wss://", function()
      local pool = ca_pool()
      local ws = open(P.node_tls .. "/", nil, pool)
      for i = 1, 50 do echo_once(ws, ("n"):rep(i * 100)) end
      ws:close()
      pool:close()
    end)
  end)

  describe("protocol violations of the server", function()
    local cases = {
      { "/masked", 1002, "mask" },
      { "/badutf8", 1007, "UTF%-8" },
      { "/opcode", 1002, "opcode" },
      { "/bigping", 1002, "control" },
      { "/rsv", 1002, "reserved" },
      { "/badclose", 1002, "close" },
      { "/fragctl", 1002, "control" },
    }
    for _, c in ipairs(cases) do
      it(c[1] .. " fails with " .. c[2], function()
        local ws = open(P.raw .. c[1])
        local msg, err = ws:receive()
        assert.is_nil(msg)
        assert.equals("RemoteProtocolError", err.kind)
        assert.matches("close " .. c[2], err.message)
        assert.matches(c[3], err.message)
      end)
    end

    it("a decompression bomb is refused at max_message (1009)", function()
      local ws = open(P.raw .. "/bomb", { max_message = 1024 * 1024 })
      local msg, err = ws:receive()
      assert.is_nil(msg)
      assert.matches("close 1009", err.message)
    end)

    it("a TCP close without a close frame is a ReadError", function()
      local ws = open(P.raw .. "/noclose")
      assert.equals("bye", (ws:receive()))
      local msg, err = ws:receive()
      assert.is_nil(msg)
      assert.equals("ReadError", err.kind)
      assert.matches("1006", err.message)
    end)

    it("a big message goes out in parts: never queued whole (16 MiB to a "
       .. "server that reads nothing)", function()
      local function rss_kib()
        local f = assert(io.open("/proc/self/status"))
        local kib = tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
        f:close()
        return kib
      end
      http.run(function()
        local ws = open(P.raw .. "/sink", { compress = false })
        local big = string.rep("x", 16 << 20)
        local before = rss_kib()
        local t = http.spawn(function() return ws:send(big, "binary") end)
        -- a second sender waits for the last part; cancelling it leaves
        -- the WebSocket (and the first sender) alone
        local t2 = http.spawn(function() return ws:send("after", "text") end)
        http.sleep(0.3) -- the send waits at the high-water mark
        t2:cancel()
        local ok2, err2 = pcall(t2.join, t2)
        assert.is_false(ok2)
        assert.equals("Cancelled", err2.kind)
        local grown = rss_kib() - before
        -- copied whole, the frame alone would be 16 MiB
        if H.rss_meaningful then
          assert.truthy(grown < 6 * 1024, "RSS grew by " .. grown .. " KiB")
        end
        t:cancel()
        local ok, err = pcall(t.join, t)
        assert.is_false(ok)
        assert.equals("Cancelled", err.kind)
        -- cancelled partway through the message: the WebSocket is gone
        local sent, e2 = ws:send("x")
        assert.is_nil(sent)
        assert.equals("Closed", e2.kind)
      end)
    end)

    it("keeps the bytes that came with the 101", function()
      local ws = open(P.raw .. "/early")
      assert.equals("early", (ws:receive()))
      ws:close()
    end)
  end)

  describe("handshake failures", function()
    for _, c in ipairs {
      { "/badaccept", "Accept" },
      { "/badproto", "rotocol" },
      { "/badext", "xtension" },
    } do
      it(c[1] .. " is refused", function()
        local ws, err = http.websocket(P.raw .. c[1], { protocols = { "chat" } })
        assert.is_nil(ws)
        assert.equals("RemoteProtocolError", err.kind)
        assert.matches(c[2], err.message)
      end)
    end

    it("a server that agrees HTTP/2 without RFC 8441 gets the HTTP/1.1 "
       .. "Upgrade (refused by this one: an error with .status)", function()
      assert.truthy(H.h2peer_tls, "the node h2 peer is not running")
      local pool = ca_pool { http2 = true }
      local url = H.h2peer_tls:gsub("^https://127%.0%.0%.1", "wss://localhost")
      local ws, err = pool:websocket(url .. "/")
      assert.is_nil(ws)
      assert.equals("RemoteProtocolError", err.kind)
      assert.is_number(err.status)
      assert.matches("refused the WebSocket handshake", err.message)
      assert.matches("http/1%.1", err.message) -- what the peer saw
      pool:close()
    end)

    it("an unsupported scheme is UnsupportedProtocol", function()
      local ws, err = http.websocket("ftp://127.0.0.1/")
      assert.is_nil(ws)
      assert.equals("UnsupportedProtocol", err.kind)
    end)

    it("a refused connection is a ConnectError", function()
      local ws, err = http.websocket("ws://127.0.0.1:1/")
      assert.is_nil(ws)
      assert.equals("ConnectError", err.kind)
    end)

    it("misuse raises", function()
      assert.has_error(function() http.websocket(P.py, { nope = 1 }) end)
      local ws = open(P.py .. "/echo")
      assert.has_error(function() ws:send(12) end)
      assert.has_error(function() ws:send("x", "blob") end)
      assert.has_error(function() ws:send("\255") end)
      assert.has_error(function() ws:close(1005) end)
      ws:close()
    end)
  end)

  describe("timeouts", function()
    it("ping_timeout fails a server that never answers pings", function()
      local ws = open(P.raw .. "/silent", { ping_interval = 0.2,
                                             ping_timeout = 0.3 })
      local t0 = http.now()
      local msg, err = ws:receive()
      local dt = http.now() - t0
      assert.is_nil(msg)
      assert.equals("ReadTimeout", err.kind)
      assert.matches("pong", err.message)
      H.assert_window(dt, 0.5, "ping timeout")
    end)

    it("close waits for the peer's close at most close_timeout", function()
      local ws = open(P.raw .. "/silent", { close_timeout = 0.5 })
      local t0 = http.now()
      assert.is_true(ws:close())
      H.assert_window(http.now() - t0, 0.5, "close timeout")
      local msg, err = ws:receive()
      assert.is_nil(msg)
      assert.equals("Closed", err.kind)
    end)

    it("the handshake is under the read timeout", function()
      local t0 = http.now()
      local ws, err = http.websocket(P.raw .. "/stall", { timeout = 0.5 })
      assert.is_nil(ws)
      assert.equals("ReadTimeout", err.kind)
      H.assert_window(http.now() - t0, 0.5, "handshake read timeout")
    end)
  end)

  it("examples/ws_chat.lua chats with an echo server", function()
    local errf = H.tmpname("ws_chat_err")
    local f = io.popen(("%s examples/ws_chat.lua %s a 'b c' 2>%s")
                       :format(os.getenv("LUA") or "lua5.4", H.q(P.py .. "/echo"),
                               H.q(errf)))
    local out = f:read("a")
    f:close()
    local ef = io.open(errf)
    local err = ef and ef:read("a") or ""
    if ef then ef:close() end
    assert.equals("a\nb c\n", out, err)
  end)

  it("close() with a message not taken still completes the close "
     .. "handshake at once (the message is dropped)", function()
    -- "b"'s echo comes before the server's close, and a message held
    -- stops the reading: close() used to wait out close_timeout
    local ws = open(P.py .. "/echo", { close_timeout = 3 })
    assert.is_true(ws:send("a"))
    assert.is_true(ws:send("b"))
    assert.equals("a", (ws:receive()))
    local t = http.now()
    assert.is_true(ws:close())
    assert.equals(1000, ws.close_code)
    assert.truthy(http.now() - t < 2, "close waited " .. (http.now() - t))
    local msg, err = ws:receive()
    assert.is_nil(msg)
    assert.equals("Closed", err.kind)
    -- the same with the rest of a message held in parts
    local ws2 = open(P.node .. "/", { close_timeout = 3, compress = false })
    assert.is_true(ws2:send(("x"):rep(3 * 1024 * 1024), "binary"))
    assert.truthy(ws2:receive_part(1000))
    t = http.now()
    assert.is_true(ws2:close())
    assert.equals(1000, ws2.close_code)
    assert.truthy(http.now() - t < 2, "close waited " .. (http.now() - t))
  end)

  it("__gc and <close> drop an open WebSocket", function()
    local fd0 = H.fd_count()
    do local ws = open(P.py .. "/echo"); ws:send("x") end
    collectgarbage()
    collectgarbage()
    H.wait_until(function() return H.fd_count() <= fd0 end, 5,
                 "the collected WebSocket's socket to close")
    do
      local ws <close> = open(P.py .. "/echo")
      echo_once(ws, "y")
    end
    H.wait_until(function() return H.fd_count() <= fd0 end, 5,
                 "the <close>d WebSocket's socket to close")
    local ws = open(P.py .. "/echo")
    local got, done
    http.spawn(function() got = select(2, ws:receive()); done = true end)
    http.sleep(0.05)
    ws:close()
    H.wait_until(function() return done end, 5, "the receiver to see the close")
    assert.truthy(got, "receive() returned a message after close")
    H.wait_until(function() return H.fd_count() <= fd0 end, 5,
                 "the closed WebSocket's socket to close")
  end)

  it("leaves no task behind", function()
    collectgarbage()
    collectgarbage()
    assert.equals(0, core.stats().tasks)
  end)
end)
