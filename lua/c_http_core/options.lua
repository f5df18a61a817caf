--- Argument checks and normalization shared by Request, Pool and request().
--
-- Everything here raises on misuse (with a message naming the option) and
-- returns the value in the shape the C binding takes.
--
-- @module c_http_core.options

local errors = require "c_http_core.errors"

local type, pairs, tostring = type, pairs, tostring
local find, upper, format = string.find, string.upper, string.format
local tointeger = math.tointeger
local misuse = errors.misuse

local M = {}
errors.own_source()

-- {==================================================================
-- Method, body, timeout

local method_ok, method_count, METHOD_CACHE_MAX = {}, 0, 64

--- Validate a method and return it uppercased (valid methods are cached).
-- @tparam string m
-- @treturn string
-- @raise "invalid method token" when `m` is not an HTTP token
function M.check_method(m)
  local ok = method_ok[m]
  if ok then return ok end
  if type(m) ~= "string" then
    misuse(format("method must be a string, got %s", type(m)))
  end
  if m == "" or find(m, "[^%w!#$%%&'*+%-.^_`|~]") then
    misuse(format("invalid method token '%s'", m))
  end
  if method_count >= METHOD_CACHE_MAX then method_ok, method_count = {}, 0 end
  ok = upper(m)
  method_ok[m], method_count = ok, method_count + 1
  return ok
end

--- Validate a request body: nil, a string, or a function returning the next
-- chunk (a string) or nil at the end. `false` counts as no body.
-- @return the body, or nil
function M.check_body(b)
  if b == nil or b == false then return nil end
  local t = type(b)
  if t ~= "string" and t ~= "function" and io.type(b) ~= "file" then
    misuse(format("body must be nil, a string, a function or an open " ..
                  "file, got %s", io.type(b) or t))
  end
  return b
end

local TIMEOUT_KEYS = { connect = true, read = true, write = true, pool = true,
                       total = true }

-- The core keeps milliseconds in 64 bits; past this (about 31 years) a
-- limit means nothing, and math.huge (or false) says "none".
local MAX_SECONDS = 1e9

local function check_seconds(v, what, none)
  if type(v) ~= "number" or v ~= v or v < 0 then
    misuse(format("%s must be a non-negative number of seconds, got %s",
                  what, tostring(v)))
  end
  if v > MAX_SECONDS and (v ~= math.huge or not none) then
    misuse(format(none and "%s must be at most %.0f seconds (or false " ..
                  "for no limit), got %s" or "%s must be a finite number " ..
                  "of seconds, at most %.0f, got %s", what, MAX_SECONDS,
                  tostring(v)))
  end
  return v
end

-- A timeout value for the core: seconds, or false for "none" (math.huge).
local function limit(v, what)
  if v == false or check_seconds(v, what, true) == math.huge then
    return false
  end
  return v
end

--- Normalize a timeout: nil/false -> nil; a number n -> n for connect, read,
-- write and pool (no total); a table -> a validated copy. Inside the result,
-- a field is seconds, or `false` for "no timeout" (given as false or
-- math.huge); an absent field means "not set" (none for a pool, the pool's
-- value for a request).
-- @param t nil, false, a number or a table
-- @treturn ?table `{connect=, read=, write=, pool=, total=}`
function M.check_timeout(t)
  if t == nil or t == false then return nil end
  if type(t) == "number" then
    t = limit(t, "timeout")
    return { connect = t, read = t, write = t, pool = t }
  end
  if type(t) ~= "table" then
    misuse(format("timeout must be a number or a table, got %s", type(t)))
  end
  local out = {}
  for k, v in pairs(t) do
    if not TIMEOUT_KEYS[k] then
      misuse(format("unknown timeout '%s' (connect, read, write, pool, total)",
                    tostring(k)))
    end
    -- A total computed as `deadline - http.now()` may already be negative:
    -- that deadline has passed, so the request times out at once.
    if k == "total" and type(v) == "number" and v < 0 then v = 0 end
    out[k] = limit(v, "timeout." .. k)
  end
  return out
end
-- }==================================================================

