--- Proxies: the Pool's `proxy` option and `http.proxy_from_env`.
--
-- A proxy is a URL, `scheme://[user[:password]@]host[:port]`, with scheme
-- `http`, `https` (TLS to the proxy itself), `socks5` (names resolved
-- here) or `socks5h` (names resolved by the proxy); no scheme means
-- `http`. The default port is 1080 (443 for `https`), as for curl.
-- User and password are percent-decoded. Or a table
-- `{ url = ..., headers = {...}, tls = {...} }`: headers go to an HTTP
-- proxy with every CONNECT and forwarded request, tls configures the TLS
-- to an https:// proxy (as a Pool's tls option).
--
-- @module c_http_core.proxy

local errors = require "c_http_core.errors"
local headers = require "c_http_core.headers"

local type, pairs, tostring, tonumber = type, pairs, tostring, tonumber
local format, lower, char = string.format, string.lower, string.char
local misuse = errors.misuse

local M = {}
errors.own_source()

local DEFAULT_PORT = { http = 1080, https = 443, socks5 = 1080, socks5h = 1080 }

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

--- Parse a proxy URL.
-- @treturn table `{kind, host, port, user, pass}`
-- @raise on a malformed URL or an unsupported scheme
function M.parse(s)
  if type(s) ~= "string" then
    misuse(format("proxy must be a URL string or a table, got %s", type(s)))
  end
  if s:find("[%c ]") then misuse(format("invalid proxy URL '%s'", s)) end
  local scheme, rest = s:match("^(%a[%w+.%-]*)://(.*)$")
  if not scheme then scheme, rest = "http", s end
  scheme = lower(scheme)
  if not DEFAULT_PORT[scheme] then
    misuse(format("unsupported proxy scheme '%s' (http, https, socks5, " ..
                  "socks5h)", scheme))
  end
  local auth = rest:match("^([^/?#]*)")
  local user, pass
  local at = auth:match("^.*()@")
  if at then
    local ui = auth:sub(1, at - 1)
    auth = auth:sub(at + 1)
    user, pass = ui:match("^([^:]*):(.*)$")
    if not user then user = ui end
    user, pass = unescape(user), pass and unescape(pass)
  end
  local host, portpart
  if auth:sub(1, 1) == "[" then
    host, portpart = auth:match("^%[([%x:.]+)%](.*)$")
  else
    host, portpart = auth:match("^([%w%-._~]+)(.*)$")
  end
  if not host then misuse(format("invalid proxy URL '%s': bad host", s)) end
  local port = DEFAULT_PORT[scheme]
  if portpart ~= "" then
    local digits = portpart:match("^:(%d+)/?$")
    port = tonumber(digits)
    if not port or port < 1 or port > 65535 then
      misuse(format("invalid proxy URL '%s': bad port", s))
    end
  end
  return { kind = scheme, host = lower(host), port = port, user = user,
           pass = pass, url = s }
end

--- Check the Pool's proxy option and shape it for the core.
-- @param v a URL string or `{ url =, headers =, tls = }`
-- @tparam function check_tls the Pool's tls checker
-- @treturn table
function M.check(v, check_tls)
  if type(v) ~= "table" then return M.parse(v) end
  for k in pairs(v) do
    if k ~= "url" and k ~= "headers" and k ~= "tls" then
      misuse(format("unknown proxy option '%s' (url, headers, tls)",
                    tostring(k)))
    end
  end
  local p = M.parse(v.url)
  if v.headers ~= nil then p.headers = headers.normalize(v.headers) end
  if v.tls ~= nil then p.tls = check_tls(v.tls) end
  return p
end

-- {==================================================================
-- proxy_from_env: curl's rules

local function env_get(getenv, name)
  local v = getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

-- Is host:port excluded by the no_proxy list? Entries are separated by
-- commas (or spaces); "*" alone matches everything; an entry matches the
-- host itself and, for a name, every name below it (a leading dot is
-- ignored); an IP literal matches exactly; "entry:port" only that port.
local function no_proxy_match(list, host, port)
  host = lower(host)
  for e in list:gmatch("[^,%s]+") do
    e = lower(e)
    if e == "*" then return true end
    local eh, ep = e:match("^%[(.-)%]:?(%d*)$")
    if not eh then
      eh, ep = e:match("^([^:]*):(%d+)$")
      if not eh then eh, ep = e, "" end
    end
    eh = eh:gsub("^%.", "")
    if eh ~= "" and (ep == "" or tonumber(ep) == port) then
      if host == eh then return true end
      if not host:find(":", 1, true) and #host > #eh and
         host:sub(-#eh - 1) == "." .. eh then
        return true
      end
    end
  end
  return false
end

--- The proxy URL curl would use for `url`, from the environment, or nil.
-- `http_proxy` for http:// and ws:// (lowercase only: curl ignores
-- HTTP_PROXY, which a web server may set from a request's Proxy header),
-- `https_proxy` or `HTTPS_PROXY` for https:// and wss://, else `all_proxy`
-- or `ALL_PROXY`; none when `no_proxy` (or `NO_PROXY`) matches the host.
-- The environment is only read when this is called.
-- @tparam string url
-- @tparam[opt] function getenv defaults to os.getenv (for tests)
-- @treturn ?string
function M.from_env(url, getenv)
  if type(url) ~= "string" then
    misuse(format("proxy_from_env expects a URL string, got %s", type(url)))
  end
  getenv = getenv or os.getenv
  local scheme, rest = url:match("^(%a[%w+.%-]*)://(.*)$")
  if not scheme then misuse(format("invalid URL '%s'", url)) end
  scheme = lower(scheme)
  local hostport = rest:match("^([^/?#]*)"):gsub("^.*@", "")
  local host, portpart = hostport:match("^%[(.-)%](.*)$")
  if not host then host, portpart = hostport:match("^([^:]*)(.*)$") end
  local secure = scheme == "https" or scheme == "wss"
  local port = tonumber(portpart:match("^:(%d+)$") or "") or
               (secure and 443 or 80)
  local np = env_get(getenv, "no_proxy") or env_get(getenv, "NO_PROXY")
  if np and no_proxy_match(np, host, port) then return nil end
  local p
  if secure then
    p = env_get(getenv, "https_proxy") or env_get(getenv, "HTTPS_PROXY")
  elseif scheme == "http" or scheme == "ws" then
    p = env_get(getenv, "http_proxy")
  end
  return p or env_get(getenv, "all_proxy") or env_get(getenv, "ALL_PROXY")
end
-- }==================================================================

return M
