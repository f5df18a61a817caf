--- Error objects and error kinds.
--
-- I/O and protocol failures are *returned* as `nil, err`, where `err` is an
-- error object built here (the C binding builds its errors through
-- `errors.new` too, see `core.set_error_factory`). Misuse raises.
--
-- An error object is a table with the fields `kind` (e.g. "ReadTimeout"),
-- `message` and `group` (e.g. "TimeoutError", or nil for a kind that stands
-- alone). `tostring(err)` gives "Kind: message". Error objects can be raised
-- with `error(err)` (a cancelled wait raises a `Cancelled` error).
--
-- @module c_http_core.errors

local M = {}

-- {==================================================================
-- Misuse errors point at the caller's code, not at ours: each module of the
-- library registers its chunk source, and `misuse` raises at the first
-- stack level outside them.

local getinfo = debug and debug.getinfo
local LIB_SOURCES = {}

--- Register the calling module as part of the library (call at load time).
function M.own_source()
  if getinfo then LIB_SOURCES[getinfo(2, "S").source] = true end
end

--- Raise `msg` (a string) at the first caller outside the library.
-- @raise always
function M.misuse(msg)
  local level = 2
  if getinfo then
    while true do
      local info = getinfo(level, "S")
      if not info or not LIB_SOURCES[info.source] then break end
      level = level + 1
    end
  end
  error(msg, level)
end

M.own_source()
-- }==================================================================

-- The DESIGN.md table: kind -> group (false: the kind stands alone).
local GROUP_OF = {
  ConnectTimeout = "TimeoutError", ReadTimeout = "TimeoutError",
  WriteTimeout = "TimeoutError", PoolTimeout = "TimeoutError",
  ConnectError = "NetworkError", ReadError = "NetworkError",
  WriteError = "NetworkError",
  RemoteProtocolError = "ProtocolError", LocalProtocolError = "ProtocolError",
  UnsupportedProtocol = false, TLSError = false, ProxyError = false,
  Closed = false, Cancelled = false,
}

-- Default messages, for errors built without one.
local DEFAULT_MESSAGE = {
  ConnectTimeout = "connect timed out", ReadTimeout = "read timed out",
  WriteTimeout = "write timed out", PoolTimeout = "timed out waiting for a connection",
  ConnectError = "connect failed", ReadError = "read failed",
  WriteError = "write failed",
  RemoteProtocolError = "malformed response", LocalProtocolError = "invalid request",
  UnsupportedProtocol = "unsupported protocol", TLSError = "TLS failure",
  ProxyError = "proxy failure", Closed = "closed", Cancelled = "cancelled",
}

-- MATCHES[name][kind] is true when `is_error(err, name)` holds for an error of
-- that kind. Precomputed so that is_error is two table lookups.
local MATCHES = {}
for kind, group in pairs(GROUP_OF) do
  MATCHES[kind] = MATCHES[kind] or {}
  MATCHES[kind][kind] = true
  if group then
    MATCHES[group] = MATCHES[group] or {}
    MATCHES[group][kind] = true
  end
end
-- DESIGN: "TLSError is also a ConnectError for is_error" (and so a NetworkError).
MATCHES.ConnectError.TLSError = true
MATCHES.NetworkError.TLSError = true

--- Every kind and group name, mapped to itself (`http.errors`):
-- `errors.kinds.ReadTimeout == "ReadTimeout"`.
M.kinds = {}
for name in pairs(MATCHES) do M.kinds[name] = name end

local Error = {}
Error.__name = "c_http_core.Error"

function Error.__tostring(err)
  local msg = err.message
  if msg == nil or msg == "" then return err.kind end
  return err.kind .. ": " .. tostring(msg)
end

M.Error = Error

-- err.timeout: which limit fired. The kind names the phase; the core words
-- every total-deadline error "total timeout of ... exceeded while ..." (one
-- place, pool.c's on_total_timeout, for HTTP/1.1 and HTTP/2 alike).
local TIMEOUT_OF = { ConnectTimeout = "connect", ReadTimeout = "read",
                     WriteTimeout = "write", PoolTimeout = "pool" }

local function timeout_field(kind, msg)
  if msg:find("total timeout", 1, true) == 1 then return "total" end
  return TIMEOUT_OF[kind]
end

--- Build an error object.
-- @tparam string kind one of the kinds (not a group name)
-- @tparam[opt] string message human-readable detail (a default per kind)
-- @treturn table the error object
-- @raise on an unknown kind (a bug in the caller)
function M.new(kind, message)
  local group = GROUP_OF[kind]
  if group == nil then
    M.misuse(("unknown error kind '%s'"):format(tostring(kind)))
  end
  if message == nil then message = DEFAULT_MESSAGE[kind] end
  message = tostring(message)
  return setmetatable({ kind = kind, message = message, group = group or nil,
                        timeout = TIMEOUT_OF[kind] and timeout_field(kind, message) },
                      Error)
end

--- The error factory handed to the C binding (`core.set_error_factory`).
-- Like `new`, but it never raises: C may call it where an error cannot be
-- thrown, so an unexpected kind (a bug in the core) is kept as given, with no
-- group, instead of raising.
-- @tparam string kind
-- @tparam[opt] string message
-- @treturn table the error object
function M.from_core(kind, message)
  local group = GROUP_OF[kind]
  if kind == "ProxyError" then   -- the core ends its message with the code
    local e = M.new(kind, message)
    local st = e.message:match("%(status (%d+)%)$")
    local rep = e.message:match("%(SOCKS reply (%d+)%)$")
    e.status, e.reply = st and tonumber(st), rep and tonumber(rep)
    return e
  end
  if group == nil then
    return setmetatable({ kind = tostring(kind), message = tostring(message or "") },
                        Error)
  end
  local msg = tostring(message or DEFAULT_MESSAGE[kind])
  return setmetatable({ kind = kind, message = msg, group = group or nil,
                        timeout = TIMEOUT_OF[kind] and timeout_field(kind, msg) },
                      Error)
end

--- Is `v` an error object built by this module?
-- @param v any value
-- @treturn boolean
function M.is(v)
  return getmetatable(v) == Error
end

--- Does `err` match a kind or group name?
-- `is_error(err, "TimeoutError")` is true for a ReadTimeout;
-- `is_error(err, "ConnectError")` is true for a TLSError. Without a name it
-- tells whether `err` is an error object at all.
-- @param err any value (false for anything that is not an error object)
-- @tparam[opt] string name a kind or group name
-- @treturn boolean
-- @raise on an unknown name (so that a typo cannot silently never match)
function M.is_error(err, name)
  local set
  if name ~= nil then
    set = MATCHES[name]
    if set == nil then
      M.misuse(("unknown error kind or group '%s'"):format(tostring(name)))
    end
  end
  if getmetatable(err) ~= Error then return false end
  return set == nil or set[err.kind] == true
end

return M
