--- c_http_core: an HTTP transport engine in C, driven from Lua 5.4.
--
--     local http = require "c_http_core"
--     local resp, err = http.request("GET", "https://example.com/")
--     if not resp then error(err) end
--     print(resp.status, resp.headers:get("content-type"), resp:read())
--
-- I/O and protocol failures return `nil, err` (an error object, see
-- `http.is_error`); misuse (wrong argument types, invalid tokens, malformed
-- URLs) raises. See DESIGN.md, "Lua API contract".
--
-- @module c_http_core

local core = require "c_http_core.core"
local errors = require "c_http_core.errors"
local url = require "c_http_core.url"
local headers = require "c_http_core.headers"
local request = require "c_http_core.request"
local options = require "c_http_core.options"

local type, pairs, setmetatable, rawget, rawset, tostring, error =
      type, pairs, setmetatable, rawget, rawset, tostring, error
local format = string.format
local mtype = math.type
local misuse = errors.misuse
local check_method, check_body, check_timeout, pool_options =
      options.check_method, options.check_body, options.check_timeout,
      options.pool
local headers_normalize, from_flat = headers.normalize, headers.from_flat
local url_parse = url.parse
local request_fields, request_target = request.fields, request.target

errors.own_source()
core.set_error_factory(errors.from_core)

local http = {}
http.VERSION = "0.1.0"

-- {==================================================================
-- Responses

local Response = { __name = "c_http_core.Response" }
local resp_methods = {}

-- Fields are plain (status, reason, version); headers and trailers are built
-- on first access and then stored in the object.
function Response.__index(self, k)
  local m = resp_methods[k]
  if m then return m end
  if k == "headers" then
    local h = from_flat(self._core:headers())
    rawset(self, "headers", h)
    return h
  elseif k == "trailers" then
    -- core returns nil until the body has ended; only a result is cached.
    local flat = self._core:trailers()
    if flat == nil then return nil end
    local t = from_flat(flat)
    rawset(self, "trailers", t)
    return t
  end
  return nil
end

local function new_response(r)
  local status, reason, version = r:head()
  return setmetatable({ status = status, reason = reason, version = version,
                        _core = r }, Response)
end

--- The whole (rest of the) body.
-- @treturn string the body, or `nil, err`
function resp_methods:read()
  return self._core:read()
end

-- The iterator step of resp:iter(): raises instead of ending the loop on an
-- error, so a truncated body can never pass for a complete one.
local function next_chunk(self)
  local chunk, err = self._core:chunk()
  if chunk then return chunk end
  if err then error(err, 0) end
  if rawget(self, "trailers") == nil then local _ = self.trailers end
  return nil
end

--- Iterate over the body chunks: `for chunk in resp:iter() do ... end`.
-- Each step waits for the next chunk. On an I/O or protocol error mid-body
-- the loop *raises* the error object (e.g. ReadTimeout,
-- RemoteProtocolError); it never ends silently as if the body were complete.
-- The response is the loop's to-be-closed value (like `io.lines`): leaving
-- the loop (at the end, by `break` or by an error) closes the response.
-- `resp.trailers` stays available after a loop that reached the end.
-- The iterator also works when called by hand (`local next = resp:iter()`
-- then `next()`), e.g. as a request-body producer.
-- @return the iterator, nil, nil, the response (closing value)
function resp_methods:iter()
  return function() return next_chunk(self) end, nil, nil, self
end

--- Give the connection back (body fully read) or drop/reset it; idempotent.
function resp_methods:close()
  if rawget(self, "trailers") == nil then local _ = self.trailers end
  self._core:close()
end

Response.__close = resp_methods.close

function Response.__tostring(self)
  return format("Response: %s %s %s", self.version, self.status, self.reason)
end

http.Response = Response
-- }==================================================================

