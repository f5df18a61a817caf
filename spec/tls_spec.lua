-- HTTPS (issue 4): verification, client certificates, ALPN, resumption,
-- close_notify, and TLS under the transport's streaming and keep-alive.
--
-- Peers: nginx's TLS servers (spec/peers/nginx-tls.conf.in) and, for what
-- nginx cannot play (a stalled handshake, bodies read until close, a
-- handshake that demands a client certificate, a slow uploader),
-- spec/peers/tls_peer.py, started here. Certificates: a private CA made at
-- test time (spec/peers/certs.sh).
local H = require "helper"
local http = require "c_http_core"
local core = require "c_http_core.core"

local MiB = 1024 * 1024

local function check_clean()
  collectgarbage()
  collectgarbage()
  assert.equals(0, core.stats().tasks, "tasks left behind")
end

local function cert(name) return H.tls_dir .. "/" .. name end

-- a pool that trusts the test CA
local function ca_pool(extra)
  local tls = { ca_file = cert("ca.pem") }
  local o = { tls = tls }
  for k, v in pairs(extra or {}) do
    if k == "tls" then
      for tk, tv in pairs(v) do tls[tk] = tv end
    else
      o[k] = v
    end
  end
  return http.Pool(o)
end

-- "https://127.0.0.1:PORT" -> "https://localhost:PORT"
local function by_name(url) return (url:gsub("127%.0%.0%.1", "localhost")) end

-- GET -> status, headers, body; asserts success
local function get(pool, url)
  local resp, err = pool:request("GET", url)
  assert(resp, tostring(err))
  local body = assert(resp:read())
  return resp.status, resp.headers, body
end

-- GET that must fail: returns the error
local function get_err(pool, url)
  local resp, err = pool:request("GET", url)
  if resp then resp, err = resp:read() end
  assert.is_nil(resp, "request to " .. url .. " succeeded")
  return err
end

local function assert_tls_error(err, pattern)
  assert.is_true(http.is_error(err, "TLSError"), tostring(err))
  assert.is_true(http.is_error(err, "ConnectError"), tostring(err))
  if pattern then
    assert.is_truthy(tostring(err):find(pattern), tostring(err))
  end
end

-- {==================================================================
-- The Python TLS peer: one per file, killed in teardown.

local peer = {}

local function start_peer()
  local ready = H.tmpname("tls_peer")
  local cmd = ("env -u LD_PRELOAD /usr/bin/python3 spec/peers/tls_peer.py " ..
               "--certs %s --ready-file %s >%s 2>&1 &"):format(
                 H.q(H.tls_dir), H.q(ready), H.q(ready .. ".log"))
  assert(os.execute(cmd))
  local deadline = core.now() + 10
  while core.now() < deadline do
    local f = io.open(ready, "r")
    if f then
      local line = f:read("l")
      f:close()
      local pid, https, stall, cc = line:match("^(%d+) (%d+) (%d+) (%d+)")
      if pid then
        peer.pid = tonumber(pid)
        peer.https = "https://127.0.0.1:" .. https
        peer.stall = "https://127.0.0.1:" .. stall
        peer.clientcert = "https://127.0.0.1:" .. cc
        return
      end
    end
    http.sleep(0.05)
  end
  error("tls_peer.py did not start (see " .. ready .. ".log)")
end

local function stop_peer()
  if peer.pid then os.execute("kill " .. peer.pid .. " 2>/dev/null") end
  peer.pid = nil
end
-- }==================================================================

