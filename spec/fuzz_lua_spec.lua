-- A Lua-level random tester for the URL and header layer (url.lua,
-- headers.lua) and, through the raw peer's /echo-head, for what the C core
-- then writes on the wire. Each input is checked against an oracle written
-- independently from the rules (RFC 3986 for the URL shapes we accept,
-- RFC 9110 5.1/5.5 for fields): accepted inputs must satisfy the
-- invariants, rejected ones must raise a misuse error naming the problem,
-- and nothing may raise anything else (an "attempt to index" is a bug).
--
-- CHC_FUZZ_SECONDS: how long each part runs (default 3, so `make test`
-- runs it briefly; `make fuzz` runs it for FUZZ_SECONDS). CHC_FUZZ_SEED:
-- replay a seed (each failure message prints the seed).
local H = require "helper"
local http = require "c_http_core"
local url = require "c_http_core.url"
local headers = require "c_http_core.headers"

local SECONDS = tonumber(os.getenv("CHC_FUZZ_SECONDS") or "") or 3
local SEED = tonumber(os.getenv("CHC_FUZZ_SEED") or "") or os.time()
local MAX_ITER = 5e7 -- a bound on top of the time budget

-- Bytes that matter to the parsers, more often than the rest.
local SPECIAL = { ":", "/", "?", "#", "[", "]", "@", "%", "%25", " ", "\t",
  "\r", "\n", "\0", "\127", "\200", "\255", ".", "-", "~", "_", "+", "::",
  "0", "65535", "65536", "http://", "https://", "HTTP://", "ftp://",
  "localhost", "127.0.0.1", "[::1]", "[fe80::1%25eth0]", ",", ";", "\"" }

local rnd = math.random

