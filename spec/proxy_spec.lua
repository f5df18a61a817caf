-- Proxies (issue 13): HTTP forward, CONNECT tunnels, an https:// proxy
-- (TLS inside TLS), SOCKS5 with and without auth, the failure cases, and
-- http.proxy_from_env.
--
-- Peers started here (spec/peers/proxies.sh, stopped in teardown):
-- tinyproxy (open, and with BasicAuth alice/s3cret), microsocks (open, and
-- with alice/s3cret), stunnel4 in front of the open tinyproxy, and
-- spec/peers/proxy_peer.py for what real proxies will not do. Origins:
-- nginx (plain, TLS with ALPN h2, h2c) from spec/run.sh.
local H = require "helper"
local http = require "c_http_core"

local DIR = H.tmp and (H.tmp .. "/proxies")
local P = {}

local function url(name, cred)
  return ("http://%s127.0.0.1:%d"):format(cred and "alice:s3cret@" or "",
                                          assert(P[name], name))
end

local function ca() return H.tls_dir .. "/ca.pem" end

local function get(pool, u, opts)
  local resp, err = pool:request("GET", u, opts)
  if not resp then return nil, err end
  local body, berr = resp:read()
  resp:close()
  if not body then return nil, berr end
  return resp, body
end

local function proxy_err(pool, u, what)
  local resp, err = pool:request("GET", u)
  if resp then resp:close() end
  assert.is_nil(resp, what .. ": expected a ProxyError")
  assert.is_true(http.is_error(err, "ProxyError"), tostring(err))
  return err
end

setup(function()
  assert(H.tmp, "run through spec/run.sh")
  for _, b in ipairs{ "tinyproxy", "microsocks", "stunnel4" } do
    assert(os.execute("command -v " .. b .. " >/dev/null"),
           b .. " is missing: make deps installs it")
  end
  assert(os.execute(("env -u LD_PRELOAD sh spec/peers/proxies.sh start %s %s >&2")
                    :format(H.q(DIR), H.q(H.tls_dir))), "proxies did not start")
  for line in io.lines(DIR .. "/ports") do
    local name, port = line:match("^(%S+) (%d+)$")
    P[name] = tonumber(port)
  end
end)

teardown(function()
  if DIR then os.execute(("env -u LD_PRELOAD sh spec/peers/proxies.sh stop %s"):format(H.q(DIR))) end
end)

after_each(H.check_clean)

