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
local proxy = require "c_http_core.proxy"

local type, pairs, setmetatable, rawget, rawset, tostring, error =
      type, pairs, setmetatable, rawget, rawset, tostring, error
local format, lower = string.format, string.lower
local mtype = math.type
local io_type = io.type
local pack, unpack = table.pack, table.unpack
local now = core.now
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
  elseif k == "request" then
    -- The Request it answers, built on first access for pool:request(m, u,
    -- opts) calls (a Request given as is is stored as is).
    local m = rawget(self, "_method")
    if not m then return nil end
    local o = rawget(self, "_opts") or {}
    local req = request.new { method = m, url = rawget(self, "url"),
                              headers = o.headers, body = o.body,
                              timeout = o.timeout }
    rawset(self, "request", req)
    return req
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

--- Write the (rest of the) body to a file: a Lua file handle (written at
-- its current position, after what Lua buffered; left open) or a path
-- (created or truncated, closed at the end). The bytes go from C to the
-- file without Lua strings; the socket is not read further until the file
-- took what came (backpressure).
-- @param file a file handle or a path
-- @treturn integer the number of bytes written; or `nil, err` with
--   `err.bytes_written` (the partial file is left as it is)
function resp_methods:write_to(file)
  if type(file) == "string" then
    local f, ferr = io.open(file, "wb")
    if not f then
      local e = errors.from_core("WriteError", ferr)
      e.bytes_written = 0
      return nil, e
    end
    local n, err = self._core:write_to(f)
    local ok, cerr = f:close()
    if n and not ok then
      err = errors.from_core("WriteError", cerr)
      err.bytes_written = n
      return nil, err
    end
    return n, err
  end
  if io.type(file) ~= "file" then
    misuse(format("write_to expects a file handle or a path, got %s",
                  io.type(file) or type(file)))
  end
  return self._core:write_to(file)
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

local REQUEST_OPTIONS = { headers = true, body = true, timeout = true,
                          on_progress = true, trace = true }

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

-- body = an open Lua file: the core reads it from its current position in
-- blocks; when the file can seek, the rest of it is the Content-Length
-- (unless the caller gave one, or Transfer-Encoding). The caller owns the
-- handle.
local function file_body(hdrs, f)
  local here = f:seek("cur")
  local size = here and f:seek("end")
  if size then f:seek("set", here) end
  local h = {}
  local framed = false
  if hdrs then
    for i = 1, #hdrs do
      local p = hdrs[i]
      h[i] = p
      local n = lower(p[1])
      if n == "content-length" or n == "transfer-encoding" then framed = true end
    end
  end
  if size and not framed then h[#h + 1] = { "Content-Length", tostring(size - here) } end
  return h, f
end

-- req: the Request given to pool:request(req), or nil; then opts are the
-- call's options (the Request is built from them only if resp.request is
-- read: no table per request). The Response's _core is the core's response,
-- or any object with its methods (head, headers, chunk, read, trailers,
-- close): the mock transport gives one of its own.
local function send(self, method, u, hdrs, body, timeout, target, req, opts,
                    on_progress, trace)
  if io_type(body) == "file" then hdrs, body = file_body(hdrs, body) end
  local t0 = now()
  local r, err = self._core:request(method, u.scheme, u.host, u.port, u.target,
                                    hdrs, body, timeout, on_progress,
                                    trace or self._trace)
  if not r then return nil, err end
  local status, reason, version, reused = r:head()
  -- only a proxy sends 407: to a forwarded request it is the proxy's refusal
  if status == 407 and self._proxy then
    r:close()
    local e = errors.from_core("ProxyError", format(
      "%s refused the request: 407 %s (status 407)", self._proxy, reason))
    return nil, e
  end
  -- the fields in one constructor of 8 (a hash part of 8, filled); elapsed
  -- = seconds from the call to the head
  local resp = setmetatable({ status = status, reason = reason,
                              version = version, reused = reused, _core = r,
                              elapsed = now() - t0, url = target,
                              _method = not req and method or nil }, Response)
  if req then
    resp.request = req
  elseif opts ~= nil then
    resp._opts = opts
  end
  return resp
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
    return send(self, f.method, u, f.headers, f.body, f.timeout, f.url, method)
  end
  method = check_method(method)
  local u, err = parse_cached(target)
  if not u then return nil, err end
  local hdrs, body, timeout, on_progress, trace
  if opts ~= nil then
    if type(opts) ~= "table" then
      misuse(format("request options must be a table, got %s", type(opts)))
    end
    for k in pairs(opts) do
      if not REQUEST_OPTIONS[k] then
        misuse(format("unknown request option '%s' (headers, body, timeout, " ..
                      "on_progress, trace)", tostring(k)))
      end
    end
    hdrs = headers_normalize(opts.headers or nil)
    body = check_body(opts.body)
    timeout = request_timeout(opts.timeout)
    on_progress = opts.on_progress
    if on_progress ~= nil and type(on_progress) ~= "function" then
      misuse(format("on_progress must be a function, got %s", type(on_progress)))
    end
    trace = opts.trace
    if trace ~= nil and type(trace) ~= "function" then
      misuse(format("trace must be a function, got %s", type(trace)))
    end
  end
  return send(self, method, u, hdrs, body, timeout, target, nil, opts,
              on_progress, trace)
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
--   certificate), `tls.min_version = "1.3"` (this build has no TLS 1.3),
--   or a `tls.ciphers` name this build does not know
function http.Pool(opts)
  if type(opts) == "table" and opts.mock ~= nil then
    -- the mock transport (c_http_core.mock): the other options are checked
    -- as for a real pool, and kept for pool.options
    local rest = {}
    for k, v in pairs(opts) do if k ~= "mock" then rest[k] = v end end
    local c = require("c_http_core.mock").new(opts.mock)
    return setmetatable({ _core = c, options = pool_options(rest) }, Pool)
  end
  local o = pool_options(opts)
  local ok, c = pcall(core.Pool, o)
  if not ok then misuse(c) end
  local px = o.proxy
  return setmetatable({ _core = c, options = o,   -- options: read-only
                        _proxy = px and format(px.host:find(":", 1, true)
                                               and "proxy [%s]:%d" or "proxy %s:%d",
                                               px.host, px.port),
                        _trace = o.trace }, Pool)
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