local function piece()
  local r = rnd(10)
  if r <= 5 then return SPECIAL[rnd(#SPECIAL)] end
  if r <= 8 then
    local t = {}
    for i = 1, rnd(6) do t[i] = string.char(rnd(0x61, 0x7a)) end
    return table.concat(t)
  end
  return string.char(rnd(0, 255))
end

local function random_string(maxp)
  local t = {}
  for i = 1, rnd(0, maxp) do t[i] = piece() end
  return table.concat(t)
end

-- Mutations of valid URLs find more than pure noise.
local URL_SEEDS = { "http://example.com/", "https://Example.COM:8443/a?b=c#d",
  "http://[::1]:80/x", "http://[fe80::1%25eth0]/", "http://h:/p", "http://h?q" }

local function random_url()
  local r = rnd(3)
  if r == 1 then return random_string(12) end
  local s = URL_SEEDS[rnd(#URL_SEEDS)]
  for _ = 1, rnd(3) do
    local at = rnd(0, #s)
    local cut = rnd(0, 2)
    s = s:sub(1, at) .. (rnd(2) == 1 and piece() or "") .. s:sub(at + 1 + cut)
  end
  return s
end

local function run_for(secs, body)
  local deadline, n = http.now() + secs, 0 -- wall clock: requests wait
  while http.now() < deadline and n < MAX_ITER do
    n = n + 1
    body(n)
  end
  return n
end

local function misuse_like(msg, words)
  return type(msg) == "string" and msg:find(words, 1, true) ~= nil
end

local function check_url(s)
  local ok, u, err = pcall(url.parse, s)
  local why = ("seed %d, URL %q"):format(SEED, s)
  if not ok then
    assert(misuse_like(u, "URL"), why .. " raised something else: " .. tostring(u))
    -- what a valid URL may not contain made it fail, or its shape did
    return nil
  end
  if u == nil then
    assert(err and err.kind == "UnsupportedProtocol", why)
    assert(not s:lower():find("^https?://"), why .. ": http(s) refused")
    return nil
  end
  assert(u.scheme == "http" or u.scheme == "https", why)
  assert(math.type(u.port) == "integer" and u.port >= 1 and u.port <= 65535, why)
  assert(type(u.host) == "string" and u.host ~= "", why)
  local bare = u.host:gsub("%%.*$", "") -- an IPv6 zone keeps its case
  assert(bare == bare:lower(), why .. ": host not lower-cased")
  assert(not s:find("[%c \128-\255]"), why .. ": control/space/non-ASCII accepted")
  assert(not s:find("@", 1, true) or s:find("^[^/]*//[^/?#@]*[/?#]"), why)
  assert(u.target:sub(1, 1) == "/", why .. ": target " .. u.target)
  assert(not u.target:find("#", 1, true), why .. ": fragment kept")
  local ahost = u.host:find(":", 1, true)
    and "[" .. u.host:gsub("%%.*$", "") .. "]" or u.host
  local default = u.scheme == "http" and 80 or 443
  assert.equals(u.port == default and ahost or (ahost .. ":" .. u.port),
                u.authority, why)
  return u
end

-- RFC 9110: a field name is a token; a value has no CR, LF, NUL or other
-- control character but HTAB.
local function token(s) return s ~= "" and not s:find("[^%w!#$%%&'*+%-.^_`|~]") end
local function value_ok(s) return not s:find("[%z\1-\8\10-\31\127]") end

describe("random inputs to the URL and header layer", function()
  after_each(H.check_clean)

  it("url.parse accepts only well-formed URLs and says why it refuses", function()
    math.randomseed(SEED)
    local accepted = 0
    local n = run_for(SECONDS, function()
      if check_url(random_url()) then accepted = accepted + 1 end
    end)
    assert.is_true(n > 100, "too few iterations")
    assert.is_true(accepted > 0, "no random URL was accepted: the generator is broken")
  end)

  it("headers.new accepts exactly the valid fields", function()
    math.randomseed(SEED + 1)
    local n = run_for(SECONDS, function()
      local name, value = random_string(4), random_string(4)
      local why = ("seed %d, field %q: %q"):format(SEED + 1, name, value)
      local ok, h = pcall(headers.new, { { name, value } })
      local expect = token(name) and value_ok(value)
      assert(ok == expect, why .. (ok and " accepted" or " refused: " .. tostring(h)))
      if ok then
        assert.equals(value, h:get(name), why)
        assert.equals(value, h:get(name:upper()), why)
      else
        assert(misuse_like(h, token(name) and "invalid value for header"
                                         or "header name"), why .. ": " .. h)
      end
    end)
    assert.is_true(n > 100, "too few iterations")
  end)

  it("what the Lua layer accepts, the core sends as given", function()
    math.randomseed(SEED + 2)
    local sent = 0
    -- each request is a round trip: a fraction of the budget, bounded
    run_for(SECONDS, function()
      if sent >= 150 * SECONDS then return end
      local path = "/echo-head?" .. random_string(5)
      local name, value = random_string(3), random_string(3)
      local okp, u = pcall(url.parse, H.raw .. path)
      if not okp or not u or not token(name) or not value_ok(value) then return end
      local why = ("seed %d, path %q, field %q: %q"):format(SEED + 2, path, name, value)
      local resp, err = http.request("GET", H.raw .. path,
        { headers = { { name, value } }, timeout = 10 })
      assert(resp, why .. ": " .. tostring(err))
      local head = resp:read()
      resp:close()
      sent = sent + 1
      assert(head:sub(1, #("GET " .. u.target .. " HTTP/1.1\r\n"))
             == "GET " .. u.target .. " HTTP/1.1\r\n", why .. ": " .. head)
      -- RFC 9110 5.5: leading and trailing whitespace is not part of a value
      local trimmed = value:match("^[ \t]*(.-)[ \t]*$")
      if name:lower() ~= "host" and name:lower() ~= "content-length"
         and name:lower() ~= "transfer-encoding" and name:lower() ~= "connection" then
        local line = "\r\n" .. name .. ":"
        local at = head:find(line, 1, true)
        assert(at, why .. ": field missing in " .. head)
        local got = head:sub(at + #line):match("^[ \t]*(.-)[ \t]*\r\n")
        assert.equals(trimmed, got, why)
      end
    end)
    assert.is_true(sent > 10, "too few requests went out")
  end)
end)
