--- Absolute http/https URL parsing.
--
-- `url.parse("https://Example.com:8443/a/b?q=1#frag")` gives
-- `{ scheme = "https", host = "example.com", port = 8443,
--    target = "/a/b?q=1", authority = "example.com:8443" }`.
--
-- * `host` is bare: lowercased for a name, brackets removed for IPv6
--   (`[::1]` gives `::1`; a zone `%25eth0` becomes `%eth0`, as getaddrinfo
--   wants it).
-- * `target` is the origin-form request target: path and query, `/` when the
--   path is empty; the fragment is dropped.
-- * `authority` is the value for the Host header: the host (IPv6 in brackets,
--   without the zone) plus `:port` when the port is not the scheme's default.
--
-- Malformed URLs raise (that is misuse). A scheme other than http/https is
-- not misuse but a request the transport cannot do: it is *returned* as
-- `nil, err` with `err.kind == "UnsupportedProtocol"`.
--
-- @module c_http_core.url

local errors = require "c_http_core.errors"

local M = {}
errors.own_source()

local DEFAULT_PORT = { http = 80, https = 443 }

local function bad(s, why)
  errors.misuse(("invalid URL '%s': %s"):format(s, why))
end

-- Returns host, authority host (the Host header form), rest after the host.
local function split_host(s, hostport)
  if hostport:sub(1, 1) == "[" then
    local addr, rest = hostport:match("^%[([^%]]*)%](.*)$")
    if not addr then bad(s, "unterminated '[' in host") end
    local ip, zone = addr:match("^([%x:.]+)%%25([%w%-._~]+)$")
    if not ip then ip = addr end
    if not ip:find(":", 1, true) or ip:find("[^%x:.]") then
      bad(s, "invalid IPv6 address '" .. addr .. "'")
    end
    ip = ip:lower()
    return zone and (ip .. "%" .. zone) or ip, "[" .. ip .. "]", rest
  end
  local host, rest = hostport:match("^([^:]*)(.*)$")
  if host == "" then bad(s, "missing host") end
  if host:find("[^%w%-._~]") then bad(s, "invalid host '" .. host .. "'") end
  host = host:lower()
  return host, host, rest
end

--- Parse an absolute http or https URL.
-- @tparam string s the URL
-- @treturn table `{scheme, host, port, target, authority}`
-- @return or `nil, err` (UnsupportedProtocol) for another scheme
-- @raise when `s` is not a string or is not a well-formed URL
function M.parse(s)
  if type(s) ~= "string" then
    errors.misuse(("URL must be a string, got %s"):format(type(s)))
  end
  if s:find("[%c ]") then bad(s, "spaces and control characters are not allowed") end
  if s:find("[\128-\255]") then bad(s, "non-ASCII characters must be percent-encoded") end
  local scheme, rest = s:match("^(%a[%w+.%-]*)://(.*)$")
  if not scheme then bad(s, "expected scheme://host (http or https)") end
  scheme = scheme:lower()
  local default_port = DEFAULT_PORT[scheme]
  if not default_port then
    return nil, errors.new("UnsupportedProtocol",
      ("unsupported URL scheme '%s' (only http and https)"):format(scheme))
  end

  local hostport, path = rest:match("^([^/?#]*)(.*)$")
  if hostport:find("@", 1, true) then
    bad(s, "credentials in URL are not supported (send an Authorization header)")
  end
  local host, ahost, portpart = split_host(s, hostport)
  local port = default_port
  if portpart ~= "" then
    local digits = portpart:match("^:(%d*)$")
    if not digits then bad(s, "invalid port '" .. portpart:sub(2) .. "'") end
    if digits ~= "" then                   -- RFC 3986: an empty port is the default
      port = tonumber(digits)
      if port < 1 or port > 65535 then
        bad(s, "port " .. digits .. " out of range (1-65535)")
      end
    end
  end

  path = path:match("^[^#]*")             -- drop the fragment
  if path == "" then
    path = "/"
  elseif path:byte(1) == 63 then           -- "?q" with an empty path
    path = "/" .. path
  end

  return {
    scheme = scheme, host = host, port = port, target = path,
    authority = port == default_port and ahost or (ahost .. ":" .. port),
  }
end

return M
