-- Issue 14: the installs, for real. `make install DESTDIR=...` and
-- `luarocks make --tree ...` each give a tree that a lua5.4 with only that
-- tree on its paths loads c_http_core from (and makes a request with);
-- `make install PREFIX=...` gives a c_http_core.pc that examples/embed/host.c
-- builds against with `cc host.c $(pkg-config --cflags --libs c_http_core)`.
-- Always against the plain build (BUILD=build), in a clean environment (no
-- LD_PRELOAD of a sanitizer run, no LUA_PATH of the test runner).
local H = require "helper"
local http = require "c_http_core"

local root = assert(io.popen("pwd")):read("l")
local ENV = "env -i PATH=" .. H.q(os.getenv("PATH") or "/usr/bin:/bin") .. " HOME=/nonexistent "

local function run(cmd)
  local p = assert(io.popen("(" .. cmd .. ") 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end

local function must(cmd)
  local out, ok, code = run(cmd)
  assert(ok, ("%s\nexited with %s:\n%s"):format(cmd, tostring(code), out))
  return out
end

-- A lua5.4 run from / with only `lmod` and `cmod` on its paths: it must find
-- c_http_core there (and nowhere else) and get a body from the raw peer.
local PROBE = [[
local http = require "c_http_core"
local lmod, cmod = ...
local where = package.searchpath("c_http_core", package.path)
local cwhere = package.searchpath("c_http_core.core", package.cpath)
assert(where and where:sub(1, #lmod) == lmod, "init.lua from " .. tostring(where))
assert(cwhere and cwhere:sub(1, #cmod) == cmod, "core.so from " .. tostring(cwhere))
local resp = assert(http.request("GET", arg[3] .. "/hello"))
io.write(http.VERSION, " ", resp.status, " ", resp:read(), "\n")
]]

local function probe_script(lmod, cmod)
  local script = H.tmp .. "/probe.lua"
  local f = assert(io.open(script, "w")); f:write(PROBE); f:close()
  return must("cd / && " .. ENV ..
    "LUA_PATH=" .. H.q(lmod .. "/?.lua;" .. lmod .. "/?/init.lua") ..
    " LUA_CPATH=" .. H.q(cmod .. "/?.so") ..
    " lua5.4 " .. H.q(script) .. " " .. H.q(lmod) .. " " .. H.q(cmod) ..
    " " .. H.q(H.raw))
end

describe("install", function()
  it("has one version: http.VERSION, the rockspec, the .pc", function()
    local out = must("ls rockspecs")
    assert.equals("c_http_core-" .. http.VERSION .. "-1.rockspec\n", out)
    local spec = must("cat rockspecs/c_http_core-" .. http.VERSION .. "-1.rockspec")
    assert.matches('version = "' .. http.VERSION:gsub("%.", "%%.") .. '%-1"', spec)
    must("make -s BUILD=build pc")
    assert.matches("\nVersion: " .. http.VERSION:gsub("%.", "%%.") .. "\n",
                   must("cat build/c_http_core.pc"))
  end)

  it("make install DESTDIR=... gives a tree lua5.4 loads from anywhere", function()
    local d = H.tmp .. "/destdir"
    must("make -s BUILD=build install DESTDIR=" .. H.q(d) .. " PREFIX=/usr/local")
    local out = probe_script(d .. "/usr/local/share/lua/5.4", d .. "/usr/local/lib/lua/5.4")
    assert.equals(http.VERSION .. " 200 hello\n", out)
    for _, f in ipairs{ "lib/libc_http_core.a", "lib/libc_http_core.so",
                        "lib/libc_http_core.so.0", "include/c_http_core/chc.h",
                        "lib/pkgconfig/c_http_core.pc" } do
      must("test -e " .. H.q(d .. "/usr/local/" .. f))
    end
    assert.matches("SONAME%s+libc_http_core%.so%.0",
                   must("objdump -p " .. H.q(d .. "/usr/local/lib/libc_http_core.so")))
    must("make -s BUILD=build uninstall DESTDIR=" .. H.q(d) .. " PREFIX=/usr/local")
    assert.equals("", must("find " .. H.q(d) .. " -type f -o -type l"))
  end)

  it("luarocks make --tree ... installs the rock", function()
    local t = H.tmp .. "/rocktree"
    must(ENV .. "luarocks --lua-version 5.4 make --tree " .. H.q(t) ..
         " rockspecs/c_http_core-" .. http.VERSION .. "-1.rockspec")
    local out = probe_script(t .. "/share/lua/5.4", t .. "/lib/lua/5.4")
    assert.equals(http.VERSION .. " 200 hello\n", out)
  end)

  it("examples/embed/host.c builds with pkg-config against the install and runs", function()
    local p = H.tmp .. "/prefix"
    must("make -s BUILD=build install PREFIX=" .. H.q(p))
    local bin = H.tmp .. "/host"
    must("cd / && " .. ENV .. "PKG_CONFIG_PATH=" .. H.q(p .. "/lib/pkgconfig") ..
         " sh -c 'cc " .. root .. "/examples/embed/host.c -o " .. bin ..
         " $(pkg-config --cflags --libs c_http_core)'")
    local out = must("cd / && " .. ENV .. "LD_LIBRARY_PATH=" .. H.q(p .. "/lib") ..
                     " " .. H.q(bin) .. " " .. H.q(root .. "/examples/embed/script.lua") ..
                     " " .. H.q(H.raw .. "/drip3") .. " 3")
    assert.matches("host: 3 responses, 3 ok", out, 1, true)
    assert.matches("libc_http_core.so.0 => " .. p:gsub("%p", "%%%0"),
                   must(ENV .. "LD_LIBRARY_PATH=" .. H.q(p .. "/lib") .. " ldd " .. H.q(bin)))
  end)
end)
