--[[
doctest.lua: runs every Lua code block of Markdown files, so the docs
cannot drift from the library.

  lua5.4 tools/doctest.lua FILE.md...

A block is a fenced block whose info string is `lua`. It is skipped when the
line just before its fence (blank lines aside) is an HTML comment that
starts with `notest`, e.g.

  <!-- notest: a signature, not a program -->

Mark that way the fragments (signatures, `x --> value` listings) and blocks
that need servers or files the doc test does not have. Every other block
runs in a fresh interpreter (CHC_DOC_LUA, default lua5.4), in a scratch
directory, under a time limit (CHC_DOC_TIMEOUT seconds, default 30), after
this prelude (globals a block may use without defining them):

  http      require "c_http_core"
  url       CHC_DOC_HTTP .. "/1k"; urls: { url, url, url }
  slow_url  CHC_DOC_SLOW (a URL that answers in about a second or less)
  pool      an http.Pool(); loop: http.loop()
  resp      (on first use) an open response for url
  out       a file open for writing (to /dev/null)

and with "http://127.0.0.1:8080" in the block replaced by CHC_DOC_HTTP
(the README's and API.md's example origin). The scratch directory holds
`big.iso` (256 KiB). A block fails when the interpreter exits non-zero
(an error, a failed assert). Output: one line per block, then
"doctest: N run, S skipped, F failed"; exit status 1 when F > 0 or N = 0.
]]

local files = { ... }
if #files == 0 then
  io.stderr:write("usage: lua5.4 tools/doctest.lua FILE.md...\n")
  os.exit(2)
end

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local LUA = env("CHC_DOC_LUA", "lua5.4")
local HTTP = env("CHC_DOC_HTTP", "http://127.0.0.1:8080")
local SLOW = env("CHC_DOC_SLOW", HTTP .. "/1k")
local TIMEOUT = tonumber(env("CHC_DOC_TIMEOUT", "30"))

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The blocks of one Markdown text: { line =, code =, skip = reason|nil }.
local function blocks(text)
  local out, lines = {}, {}
  for l in (text .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = l end
  local i = 1
  while i <= #lines do
    local fence, info = lines[i]:match("^%s*(```+)%s*(.-)%s*$")
    if fence then
      local start, body = i, {}
      i = i + 1
      while i <= #lines and not lines[i]:match("^%s*" .. fence .. "%s*$") do
        body[#body + 1] = lines[i]
        i = i + 1
      end
      if info == "lua" then
        local skip
        local j = start - 1
        while j >= 1 and lines[j]:match("^%s*$") do j = j - 1 end
        if j >= 1 then skip = lines[j]:match("^%s*<!%-%-%s*(notest.-)%s*%-%->%s*$") end
        out[#out + 1] = { line = start, code = table.concat(body, "\n"),
                          skip = skip }
      end
    end
    i = i + 1
  end
  return out
end

local PRELUDE = [[
http = require "c_http_core"
url = %q .. "/1k"
urls = { url, url, url }
slow_url = %q
pool = http.Pool()
loop = http.loop()
out = assert(io.open("/dev/null", "w"))
setmetatable(_G, { __index = function(_, k)
  if k == "resp" then
    local r = assert(pool:request("GET", url))
    rawset(_G, "resp", r)
    return r
  end
end })
]]

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. q(tmp)))
do
  local f = assert(io.open(tmp .. "/big.iso", "wb"))
  f:write(string.rep("0123456789abcdef", 16384))
  f:close()
end

local nrun, nskip, nfail = 0, 0, 0
for _, path in ipairs(files) do
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  for _, b in ipairs(blocks(text)) do
    local where = path .. ":" .. b.line
    if b.skip then
      nskip = nskip + 1
      print("skip " .. where .. " (" .. b.skip .. ")")
    else
      nrun = nrun + 1
      local code = b.code:gsub("http://127%.0%.0%.1:8080", function() return HTTP end)
      local script = tmp .. "/block.lua"
      local sf = assert(io.open(script, "w"))
      sf:write(PRELUDE:format(HTTP, SLOW), "\n-- ", where, "\n", "do\n", code, "\nend\n")
      sf:close()
      local p = assert(io.popen("cd " .. q(tmp) .. " && timeout -k 2 " .. TIMEOUT .. " " ..
                                LUA .. " " .. q(script) .. " 2>&1"))
      local output = p:read("a")
      local ok, _, code_ = p:close()
      if ok then
        print("ok   " .. where)
      else
        nfail = nfail + 1
        print("FAIL " .. where .. " (exit " .. tostring(code_) .. ")")
        io.write((output:gsub("[^\n]+", "     | %0")))
        if output:sub(-1) ~= "\n" then io.write("\n") end
      end
    end
  end
end
os.execute("rm -rf " .. q(tmp))
print(("doctest: %d run, %d skipped, %d failed"):format(nrun, nskip, nfail))
os.exit(nfail == 0 and nrun > 0 and 0 or 1)