--- Call `fn(item, i)` for every item of `list`, at most `concurrency` at a
-- time (each call in a task of its own), and return the results in the
-- list's order: `results[i]` is the first value `fn(list[i], i)` returned.
-- Works inside a task and outside one (then it drives the loop). When a call
-- raises, no new item is started, the other calls are cancelled, and map
-- raises that error.
-- @tparam table list a sequence
-- @tparam function fn
-- @tparam[opt] table opts `concurrency` (a positive integer; default: all)
-- @treturn table the results
function http.map(list, fn, opts)
  if type(list) ~= "table" then
    misuse(format("map expects a list, got %s", type(list)))
  end
  if type(fn) ~= "function" then
    misuse(format("map expects a function, got %s", type(fn)))
  end
  local n, conc = #list, nil
  if opts ~= nil then
    if type(opts) ~= "table" then
      misuse(format("map options must be a table, got %s", type(opts)))
    end
    for k in pairs(opts) do
      if k ~= "concurrency" then
        misuse(format("unknown map option '%s' (concurrency)", tostring(k)))
      end
    end
    conc = opts.concurrency
    if conc ~= nil and (mtype(conc) ~= "integer" or conc < 1) then
      misuse(format("concurrency must be a positive integer, got %s",
                    tostring(conc)))
    end
  end
  if conc == nil or conc > n then conc = n end
  local results, nexti, tasks, failed, failure = {}, 1, {}, false, nil
  local function worker(me)
    while nexti <= n do
      local i = nexti
      nexti = i + 1
      local ok, r = pcall(fn, list[i], i)
      if not ok then
        if not failed then   -- the first failure stops the others
          failed, failure, nexti = true, r, n + 1
          for w = 1, #tasks do
            if w ~= me then tasks[w]:cancel() end
          end
        end
        return
      end
      results[i] = r
    end
  end
  for w = 1, conc do tasks[w] = http.spawn(worker, w) end
  for w = 1, conc do pcall(tasks[w].join, tasks[w]) end
  if failed then error(failure, 0) end
  return results
end

--- A counting semaphore of `n` permits, for bounding concurrency by hand:
-- `sem:acquire()` takes a permit, waiting while none is free (a task
-- yields; the main chunk drives the loop); `sem:release()` gives it back;
-- `sem:with(fn, ...)` runs `fn(...)` holding a permit and releases it
-- however `fn` ends (its results are returned, its error raised);
-- `sem:available()` is the number of free permits.
-- @tparam integer n at least 1
local function sem_with(self, fn, ...)
  self:acquire()
  local res = pack(pcall(fn, ...))
  self:release()
  if not res[1] then error(res[2], 0) end
  return unpack(res, 2, res.n)
end

function http.semaphore(n)
  if mtype(n) ~= "integer" or n < 1 then
    misuse(format("semaphore expects a positive integer, got %s", tostring(n)))
  end
  local sem = core.semaphore(n)
  local methods = getmetatable(sem).__index
  if methods.with == nil then methods.with = sem_with end
  return sem
end

--- Wait `seconds` (yields inside a task; drives the loop outside one).
http.sleep = core.sleep

--- Monotonic time in seconds (with sub-millisecond precision), for
-- measuring durations.
http.now = core.now

--- Library settings of this Lua state (its loop): `trim_memory` (boolean,
-- default true) gives freed memory back to the system once a burst of
-- requests is over (docs/API.md, Memory). With a table, sets the options
-- it names; returns the settings in force (a new table).
function http.config(opts)
  if opts ~= nil then
    if type(opts) ~= "table" then
      misuse(format("config expects a table, got %s", type(opts)))
    end
    for k, v in pairs(opts) do
      if k ~= "trim_memory" then
        misuse(format("config: unknown option %s", tostring(k)))
      elseif type(v) ~= "boolean" then
        misuse(format("config: trim_memory must be a boolean, got %s", type(v)))
      end
    end
    if opts.trim_memory ~= nil then core.mem_trim(opts.trim_memory) end
  end
  return { trim_memory = core.mem_trim() }
end

--- This thread's loop, for embedding (`fd`, `step`, `pollfd`, `events`,
-- `timeout`).
http.loop = core.loop
-- }==================================================================

http.proxy_from_env = proxy.from_env
http.Request = request.new
http.Headers = headers.new
http.is_error = errors.is_error
http.Error = errors.new   -- http.Error(kind, message): e.g. for mock handlers
http.errors = errors.kinds

-- Server-Sent Events: resp:events(), pool:sse(), http.sse() (sse.lua)
require("c_http_core.sse").install(http, resp_methods, pool_methods)
-- WebSocket: http.websocket(), pool:websocket() (ws.lua)
require("c_http_core.ws").install(http, pool_methods)

return http