-- {==================================================================
-- Pool options

local POOL_OPTIONS = {
  max_connections = true, max_keepalive = true, keepalive_expiry = true,
  http1 = true, http2 = true, retries = true, timeout = true, tls = true,
  uds = true, max_header_size = true,
  proxy = true, trace = true, h2_ping_after = true,
}

-- tls options and their types; the table is handed to C as a copy, which
-- reads the files when the pool is made (and raises if one cannot be used).
local TLS_OPTIONS = {
  verify = "boolean", ca_file = "string", ca_path = "string",
  cert_file = "string", key_file = "string", server_name = "string",
  min_version = "string", ciphers = "table",
}
local TLS_VERSIONS = { ["1.2"] = true, ["1.3"] = true }

local function opt_integer(opts, name, default, min)
  local v = opts[name]
  if v == nil then return default end
  local i = type(v) == "number" and tointeger(v)
  if not i or i < min then
    local what = min == 0 and "a non-negative integer"
                 or min == 1 and "a positive integer"
                 or ("an integer >= " .. min)
    misuse(format("%s must be %s, got %s", name, what, tostring(v)))
  end
  return i
end

local function opt_boolean(opts, name, default)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "boolean" then
    misuse(format("%s must be a boolean, got %s", name, type(v)))
  end
  return v
end

-- tls.ciphers: a non-empty list of IANA suite names, handed to C joined by
-- ':' (C tells the names it does not know, naming them)
local function check_ciphers(list)
  local n = #list
  if n == 0 then misuse("tls.ciphers must be a non-empty list of names") end
  for k, v in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      misuse("tls.ciphers must be a list (a sequence) of suite names")
    end
    if type(v) ~= "string" or v == "" or find(v, "[:%z]") then
      misuse(format("tls.ciphers[%d] must be a cipher suite name, got %s",
                    k, type(v) == "string" and ('"' .. v .. '"') or type(v)))
    end
  end
  return table.concat(list, ":")
end

local function check_tls(t)
  local out = { verify = true }
  if t == nil then return out end
  if type(t) ~= "table" then
    misuse(format("tls must be a table, got %s", type(t)))
  end
  for k, v in pairs(t) do
    local want = TLS_OPTIONS[k]
    if not want then
      misuse(format("unknown tls option '%s' (verify, ca_file, ca_path, " ..
                    "cert_file, key_file, server_name, min_version, ciphers)",
                    tostring(k)))
    end
    if type(v) ~= want then
      misuse(format("tls.%s must be a %s, got %s", k, want, type(v)))
    end
    if k == "min_version" and not TLS_VERSIONS[v] then
      misuse(format('tls.min_version must be "1.2" or "1.3", got "%s"', v))
    end
    out[k] = v
    if k == "ciphers" then out[k] = check_ciphers(v) end
  end
  return out
end

--- Validate Pool options and fill in the defaults (DESIGN.md, "pools"):
-- max_connections=100, max_keepalive=20, keepalive_expiry=5.0,
-- h2_ping_after=10, http1=true, http2=false, retries=0, timeout=30
-- (connect, read, write and pool; no
-- total), tls={verify=true}, uds=nil, max_header_size=65536.
-- `timeout = false` means no timeouts at all. max_header_size is at least
-- 256 (the core's floor).
-- @tparam[opt] table opts
-- @treturn table a new table, in the shape `core.Pool` takes (`timeout` is
--   always a table, possibly empty; `tls` always a table)
-- @raise on an unknown option or a bad value
function M.pool(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    misuse(format("Pool options must be a table, got %s", type(opts)))
  end
  for k in pairs(opts) do
    if not POOL_OPTIONS[k] then
      misuse(format("unknown Pool option '%s'", tostring(k)))
    end
  end
  local o = {
    max_connections = opt_integer(opts, "max_connections", 100, 1),
    max_keepalive = opt_integer(opts, "max_keepalive", 20, 0),
    http1 = opt_boolean(opts, "http1", true),
    http2 = opt_boolean(opts, "http2", false),
    retries = opt_integer(opts, "retries", 0, 0),
    max_header_size = opt_integer(opts, "max_header_size", 65536, 256),
    tls = check_tls(opts.tls),
  }
  if not (o.http1 or o.http2) then
    misuse("at least one of http1 and http2 must be enabled")
  end
  local expiry = opts.keepalive_expiry
  if expiry == nil then expiry = 5.0 end
  o.keepalive_expiry = check_seconds(expiry, "keepalive_expiry")
  -- seconds an HTTP/2 connection may sit idle before it is PINGed on reuse
  local ping = opts.h2_ping_after
  if ping == nil then ping = 10 end
  o.h2_ping_after = limit(ping, "h2_ping_after") -- false: never
  local timeout = opts.timeout
  if timeout == nil then timeout = 30 end
  o.timeout = M.check_timeout(timeout) or {}
  local uds = opts.uds
  if uds ~= nil and (type(uds) ~= "string" or uds == "") then
    misuse(format("uds must be a socket path (a non-empty string), got %s",
                  tostring(uds)))
  end
  if uds and find(uds, "\0", 1, true) then
    misuse("uds must not contain a NUL byte (the path would be cut there)")
  end
  o.uds = uds
  if opts.proxy ~= nil then   -- c_http_core.proxy: URL or {url, headers, tls}
    o.proxy = require("c_http_core.proxy").check(opts.proxy, check_tls)
  end
  if opts.trace ~= nil and type(opts.trace) ~= "function" then
    misuse(format("trace must be a function, got %s", type(opts.trace)))
  end
  o.trace = opts.trace
  return o
end
-- }==================================================================

--- A finite number of seconds, 0 to 1e9 (misuse otherwise): for the
-- options of ws.lua and sse.lua.
function M.check_seconds(v, what) return check_seconds(v, what) end

return M
