--- The mock transport: `http.Pool{ mock = handler }`.
--
-- A mock pool answers every request by calling `handler(req)` instead of
-- opening a connection. `req` is a Request (method, url, headers, and the
-- body as nil, a string or a function returning chunks). The handler
-- returns `status, headers, body[, trailers]`, where body is nil, a string,
-- a list of chunks, or a function returning the next chunk (nil at the
-- end; it may raise an error object, or return `nil, err`, to fail the
-- body mid-way); or it raises an error object (`http.Error(kind, msg)`), or
-- returns `nil, err`, to fail the request itself. Any other error a handler
-- raises is a bug in the test and is raised from pool:request as it is.
--
-- What this module builds is the object the C core gives the Lua layer for
-- a response (head, headers, chunk, read, trailers, close), so the Response
-- a mock yields goes through the same Lua code as a real one.
--
-- @module c_http_core.mock

local errors = require "c_http_core.errors"
local headers = require "c_http_core.headers"
local request = require "c_http_core.request"

local type, pcall, setmetatable, tostring, error, select =
      type, pcall, setmetatable, tostring, error, select
local format, concat = string.format, table.concat
local is_error = errors.is

local M = {}
errors.own_source()

local REASONS = {
  [200] = "OK", [201] = "Created", [204] = "No Content",
  [301] = "Moved Permanently", [302] = "Found", [304] = "Not Modified",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable",
}

local function flat(h)
  local out = {}
  if h == nil then return out end
  h = headers.new(h)
  for i = 1, #h do
    out[#out + 1] = h[i][1]
    out[#out + 1] = h[i][2]
  end
  return out
end

-- {==================================================================
-- The response the core would give

local Resp = {}
Resp.__index = Resp

function Resp:head() return self.status, self.reason, "HTTP/1.1", false end
function Resp:headers() return self.flat end

-- The next chunk; nil at the end; nil, err on a failed body.
function Resp:chunk()
  if self.done then return nil, self.err end
  local src, c, err = self.src, nil, nil
  if type(src) == "function" then
    local ok, v, e = pcall(src)
    if not ok then
      if not is_error(v) then error(v, 0) end
      err = v
    elseif v == nil then
      err = e
    elseif type(v) ~= "string" then
      error(format("mock body function returned %s, not a string", type(v)), 0)
    else
      c = v
    end
  else
    self.i = self.i + 1
    c = src[self.i]
  end
  if c == nil then
    self.done, self.err = true, err
    return nil, err
  end
  if c == "" then return self:chunk() end
  return c
end

function Resp:read()
  local parts = {}
  for c in self.chunk, self do parts[#parts + 1] = c end
  if self.err then return nil, self.err end
  return concat(parts)
end

function Resp:trailers()
  if not self.done or self.err then return nil end
  return self.tflat
end

function Resp:close() self.done = true end
-- }==================================================================

-- {==================================================================
-- The pool the core would give

local Core = {}
Core.__index = Core

local function url_of(scheme, host, port, target)
  if host:find(":", 1, true) then host = "[" .. host .. "]" end
  return format("%s://%s:%d%s", scheme, host, port, target)
end

-- Turns the handler's results into a response (or nil, err).
local function respond(ok, status, ...)
  if not ok then
    if is_error(status) then return nil, status end
    error(status, 0)          -- a bug in the handler: not a simulated failure
  end
  if status == nil then
    local err = ...
    if is_error(err) then return nil, err end
    error("mock handler returned nil without an error object " ..
          "(use http.Error(kind, message))", 0)
  end
  if math.type(status) ~= "integer" or status < 100 or status > 999 then
    error(format("mock handler returned status %s, not an integer 100..999",
                 tostring(status)), 0)
  end
  local hdrs, body, trailers = ...
  local src
  if body == nil then src = {}
  elseif type(body) == "string" then src = { body }
  elseif type(body) == "table" or type(body) == "function" then src = body
  else
    error(format("mock handler returned a %s body (string, list of chunks " ..
                 "or function expected)", type(body)), 0)
  end
  return setmetatable({ status = status, reason = REASONS[status] or "",
                        flat = flat(hdrs), src = src, i = 0, done = false,
                        tflat = trailers and flat(trailers) or nil }, Resp)
end

function Core:request(method, scheme, host, port, target, hdrs, body, timeout)
  if self.closed then return nil, errors.new("Closed", "the pool is closed") end
  if io.type(body) == "file" then   -- the handler reads it as a producer
    local f = body
    body = function() return f:read(65536) end
  end
  self.n = self.n + 1
  local req = request.new { method = method, body = body, timeout = timeout,
                            url = url_of(scheme, host, port, target),
                            headers = hdrs }
  return respond(pcall(self.handler, req))
end

function Core:close() self.closed = true end

function Core:stats()
  return { connections = 0, idle = 0, active = 0, waiting = 0,
           requests = self.n }
end
-- }==================================================================

--- The core object of a mock pool.
-- @tparam function handler
function M.new(handler)
  if type(handler) ~= "function" and
     not (type(handler) == "table" and (getmetatable(handler) or {}).__call) then
    errors.misuse(format("mock must be a function (the handler), got %s",
                         type(handler)))
  end
  return setmetatable({ handler = handler, n = 0 }, Core)
end

return M
