--- WebSocket client (RFC 6455, permessage-deflate of RFC 7692).
--
--     local ws = assert(http.websocket("wss://example.com/chat",
--                                      { protocols = { "chat" } }))
--     ws:send("hello")
--     local msg, kind = ws:receive()
--     ws:close()
--
-- `http.websocket(url, opts)` and `pool:websocket(url, opts)` are installed
-- by init.lua (`M.install`). See docs/API.md, "WebSocket".
--
-- @module c_http_core.ws

local core = require "c_http_core.core"
local errors = require "c_http_core.errors"
local url = require "c_http_core.url"
local headers = require "c_http_core.headers"
local options = require "c_http_core.options"

local type, pairs, setmetatable, tostring, error, ipairs, select =
      type, pairs, setmetatable, tostring, error, ipairs, select
local format = string.format
local mtype = math.type
local misuse = errors.misuse
local now, trace_call = core.now, core.trace_call

local M = {}
errors.own_source()

local WebSocket = { __name = "c_http_core.WebSocket" }
local methods = {}

local INFO = { protocol = 1, extensions = 2, version = 3, close_code = 4,
               close_reason = 5 }

function WebSocket.__index(self, k)
  local m = methods[k]
  if m then return m end
  local i = INFO[k]
  if i then
    local v = select(i, self._core:info())
    if (k == "protocol" or k == "extensions") and v == "" then return nil end
    return v
  end
  return nil
end

-- Tracing (docs/API.md, "Tracing"): lifecycle events only, made here in
-- the caller's own calls; nothing at all without a trace function.
local function trace(fn, event, info)
  info.t = now()
  trace_call(fn, event, info)
end

-- The close handshake's events, once: `by` "local" (our close) or "peer".
local function trace_close(self, by, code, reason, err)
  local fn = self._trace
  if not fn or self._close_traced then return end
  self._close_traced = true
  local info = { code = code, reason = reason, by = by }
  if by == "peer" then trace(fn, "ws_close.started", info) end
  info = { code = self.close_code, reason = self.close_reason, by = by }
  if err then
    info.error = err
    trace(fn, "ws_close.failed", info)
  else
    trace(fn, "ws_close.complete", info)
  end
end

-- nil, err[, code, reason] from the core: the peer's close on the error.
local function ended(self, msg, err, code, reason)
  if err and code then err.code, err.reason = code, reason end
  -- (a close of ours under way reports itself when it returns)
  if err and self._trace and err.kind == "Closed" and not self._closing then
    trace_close(self, "peer", code, reason)
  end
  return msg, err
end

-- One message from an iterator: a frame per part. The last part is known
-- when the iterator returns nil, so one part is held back; the core keeps
-- other tasks' sends out until the last one. An iterator that fails, or a
-- part that is not a string, leaves the message unfinished: nothing else
-- may follow it on the wire, so the WebSocket is dropped.
local function send_parts(self, fn, kind)
  local c = self._core
  local ok, cur = pcall(fn)
  if not ok then error(cur, 0) end -- nothing sent yet
  if cur == nil then return c:send("", kind) end
  local begun = false
  while true do
    if type(cur) ~= "string" then
      if begun then c:drop() end
      misuse(format("send: the iterator gave a %s, not a string", type(cur)))
    end
    local nxt
    ok, nxt = pcall(fn)
    if not ok then
      if begun then c:drop() end
      error(nxt, 0)
    end
    if nxt == nil then return c:send(cur, kind) end
    local r, err = c:send(cur, kind, true)
    if not r then return r, err end
    begun, cur = true, nxt
  end
end

--- Send a message: `kind` "text" (default; must be UTF-8) or "binary".
-- `data` is a string, or an iterator function giving the message's parts
-- (strings) until nil: each part goes out as a frame when the queue has
-- room, so a large message need never be in memory whole (e.g.
-- `ws:send(file:lines(65536), "binary")`).
-- Waits while more than a high-water mark is queued and unsent.
-- @treturn boolean true, or `nil, err`
function methods:send(data, kind)
  local t = type(data)
  if t ~= "string" and t ~= "function" then
    misuse(format("send expects a string or an iterator function, got %s", t))
  end
  if kind ~= nil and kind ~= "text" and kind ~= "binary" then
    misuse(format("send: kind must be \"text\" or \"binary\", got %s",
                  tostring(kind)))
  end
  if t == "function" then return send_parts(self, data, kind) end
  return self._core:send(data, kind)
end

--- The next message: `msg, kind` ("text" or "binary"), or `nil, err` once
-- the WebSocket is closed or failed (`err.code`, `err.reason`: the peer's
-- close, when one arrived).
function methods:receive()
  local msg, kind, code, reason = self._core:receive()
  if msg then return msg, kind end -- (no vararg call on the hot path)
  return ended(self, msg, kind, code, reason)
end

--- The next part of the current message, for messages too big to hold
-- whole: `part, kind, last`, where `part` has at least `size` bytes (default
-- 1 MiB) unless `last` is true, which it is for the message's final part.
-- The library holds about `size` bytes of a message then, not all of it.
-- A part of a text message may end inside a UTF-8 sequence (the message as
-- a whole is checked). `nil, err` at the end, as `receive`; `receive` after
-- some parts gives the rest of that message.
-- Messages are gathered whole until receive_part is first called: a
-- message that began arriving before then gives all that came as its
-- first part.
function methods:receive_part(size)
  if size ~= nil and (mtype(size) ~= "integer" or size < 1) then
    misuse(format("receive_part: size must be a positive integer, got %s",
                  tostring(size)))
  end
  local part, kind, last, reason = self._core:receive_part(size)
  if part then return part, kind, last end
  return ended(self, part, kind, last, reason)
end

