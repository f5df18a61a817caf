-- The example scripts, run as separate lua5.4 processes against the peers.
-- They inherit LUA_PATH/LUA_CPATH from spec/run.sh (and, in ASan runs,
-- LD_PRELOAD, so they load the ASan build with its runtime).
local H = require "helper"

local LUA = os.getenv("LUA") or "lua5.4"

-- run(script, args [, stdin_path]) -> stdout, stderr, exit code
local function run(script, args, stdin_path)
  local errf = H.tmpname("stderr")
  local cmd = ("%s examples/%s %s 2>%s"):format(LUA, script, args, H.q(errf))
  if stdin_path then cmd = cmd .. " <" .. H.q(stdin_path) end
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local f = assert(io.open(errf, "rb"))
  local err = f:read("a")
  f:close()
  os.remove(errf)
  return out, err, code
end

local function fetch(args, stdin_path)
  return run("fetch.lua", args, stdin_path)
end

local function closed_port()
  local out = H.sh("/usr/bin/python3 -c 'import socket; s = socket.socket(); " ..
                   "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
  return tonumber(out)
end

describe("examples/fetch.lua", function()
  it("GETs to stdout", function()
    local out, err, code = fetch(H.q(H.nginx .. "/small"))
    assert.equals(0, code, err)
    assert.equals("Hello, World!", out)
    assert.equals("", err)
  end)

  it("streams to a file with -o, a progress bar with --progress", function()
    local path = H.tmpname("fetch-1m")
    local out, err, code = fetch("-o " .. H.q(path) .. " " .. H.q(H.nginx .. "/1m"))
    assert.equals(0, code, err)
    assert.equals("", out)
    assert.equals("", err)                  -- stderr is no terminal here
    assert.equals(H.www_sha256("1m"), H.sha256_file(path))
    out, err, code = fetch("--progress -o " .. H.q(path) .. " " .. H.q(H.nginx .. "/64k"))
    assert.equals(0, code, err)
    assert.is_truthy(err:find("100%%  64.0 KiB / 64.0 KiB"), err)
    assert.equals(H.www_sha256("64k"), H.sha256_file(path))
    os.remove(path)
  end)

  it("shows the response head with -v", function()
    local out, err, code = fetch("-v " .. H.q(H.nginx .. "/small"))
    assert.equals(0, code, err)
    assert.equals("Hello, World!", out)
    assert.is_truthy(err:find("> GET " .. H.nginx .. "/small\n", 1, true), err)
    assert.is_truthy(err:find("< HTTP/1.1 200 OK\n", 1, true), err)
    assert.is_truthy(err:find("< Content-Length: 13\n", 1, true), err)
    assert.is_truthy(err:find("\n%* head after %d+%.%d+ s on a new connection\n"), err)
  end)

  it("sends headers and a method", function()
    local out, err, code = fetch("-X put -H 'X-A: 1' -H 'x-b:  two words ' " ..
                                 H.q(H.raw .. "/echo-head"))
    assert.equals(0, code, err)
    assert.is_truthy(out:find("^PUT /echo%-head HTTP/1%.1\r\n"), out)
    assert.is_truthy(out:find("\r\nX-A: 1\r\nx-b: two words\r\n", 1, true), out)
  end)

  it("streams a body from a file (--data-binary @file) and stdin (@-)", function()
    local body = H.pattern(300000) .. "\0\r\n end"
    local path = H.write_tmp(body, "upload")
    local want = ("%d %s"):format(#body, H.sha256(body))
    local out, err, code = fetch("--data-binary @" .. H.q(path) .. " " ..
                                 H.q(H.raw .. "/upload-sha256"))
    assert.equals(0, code, err)
    assert.equals(want, out:match("^%d+ %x+"))
    out, err, code = fetch("-d @- " .. H.q(H.raw .. "/upload-sha256"), path)
    assert.equals(0, code, err)
    assert.equals(want, out:match("^%d+ %x+"))
    os.remove(path)
  end)

  it("fails with a one-line message when it cannot connect", function()
    local port = closed_port()
    local out, err, code = fetch(H.q("http://127.0.0.1:" .. port .. "/"))
    assert.equals(7, code)
    assert.equals("", out)
    assert.equals("fetch: ConnectError: cannot connect to 127.0.0.1:" .. port ..
                  ": Connection refused\n", err)
  end)

  it("exits 22 with --fail on a 404, 0 without", function()
    local out, err, code = fetch("--fail " .. H.q(H.nginx .. "/status/404"))
    assert.equals(22, code)
    assert.equals("", out)
    assert.equals("fetch: the server answered 404 Not Found\n", err)
    out, err, code = fetch(H.q(H.nginx .. "/status/404"))
    assert.equals(0, code, err)
    assert.equals("not found\n", out)
  end)

  it("reports timeouts and usage errors", function()
    local _, err, code = fetch("--timeout 0.2 " .. H.q(H.raw .. "/stall-head?s=2"))
    assert.equals(28, code)
    assert.is_truthy(err:find("^fetch: ReadTimeout: "), err)
    _, err, code = fetch("")
    assert.equals(2, code)
    assert.is_truthy(err:find("^fetch: no URL given"), err)
    _, err, code = fetch("not-a-url")
    assert.equals(2, code)
    assert.equals("fetch: invalid URL 'not-a-url': expected scheme://host (http or https)\n", err)
  end)

  it("finds the library from its own path without LUA_PATH/LUA_CPATH", function()
    -- it falls back to ../build (run without the ASan runtime: H.sh drops
    -- LD_PRELOAD), which an ASan-only build does not have
    local so = io.open("build/c_http_core/core.so")
    if not so then
      pending("no build/c_http_core/core.so")
      return
    end
    so:close()
    local out, _, code = H.sh("env -u LUA_PATH -u LUA_CPATH " .. LUA ..
                              " examples/fetch.lua " .. H.q(H.nginx .. "/small"))
    assert.equals(0, code)
    assert.equals("Hello, World!", out)
  end)
end)

describe("examples", function()
  it("get.lua prints the head and the body", function()
    local out, err, code = run("get.lua", H.q(H.nginx .. "/small"))
    assert.equals(0, code, err)
    assert.is_truthy(out:find("^HTTP/1%.1\t200\tOK\n"), out)
    assert.is_truthy(out:find("\nHello, World!\n", 1, true), out)
  end)

  it("concurrent.lua runs 50 requests over 10 connections", function()
    local out, err, code = run("concurrent.lua", H.q(H.nginx .. "/small") .. " 50 10")
    assert.equals(0, code, err)
    assert.is_truthy(out:find("^50 requests %(50 ok, 0 failed%) over 10 connections"), out)
  end)

  it("upload.lua streams a body the server receives whole", function()
    local out, err, code = run("upload.lua", H.q(H.raw .. "/upload-sha256") .. " 2")
    assert.equals(0, code, err)
    local n = 2 * 1024 * 1024
    assert.is_truthy(out:find("reply: " .. n .. " " .. H.sha256(H.pattern(n)), 1, true), out)
  end)
end)
