-- TLS hardening (issue 19): the suites offered, name constraints, no CN
-- fallback, an IP literal as server_name, errors that say why -- and the
-- checks that held before, so that they keep holding.
--
-- Peer: `openssl s_server`, one per case, started here on a free loopback
-- port (it prints the port) and killed afterwards; with -www it answers a
-- GET with a status page. Certificates: spec/peers/certs19.sh, made once
-- for the file.
local H = require "helper"
local http = require "c_http_core"
local core = require "c_http_core.core"

local dir -- the certificates

local function check_clean()
  collectgarbage()
  collectgarbage()
  assert.equals(0, core.stats().tasks, "tasks left behind")
end

-- {==================================================================
-- openssl s_server

local servers = {} -- pids still to kill

-- Starts s_server with certificate NAME (NAME.pem/.key from dir; the
-- intermediate NAME-chain.pem too when it exists and chain is not false)
-- and extra arguments; returns the port.
local function s_server(name, extra, chain)
  local log = H.tmpname("s_server")
  extra = extra or ""
  if chain ~= false then
    local f = io.open(dir .. "/" .. name .. "-chain.pem")
    if f then
      f:close()
      extra = extra .. " -cert_chain " .. H.q(dir .. "/" .. name ..
                                              "-chain.pem")
    end
  end
  local cmd = ("env -u LD_PRELOAD openssl s_server -accept 127.0.0.1:0 " ..
               "-tls1_2 -www -cert %s -key %s %s </dev/null >%s 2>&1 & " ..
               "echo $!"):format(H.q(dir .. "/" .. name .. ".pem"),
               H.q(dir .. "/" .. name .. ".key"), extra, H.q(log))
  local p = assert(io.popen(cmd))
  local pid = tonumber(p:read("l"))
  p:close()
  assert(pid, "s_server did not start")
  servers[#servers + 1] = pid
  local deadline = core.now() + 10
  while core.now() < deadline do
    local f = io.open(log)
    if f then
      local out = f:read("a")
      f:close()
      local port = out:match("ACCEPT 127%.0%.0%.1:(%d+)")
      if port then return tonumber(port) end
    end
    http.sleep(0.02)
  end
  error("openssl s_server did not start (see " .. log .. ")")
end

local function stop_servers()
  for i = #servers, 1, -1 do
    os.execute("kill " .. servers[i] .. " 2>/dev/null")
    servers[i] = nil
  end
end

-- a pool trusting the c19 root, with extra tls options
local function pool(tls, extra)
  local t = { ca_file = dir .. "/root.pem" }
  for k, v in pairs(tls or {}) do t[k] = v end
  local o = { tls = t }
  for k, v in pairs(extra or {}) do o[k] = v end
  return http.Pool(o)
end

-- GET https://HOST:port/ with pool p: the response (status checked)
local function ok(p, port, host)
  local resp, err = p:request("GET", ("https://%s:%d/"):format(
    host or "127.0.0.1", port))
  assert(resp, tostring(err))
  assert.equals(200, resp.status)
  resp:close()
  p:close()
end

-- the same, which must fail with a TLSError matching pattern (plain find)
local function fails(p, port, pattern, host)
  local resp, err = p:request("GET", ("https://%s:%d/"):format(
    host or "127.0.0.1", port))
  if resp then resp:close() end
  p:close()
  assert.is_nil(resp, "the request succeeded")
  assert.is_true(http.is_error(err, "TLSError"), tostring(err))
  if pattern then
    assert.is_truthy(tostring(err):find(pattern, 1, true), tostring(err))
  end
  return err
end
-- }==================================================================

describe("TLS hardening", function()
  setup(function()
    assert(H.tmp, "CHC_TMP not set (run through spec/run.sh)")
    dir = H.tmpname("certs19")
    assert(os.execute("sh spec/peers/certs19.sh " .. H.q(dir)),
           "spec/peers/certs19.sh failed")
  end)
  after_each(function()
    stop_servers()
    check_clean()
  end)
  teardown(stop_servers)

  describe("cipher suites", function()
    -- what the server insists on, and why the client must not offer it
    for _, case in ipairs{
      { "AES128-SHA", "static RSA with CBC" },
      { "AES128-GCM-SHA256", "static RSA (no forward secrecy)" },
      { "ECDHE-RSA-AES128-SHA256", "ECDHE with CBC" },
      { "ECDHE-RSA-AES128-SHA", "ECDHE with CBC and SHA-1" },
    } do
      it("refuses " .. case[2] .. " by default (" .. case[1] .. ")",
         function()
        fails(pool(), s_server("rsa", "-cipher " .. case[1]),
              "handshake_failure", "localhost")
      end)
    end

    it("agrees on ECDHE-ECDSA-CHACHA20-POLY1305 (the bench's suite)",
       function()
      local port = s_server("leaf", "-cipher ECDHE-ECDSA-CHACHA20-POLY1305")
      ok(pool(), port, "localhost")
    end)

    it("keeps ECDHE-ECDSA-CHACHA20-POLY1305 with nginx (bench/tls_quick.sh)",
       function()
      assert(H.tls, "the nginx TLS peer is not configured")
      local p = http.Pool{ tls = { ca_file = H.tls_dir .. "/ca.pem" } }
      local resp = assert(p:request("GET", (H.tls:gsub("127%.0%.0%.1",
                                                       "localhost")) .. "/headers"))
      assert.equals("ECDHE-ECDSA-CHACHA20-POLY1305",
                    resp.headers:get("x-tls-cipher"))
      resp:close()
      p:close()
    end)

    it("agrees on ECDHE-RSA-AES256-GCM-SHA384 and DHE-RSA-AES128-GCM-SHA256",
       function()
      ok(pool(), s_server("rsa", "-cipher ECDHE-RSA-AES256-GCM-SHA384"),
         "localhost")
      ok(pool(), s_server("rsa", "-cipher DHE-RSA-AES128-GCM-SHA256"),
         "localhost")
    end)

    it("offers the suites of tls.ciphers, by IANA name, and only those",
       function()
      local cbc = { ciphers = { "TLS_RSA_WITH_AES_128_CBC_SHA" } }
      ok(pool(cbc), s_server("rsa", "-cipher AES128-SHA"), "localhost")
      fails(pool(cbc), s_server("rsa", "-cipher ECDHE-RSA-AES128-GCM-SHA256"),
            "handshake_failure", "localhost")
    end)

    it("raises at Pool creation on an unknown suite, naming it", function()
      local e = select(2, pcall(pool, { ciphers = {
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_NO_SUCH_SUITE" } }))
      assert.is_truthy(tostring(e):find("TLS_NO_SUCH_SUITE", 1, true),
                       tostring(e))
      e = select(2, pcall(pool, { ciphers = {} }))
      assert.is_truthy(tostring(e):find("non-empty", 1, true), tostring(e))
      e = select(2, pcall(pool, { ciphers = "TLS_RSA_WITH_AES_128_CBC_SHA" }))
      assert.is_truthy(tostring(e):find("tls.ciphers must be a table", 1,
                                        true), tostring(e))
    end)
  end)

  describe("name constraints", function()
    it("accept a name and an address inside a non-critical permitted subtree",
       function()
      local port = s_server("perm-good", "-naccept 2")
      ok(pool({ server_name = "good.allowed.test" }), port)
      ok(pool(), port) -- 127.0.0.1 is in 127.0.0.0/8
    end)

    it("refuse a name outside a non-critical permitted subtree", function()
      fails(pool({ server_name = "good.example.test" }), s_server("perm-bad"),
            "name constraints violated: the name 'good.example.test' is " ..
            "outside the permitted subtrees of the CA")
    end)

    it("accept a name inside a critical permitted subtree", function()
      ok(pool({ server_name = "good.allowed.test" }), s_server("permc-good"))
    end)

    it("refuse a name outside a critical permitted subtree", function()
      fails(pool({ server_name = "good.example.test" }),
            s_server("permc-bad"), "outside the permitted subtrees")
    end)

    it("refuse an address outside a permitted IP subtree", function()
      fails(pool(), s_server("ip10-leaf"), "the address '127.0.0.1' is " ..
            "outside the permitted subtrees of the CA 'O=c_http_core tests, " ..
            "CN=c19 ip10'")
    end)

    it("refuse a name and an address in excluded subtrees", function()
      fails(pool({ server_name = "bad.allowed.test" }), s_server("excl-dns"),
            "the name 'bad.allowed.test' is in an excluded subtree")
      fails(pool(), s_server("excl-ip"),
            "the address '127.0.0.1' is in an excluded subtree")
    end)

    it("let no other unknown critical extension through", function()
      fails(pool(), s_server("crit-unknown"), "cannot parse " ..
            "(nameConstraints, say)", "localhost")
    end)

    it("accept a name outside the excluded subtrees", function()
      ok(pool({ server_name = "ok.allowed.test" }), s_server("excl-ok"))
    end)
  end)

  describe("names", function()
    it("refuse a certificate without subjectAltName, whatever its CN",
       function()
      fails(pool(), s_server("cn-only"), "has no subjectAltName, and its " ..
            "CN is not used (RFC 9525)", "localhost")
    end)

    it("take the SAN over the CN", function()
      fails(pool(), s_server("san-over-cn"),
            "not valid for 'localhost'", "localhost")
    end)

    it("match a wildcard on one label only", function()
      local port = s_server("wild", "-naccept 3")
      ok(pool({ server_name = "a.wild.test" }), port)
      fails(pool({ server_name = "a.b.wild.test" }), port,
            "not valid for 'a.b.wild.test'")
      fails(pool({ server_name = "wild.test" }), port,
            "not valid for 'wild.test'")
    end)

    it("check an IP server_name against iPAddress entries, not dNSName",
       function()
      ok(pool({ server_name = "127.0.0.1" }), s_server("ip-san"))
      fails(pool({ server_name = "127.0.0.1" }), s_server("dns-ip"),
            "no IP address entry for 127.0.0.1")
    end)

    it("send no SNI for an IP server_name", function()
      -- s_server refuses any SNI but never.test with a fatal alert
      local sni = ("-servername never.test -servername_fatal -cert2 %s " ..
                   "-key2 %s"):format(H.q(dir .. "/ip-san.pem"),
                                      H.q(dir .. "/ip-san.key"))
      ok(pool({ server_name = "127.0.0.1" }), s_server("ip-san", sni))
      -- the same server does refuse a name sent as SNI
      fails(pool({ server_name = "localhost" }),
            s_server("ip-san", sni), "unrecognized_name")
    end)
  end)

  describe("usage", function()
    it("names an extendedKeyUsage without serverAuth, and does not retry",
       function()
      -- -naccept 1: a retry would find the port closed
      local port = s_server("eku-client", "-naccept 1")
      local err = fails(pool(nil, { retries = 2 }), port,
                        "extendedKeyUsage does not allow TLS server " ..
                        "authentication", "localhost")
      assert.is_falsy(tostring(err):find("refused", 1, true), tostring(err))
    end)

    it("names a keyUsage that does not allow the key exchange", function()
      local port = s_server("rsa-ku-encipher",
                            "-naccept 1 -cipher ECDHE-RSA-AES128-GCM-SHA256")
      local err = fails(pool(nil, { retries = 2 }), port,
                        "keyUsage does not allow the key exchange",
                        "localhost")
      assert.is_falsy(tostring(err):find("refused", 1, true), tostring(err))
    end)
  end)

  describe("checks that held before", function()
    it("accept a chain through an intermediate the server sends", function()
      ok(pool(), s_server("leaf"), "localhost")
    end)

    it("refuse a chain whose intermediate the server does not send",
       function()
      fails(pool(), s_server("leaf", nil, false), "not trusted", "localhost")
    end)

    it("refuse an intermediate that is not a CA (basicConstraints)",
       function()
      fails(pool(), s_server("noca-leaf"), "not trusted", "localhost")
    end)

    it("refuse a certificate signed with SHA-1", function()
      fails(pool(), s_server("sha1", "-cipher 'DEFAULT:@SECLEVEL=0'"),
            "unacceptable hash", "localhost")
    end)

    it("refuse an RSA-1024 key", function()
      fails(pool(), s_server("rsa1024", "-cipher 'DEFAULT:@SECLEVEL=0'"),
            "unacceptable key", "localhost")
    end)

    it("refuse a certificate not yet valid", function()
      fails(pool(), s_server("future"), "not yet valid", "localhost")
    end)

    it("never resume a session across names (nginx)", function()
      assert(H.tls, "the nginx TLS peer is not configured")
      local p = http.Pool{ max_keepalive = 0,
                           tls = { ca_file = H.tls_dir .. "/ca.pem" } }
      local function reused(url)
        local resp = assert(p:request("GET", url .. "/headers"))
        local r = resp.headers:get("x-tls-reused")
        resp:close()
        return r
      end
      local named = H.tls:gsub("127%.0%.0%.1", "localhost")
      assert.equals(".", reused(named))
      assert.equals("r", reused(named))
      assert.equals(".", reused(H.tls)) -- same address, another name
      p:close()
    end)

    it("skip every check with verify = false", function()
      ok(pool({ verify = false }), s_server("cn-only"), "localhost")
    end)
  end)
end)
