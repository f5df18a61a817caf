--- Header lists.
--
-- A Headers object is an array of `{name, value}` pairs (order and
-- duplicates kept, names as given) with methods:
--
--     local h = Headers{ {"Accept", "*/*"}, {"X-A", "1"}, {"x-a", "2"} }
--     h:get("x-a")        --> "1"   (case-insensitive, first)
--     h:get_all("X-A")    --> {"1", "2"}
--     for i, pair in ipairs(h) do print(pair[1], pair[2]) end
--     #h                  --> 3
--
-- The library never modifies a Headers object after building it; treat it
-- as read-only (it is not frozen: it is a plain array, for speed).
--
-- @module c_http_core.headers

local errors = require "c_http_core.errors"

local type, tostring, setmetatable, getmetatable, pairs =
      type, tostring, setmetatable, getmetatable, pairs
local find, lower, format = string.find, string.lower, string.format
local mtype, sort = math.type, table.sort
local misuse = errors.misuse

local M = {}
errors.own_source()

local Headers = { __name = "c_http_core.Headers" }
local methods = {}
M.Headers = Headers

-- h[i] is the i-th {name, value} pair (a plain field, never reaching here);
-- h["content-type"] is h:get("content-type"), case-insensitive. Method names
-- win over header names: use h:get("get") for a header called "get".
function Headers.__index(self, k)
  local m = methods[k]
  if m ~= nil then return m end
  if type(k) == "string" then return methods.get(self, k) end
  return nil
end

-- {==================================================================
-- Validation (RFC 9110 §5.1 token names; values without CR, LF, NUL or
-- other control characters except HTAB). Header names repeat across
-- requests, so valid names are remembered in a bounded cache.

local NOT_TOKEN = "[^%w!#$%%&'*+%-.^_`|~]"
local BAD_VALUE = "[%z\1-\8\10-\31\127]"

local name_ok, name_ok_count, NAME_CACHE_MAX = {}, 0, 256

local function check_name(name)
  if name_ok[name] then return name end
  local t = type(name)
  if t ~= "string" then
    misuse(format("header name must be a string, got %s", t))
  end
  if name == "" or find(name, NOT_TOKEN) then
    misuse(format("invalid header name '%s'", name))
  end
  if name_ok_count >= NAME_CACHE_MAX then name_ok, name_ok_count = {}, 0 end
  name_ok[name], name_ok_count = true, name_ok_count + 1
  return name
end

-- Returns the value as a string (numbers converted; 5.0 gives "5").
local function check_value(name, value)
  local t = type(value)
  if t == "number" then
    if mtype(value) == "float" and value == value // 1
       and value > -2^63 and value < 2^63 then
      value = format("%d", value)
    else
      value = tostring(value)
    end
  elseif t ~= "string" then
    misuse(format("value of header '%s' must be a string or a number, got %s",
                  name, t))
  elseif find(value, BAD_VALUE) then
    misuse(format("invalid value for header '%s' (control characters such " ..
                  "as CR or LF are not allowed)", name))
  end
  return value
end

M.check_name, M.check_value = check_name, check_value
-- }==================================================================

--- Build a Headers object.
-- @param[opt] t a list of `{name, value}` pairs; or a map `{name = value}`
--   whose values may be lists (one header per element), sorted by name for a
--   deterministic order; or a Headers object (returned as is); or nil (empty)
-- @treturn Headers
-- @raise on anything else, an invalid name, or an invalid value
function M.new(t)
  if t == nil then return setmetatable({}, Headers) end
  if type(t) ~= "table" then
    misuse(format("headers must be a table, got %s", type(t)))
  end
  if getmetatable(t) == Headers then return t end
  local h, n = {}, #t
  if n > 0 then
    local count = 0
    for _ in pairs(t) do count = count + 1 end
    if count ~= n then
      misuse("headers must be either a list of {name, value} pairs or a map, not both")
    end
    for i = 1, n do
      local p = t[i]
      if type(p) ~= "table" then
        misuse(format("header #%d must be a {name, value} pair, got %s", i, type(p)))
      end
      local name = check_name(p[1])
      h[i] = { name, check_value(name, p[2]) }
    end
  else
    local names = {}
    for name in pairs(t) do names[#names + 1] = check_name(name) end
    sort(names)
    for i = 1, #names do
      local name = names[i]
      local v = t[name]
      if type(v) == "table" then
        for j = 1, #v do h[#h + 1] = { name, check_value(name, v[j]) } end
      else
        h[#h + 1] = { name, check_value(name, v) }
      end
    end
  end
  return setmetatable(h, Headers)
end

--- Headers to hand to the transport, validating without copying when possible.
-- A Headers object is returned as is (it was validated when built); a list of
-- valid string pairs is returned as is; anything else goes through `new`.
-- @param t as for `new`
-- @return a list of `{name, value}` string pairs
function M.normalize(t)
  if t == nil or getmetatable(t) == Headers then return t end
  if type(t) == "table" then
    local n = #t
    if n > 0 then
      local count = 0
      for _ in pairs(t) do count = count + 1 end
      if count == n then
        for i = 1, n do
          local p = t[i]
          if type(p) ~= "table" or type(p[2]) ~= "string" then return M.new(t) end
          local name, value = p[1], p[2]
          if not name_ok[name] then check_name(name) end
          if find(value, BAD_VALUE) then check_value(name, value) end
        end
        return t
      end
    end
  end
  return M.new(t)
end

--- Build a Headers object from the flat list the C core returns
-- (`{n1, v1, n2, v2, ...}`). Not validated: the core parsed them.
-- @tparam table flat
-- @treturn Headers
function M.from_flat(flat)
  local h, j = {}, 1
  for i = 1, #flat, 2 do
    h[j] = { flat[i], flat[i + 1] }
    j = j + 1
  end
  return setmetatable(h, Headers)
end

-- Case-insensitive name comparison: equal strings first, then (only for
-- names of the same length) the lowercase forms.
local function same(a, lname, len)
  return a == lname or (#a == len and lower(a) == lname)
end

--- The first value of a header, or nil.
-- @tparam string name case-insensitive
-- @treturn ?string
function methods:get(name)
  if type(name) ~= "string" then
    misuse(format("header name must be a string, got %s", type(name)))
  end
  local lname, len = lower(name), #name
  for i = 1, #self do
    local p = self[i]
    if same(p[1], lname, len) then return p[2] end
  end
  return nil
end

--- All values of a header, in order.
-- @tparam string name case-insensitive
-- @treturn table a list of strings (empty when absent)
function methods:get_all(name)
  if type(name) ~= "string" then
    misuse(format("header name must be a string, got %s", type(name)))
  end
  local lname, len, out = lower(name), #name, {}
  for i = 1, #self do
    local p = self[i]
    if same(p[1], lname, len) then out[#out + 1] = p[2] end
  end
  return out
end

return M