describe("https", function()
  setup(function()
    assert(H.tls and H.tls_dir,
           "TLS peers not configured (run through spec/run.sh)")
    start_peer()
  end)
  teardown(stop_peer)
  after_each(check_clean)

  describe("verification", function()
    it("succeeds with the CA given as ca_file", function()
      local pool = ca_pool()
      local status, hdrs, body = get(pool, H.tls .. "/headers")
      assert.equals(200, status)
      assert.equals("ok", body)
      assert.equals("TLSv1.2", hdrs:get("x-tls-protocol"))
      local _, _, small = get(pool, by_name(H.tls) .. "/small")
      assert.equals("Hello, World!", small)
      pool:close()
    end)

    it("rejects the private CA under default verification", function()
      local pool = http.Pool{}
      local err = get_err(pool, H.tls .. "/small")
      assert_tls_error(err, "not trusted")
      pool:close()
    end)

    it("rejects a certificate for another host name", function()
      local pool = ca_pool()
      local err = get_err(pool, by_name(H.tls_wrong) .. "/")
      assert_tls_error(err, "name mismatch")
      assert.is_truthy(tostring(err):find("'localhost'", 1, true))
      pool:close()
    end)

    it("checks server_name instead of the URL's host", function()
      -- the wrong.test certificate is right for server_name = wrong.test
      local pool = ca_pool{ tls = { server_name = "wrong.test" } }
      local status, _, body = get(pool, by_name(H.tls_wrong) .. "/")
      assert.equals(200, status)
      assert.equals("wrong", body)
      -- and the main certificate (localhost) is not
      local err = get_err(pool, by_name(H.tls) .. "/small")
      assert_tls_error(err, "name mismatch")
      assert.is_truthy(tostring(err):find("'wrong.test'", 1, true))
      pool:close()
    end)

    it("rejects an expired certificate", function()
      local pool = ca_pool()
      local err = get_err(pool, by_name(H.tls_expired) .. "/")
      assert_tls_error(err, "expired")
      pool:close()
    end)

    it("trusts nothing more than ca_file", function()
      local pool = http.Pool{ tls = { ca_file = cert("other-ca.pem") } }
      assert_tls_error(get_err(pool, H.tls .. "/small"), "not trusted")
      pool:close()
    end)

    it("skips every check with verify = false", function()
      local pool = http.Pool{ tls = { verify = false } }
      for _, url in ipairs({ H.tls .. "/small", by_name(H.tls_wrong) .. "/",
                             by_name(H.tls_expired) .. "/",
                             H.tls_noip .. "/" }) do
        local status = get(pool, url)
        assert.equals(200, status)
      end
      pool:close()
    end)
  end)

  describe("IP addresses", function()
    it("accepts a certificate whose IP SAN is the URL's address", function()
      local pool = ca_pool()
      local status, _, body = get(pool, H.tls_iponly .. "/")
      assert.equals(200, status)
      assert.equals("iponly", body)
      -- that certificate names no host: by name it is a mismatch
      assert_tls_error(get_err(pool, by_name(H.tls_iponly) .. "/"),
                       "name mismatch")
      pool:close()
    end)

    it("rejects a certificate without that IP SAN (CN and DNS do not count)",
       function()
      local pool = ca_pool()
      local err = get_err(pool, H.tls_noip .. "/")
      assert_tls_error(err, "no IP address entry for 127%.0%.0%.1")
      -- the same certificate is fine by name
      local status = get(pool, by_name(H.tls_noip) .. "/")
      assert.equals(200, status)
      pool:close()
    end)

    it("checks IPv6 addresses too", function()
      if not H.tls6 then return pending("no ::1 on this machine") end
      local pool = ca_pool()
      local status = get(pool, H.tls6 .. "/headers")
      assert.equals(200, status)
      pool:close()
    end)

    it("sends SNI for host names, not for IP literals", function()
      local pool = ca_pool()
      local _, by_ip = get(pool, H.tls .. "/headers")
      assert.equals("", by_ip:get("x-tls-sni") or "")
      local _, named = get(pool, by_name(H.tls) .. "/headers")
      assert.equals("localhost", named:get("x-tls-sni"))
      pool:close()
    end)
  end)

  describe("client certificates", function()
    it("are sent when configured, and refused by nginx when missing",
       function()
      local without = ca_pool()
      local status, _, body = get(without, by_name(H.tls_client) .. "/")
      assert.equals(400, status)
      assert.is_truthy(body:find("No required SSL certificate", 1, true))
      without:close()

      local with = ca_pool{ tls = { cert_file = cert("client.pem"),
                                    key_file = cert("client.key") } }
      local status2, hdrs, dn = get(with, by_name(H.tls_client) .. "/")
      assert.equals(200, status2)
      assert.equals("SUCCESS", hdrs:get("x-tls-client-verify"))
      assert.is_truthy(dn:find("CN=test client", 1, true))
      with:close()
    end)

    it("fail the handshake where the server demands one", function()
      local without = ca_pool()
      assert_tls_error(get_err(without, peer.clientcert .. "/"), "alert")
      without:close()
      local with = ca_pool{ tls = { cert_file = cert("client.pem"),
                                    key_file = cert("client.key") } }
      local status, _, body = get(with, peer.clientcert .. "/")
      assert.equals(200, status)
      assert.equals("ok", body)
      with:close()
    end)
  end)

  describe("configuration", function()
    local function raises(tls, pattern)
      local ok, msg = pcall(http.Pool, { tls = tls })
      assert.is_false(ok)
      assert.is_truthy(tostring(msg):find(pattern), tostring(msg))
    end

    it("reports unusable files when the pool is made", function()
      raises({ ca_file = "/nonexistent/ca.pem" },
             "tls%.ca_file: cannot read '/nonexistent/ca%.pem'")
      raises({ ca_file = cert("ca.key") },
             "tls%.ca_file: .* not a valid certificate")
      raises({ ca_path = "/nonexistent" }, "tls%.ca_path: cannot read")
      raises({ cert_file = cert("client.pem"), key_file = "/nonexistent.key" },
             "tls%.key_file: cannot read")
      raises({ cert_file = cert("client.pem"), key_file = cert("server.key") },
             "does not match")
      raises({ key_file = cert("client.key") },
             "tls%.key_file needs tls%.cert_file")
      raises({ min_version = "1.3" }, "no TLS 1%.3 client")
      raises({ min_version = "1.1" },
             'tls%.min_version must be "1%.2" or "1%.3"')
    end)

    it("accepts a directory of certificates as ca_path", function()
      local pool = http.Pool{ tls = { ca_path = H.tls_dir } }
      assert.equals(200, (get(pool, H.tls .. "/small")))
      pool:close()
    end)
  end)

  describe("connections", function()
    it("agrees on http/1.1 through ALPN", function()
      local pool = ca_pool()
      local _, hdrs = get(pool, H.tls .. "/headers")
      assert.equals("http/1.1", hdrs:get("x-tls-alpn"))
      pool:close()
    end)

    it("makes 100 keep-alive requests on one TLS connection", function()
      local pool = ca_pool()
      local conn
      for i = 1, 100 do
        local _, hdrs = get(pool, H.tls .. "/headers")
        conn = conn or hdrs:get("x-conn")
        assert.equals(conn, hdrs:get("x-conn"))
        assert.equals(tostring(i), hdrs:get("x-conn-requests"))
      end
      assert.equals(1, pool:stats().connections)
      pool:close()
    end)

    it("never shares a connection between names of one address", function()
      local pool = ca_pool()
      local _, a = get(pool, H.tls .. "/headers")
      local _, b = get(pool, by_name(H.tls) .. "/headers")
      local _, c = get(pool, H.tls .. "/headers")
      assert.are_not.equal(a:get("x-conn"), b:get("x-conn"))
      assert.equals(a:get("x-conn"), c:get("x-conn"))
      assert.equals(2, pool:stats().connections)
      pool:close()
    end)

    it("resumes the session on a new connection (tickets)", function()
      local pool = ca_pool{ max_keepalive = 0 }
      local _, first = get(pool, by_name(H.tls) .. "/headers")
      assert.equals(".", first:get("x-tls-reused"))
      for _ = 1, 3 do
        local _, again = get(pool, by_name(H.tls) .. "/headers")
        assert.equals("r", again:get("x-tls-reused"))
        assert.are_not.equal(first:get("x-conn"), again:get("x-conn"))
      end
      -- sessions belong to the pool's TLS configuration
      local other = ca_pool{ max_keepalive = 0 }
      local _, fresh = get(other, by_name(H.tls) .. "/headers")
      assert.equals(".", fresh:get("x-tls-reused"))
      other:close()
      pool:close()
    end)

    it("times out a handshake that never completes (connect timeout)",
       function()
      local pool = ca_pool{ timeout = { connect = 0.5 } }
      local took, err = H.timed(get_err, pool, peer.stall .. "/")
      assert.is_true(http.is_error(err, "ConnectTimeout"), tostring(err))
      assert.is_truthy(tostring(err):find("TLS handshake", 1, true))
      H.assert_window(took, 0.5, "the TLS connect timeout")
      pool:close()
    end)

    it("streams 64 MiB over TLS with bounded memory", function()
      if os.getenv("CHC_VALGRIND") == "1" then
        return pending("too slow under valgrind")
      end
      local pool = ca_pool()
      collectgarbage()
      local rss0 = H.rss_kb()
      local resp = assert(pool:request("GET", H.tls .. "/64m"))
      local n, peak, bad = 0, 0, nil
      for chunk in resp:iter() do
        local len = #chunk
        for _, i in ipairs({ 1, len // 2 + 1, len }) do
          if not bad and chunk:byte(i) ~= (n + i - 1) % 251 then
            bad = n + i - 1
          end
        end
        n = n + len
        if n % (8 * MiB) < len then
          collectgarbage()
          local rss = H.rss_kb()
          if rss - rss0 > peak then peak = rss - rss0 end
        end
      end
      assert.is_nil(bad, "body bytes differ at offset " .. tostring(bad))
      assert.equals(64 * MiB, n)
      if not H.asan then
        assert.is_true(peak < 16 * 1024, "RSS grew by " .. peak .. " kB")
      end
      pool:close()
    end)

    it("reads the body at the pace of a slow reader", function()
      -- the peer's /drip-status says how much of the body its socket took:
      -- with the reader slow, the server must stay blocked, never more than
      -- the kernel's buffers (a few MiB) ahead of what was read
      local function sent()
        local out, code = H.curl({ "--cacert", cert("ca.pem"), peer.https .. "/drip-status" })
        assert(code == 0, "curl /drip-status failed: " .. tostring(code))
        return H.json_flat(out).sent
      end
      local total = 32 * MiB
      local pool = ca_pool()
      local resp = assert(pool:request("GET", peer.https .. "/drip?n=" .. total))
      local n, checks, ahead_max = 0, 0, 0
      local next_check = 0
      for chunk in resp:iter() do
        assert(H.check_pattern(chunk, n), "body bytes differ at offset " .. n)
        n = n + #chunk
        if n >= next_check and n < total - 8 * MiB then
          -- pause: a reader that does not keep up
          http.sleep(0.2)
          local ahead = sent() - n
          if ahead > ahead_max then ahead_max = ahead end
          checks = checks + 1
          next_check = n + 4 * MiB
        end
      end
      assert.equals(total, n)
      assert.is_true(checks >= 4, "checked " .. checks .. " times")
      assert.is_true(ahead_max < 16 * MiB,
        ("the server got %.1f MiB ahead of the reader"):format(ahead_max / MiB))
      pool:close()
    end)

    it("uploads while the server reads slowly (partial TLS writes)", function()
      local pool = ca_pool()
      local data = H.pattern(8 * MiB)
      local resp = assert(pool:request("POST", peer.https .. "/upload-sha256",
                                       { body = data }))
      local len, sum = resp:read():match("^(%d+) (%x+)")
      assert.equals(#data, tonumber(len))
      assert.equals(H.sha256(data), sum)

      -- small odd chunks: a record cut short by a full socket is finished
      -- first, while more chunks pile up behind it (the classic bug is to
      -- offer mbedTLS the longer buffer and lose bytes)
      local piece, left = H.pattern(9999), 1200
      resp = assert(pool:request("POST", peer.https .. "/upload-sha256", {
        body = function()
          if left == 0 then return nil end
          left = left - 1
          return piece
        end,
      }))
      len, sum = resp:read():match("^(%d+) (%x+)")
      assert.equals(9999 * 1200, tonumber(len))
      assert.equals(H.sha256(piece:rep(1200)), sum)
      pool:close()
    end)
  end)

  describe("close_notify", function()
    it("ends a body read until close at the server's close_notify",
       function()
      local pool = ca_pool()
      local status, _, body = get(pool, peer.https .. "/close-notify")
      assert.equals(200, status)
      assert.equals(5000, #body)
      pool:close()
    end)

    it("fails a body read until close that ends without close_notify",
       function()
      local pool = ca_pool()
      local err = get_err(pool, peer.https .. "/no-close-notify")
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
      assert.is_truthy(tostring(err):find("close_notify", 1, true))
      pool:close()
    end)

    it("still fails a truncated body", function()
      local pool = ca_pool()
      local err = get_err(pool, peer.https .. "/truncated")
      assert.is_true(http.is_error(err, "RemoteProtocolError"), tostring(err))
      assert.is_truthy(tostring(err):find("50 bytes missing", 1, true)
                       or tostring(err):find("before the end", 1, true),
                       tostring(err))
      pool:close()
    end)
  end)
end)