-- {==================================================================
-- Pools

local Pool = { __name = "c_http_core.Pool" }
local pool_methods = {}
Pool.__index = pool_methods

local REQUEST_OPTIONS = { headers = true, body = true, timeout = true }

-- Hot-path caches (bounded; reset when full): parsed URLs, and the timeout
-- table of a plain number. Their tables are internal and never modified.
local url_cache, url_count, URL_CACHE_MAX = {}, 0, 256
local number_timeouts, number_timeouts_count = {}, 0

local function parse_cached(s)
  local u = url_cache[s]
  if u then return u end
  local err
  u, err = url_parse(s)
  if not u then return nil, err end
  if url_count >= URL_CACHE_MAX then url_cache, url_count = {}, 0 end
  url_cache[s], url_count = u, url_count + 1
  return u
end

local function request_timeout(t)
  if mtype(t) then
    local tt = number_timeouts[t]
    if tt then return tt end
    tt = check_timeout(t)
    if number_timeouts_count >= 64 then number_timeouts, number_timeouts_count = {}, 0 end
    number_timeouts[t], number_timeouts_count = tt, number_timeouts_count + 1
    return tt
  end
  return check_timeout(t)
end

local function send(self, method, u, hdrs, body, timeout)
  local r, err = self._core:request(method, u.scheme, u.host, u.port, u.target,
                                    hdrs, body, timeout)
  if not r then return nil, err end
  return new_response(r)
end

--- Send a request and wait for the response head.
-- `pool:request(method, url, opts)` or `pool:request(req)` (a Request).
-- @tparam string method e.g. "GET" (a token; uppercased)
-- @tparam string url an absolute http or https URL
-- @tparam[opt] table opts `headers` (list of `{name, value}` pairs, or a map),
--   `body` (nil, a string or a function returning chunks then nil),
--   `timeout` (a number, or a table as for Pool; overrides the pool's)
-- @treturn Response the response, whose body is still to be read; or
--   `nil, err` on an I/O or protocol failure, or UnsupportedProtocol
-- @raise on misuse
function pool_methods:request(method, target, opts)
  if type(method) == "table" then
    local f = request_fields(method)
    if not f then misuse("request expects a method and a URL, or a Request") end
    local u, err = request_target(f)
    if not u then return nil, err end
    return send(self, f.method, u, f.headers, f.body, f.timeout)
  end
  method = check_method(method)
  local u, err = parse_cached(target)
  if not u then return nil, err end
  local hdrs, body, timeout
  if opts ~= nil then
    if type(opts) ~= "table" then
      misuse(format("request options must be a table, got %s", type(opts)))
    end
    for k in pairs(opts) do
      if not REQUEST_OPTIONS[k] then
        misuse(format("unknown request option '%s' (headers, body, timeout)",
                      tostring(k)))
      end
    end
    hdrs = headers_normalize(opts.headers or nil)
    body = check_body(opts.body)
    timeout = request_timeout(opts.timeout)
  end
  return send(self, method, u, hdrs, body, timeout)
end

--- Close every connection of the pool; idempotent.
function pool_methods:close()
  self._core:close()
end

--- Connection counts: `{connections=, idle=, active=, waiting=}`.
function pool_methods:stats()
  return self._core:stats()
end

Pool.__close = pool_methods.close

--- Make a connection pool (options and defaults: DESIGN.md, "pools").
-- The TLS files (`tls.ca_file`, `ca_path`, `cert_file`, `key_file`) are read
-- here, once for every connection of the pool.
-- @tparam[opt] table opts
-- @treturn Pool
-- @raise on an invalid or unknown option, and on a TLS file that cannot be
--   used (unreadable, not a certificate, a key that does not match its
--   certificate), or `tls.min_version = "1.3"` (this build has no TLS 1.3)
function http.Pool(opts)
  local o = pool_options(opts)
  local ok, c = pcall(core.Pool, o)
  if not ok then misuse(c) end
  return setmetatable({ _core = c, options = o }, Pool)   -- options: read-only
end

local default_pool

--- The pool behind `http.request`, made with the defaults on first use.
-- `http.default_pool(pool)` replaces it (the old one is returned, not
-- closed), so one-shot requests can use your settings.
-- @treturn Pool
function http.default_pool(pool)
  local old = default_pool
  if pool ~= nil then
    if getmetatable(pool) ~= Pool then
      misuse(format("default_pool expects a Pool, got %s", type(pool)))
    end
    default_pool = pool
    return old
  end
  if not old then
    old = http.Pool()
    default_pool = old
  end
  return old
end

--- One request on the default pool (made on first use).
-- @see pool_methods:request
function http.request(method, target, opts)
  local p = default_pool or http.default_pool()
  return p:request(method, target, opts)
end
-- }==================================================================

-- {==================================================================
-- Tasks

-- (true, results...) -> results...; (false, err) -> raise err as is (a
-- Lua error's message already carries its traceback).
local function unwrap(ok, ...)
  if ok then return ... end
  if ok == nil then misuse("a task cannot join itself") end
  error((...), 0)
end

local Task = { __name = "c_http_core.Task" }
local task_methods = {}
Task.__index = task_methods

--- Wait for the task to finish; returns its results or raises its error.
function task_methods:join()
  return unwrap(self._core:join())
end

--- Cancel the task: its pending (or next) wait raises a Cancelled error.
-- @treturn boolean false when the task had already finished
function task_methods:cancel()
  return self._core:cancel()
end

--- The task's state, as the core reports it.
function task_methods:status()
  return self._core:status()
end

--- Start `fn(...)` as a concurrent task.
-- @treturn Task
function http.spawn(fn, ...)
  if type(fn) ~= "function" then
    misuse(format("spawn expects a function, got %s", type(fn)))
  end
  return setmetatable({ _core = core.spawn(fn, ...) }, Task)
end

--- Run `fn(...)` as a task and drive the loop until it and every task it
-- spawned have finished. Returns `fn`'s results or raises its error.
function http.run(fn, ...)
  if type(fn) ~= "function" then
    misuse(format("run expects a function, got %s", type(fn)))
  end
  return unwrap(core.run(fn, ...))
end

--- Wait `seconds` (yields inside a task; drives the loop outside one).
http.sleep = core.sleep

--- Monotonic time in seconds (with sub-millisecond precision), for
-- measuring durations.
http.now = core.now

--- This thread's loop, for embedding (`fd`, `step`, `pollfd`, `events`,
-- `timeout`).
http.loop = core.loop
-- }==================================================================

http.Request = request.new
http.Headers = headers.new
http.is_error = errors.is_error
http.errors = errors.kinds

require("c_http_core.ws").install(http, pool_methods)

return http
