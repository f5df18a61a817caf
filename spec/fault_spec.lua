-- The fault-injecting peer (spec/peers/fault_peer.py) between the client and
-- nginx cuts each response at a byte offset, with a FIN or a RST, or stalls
-- there. For every cut: the request succeeds (the cut came after the whole
-- response) or fails with an error kind the contract allows at that point;
-- the pool serves the next request; no fd is left open.
--
-- Offsets: every byte of the HTTP/1.1 and h2c exchanges; every
-- CHC_FAULT_STRIDE-th (default 11) of the TLS one, whose handshake is
-- longer. CHC_FAULT_FULL=1 makes the TLS stride 1 as well (not in CI).
-- Stalls are checked at a few offsets (each waits for the read timeout).
--
-- Also the framing decision (docs/API.md, "Ambiguous framing"): responses
-- with Content-Length and Transfer-Encoding together, or two different
-- Content-Lengths, fail with RemoteProtocolError and their connection is
-- never reused, so nothing hidden behind them is taken for a response.
local H = require "helper"
local http = require "c_http_core"

local FULL = os.getenv("CHC_FAULT_FULL") == "1"
local TLS_STRIDE = FULL and 1 or tonumber(os.getenv("CHC_FAULT_STRIDE") or "") or 11
local MAX_OFFSET = 20000 -- a bound: every exchange here is far shorter

local F
setup(function() F = H.fault_start() end)
teardown(function() if F then F.stop() end end)

local kind_in = H.kind_in

-- Cuts the exchange with `target` at 0, stride, 2*stride, ... until a request
-- gets the whole response; returns the number of cuts tried. Each cut gets
-- a new pool (the proxy picks the cut when a connection opens), whose next
-- request, relayed whole, must then work.
local function sweep(new_pool, url, target, stride, kinds, expect_body)
  local fd0 = H.fd_count()
  local n, done = 0, false
  local cut = 0
  while not done and cut <= MAX_OFFSET do
    for _, how in ipairs({ "fin", "rst" }) do
      F.set(target, cut, how)
      local pool = new_pool()
      local r, err = pool:request("GET", url)
      local why = ("cut %s at byte %d: %s"):format(how, cut, tostring(err))
      if r then
        local body, berr = r:read()
        r:close()
        if body == expect_body then
          done = true
        else
          assert(kind_in(berr, kinds), why .. " / body: " .. tostring(berr))
        end
      else
        assert(kind_in(err, kinds), why)
      end
      n = n + 1
      -- the pool is usable afterwards: the same pool, through the proxy
      -- relaying everything
      F.set(target, -1)
      local ok = assert(pool:request("GET", url), "after " .. why)
      assert.equals(expect_body, ok:read(), "after " .. why)
      pool:close()
    end
    cut = cut + stride
  end
  assert.is_true(done, "no cut below " .. MAX_OFFSET .. " let the response through")
  collectgarbage()
  collectgarbage()
  H.wait_until(function() return H.fd_count() <= fd0 end, 5, "fds closed")
  if os.getenv("CHC_FAULT_VERBOSE") then
    io.stderr:write(("%s: %d cuts up to byte %d\n"):format(url, n, cut - stride))
  end
  return n
end

local small = "Hello, World!"
local NET = { "RemoteProtocolError", "ReadError" }

describe("a peer that cuts the connection at every byte", function()
  after_each(H.check_clean)

  it("HTTP/1.1: each cut is a protocol or read error, or the whole response", function()
    local n = sweep(function() return http.Pool{ timeout = 10 } end,
                    F.url .. "/small", H.nginx_port, 1, NET, small)
    assert.is_true(n > 100)
  end)

  it("HTTP/2 (h2c): each cut is a protocol or read error, or the whole response", function()
    local port = tonumber(H.nginx_h2c:match(":(%d+)$"))
    local n = sweep(function()
                      return http.Pool{ http1 = false, http2 = true, timeout = 10 }
                    end, F.url .. "/small", port, 1, NET, small)
    assert.is_true(n > 50)
  end)

  it("TLS: each cut is a connect, TLS, protocol or read error, or the response", function()
    local function pool()
      return http.Pool{ timeout = 10, tls = { ca_file = H.tls_dir .. "/ca.pem" } }
    end
    -- the request is written after the handshake, so a RST can beat it
    -- there: WriteError (the request could not be sent) is right too
    local n = sweep(pool, F.tls_url .. "/small", H.tls_port, TLS_STRIDE,
                    { "ConnectError", "TLSError", "RemoteProtocolError", "ReadError",
                      "WriteError" }, small)
    assert.is_true(n > 20)
  end)

  it("a stall anywhere ends in a timeout, and the pool carries on", function()
    local fd0 = H.fd_count()
    for _, cut in ipairs({ 0, 1, 17, 60, 150 }) do
      local pool = http.Pool{ timeout = { connect = 0.5, read = 0.3 } }
      F.set(H.nginx_port, cut, "stall")
      local elapsed, r, err = H.timed(pool.request, pool, "GET", F.url .. "/small")
      if r then r, err = r:read() end
      assert(http.is_error(err, "ReadTimeout"), cut .. ": " .. tostring(err))
      assert.is_true(elapsed < 0.3 + H.slack, "stalled too long")
      F.set(H.nginx_port, -1)
      assert.equals(small, assert(pool:request("GET", F.url .. "/small")):read())
      pool:close()
    end
    collectgarbage()
    H.wait_until(function() return H.fd_count() <= fd0 end, 5, "fds closed")
  end)
end)

describe("responses with ambiguous framing", function()
  after_each(H.check_clean)

  for _, name in ipairs({ "cl-te", "te-cl", "dup-cl", "cl-list" }) do
    it(name .. " fails and never desynchronises the kept-alive connection", function()
      local pool = http.Pool{ timeout = 10 }
      F.reset()
      F.canned(name)
      local r, err = pool:request("GET", F.url .. "/a")
      if r then r, err = r:read() end
      assert.is_nil(r)
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
      -- the next request gets its own answer on a new connection, never the
      -- response the ambiguous one was hiding
      local ok = assert(pool:request("GET", F.url .. "/b"))
      assert.equals("ok", ok:read())
      assert.equals(2, F.stats().conns)
      pool:close()
    end)
  end

  it("Transfer-Encoding without chunked last reads to the close, no reuse", function()
    local pool = http.Pool{ timeout = 10 }
    F.reset()
    F.canned("te-not-chunked")
    local r = assert(pool:request("GET", F.url .. "/a"))
    -- RFC 9112 6.3: the body is everything until the server closes; this
    -- peer keeps the connection open, so reading it to the end would wait:
    -- what matters is that the connection is not reused
    r:close()
    local ok = assert(pool:request("GET", F.url .. "/b"))
    assert.equals("ok", ok:read())
    assert.equals(2, F.stats().conns)
    pool:close()
  end)
end)
