-- The end of a keep-alive exchange on plain HTTP/1.1 costs no read() that
-- meets EAGAIN: a read that did not fill the buffer emptied the socket
-- (conn_recv). These specs keep the case that shortcut must not miss: the
-- server's FIN already queued behind the last byte of the response when
-- the loop sees the edge (EPOLLRDHUP). The connection must then be seen
-- closed, so a request that is never replayed (POST) goes on a new one.
local H = require "helper"
local http = require "c_http_core"

describe("keep-alive: a FIN right behind the last byte", function()
  after_each(H.check_clean)

  it("closes the connection, and a POST after it goes on a new one", function()
    local loop = http.loop()
    local pool = http.Pool{ keepalive_expiry = 60, timeout = 10 }
    local open0 = H.stats_reset().open
    -- one idle connection
    assert.equals("hello", assert(pool:request("GET", H.raw .. "/hello")):read())
    assert.equals(1, pool:stats().idle)
    local body, err
    local t = http.spawn(function()
      local r, e = pool:request("GET", H.raw .. "/keepalive-drop")
      if not r then err = e return end
      body, err = r:read()
    end)
    -- one step runs the task: it writes the request on the idle connection
    assert(loop:step(0))
    -- without running the loop, wait until the server answered and closed
    -- (its count drops when it has sent the FIN): the response and the FIN
    -- are both in our socket when the loop next looks at it
    assert.equals(open0, H.stats{ wait_open = open0 }.open)
    t:join()
    assert.equals("ok", body, tostring(err))
    assert.equals(0, pool:stats().idle, "the closed connection was kept")
    local r, e = pool:request("POST", H.raw .. "/hello", { body = "payload" })
    assert.is_truthy(r, tostring(e))
    assert.equals("hello", r:read())
    local st = H.stats()
    assert.equals(2, st.accepted, "connections the server accepted")
    pool:close()
  end)

  it("keeps a connection whose server stays, with no read per response", function()
    local pool = http.Pool{ max_connections = 1, keepalive_expiry = 60, timeout = 10 }
    H.stats_reset()
    for i = 1, 50 do
      assert.equals("hello", assert(pool:request("GET", H.raw .. "/hello")):read(), i)
    end
    assert.equals(1, H.stats().accepted)
    assert.equals(1, pool:stats().idle)
    pool:close()
  end)
end)
