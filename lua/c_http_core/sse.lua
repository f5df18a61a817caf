--- Server-Sent Events: `resp:events()` on any response, and `http.sse` /
-- `pool:sse` (an EventSource: GET with reconnection and Last-Event-ID).
--
-- The parsing is C (src/sse.c through src/lua/lsse.c): one parser per
-- stream, fed from the response body without copies, one event per step.
-- This module holds the policy: what a response must look like to be an
-- event stream, and when and how soon to reconnect.
--
-- @module c_http_core.sse

local core = require "c_http_core.core"
local errors = require "c_http_core.errors"
local headers = require "c_http_core.headers"
local options = require "c_http_core.options"

local type, pairs, ipairs, setmetatable, rawget, rawset, tostring, error =
      type, pairs, ipairs, setmetatable, rawget, rawset, tostring, error
local format, find, lower = string.format, string.find, string.lower
local mtype, min, max, random = math.type, math.min, math.max, math.random
local misuse, new_error = errors.misuse, errors.new
local sse_parser, sse_iter, sse_next = core.sse_parser, core.sse_iter,
                                      core.sse_next
local now, trace_call = core.now, core.trace_call

errors.own_source()

local M = {}

-- Reconnection policy (documented in docs/API.md, "Server-Sent Events").
local DEFAULT_RETRY = 3        -- s, until the server's retry field says
local DEFAULT_MAX_DELAY = 30   -- s, the backoff's cap (a longer retry wins)
local JITTER = 0.2             -- a wait is retry * (1 + up to 20 %)
local SLEEP_SLICE = 0.25       -- s: how soon es:close() ends a wait
-- Statuses after which the server may well answer later: reconnect (with
-- backoff). Any other non-2xx status ends the stream with an error.
local RETRIABLE_STATUS = { [429] = true, [502] = true, [503] = true,
                           [504] = true }
-- Transport failures worth a reconnection: the network, timeouts, and a
-- body the server cut short (RemoteProtocolError from the transport; a
-- parser error, i.e. max_event, is never retried).
local RETRIABLE_KIND = {
  ConnectError = true, ConnectTimeout = true, ReadError = true,
  ReadTimeout = true, WriteError = true, WriteTimeout = true,
  PoolTimeout = true, RemoteProtocolError = true,
}

local function check_max_event(v)
  if v == nil then return nil end
  if mtype(v) ~= "integer" or v < 1 then
    misuse(format("max_event must be a positive integer (bytes), got %s",
                  tostring(v)))
  end
  return v
end

-- {==================================================================
-- resp:events()

--- Iterate over the events of a response body (any response: a GET, the
-- answer to a POST, HTTP/1.1 or HTTP/2): `for ev in resp:events() do`.
-- Each event is `{event=, data=, id=, retry=}`. On an I/O or protocol
-- error (or an event larger than max_event) the loop *raises* the error
-- object, as `resp:iter()` does; `resp:next_event()` returns it instead.
-- The response is the loop's to-be-closed value.
-- @tparam[opt] table opts `max_event` (bytes, default 1 MiB)
local function parser_of(resp, opts)
  local p = rawget(resp, "_sse")
  if not p then
    local me
    if opts ~= nil then
      if type(opts) ~= "table" then
        misuse(format("events options must be a table, got %s", type(opts)))
      end
      for k in pairs(opts) do
        if k ~= "max_event" then
          misuse(format("unknown events option '%s' (max_event)", tostring(k)))
        end
      end
      me = check_max_event(opts.max_event)
    end
    p = sse_parser(me)
    if type(resp._core) == "userdata" then
      p:attach(resp._core)
    else -- a body that is not a core stream: fed from Lua (lua_step)
      p = { p = p, core = resp._core, off = 1 }
    end
    rawset(resp, "_sse", p)
  end
  return p
end

-- The step for a body that is not a core stream (the mock transport gives
-- its chunks as Lua strings): the same C parser, fed from Lua, with the
-- same results as the C step (an event; nil at the end; the error raised,
-- or returned as nil, err).
local function lua_step(st, raise)
  local p = st.p
  while true do
    if st.buf then
      local ev, x = p:feed(st.buf, st.off)
      if ev == nil then
        if raise then error(x, 0) end
        return nil, x
      end
      if ev then
        st.off = x
        return ev
      end
      st.buf = nil
    end
    if st.ended then return nil end
    local c, err = st.core:chunk()
    if c == nil then
      if err then
        if raise then error(err, 0) end
        return nil, err
      end
      p:eof()
      st.ended = true
      return nil
    end
    st.buf, st.off = c, 1
  end
end

local function resp_events(self, opts)
  local p = parser_of(self, opts)
  if type(p) == "table" then
    return function() return lua_step(p, true) end, nil, nil, self
  end
  return sse_iter, p, nil, self
end

--- The next event of the body: event, or nil at its end, or nil, err.
local function resp_next_event(self, opts)
  local p = parser_of(self, opts)
  if type(p) == "table" then return lua_step(p, false) end
  local ev, err = p:next()
  return ev, err
end
-- }==================================================================

