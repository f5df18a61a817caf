--- Immutable requests.
--
--     local req = Request{ method = "POST", url = "http://example.com/x",
--                          headers = { {"Content-Type", "text/plain"} },
--                          body = "hi", timeout = 5 }
--     req.method, req.url, req.headers, req.body, req.timeout  -- read-only
--     req.method = "GET"              --> raises "Request is immutable ..."
--     local req2 = req:with{ body = "bye" }   -- a new Request
--
-- Normalization: `method` is uppercased (it must be a token); `headers` is
-- always a Headers object (empty when not given); `timeout` is nil or a table
-- `{connect=, read=, write=, pool=, total=}` (a number `n` gives n for all but
-- `total`; a field set to false or math.huge means "no timeout", overriding
-- the pool's; an absent field keeps the pool's). Immutability is shallow: do not modify `req.headers` or
-- `req.timeout` in place.
--
-- A malformed URL raises when the Request is built. A URL with a scheme other
-- than http/https does not: the request fails with UnsupportedProtocol when
-- it is sent (DESIGN: that is an error *return* of `request()`).
--
-- @module c_http_core.request

local errors = require "c_http_core.errors"
local url = require "c_http_core.url"
local headers = require "c_http_core.headers"
local options = require "c_http_core.options"

local type, pairs, setmetatable, getmetatable, rawget, tostring =
      type, pairs, setmetatable, getmetatable, rawget, tostring
local format = string.format
local misuse = errors.misuse

local M = {}
errors.own_source()

local check_method, check_body, check_timeout =
      options.check_method, options.check_body, options.check_timeout

local FIELDS = { method = true, url = true, headers = true, body = true,
                 timeout = true }

local PARSED, PARSE_ERR = {}, {}   -- private keys of the fields table
local FIELDS_OF = {}               -- private key of a proxy's metatable

local methods = {}
local fields_mt = { __index = methods }

local function deny(_, k)
  misuse(format("Request is immutable (cannot set '%s'); use req:with{...}",
                tostring(k)))
end

local function request_tostring(self)
  return format("Request: %s %s", self.method, self.url)
end

local function check_fields(t, what)
  if type(t) ~= "table" then
    misuse(format("%s expects a table, got %s", what, type(t)))
  end
  for k in pairs(t) do
    if not FIELDS[k] then
      misuse(format("unknown Request field '%s' (method, url, headers, " ..
                    "body, timeout)", tostring(k)))
    end
  end
end

local function make(f)
  setmetatable(f, fields_mt)
  return setmetatable({}, { __index = f, __newindex = deny,
                            __tostring = request_tostring,
                            __name = "c_http_core.Request", [FIELDS_OF] = f })
end

--- The fields table of a Request, or nil when `v` is not a Request.
-- (Internal: lets init.lua read a Request without going through the proxy.)
function M.fields(v)
  local mt = type(v) == "table" and getmetatable(v)
  return mt and rawget(mt, FIELDS_OF) or nil
end

--- Where a Request goes: the parsed URL (see url.parse) or nil, err.
function M.target(f)
  return f[PARSED], f[PARSE_ERR]
end

--- Build a Request.
-- @tparam table t `{method=, url=, headers=, body=, timeout=}`; method and url
--   are required
-- @treturn Request
-- @raise on a missing or invalid field
function M.new(t)
  check_fields(t, "Request")
  if t.method == nil then misuse("Request needs a method") end
  if t.url == nil then misuse("Request needs a url") end
  local u, err = url.parse(t.url)
  return make {
    method = check_method(t.method), url = t.url,
    headers = headers.new(t.headers or nil),
    body = check_body(t.body), timeout = check_timeout(t.timeout),
    [PARSED] = u, [PARSE_ERR] = err,
  }
end

--- A new Request with some fields replaced; this one is unchanged.
-- `headers` are replaced entirely when given; `false` clears `body`,
-- `timeout` or `headers`.
-- @tparam table changes
-- @treturn Request
function methods:with(changes)
  local f = M.fields(self)
  if not f then misuse("with: call it as req:with{...}") end
  check_fields(changes, "with")
  local new = {
    method = f.method, url = f.url, headers = f.headers, body = f.body,
    timeout = f.timeout, [PARSED] = f[PARSED], [PARSE_ERR] = f[PARSE_ERR],
  }
  if changes.method ~= nil then new.method = check_method(changes.method) end
  if changes.url ~= nil and changes.url ~= f.url then
    new.url = changes.url
    new[PARSED], new[PARSE_ERR] = url.parse(changes.url)
  end
  if changes.headers ~= nil then new.headers = headers.new(changes.headers or nil) end
  if changes.body ~= nil then new.body = check_body(changes.body) end
  if changes.timeout ~= nil then new.timeout = check_timeout(changes.timeout) end
  return make(new)
end

return M
