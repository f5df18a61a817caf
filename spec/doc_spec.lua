-- The doc test (tools/doctest.lua): every Lua block of README.md and
-- docs/API.md runs against the test peers (nginx for the examples' origin,
-- the raw peer's /drip3 as the slow URL), unless marked <!-- notest -->.
local H = require "helper"

local root = assert(io.popen("pwd")):read("l")

local function doctest(files)
  local cmd = "LUA_PATH=" .. H.q(root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;;") ..
    " LUA_CPATH=" .. H.q(root .. "/" .. H.build .. "/?.so;;") ..
    " CHC_DOC_HTTP=" .. H.q(H.nginx) .. " CHC_DOC_SLOW=" .. H.q(H.raw .. "/drip3") ..
    " lua5.4 tools/doctest.lua " .. files .. " 2>&1"
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

describe("doc test", function()
  it("runs every Lua block of README.md and docs/API.md", function()
    local ok, out = doctest("README.md docs/API.md")
    assert(ok, out)
    local n = tonumber(out:match("doctest: (%d+) run"))
    assert.is_true(n >= 10, out)
  end)

  it("fails on a broken block, skips a marked one", function()
    local md = H.tmp .. "/doc.md"
    local f = assert(io.open(md, "w"))
    f:write("# t\n\n```lua\nassert(http.VERSION)\n```\n\n<!-- notest: fragment -->\n",
            "```lua\nthis is not Lua\n```\n\n```lua\n",
            "local r = assert(http.request('GET', 'http://127.0.0.1:8080/nope'))\n",
            "assert(r.status == 200, 'status ' .. r.status)\n```\n")
    f:close()
    local ok, out = doctest(H.q(md))
    assert.is_falsy(ok)
    assert.matches("ok   " .. md:gsub("%p", "%%%0") .. ":3", out)
    assert.matches("skip .-:8 %(notest: fragment%)", out)
    assert.matches("FAIL .-:12", out)
    assert.matches("status 404", out, 1, true)
    assert.matches("doctest: 2 run, 1 skipped, 1 failed", out, 1, true)
  end)
end)