-- {==================================================================
-- EventSource

local EventSource = { __name = "c_http_core.EventSource" }
local es_methods = {}

function EventSource.__index(self, k)
  if k == "last_event_id" then
    local id = self._p:last_id()
    return id
  end
  return es_methods[k]
end

local SSE_OPTIONS = { headers = true, last_event_id = true, reconnect = true,
                      max_reconnects = true, max_event = true, timeout = true,
                      retry = true, max_delay = true, trace = true }

local check_seconds = options.check_seconds

local function stream_error(msg, status)
  local err = new_error("RemoteProtocolError", "event stream: " .. msg)
  err.status = status
  return err
end

-- The wait before the next connection: the reconnection time (the
-- server's retry field, else opts.retry), doubled per failure in a row up
-- to the cap, plus jitter so that many clients of one server spread out.
local function delay(self)
  local ms = self._p:retry()
  local base = ms and ms / 1000 or self._retry
  local d = base
  if self._failures > 1 then
    d = min(base * 2 ^ (self._failures - 1), max(base, self._max_delay))
  end
  if self._retry_after and self._retry_after > d then d = self._retry_after end
  return d * (1 + JITTER * random())
end

-- Tracing (docs/API.md, "Tracing"): the EventSource's own events, made in
-- the caller's calls; nothing without a trace function.
local function trace(self, event, info)
  info.t = now()
  trace_call(self._trace, event, info)
end

-- Ends the stream: later steps give nil (err: what ended it, for the
-- trace). Returns nothing.
local function finish(self, err)
  if self._trace and not self._closed then
    if err then
      trace(self, "sse_stream.failed", { error = err })
    else
      trace(self, "sse_stream.complete", {})
    end
  end
  self._closed = true
  local r = self._resp
  self._resp = nil
  if r then r:close() end
end

-- One connection attempt. Returns true (attached), or false, err when it
-- failed in a way worth another attempt, or nil, err to stop (err nil: a
-- clean end, i.e. 204).
local function connect(self)
  local hdrs = {}
  for i, h in ipairs(self._headers) do hdrs[i] = h end
  local id = self._p:last_id()
  if id ~= "" then hdrs[#hdrs + 1] = { "Last-Event-ID", id } end
  self._retry_after = nil
  local resp, err = self._pool:request("GET", self.url,
    { headers = hdrs, timeout = self._timeout, trace = self._trace })
  if not resp then
    if self._closed then return nil end
    if RETRIABLE_KIND[err.kind] then return false, err end
    return nil, err
  end
  if self._closed then -- es:close() while the request was on its way
    resp:close()
    return nil
  end
  local st = resp.status
  self._status = st
  if st == 204 then -- the server says: no more (WHATWG: fail the connection)
    resp:close()
    return nil
  end
  if st < 200 or st > 299 then
    local reason = resp.reason
    local e = stream_error(format("the server answered %d%s", st,
      (reason and reason ~= "") and " " .. reason or ""), st)
    local ra = resp.headers:get("retry-after")
    resp:close()
    if RETRIABLE_STATUS[st] then
      ra = ra and ra:match("^%s*(%d+)%s*$")
      if ra then self._retry_after = min(tonumber(ra), 3600) end
      return false, e
    end
    return nil, e
  end
  local ct = resp.headers:get("content-type")
  local mt = ct and lower(ct):match("^%s*([^;%s]+)")
  if mt ~= "text/event-stream" then
    resp:close()
    return nil, stream_error(format("the server answered Content-Type '%s', "
      .. "not text/event-stream", ct or "(none)"), st)
  end
  self._resp = resp
  self._got = false
  self._p:attach(resp._core)
  return true
end

-- After a failure or an end: reconnect (true), or stop (false).
local function may_reconnect(self)
  if self._closed or not self._reconnect then return false end
  if self._max_reconnects and self._reconnects >= self._max_reconnects then
    return false
  end
  return true
end

-- The current response ended (err nil) or failed: closes it. Returns the
-- error that ends the EventSource, or nil to go on (reconnecting).
local function stream_done(self, err, from_parser)
  local r = self._resp
  self._resp = nil
  if r then r:close() end
  if err and (from_parser or not RETRIABLE_KIND[err.kind]) then
    finish(self, err)
    return err
  end
  if not self._got then self._failures = self._failures + 1 end
  self._last_err = err
  return nil
end

-- The iterator's step: the next event, reconnecting as needed. Returns
-- event, or nil (ended), or nil, err.
local function step(self)
  while not self._closed do
    if self._resp == nil then
      if self._attempts > 0 then
        if not may_reconnect(self) then
          local e = self._last_err
          finish(self, e)
          return nil, e
        end
        self._reconnects = self._reconnects + 1
        -- slept in slices: es:close() from another task ends the wait
        -- within one slice rather than after a whole backoff
        local d = delay(self)
        if self._trace then
          local e = self._last_err
          trace(self, "sse_reconnect.started", { delay = d,
            attempt = self._reconnects, reason = e and "error" or "ended",
            error = e })
        end
        local wake = now() + d
        while not self._closed and d > 0 do
          core.sleep(min(d, SLEEP_SLICE))
          d = wake - now()
        end
        if self._closed then return nil end
      end
      self._attempts = self._attempts + 1
      self._status = nil
      local ok, err = connect(self)
      if self._trace and self._attempts > 1 and (err or not self._closed) then
        if err or (ok == nil and not self._status) then
          trace(self, "sse_reconnect.failed", { error = err,
                                                status = self._status })
        else
          trace(self, "sse_reconnect.complete", { status = self._status })
        end
      end
      if ok == nil then
        finish(self, err)
        return nil, err
      elseif not ok then
        self._failures = self._failures + 1
        self._last_err = err
      end
    else
      local ev, err, from_parser = sse_next(self._p)
      if ev then
        if not self._got then self._got, self._failures = true, 0 end
        return ev
      end
      if self._closed then return nil end -- es:close() from another task
      err = stream_done(self, err, from_parser)
      if err then return nil, err end
    end
  end
  return nil
end

-- The for loop's step. The common case (an open stream that already gave
-- an event) goes straight to the parser: one call per event.
local function step_raise(self)
  local ev, err
  if self._got and self._resp ~= nil then
    local from_parser
    ev, err, from_parser = sse_next(self._p)
    if ev then return ev end
    if self._closed then return nil end
    err = stream_done(self, err, from_parser)
    if err then error(err, 0) end
  end
  ev, err = step(self)
  if err then error(err, 0) end
  return ev
end

--- `for ev in es:events() do ... end`: the events, across reconnections.
-- The loop ends after a 204, `es:close()`, or when reconnection is off or
-- used up after a clean end; it raises the error that ended the stream
-- otherwise (a non-2xx status, a wrong Content-Type, max_event, a network
-- error when no reconnection is left). The EventSource is the loop's
-- to-be-closed value.
function es_methods:events()
  return step_raise, self, nil, self
end

--- The next event: event, or nil (ended), or nil, err.
es_methods.next = step

--- Stop: closes the current response (its connection slot is free at
-- once); the iterator then ends. Idempotent.
function es_methods:close()
  finish(self)
end

EventSource.__close = es_methods.close

function EventSource.__tostring(self)
  return format("EventSource: %s", self.url)
end

--- `pool:sse(url, opts)`: an EventSource (no I/O until the first step).
local function pool_sse(pool, url, opts)
  if type(url) ~= "string" then
    misuse(format("sse expects a URL string, got %s", type(url)))
  end
  if opts ~= nil and type(opts) ~= "table" then
    misuse(format("sse options must be a table, got %s", type(opts)))
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not SSE_OPTIONS[k] then
      misuse(format("unknown sse option '%s' (headers, last_event_id, "
        .. "reconnect, max_reconnects, max_event, timeout, retry, max_delay, "
        .. "trace)",
        tostring(k)))
    end
  end
  local list, accept = {}, false
  local h = headers.normalize(opts.headers or nil)
  if h then
    for i, p in ipairs(h) do
      list[i] = p
      if lower(p[1]) == "accept" then accept = true end
      if lower(p[1]) == "last-event-id" then
        misuse("set the Last-Event-ID with the last_event_id option")
      end
    end
  end
  if not accept then list[#list + 1] = { "Accept", "text/event-stream" } end
  list[#list + 1] = { "Cache-Control", "no-cache" }
  local p = sse_parser(check_max_event(opts.max_event))
  local id = opts.last_event_id
  if id ~= nil then
    if type(id) ~= "string" then
      misuse(format("last_event_id must be a string, got %s", type(id)))
    end
    if find(id, "[\r\n%z]") then
      misuse("last_event_id must not contain CR, LF or NUL")
    end
    p:set_last_id(id)
  end
  if opts.timeout ~= nil then options.check_timeout(opts.timeout) end
  local mr = opts.max_reconnects
  if mr ~= nil and (mtype(mr) ~= "integer" or mr < 0) then
    misuse("max_reconnects must be a non-negative integer")
  end
  if opts.trace ~= nil and type(opts.trace) ~= "function" then
    misuse(format("trace must be a function, got %s", type(opts.trace)))
  end
  local reconnect = opts.reconnect
  if reconnect == nil then reconnect = true end
  return setmetatable({
    url = url, _pool = pool, _headers = list, _p = p, _timeout = opts.timeout,
    _reconnect = reconnect and true or false, _max_reconnects = mr,
    _retry = opts.retry ~= nil and check_seconds(opts.retry, "retry")
             or DEFAULT_RETRY,
    _max_delay = opts.max_delay ~= nil
                 and check_seconds(opts.max_delay, "max_delay")
                 or DEFAULT_MAX_DELAY,
    _attempts = 0, _reconnects = 0, _failures = 0, _closed = false,
    _trace = opts.trace or pool._trace,
  }, EventSource)
end
-- }==================================================================

--- Installs resp:events(), resp:next_event(), pool:sse() and http.sse().
function M.install(http, resp_methods, pool_methods)
  resp_methods.events = resp_events
  resp_methods.next_event = resp_next_event
  pool_methods.sse = pool_sse
  function http.sse(url, opts)
    return pool_sse(http.default_pool(), url, opts)
  end
  http.EventSource = EventSource
end

return M
