-- HTTP/1.1 against real peers: nginx and the scripted raw peer.
local H = require "helper"
local http = require "c_http_core"

local check_clean = H.check_clean

describe("HTTP/1.1 basics", function()
  after_each(check_clean)

  it("GETs from nginx from a plain main chunk", function()
    local resp = assert(http.request("GET", H.nginx .. "/small"))
    assert.equals(200, resp.status)
    assert.equals("OK", resp.reason)
    assert.equals("HTTP/1.1", resp.version)
    assert.equals("Hello, World!", resp:read())
    assert.is_truthy(resp.headers:get("content-length"))
    assert.equals(resp.headers:get("Content-Length"), resp.headers:get("CONTENT-LENGTH"))
    resp:close()
  end)

  it("keeps headers in order with duplicates", function()
    local resp = assert(http.request("GET", H.raw .. "/echo-head",
      { headers = { { "X-A", "1" }, { "X-B", "2" }, { "X-A", "3" } } }))
    local head = resp:read()
    local a1 = head:find("X-A: 1\r\n", 1, true)
    local b = head:find("X-B: 2\r\n", 1, true)
    local a3 = head:find("X-A: 3\r\n", 1, true)
    assert.is_truthy(a1 and b and a3)
    assert.is_true(a1 < b and b < a3)
    assert.is_truthy(head:find("^GET /echo%-head HTTP/1%.1\r\n"))
    assert.is_truthy(head:find("\r\nHost: 127%.0%.0%.1:" .. H.raw_port .. "\r\n"))
  end)

  it("lets a caller's Host header win", function()
    local resp = assert(http.request("GET", H.raw .. "/echo-head",
      { headers = { Host = "example.test" } }))
    local head = resp:read()
    assert.is_truthy(head:find("\r\nHost: example.test\r\n", 1, true))
    local _, n = head:gsub("\r\n[Hh]ost:", "")
    assert.equals(1, n)
  end)

  it("sends Content-Length for string bodies", function()
    local resp = assert(http.request("POST", H.raw .. "/echo-head", { body = "hello" }))
    local head = resp:read()
    assert.is_truthy(head:find("\r\nContent-Length: 5\r\n", 1, true))
  end)

  it("sends Content-Length: 0 for an empty POST", function()
    local resp = assert(http.request("POST", H.raw .. "/echo-head"))
    assert.is_truthy(resp:read():find("\r\nContent-Length: 0\r\n", 1, true))
  end)

  it("reports status codes and empty bodies (204, 304, 404, 500)", function()
    for _, code in ipairs({ 204, 304, 404, 500 }) do
      local resp = assert(http.request("GET", H.raw .. "/status/" .. code))
      assert.equals(code, resp.status)
      assert.equals("", resp:read())
    end
  end)

  it("reads no body for HEAD even with a Content-Length", function()
    local resp = assert(http.request("HEAD", H.raw .. "/head-cl"))
    assert.equals("1000", resp.headers:get("content-length"))
    assert.equals("", resp:read())
    -- the connection is still good for a GET afterwards
    local r2 = assert(http.request("GET", H.raw .. "/head-cl"))
    assert.equals(1000, #r2:read())
  end)

  it("decodes chunked bodies and exposes trailers after the end", function()
    local resp = assert(http.request("GET", H.raw .. "/trailers"))
    assert.is_nil(resp.trailers)
    local body = resp:read()
    assert.is_true(#body > 0)
    assert.is_truthy(resp.trailers)
    assert.equals("abc", resp.trailers:get("x-checksum"))
    assert.equals("2", resp.trailers:get("X-Trailer-Two"))
  end)

  it("decodes chunked bodies with extensions", function()
    local resp = assert(http.request("GET", H.raw .. "/chunked"))
    assert.equals("hello world", resp:read())
    assert.is_nil(resp.trailers)
  end)

  it("reads a body delimited by the connection close", function()
    local resp = assert(http.request("GET", H.raw .. "/close-delimited"))
    assert.equals("until close", resp:read())
  end)

  it("understands HTTP/1.0 responses", function()
    local resp = assert(http.request("GET", H.raw .. "/http10"))
    assert.equals("HTTP/1.0", resp.version)
    assert.equals("one-oh", resp:read())
  end)

  it("skips 1xx responses", function()
    local resp = assert(http.request("GET", H.raw .. "/early-hints"))
    assert.equals(200, resp.status)
    assert.equals("final", resp:read())
    local resp2 = assert(http.request("POST", H.raw .. "/continue",
      { body = string.rep("x", 1000), headers = { Expect = "100-continue" } }))
    assert.equals(200, resp2.status)
    assert.is_truthy(resp2:read():find("1000", 1, true))
  end)

  it("iterates over body chunks", function()
    local resp = assert(http.request("GET", H.nginx .. "/1m"))
    local n, parts = 0, {}
    for chunk in resp:iter() do
      assert.is_true(#chunk > 0, "an empty chunk")
      n = n + #chunk
      parts[#parts + 1] = chunk
    end
    assert.equals(1024 * 1024, n)
    -- 1 MiB does not fit one read: the iterator really hands out pieces
    assert.is_true(#parts > 1, "one chunk of " .. n .. " bytes")
    assert.equals(H.www_sha256("1m"), H.sha256(table.concat(parts)))
  end)

  it("reuses a keep-alive connection", function()
    local pool = http.Pool{}
    local ids = {}
    for i = 1, 5 do
      local resp = assert(pool:request("GET", H.raw .. "/conn-id"))
      ids[i] = resp:read()
    end
    for i = 2, 5 do assert.equals(ids[1], ids[i]) end
    pool:close()
  end)

  it("supports <close> responses and idempotent close", function()
    local outer
    do
      local resp <close> = assert(http.request("GET", H.nginx .. "/64k"))
      assert.equals(200, resp.status)
      outer = resp
    end
    -- leaving the block closed it: nothing more can be read
    local b, e = outer:read()
    assert.is_nil(b)
    assert.is_true(http.is_error(e, "Closed"), tostring(e))
    local resp = assert(http.request("GET", H.nginx .. "/small"))
    resp:close()
    resp:close()
    local body, err = resp:read()
    assert.is_nil(body)
    assert.is_true(http.is_error(err, "Closed"))
  end)

  it("talks to IPv6 loopback", function()
    if not H.ipv6 then pending("no ::1 here") return end
    local resp = assert(http.request("GET", H.nginx6 .. "/small"))
    assert.equals("Hello, World!", resp:read())
  end)

  it("resolves localhost through the resolver", function()
    local resp = assert(http.request("GET", "http://localhost:" .. H.nginx_port .. "/small"))
    assert.equals("Hello, World!", resp:read())
  end)

  it("connects through a Unix socket", function()
    local path = H.tmpname("uds")
    local sock = io.popen("exec /usr/bin/python3 -c " .. H.q([[
import socket, sys, os
p = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(p); s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
data = b""
while b"\r\n\r\n" not in data:
    data += c.recv(4096)
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nuds")
c.close()
]]) .. " " .. H.q(path), "r")
    assert.equals("ready", sock:read("l"))
    local pool = http.Pool{ uds = path }
    local resp = assert(pool:request("GET", "http://anything.test/x"))
    assert.equals("uds", resp:read())
    pool:close()
    sock:close()
  end)
end)

describe("HTTP/1.1 errors", function()
  after_each(check_clean)

  local function fails(kind, url, opts, method)
    local resp, err = http.request(method or "GET", url, opts)
    if resp then
      local body
      body, err = resp:read()
      assert.is_nil(body, "expected " .. kind .. ", got a body")
    end
    assert.is_truthy(err, "expected an error")
    assert.is_true(http.is_error(err, kind), "expected " .. kind .. ", got " .. tostring(err))
    assert.is_truthy(#err.message > 10)
    return err
  end

  it("refuses CR/LF in header values before sending", function()
    local st0 = H.stats()
    -- the public API treats it as misuse and raises
    assert.has_error(function()
      http.request("GET", H.raw .. "/hello",
        { headers = { { "X-Evil", "a\r\nInjected: yes" } } })
    end)
    assert.has_error(function()
      http.request("GET", H.raw .. "/hello", { headers = { { "X-Ev\nil", "a" } } })
    end)
    -- the C core refuses it too (for C users and edited Headers objects)
    local core = require "c_http_core.core"
    local pool = core.Pool{}
    local resp, err = pool:request("GET", "http", "127.0.0.1", H.raw_port, "/hello",
      { { "X-Evil", "a\r\nInjected: yes" } })
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "LocalProtocolError"))
    resp, err = pool:request("GE T", "http", "127.0.0.1", H.raw_port, "/hello")
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "LocalProtocolError"))
    pool:close()
    assert.equals(st0.accepted, H.stats().accepted)
  end)

  it("refuses an invalid method token (raises)", function()
    assert.has_error(function() http.request("GE T", H.raw .. "/hello") end)
  end)

  it("gives UnsupportedProtocol for other schemes", function()
    local resp, err = http.request("GET", "ftp://127.0.0.1/x")
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "UnsupportedProtocol"))
  end)

  it("gives ConnectError for a refused connection", function()
    -- a port nobody listens on: bind one, close it
    local port = tonumber((H.sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'")))
    local err = fails("ConnectError", "http://127.0.0.1:" .. port .. "/")
    assert.is_true(http.is_error(err, "NetworkError"))
    assert.is_truthy(err.message:find("127.0.0.1:" .. port, 1, true))
  end)

  it("gives ConnectError for a name that does not resolve", function()
    local err = fails("ConnectError", "http://no-such-host.invalid/")
    assert.is_truthy(err.message:find("no-such-host.invalid", 1, true))
  end)

  it("rejects a malformed status line", function()
    fails("RemoteProtocolError", H.raw .. "/bad-status")
  end)

  it("rejects garbage", function()
    fails("RemoteProtocolError", H.raw .. "/garbage")
  end)

  it("rejects a bad chunk size", function()
    fails("RemoteProtocolError", H.raw .. "/bad-chunk")
  end)

  it("reports a truncated Content-Length body", function()
    local err = fails("RemoteProtocolError", H.raw .. "/truncated")
    assert.is_truthy(err.message:find("closed", 1, true))
  end)

  it("reports a truncated chunked body", function()
    fails("RemoteProtocolError", H.raw .. "/truncated-chunked")
  end)

  it("limits the response head (default 64 KiB)", function()
    local err = fails("RemoteProtocolError", H.raw .. "/huge-head?n=200000")
    assert.is_truthy(err.message:find("65536", 1, true))
  end)

  it("limits the response head to max_header_size", function()
    local pool = http.Pool{ max_header_size = 4096 }
    local resp, err = pool:request("GET", H.raw .. "/huge-head?n=8000")
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "RemoteProtocolError"))
    -- and the pool still works
    local ok = assert(pool:request("GET", H.raw .. "/hello"))
    assert.equals("hello", ok:read())
    pool:close()
  end)

  it("times out waiting for a head (ReadTimeout, timed)", function()
    local elapsed, err = H.timed(fails, "ReadTimeout", H.raw .. "/stall-head",
      { timeout = { read = 0.5, connect = 10, write = 10, pool = 10 } })
    assert.is_true(http.is_error(err, "TimeoutError"))
    H.assert_window(elapsed, 0.5, "the read timeout before the head")
  end)

  it("times out sending to a server that stops reading (WriteTimeout, timed)", function()
    local piece = string.rep("w", 256 * 1024)
    local elapsed, resp, err = H.timed(function()
      local r, e = http.request("POST", H.raw .. "/no-read", {
        body = function() return piece end, -- endless: only the timeout ends it
        timeout = { write = 0.5, read = 10, connect = 10 },
      })
      if r then r, e = r:read() end
      return r, e
    end)
    assert.is_nil(resp)
    assert.is_true(http.is_error(err, "WriteTimeout"), tostring(err))
    assert.is_true(http.is_error(err, "TimeoutError"))
    -- the socket buffers fill within milliseconds, then the wait starts
    H.assert_window(elapsed, 0.5, "the write timeout")
  end)

  it("times out a body that stops mid-way, never a clean end (ReadTimeout, timed)", function()
    local resp = assert(http.request("GET", H.raw .. "/stall-body",
      { timeout = { read = 0.5 } }))
    local it = resp:iter()
    assert.equals(H.pattern(10), it())
    local elapsed, ok, e = H.timed(pcall, function()
      for _ in it do end
    end)
    assert.is_false(ok)
    assert.is_true(http.is_error(e, "ReadTimeout"), tostring(e))
    H.assert_window(elapsed, 0.5, "the read timeout mid-body")
    local body, err = resp:read()
    assert.is_nil(body)
    assert.is_truthy(err)
  end)

  it("times out a connect that is never answered (ConnectTimeout, timed)", function()
    -- a listener whose accept queue is full and that never accepts: the
    -- kernel drops further SYNs, so a connect neither succeeds nor fails
    local srv = io.popen("exec /usr/bin/python3 -c " .. H.q([[
import os, socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(0)
fill = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.2)
print(s.getsockname()[1], os.getpid(), flush=True)
time.sleep(60)
]]), "r")
    local port, pid = srv:read("n", "n")
    assert(port and pid, "the listener did not start")
    finally(function()
      os.execute("kill " .. math.tointeger(pid))
      srv:close()
    end)
    local elapsed, err = H.timed(fails, "ConnectTimeout", "http://127.0.0.1:" .. port .. "/",
      { timeout = { connect = 0.5, read = 10 } })
    assert.is_true(http.is_error(err, "TimeoutError"))
    H.assert_window(elapsed, 0.5, "the connect timeout")
  end)

  it("keeps the pool healthy after peer errors", function()
    local pool = http.Pool{ max_connections = 2 }
    for _, path in ipairs({ "/bad-status", "/garbage", "/bad-chunk", "/truncated" }) do
      local r, err = pool:request("GET", H.raw .. path)
      if r then _, err = r:read() end
      assert.is_truthy(err)
    end
    local r = assert(pool:request("GET", H.raw .. "/hello"))
    assert.equals("hello", r:read())
    pool:close()
  end)
end)
