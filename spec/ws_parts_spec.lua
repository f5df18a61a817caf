-- WebSocket messages too big to hold whole (issue 11, W9's memory): a
-- message sent from an iterator (`ws:send(fn, kind)`, a frame per part)
-- and received in parts (`ws:receive_part(size)`), against the npm `ws`
-- and python3-websockets echo servers on loopback (spec/peers/ws_peers.sh).
-- tests/c/test_ws.c ("parts") feeds the engine's parts mode at every split.
local H = require "helper"
local http = require "c_http_core"

local P
local open, echo_once = H.ws_open, H.ws_echo_once
-- (receive_part waits with no timeout of its own: a lost part would hang)
local within = H.within

local parts, receive_parts = H.ws_parts, H.ws_receive_parts

describe("WebSocket messages in parts", function()
  setup(function() P = H.ws_peers() end)
  teardown(function()
    if P then P.stop() end
    collectgarbage()
  end)

  it("sends a 6 MiB message from an iterator and receives it in parts of "
     .. "at least the size asked", within(20, function()
    local ws = open(P.node .. "/", { compress = false,
                                      max_message = 8 * 1024 * 1024 })
    local chunk = H.pattern(1024 * 1024)
    assert.is_true(ws:send(parts(6, function(i)
      return chunk:sub(1, -2) .. string.char(48 + i)
    end), "binary"))
    local got, kind = receive_parts(ws, 256 * 1024)
    assert.equals("binary", kind)
    for i = 1, #got - 1 do
      assert.truthy(#got[i] >= 256 * 1024, ("part %d: %d bytes"):format(i, #got[i]))
    end
    local all = table.concat(got)
    assert.equals(6 * 1024 * 1024, #all)
    for i = 1, 6 do
      assert.equals(string.char(48 + i), all:sub(i * 1024 * 1024, i * 1024 * 1024))
    end
    -- whole messages again on the same WebSocket
    echo_once(ws, "after the parts")
    ws:close()
  end))

  it("carries a compressed text message in parts; the UTF-8 may split "
     .. "across parts but the whole is intact", within(20, function()
    local ws = open(P.node .. "/")
    assert.matches("permessage%-deflate", ws.extensions)
    local unit = ("héllo wörld € 😀 "):rep(1000)
    -- iterator parts cut inside multi-byte sequences on purpose
    local text = unit:rep(20)
    local step = 7777
    local at = 1
    assert.is_true(ws:send(function()
      if at > #text then return nil end
      local p = text:sub(at, at + step - 1)
      at = at + step
      return p
    end))
    local got, kind = receive_parts(ws, 10000)
    assert.equals("text", kind)
    assert.truthy(#got > 1)
    assert.equals(text, table.concat(got))
    ws:close()
  end))

  it("gives the rest of a message to receive() after some parts", within(20, function()
    local ws = open(P.node .. "/", { compress = false })
    local msg = H.pattern(3 * 1024 * 1024)
    assert.is_true(ws:send(msg, "binary"))
    local first, kind, last = ws:receive_part(64 * 1024)
    assert.equals("binary", kind)
    assert.is_false(last)
    assert.truthy(#first >= 64 * 1024)
    local rest = assert(ws:receive())
    assert.equals(msg, first .. rest)
    ws:close()
  end))

  it("sends a file as one message with f:lines(65536)", function()
    local path = os.tmpname()
    local data = H.pattern(300000)
    local f = assert(io.open(path, "wb"))
    f:write(data)
    f:close()
    f = assert(io.open(path, "rb"))
    local ws = open(P.node .. "/", { compress = false })
    assert.is_true(ws:send(f:lines(65536), "binary"))
    f:close()
    os.remove(path)
    local got, kind = ws:receive()
    assert.equals("binary", kind)
    assert.equals(data, got)
    ws:close()
  end)

  it("examples/ws_file.lua sends a file and writes the echo, in parts",
     function()
    local inp, outp = H.tmpname("ws_file_in"), H.tmpname("ws_file_out")
    local data = H.pattern(3 * 1024 * 1024 + 123)
    local f = assert(io.open(inp, "wb"))
    f:write(data)
    f:close()
    local p = io.popen(("%s examples/ws_file.lua %s %s %s 2>&1")
                       :format(os.getenv("LUA") or "lua5.4", H.q(P.node .. "/"),
                               H.q(inp), H.q(outp)))
    local said = p:read("a")
    p:close()
    assert.matches("received 3145851 bytes in 4 parts", said)
    f = assert(io.open(outp, "rb"))
    local got = f:read("a")
    f:close()
    os.remove(inp)
    os.remove(outp)
    assert.equals(data, got)
  end)

  it("an iterator of one part or none sends one message", function()
    local ws = open(P.py .. "/echo")
    assert.is_true(ws:send(parts(1, function() return "solo" end)))
    assert.equals("solo", (ws:receive()))
    assert.is_true(ws:send(parts(0), "binary"))
    local got, kind = ws:receive()
    assert.equals("", got)
    assert.equals("binary", kind)
    ws:close()
  end)

  it("an iterator that fails mid-message drops the WebSocket (an "
     .. "unfinished message cannot be ended) and raises its error", function()
    local ws = open(P.py .. "/echo")
    assert.has_error(function()
      ws:send(parts(3, function(i)
        if i == 3 then error("source broke", 0) end
        return "part" .. i
      end))
    end, "source broke")
    local ok, err = ws:send("next")
    assert.is_nil(ok)
    assert.equals("Closed", err.kind)
    -- failing before any part went out leaves the WebSocket usable
    local ws2 = open(P.py .. "/echo")
    assert.has_error(function()
      ws2:send(function() error("nothing yet", 0) end)
    end, "nothing yet")
    echo_once(ws2, "still open")
    ws2:close()
  end)

  it("raises on a part that is not a string, and on bad arguments",
     function()
    local ws = open(P.py .. "/echo")
    assert.has_error(function()
      ws:send(parts(2, function(i) return i == 1 and "a" or 42 end))
    end, "send: the iterator gave a number, not a string")
    assert.equals("Closed", select(2, ws:send("x")).kind)
    local ws2 = open(P.py .. "/echo")
    assert.has_error(function() ws2:send({}) end,
                     "send expects a string or an iterator function, got table")
    assert.has_error(function() ws2:receive_part(0) end,
                     "receive_part: size must be a positive integer, got 0")
    assert.has_error(function() ws2:receive_part(1.5) end,
                     "receive_part: size must be a positive integer, got 1.5")
    ws2:close()
  end)

  it("an invalid UTF-8 part of a text message raises and drops the "
     .. "WebSocket", function()
    local ws = open(P.py .. "/echo")
    assert.has_error(function()
      ws:send(parts(3, function(i) return i == 2 and "\xff" or "ok" end))
    end)
    assert.equals("Closed", select(2, ws:send("x")).kind)
  end)

  it("keeps other tasks' messages out of a message sent in parts", function()
    http.run(function()
      local ws = open(P.node .. "/", { compress = false })
      local big = ("A"):rep(200 * 1024)
      local got = {}
      local r = http.spawn(function()
        for _ = 1, 11 do got[#got + 1] = ws:receive() end
      end)
      local s1 = http.spawn(function()
        assert(ws:send(parts(10, function()
          http.sleep(0.005) -- the other task gets to run between parts
          return big
        end), "binary"))
      end)
      local s2 = http.spawn(function()
        for i = 1, 10 do assert(ws:send("small " .. i)) end
      end)
      s1:join(); s2:join(); r:join()
      assert.equals(11, #got)
      local smalls, bigs = 0, 0
      for _, m in ipairs(got) do
        if m:sub(1, 1) == "A" then
          bigs = bigs + 1
          assert.equals(10 * #big, #m)
          assert.equals(big:rep(10), m)
        else
          smalls = smalls + 1
          assert.matches("^small %d+$", m)
        end
      end
      assert.equals(1, bigs)
      assert.equals(10, smalls)
      ws:close()
    end)
  end)

  it("counts max_message over the whole message, not each part", within(20, function()
    -- compressed, the echo's one frame is small: the inflated message,
    -- handed out in parts of 10,000, passes the limit
    local ws = open(P.node .. "/", { max_message = 100000 })
    assert.matches("permessage%-deflate", ws.extensions)
    assert.is_true(ws:send(("x"):rep(150000), "binary"))
    local total, err
    for _ = 1, 100 do
      local part, e = ws:receive_part(10000)
      if not part then err = e break end
      total = (total or 0) + #part
    end
    assert.truthy(err)
    assert.equals("RemoteProtocolError", err.kind)
    assert.matches("max_message", err.message)
    assert.truthy(total and total >= 90000 and total <= 100000, tostring(total))
  end))
end)