describe("an http:// proxy", function()
  it("forwards http:// requests in absolute form (tinyproxy)", function()
    local pool = http.Pool{ proxy = url("tinyproxy") }
    local resp, body = get(pool, H.nginx .. "/64k")
    assert(resp, tostring(body))
    assert.equals(200, resp.status)
    assert.equals(H.www_sha256("64k"), H.sha256(body))
    -- (tinyproxy closes a forwarded exchange's connection: no reuse here)
    assert(get(pool, H.nginx .. "/1k"))
    pool:close()
  end)

  it("sends Proxy-Authorization (Basic) from the URL's userinfo", function()
    local pool = http.Pool{ proxy = url("tinyproxy_auth", true) }
    local resp, body = get(pool, H.nginx .. "/1k")
    assert(resp, tostring(body))
    assert.equals(200, resp.status)
    pool:close()
  end)

  it("sends the proxy headers of the table form", function()
    -- the credentials as a header of the proxy, not the URL
    local pool = http.Pool{ proxy = { url = url("tinyproxy_auth"), headers = {
      { "Proxy-Authorization", "Basic YWxpY2U6czNjcmV0" } } } }
    local resp, body = get(pool, H.nginx .. "/1k")
    assert(resp, tostring(body))
    assert.equals(200, resp.status)
    pool:close()
  end)

  it("turns a 407 to a forwarded request into ProxyError with .status", function()
    local pool = http.Pool{ proxy = url("tinyproxy_auth") }
    local err = proxy_err(pool, H.nginx .. "/1k", "no credentials")
    assert.equals(407, err.status)
    assert.matches("proxy 127.0.0.1:" .. P.tinyproxy_auth, err.message, 1, true)
    pool:close()
  end)

  it("tunnels https:// with CONNECT and verifies the origin", function()
    local pool = http.Pool{ proxy = url("tinyproxy"), tls = { ca_file = ca() } }
    local resp, body = get(pool, H.tls .. "/64k")
    assert(resp, tostring(body))
    assert.equals("HTTP/1.1", resp.version)
    assert.equals(H.www_sha256("64k"), H.sha256(body))
    assert(get(pool, H.tls .. "/1k"))
    assert.equals(1, pool:stats().connections)
    pool:close()
    -- the origin's certificate is checked against the origin's name
    pool = http.Pool{ proxy = url("tinyproxy") }   -- system CAs only
    local r, err = pool:request("GET", H.tls .. "/1k")
    assert.is_nil(r)
    assert.equals("TLSError", err.kind)
    pool:close()
  end)

  it("speaks HTTP/2 inside a tunnel (ALPN)", function()
    local pool = http.Pool{ proxy = url("tinyproxy"), http2 = true,
                            tls = { ca_file = ca() } }
    local resp, body = get(pool, H.tls .. "/64k")
    assert(resp, tostring(body))
    assert.equals("HTTP/2", resp.version)
    assert.equals(H.www_sha256("64k"), H.sha256(body))
    pool:close()
  end)

  it("tunnels h2c with prior knowledge", function()
    local pool = http.Pool{ proxy = url("tinyproxy"), http1 = false, http2 = true }
    local resp, body = get(pool, H.nginx_h2c .. "/1k")
    assert(resp, tostring(body))
    assert.equals("HTTP/2", resp.version)
    pool:close()
  end)

  it("gives ProxyError with .status when CONNECT is refused", function()
    local pool = http.Pool{ proxy = url("tinyproxy_auth"), tls = { ca_file = ca() } }
    local err = proxy_err(pool, H.tls .. "/1k", "CONNECT without credentials")
    assert.equals(407, err.status)
    assert.matches("proxy 127.0.0.1:" .. P.tinyproxy_auth, err.message, 1, true)
    pool:close()
    pool = http.Pool{ proxy = url("tinyproxy_auth", true), tls = { ca_file = ca() } }
    assert(get(pool, H.tls .. "/1k"))
    pool:close()
    pool = http.Pool{ proxy = url("connect502"), tls = { ca_file = ca() } }
    err = proxy_err(pool, H.tls .. "/1k", "CONNECT 502")
    assert.equals(502, err.status)
    assert.matches("refused CONNECT 127.0.0.1:" .. H.tls_port, err.message, 1, true)
    pool:close()
  end)

  it("gives ProxyError when the proxy closes or answers garbage", function()
    local pool = http.Pool{ proxy = url("connectclose"), tls = { ca_file = ca() } }
    local err = proxy_err(pool, H.tls .. "/1k", "closed")
    assert.matches("closed the connection before answering CONNECT", err.message)
    assert.is_nil(err.status)
    pool:close()
    pool = http.Pool{ proxy = url("garbage"), tls = { ca_file = ca() } }
    err = proxy_err(pool, H.tls .. "/1k", "garbage")
    assert.matches("malformed", err.message)
    pool:close()
  end)

  it("keeps the bytes the proxy sent right behind its answer", function()
    -- h2c through a tunnel: the origin's SETTINGS come in the proxy's write
    local pool = http.Pool{ proxy = url("connectearly"), http1 = false,
                            http2 = true, timeout = 5 }
    local resp, body = get(pool, "http://127.0.0.1:9/")
    assert(resp, tostring(body))
    assert.equals("HTTP/2", resp.version)
    assert.equals(200, resp.status)
    pool:close()
  end)

  it("names the proxy when it cannot be reached (ConnectError)", function()
    local port = P.tinyproxy_auth
    local pool = http.Pool{ proxy = "http://127.0.0.1:1", timeout = 5 }
    local resp, err = pool:request("GET", H.nginx .. "/1k")
    assert.is_nil(resp)
    assert.equals("ConnectError", err.kind)
    assert.matches("proxy 127.0.0.1:1", err.message, 1, true)
    assert.is_truthy(port)
    pool:close()
  end)
end)

describe("an https:// proxy (stunnel in front of tinyproxy)", function()
  local function pool_of(extra)
    local o = { proxy = { url = "https://127.0.0.1:" .. P.https_proxy,
                          tls = { ca_file = ca() } },
                tls = { ca_file = ca() } }
    for k, v in pairs(extra or {}) do o[k] = v end
    return http.Pool(o)
  end

  it("forwards http:// over TLS to the proxy", function()
    local pool = pool_of()
    local resp, body = get(pool, H.nginx .. "/64k")
    assert(resp, tostring(body))
    assert.equals(H.www_sha256("64k"), H.sha256(body))
    pool:close()
  end)

  it("runs TLS to the origin inside TLS to the proxy", function()
    local pool = pool_of()
    local resp, body = get(pool, H.tls .. "/1m")
    assert(resp, tostring(body))
    assert.equals(H.www_sha256("1m"), H.sha256(body))
    pool:close()
    pool = pool_of{ http2 = true }
    resp, body = get(pool, H.tls .. "/64k")
    assert(resp, tostring(body))
    assert.equals("HTTP/2", resp.version)
    pool:close()
  end)

  it("verifies the proxy's certificate with its own tls settings", function()
    local pool = http.Pool{ proxy = "https://127.0.0.1:" .. P.https_proxy }
    local resp, err = pool:request("GET", H.nginx .. "/1k")
    assert.is_nil(resp)
    assert.equals("TLSError", err.kind)
    pool:close()
  end)
end)

describe("a SOCKS5 proxy", function()
  it("connects through microsocks, names resolved here (socks5)", function()
    local pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socks,
                            tls = { ca_file = ca() } }
    local resp, body = get(pool, H.nginx .. "/64k")
    assert(resp, tostring(body))
    assert.equals(H.www_sha256("64k"), H.sha256(body))
    resp, body = get(pool, (H.tls:gsub("127%.0%.0%.1", "localhost")) .. "/1k")
    assert(resp, tostring(body))
    assert.equals(200, resp.status)
    pool:close()
  end)

  it("lets the proxy resolve names (socks5h)", function()
    local pool = http.Pool{ proxy = "socks5h://127.0.0.1:" .. P.socks }
    local resp, body = get(pool, (H.nginx:gsub("127%.0%.0%.1", "localhost")) .. "/1k")
    assert(resp, tostring(body))
    assert.equals(200, resp.status)
    pool:close()
  end)

  it("sends an IPv6 address", function()
    if not H.ipv6 then pending("no ::1 here") return end
    local pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socks }
    local resp, body = get(pool, H.nginx6 .. "/1k")
    assert(resp, tostring(body))
    assert.equals(200, resp.status)
    pool:close()
  end)

  it("authenticates with a user name and password (RFC 1929)", function()
    local pool = http.Pool{ proxy = "socks5://alice:s3cret@127.0.0.1:" .. P.socks_auth }
    assert(get(pool, H.nginx .. "/1k"))
    pool:close()
    pool = http.Pool{ proxy = "socks5://alice:wrong@127.0.0.1:" .. P.socks_auth }
    local err = proxy_err(pool, H.nginx .. "/1k", "wrong password")
    assert.matches("refused the user name and password", err.message)
    pool:close()
    pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socks_auth }
    err = proxy_err(pool, H.nginx .. "/1k", "no credentials")
    assert.matches("none of the authentication methods", err.message)
    pool:close()
  end)

  it("gives ProxyError with .reply for each reply code", function()
    local pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socksreply }
    for code = 1, 8 do
      local err = proxy_err(pool, "http://127.0.0.1:" .. code .. "/", "reply " .. code)
      assert.equals(code, err.reply)
      assert.matches("proxy 127.0.0.1:" .. P.socksreply, err.message, 1, true)
    end
    pool:close()
  end)

  it("gives ProxyError when the proxy closes mid-handshake", function()
    local pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socksclose }
    local err = proxy_err(pool, H.nginx .. "/1k", "close")
    assert.matches("closed the connection during the SOCKS5 handshake", err.message)
    pool:close()
  end)

  it("traces the proxy phase", function()
    local evs = {}
    local pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socks,
      trace = function(e, info) evs[#evs + 1] = e; evs[e] = info end }
    assert(get(pool, H.nginx .. "/1k"))
    assert.matches("connect.complete proxy.started proxy.complete " ..
                   "send_headers.started", table.concat(evs, " "), 1, true)
    assert.equals(P.socks, evs["connect.complete"].port)
    assert.matches("via proxy 127.0.0.1:" .. P.socks, evs["proxy.complete"].peer, 1, true)
    pool:close()
    evs = {}
    pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socksclose,
      trace = function(e, info) evs[#evs + 1] = e; evs[e] = info end }
    proxy_err(pool, H.nginx .. "/1k", "close")
    assert.equals("proxy.failed", evs[#evs])
    assert.equals("ProxyError", evs["proxy.failed"].error.kind)
    pool:close()
  end)

  it("keeps the bytes the proxy sent right behind its answer", function()
    local pool = http.Pool{ proxy = "socks5://127.0.0.1:" .. P.socksearly }
    local resp, body = get(pool, "http://127.0.0.1:80/")
    assert(resp, tostring(body))
    assert.equals("early", body)
    pool:close()
  end)
end)

describe("examples/fetch.lua", function()
  it("goes through --proxy and shows the timeline with -v", function()
    local errf = H.tmpname("fetch-err")
    local p = assert(io.popen(("lua5.4 examples/fetch.lua -v --cacert %s -x %s %s 2>%s")
      :format(H.q(ca()), H.q(url("tinyproxy")), H.q(H.tls .. "/small"), H.q(errf))))
    local out = p:read("a")
    local _, _, code = p:close()
    local f = assert(io.open(errf, "rb"))
    local err = f:read("a")
    f:close()
    assert.equals(0, code, err)
    assert.equals("Hello, World!", out)
    local last = 0
    for _, ev in ipairs{ "connect.complete", "proxy.started", "proxy.complete",
                         "tls.complete", "receive_headers.complete" } do
      local at = err:find(ev, 1, true)
      assert(at and at > last, ev .. " missing or out of order in:\n" .. err)
      last = at
    end
    assert.matches("tls_version=TLSv1.2", err, 1, true)
  end)
end)

describe("the handshakes' messages (sans-I/O, tests/c/test_proxy.c)", function()
  it("builds and parses CONNECT and SOCKS5 at every split", function()
    local out, ok = H.sh("sh -c " .. H.q("cd tests/c && timeout 300 make -s " ..
      "test_proxy >/dev/null 2>&1 && timeout 60 ./test_proxy 2>&1"))
    assert(ok, "test_proxy failed:\n" .. out)
  end)
end)

describe("http.proxy_from_env", function()
  local function env(t) return function(k) return t[k] end end

  it("follows curl's variables", function()
    local e = env{ http_proxy = "http://h:1", HTTPS_PROXY = "http://s:2",
                   ALL_PROXY = "socks5://a:3", HTTP_PROXY = "http://upper:9" }
    assert.equals("http://h:1", http.proxy_from_env("http://x.test/", e))
    assert.equals("http://s:2", http.proxy_from_env("https://x.test/", e))
    assert.equals("http://s:2", http.proxy_from_env("wss://x.test/", e))
    -- HTTP_PROXY (uppercase) is ignored, as curl does
    assert.equals("socks5://a:3",
      http.proxy_from_env("http://x.test/", env{ HTTP_PROXY = "http://u:9",
                                                 all_proxy = "socks5://a:3" }))
    assert.is_nil(http.proxy_from_env("http://x.test/", env{ HTTP_PROXY = "http://u:9" }))
    assert.equals("http://l:4", http.proxy_from_env("https://x.test/",
      env{ https_proxy = "http://l:4", HTTPS_PROXY = "http://u:5" }))
  end)

  it("honours no_proxy: suffixes, *, IP literals, ports", function()
    local base = { http_proxy = "http://h:1", https_proxy = "http://h:1" }
    local function with(np)
      local t = { no_proxy = np }
      for k, v in pairs(base) do t[k] = v end
      return env(t)
    end
    local e = with("example.com, .internal.test,10.0.0.1,[::1],svc:8080")
    assert.is_nil(http.proxy_from_env("http://example.com/", e))
    assert.is_nil(http.proxy_from_env("http://a.b.example.com/", e))
    assert.equals("http://h:1", http.proxy_from_env("http://notexample.com/", e))
    assert.is_nil(http.proxy_from_env("https://x.internal.test/", e))
    assert.is_nil(http.proxy_from_env("http://10.0.0.1:99/", e))
    assert.equals("http://h:1", http.proxy_from_env("http://10.0.0.12/", e))
    assert.is_nil(http.proxy_from_env("http://[::1]:80/", e))
    assert.is_nil(http.proxy_from_env("http://svc:8080/", e))
    assert.equals("http://h:1", http.proxy_from_env("http://svc:8081/", e))
    assert.is_nil(http.proxy_from_env("http://anything/", with("*")))
    assert.is_nil(http.proxy_from_env("http://x.test/",
      env{ http_proxy = "http://h:1", NO_PROXY = "x.test" }))
  end)

  it("is only read when asked", function()
    assert.is_nil(http.Pool().options.proxy)
  end)
end)

describe("the proxy option", function()
  it("rejects what it cannot use", function()
    assert.has_error(function() http.Pool{ proxy = "ftp://h:1" } end,
                     "unsupported proxy scheme 'ftp' (http, https, socks5, socks5h)")
    assert.has_error(function() http.Pool{ proxy = { url = "http://h:1", x = 1 } } end,
                     "unknown proxy option 'x' (url, headers, tls)")
    assert.has_error(function() http.Pool{ proxy = "http://h:99999" } end)
  end)
end)