-- messages(): ends at a close handshake; raises on a failure.
local function next_message(self)
  local msg, kind = self:receive()
  if msg then return msg, kind end
  if kind.kind == "Closed" then return nil end
  error(kind, 0)
end

--- Iterate over messages: `for msg, kind in ws:messages() do ... end`. The
-- loop ends at the close handshake and raises the error of a failure.
function methods:messages()
  return next_message, self
end

--- Send a ping (payload at most 125 bytes).
function methods:ping(data)
  if data ~= nil and type(data) ~= "string" then
    misuse(format("ping expects a string, got %s", type(data)))
  end
  return self._core:ping(data)
end

--- Close: sends our close (`code` default 1000, `reason`) and waits for
-- the peer's at most `close_timeout` seconds. Idempotent.
function methods:close(code, reason)
  if code ~= nil and mtype(code) ~= "integer" then
    misuse(format("close code must be an integer, got %s", type(code)))
  end
  if reason ~= nil and type(reason) ~= "string" then
    misuse(format("close reason must be a string, got %s", type(reason)))
  end
  local fn = self._trace
  if not fn or self._close_traced then return self._core:close(code, reason) end
  local by = self.close_code and "peer" or "local"
  self._closing = true
  if by == "local" then
    trace(fn, "ws_close.started", { code = code or 1000, reason = reason or "",
                                    by = by })
  end
  local ok, err = self._core:close(code, reason)
  trace_close(self, by, by == "peer" and self.close_code or code,
              by == "peer" and self.close_reason or reason, not ok and err)
  return ok, err
end

WebSocket.__close = function(self) self._core:drop() end

function WebSocket.__tostring(self)
  return format("WebSocket: %s", tostring(self.version))
end

M.WebSocket = WebSocket

local WS_OPTIONS = {
  protocols = true, headers = true, compress = true, max_message = true,
  no_context_takeover = true,
  timeout = true, ping_interval = true, ping_timeout = true,
  close_timeout = true, trace = true,
}
local SCHEME = { ws = "http", wss = "https" }

local function check_opts(opts)
  local o = { compress = true }
  if opts == nil then return o, nil, nil end
  if type(opts) ~= "table" then
    misuse(format("websocket options must be a table, got %s", type(opts)))
  end
  for k in pairs(opts) do
    if not WS_OPTIONS[k] then
      misuse(format("unknown websocket option '%s'", tostring(k)))
    end
  end
  if opts.protocols ~= nil then
    if type(opts.protocols) ~= "table" then
      misuse("protocols must be a list of strings")
    end
    for _, p in ipairs(opts.protocols) do
      if type(p) ~= "string" then misuse("protocols must be a list of strings") end
    end
    o.protocols = opts.protocols
  end
  if opts.compress ~= nil then o.compress = opts.compress and true or false end
  if opts.no_context_takeover ~= nil then
    if type(opts.no_context_takeover) ~= "boolean" then
      misuse("no_context_takeover must be a boolean")
    end
    o.no_context_takeover = opts.no_context_takeover
  end
  if opts.max_message ~= nil then
    if mtype(opts.max_message) ~= "integer" or opts.max_message < 1 then
      misuse("max_message must be a positive integer")
    end
    o.max_message = opts.max_message
  end
  for _, k in ipairs { "ping_interval", "ping_timeout", "close_timeout" } do
    local v = opts[k]
    if v ~= nil then options.check_seconds(v, k) end
    o[k] = v
  end
  if opts.trace ~= nil and type(opts.trace) ~= "function" then
    misuse(format("trace must be a function, got %s", type(opts.trace)))
  end
  o.trace = opts.trace
  return o, headers.normalize(opts.headers or nil),
         options.check_timeout(opts.timeout)
end

--- Open a WebSocket through `pool_core` (the C pool); `pool_trace`: the
-- pool's trace function (opts.trace wins).
function M.open(pool_core, target, opts, pool_trace)
  if type(target) ~= "string" then
    misuse(format("websocket expects a URL string, got %s", type(target)))
  end
  local o, hdrs, timeout = check_opts(opts)
  local scheme, rest = target:match("^(%a[%w+.%-]*)(://.*)$")
  local hs = scheme and SCHEME[scheme:lower()]
  if not hs then
    if scheme and (scheme:lower() == "http" or scheme:lower() == "https") then
      hs = scheme:lower()
    else
      return nil, errors.new("UnsupportedProtocol",
        format("unsupported WebSocket URL '%s' (ws:// or wss://)", target))
    end
  end
  local u, err = url.parse(hs .. rest)
  if not u then return nil, err end
  local fn = o.trace or pool_trace
  o.trace = nil
  if fn then trace(fn, "ws_handshake.started", {}) end
  local c, e, status = core.websocket(pool_core, u.scheme, u.host, u.port, u.target,
                                           hdrs, timeout, o, fn)
  if not c then
    if status then e.status = status end
    if fn then trace(fn, "ws_handshake.failed", { status = status, error = e }) end
    return nil, e
  end
  -- send and receive as fields of the object itself: found there, they
  -- cost no call of WebSocket.__index (a function, for the properties),
  -- about 550 instructions per echoed message (callgrind, W8)
  local ws = setmetatable({ _core = c, _trace = fn, send = methods.send,
                            receive = methods.receive }, WebSocket)
  if fn then
    trace(fn, "ws_handshake.complete", { protocol = ws.protocol,
      extensions = ws.extensions, version = ws.version })
  end
  return ws
end

--- Adds `http.websocket` and `pool:websocket`.
function M.install(http, pool_methods)
  function pool_methods:websocket(target, opts)
    return M.open(self._core, target, opts, self._trace)
  end
  function http.websocket(target, opts)
    return http.default_pool():websocket(target, opts)
  end
end

return M
