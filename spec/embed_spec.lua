-- Embedding: the pollable loop from Lua (http.loop(), :fd(), :timeout(),
-- :step()) and, from C, examples/embed/host (a host program that drives the
-- loop from its own poll loop) and examples/embed/two_loops (two loops in
-- two threads, each with its own lua_State).
local H = require "helper"
local http = require "c_http_core"

local function check_clean()
  collectgarbage()
  collectgarbage()
  assert.equals(0, require("c_http_core.core").stats().tasks, "tasks left behind")
end

-- Drives the loop with loop:step(slice) until no task is left; bounded.
local function drive(loop, slice, max_seconds)
  local t0, steps = os.time(), 0
  while loop:alive() do
    assert(os.time() - t0 <= max_seconds, "tasks still alive after "
           .. max_seconds .. " s of stepping")
    assert.is_true(loop:step(slice))
    steps = steps + 1
  end
  return steps
end

describe("http.loop() from Lua", function()
  after_each(check_clean)

  it("is this state's loop, with an integer fd and the cqueues names", function()
    local loop = http.loop()
    assert.equals(loop, http.loop())
    local fd = loop:fd()
    assert.equals("integer", math.type(fd))
    assert.is_true(fd >= 0)
    assert.equals(fd, loop:pollfd())
    assert.equals("r", loop:events())
  end)

  it("reports timeout(): 0 with ready work, the next timer otherwise", function()
    local loop = http.loop()
    local t0 = loop:timeout()
    assert.is_true(t0 == nil or (type(t0) == "number" and t0 >= 0))
    local t = http.spawn(function() http.sleep(0.3) end)
    assert.equals(0, loop:timeout())           -- the new task is ready
    assert.is_true(loop:alive())
    assert.is_true(loop:step(0))               -- runs it: now it sleeps
    local to = loop:timeout()
    assert.is_number(to)
    assert.is_true(to >= 0 and to <= 0.3, "timeout " .. tostring(to))
    assert.equals("waiting", t:status())
    drive(loop, 0.05, 10)
    assert.equals("done", t:status())
  end)

  it("step(timeout) returns at the next timer, not at the timeout", function()
    local loop = http.loop()
    local done = false
    http.spawn(function() http.sleep(0.05); done = true end)
    local t0 = os.time()
    while not done do
      assert.is_true(loop:step(5))             -- would take 5 s per step
      assert(os.time() - t0 < 3, "step waited for its timeout")
    end
    assert.is_false(loop:alive())
  end)

  it("drives spawned requests with step(), without http.run", function()
    local loop = http.loop()
    local pool = http.Pool{ max_connections = 4, timeout = 10 }
    local n, ok, bytes = 20, 0, 0
    local tasks = {}
    for i = 1, n do
      tasks[i] = http.spawn(function()
        http.sleep((i % 4) * 0.005)
        local resp = assert(pool:request("GET", H.nginx .. "/1k"))
        local body = assert(resp:read())
        if resp.status == 200 and #body == 1024 then ok = ok + 1 end
        bytes = bytes + #body
        return i
      end)
    end
    -- nothing runs until the loop is stepped
    assert.equals(0, ok)
    assert.equals("ready", tasks[1]:status())
    local steps = drive(loop, 0.05, 20)
    assert.equals(n, ok)
    assert.equals(n * 1024, bytes)
    assert.is_true(steps > 0)
    for i = 1, n do assert.equals("done", tasks[i]:status()) end
    assert.is_true(pool:stats().connections <= 4)
    pool:close()
  end)

  it("refuses loop:step from inside a task, with a clear error", function()
    local loop = http.loop()
    local ok, err = http.run(function()
      return pcall(loop.step, loop, 0)
    end)
    assert.is_false(ok)
    assert.matches("cannot step the loop from inside a task", tostring(err))
    -- the same from a spawned task driven by step()
    local msg
    http.spawn(function()
      local ok2, err2 = pcall(function() loop:step(0) end)
      msg = not ok2 and tostring(err2) or "no error"
    end)
    drive(loop, 0.05, 5)
    assert.matches("cannot step the loop from inside a task", msg)
    -- and the loop still works afterwards
    assert.equals(3, http.run(function() http.sleep(0.001); return 3 end))
  end)

  it("reports a failed task nobody joins from step()", function()
    local loop = http.loop()
    local t = http.spawn(function() error("unjoined failure") end)
    local ok, err
    for _ = 1, 10 do
      ok, err = loop:step(0.01)
      if not ok then break end
    end
    assert.is_nil(ok)
    assert.matches("unjoined failure", tostring(err))
    -- reported once; a later join still sees the error
    assert.is_true(loop:step(0))
    assert.has_error(function() t:join() end)
  end)

  it("does not report http.run's own failure again from step()", function()
    local loop = http.loop()
    assert.has_error(function() http.run(function() error("run failure") end) end)
    assert.is_true(loop:step(0))
  end)
end)

-- {==================================================================
-- The C programs of examples/embed/

local root = (H.sh("pwd"):gsub("%s+$", ""))
local bindir = root .. "/" .. H.build .. "/embed"

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- `make test` builds them (test depends on embed); a direct spec/run.sh
-- run, or an ASan run, builds them here if they are missing.
local function ensure_built()
  if exists(bindir .. "/host") and exists(bindir .. "/two_loops") then return end
  local cmd = "cd " .. H.q(root) .. " && timeout 300 make -s BUILD=" .. H.q(H.build)
  if H.asan then
    cmd = cmd .. " OPT='-O1 -g -fno-omit-frame-pointer'"
      .. " SANFLAGS='-fsanitize=address,undefined -fno-sanitize-recover=undefined'"
  end
  local out, ok = H.sh("sh -c " .. H.q(cmd .. " embed 2>&1"))
  assert(ok, "make embed failed:\n" .. out)
end

-- Runs a program with no LUA_PATH/LUA_CPATH, from the scratch dir (so
-- nothing of lua/ can be found on disk), bounded by `timeout`.
local function run(prog, args)
  local cmd = ("cd %s && timeout 60 env -u LUA_PATH -u LUA_CPATH %s %s 2>&1")
    :format(H.q(H.tmp), H.q(bindir .. "/" .. prog), args)
  return H.sh("sh -c " .. H.q(cmd))  -- H.sh prefixes `env`: no builtins
end

describe("examples/embed", function()
  setup(ensure_built)

  it("host drives the loop from its own poll loop (no LUA_PATH)", function()
    local out, ok, code = run("host", H.q(root .. "/examples/embed/script.lua")
                                      .. " " .. H.q(H.nginx .. "/1k") .. " 20")
    assert(ok, ("host exited with %s:\n%s"):format(tostring(code), out))
    local r, k, ticks, steps = out:match(
      "host: (%d+) responses, (%d+) ok, (%d+) ticks, (%d+) steps")
    assert(r, "no summary line in:\n" .. out)
    assert.equals(20, tonumber(r))
    assert.equals(20, tonumber(k))
    assert.is_true(tonumber(ticks) > 0, "the host did no periodic work")
    assert.is_true(tonumber(steps) > 0)
    assert.matches("host: tick 1,", out, 1, true)
  end)

  it("host exits nonzero when the requests fail", function()
    local out, ok = run("host", H.q(root .. "/examples/embed/script.lua")
                                .. " http://127.0.0.1:1/ 3")
    assert.is_false(ok, out)
    assert.matches("host: 0 responses, 0 ok", out, 1, true)
  end)

  it("two loops in two threads, each with its own lua_State", function()
    local out, ok, code = run("two_loops", H.q(H.nginx .. "/1k") .. " 10 2")
    assert(ok, ("two_loops exited with %s:\n%s"):format(tostring(code), out))
    -- 2 threads x 2 rounds x 10 tasks x 3 requests
    assert.matches("two_loops: 120 responses, 120 ok, overlap yes", out, 1, true)
  end)

  -- memcheck of both programs (not in an ASan build: the two don't mix)
  local has_valgrind = select(2, H.sh("sh -c 'command -v valgrind' >/dev/null"))
  local vg = (not H.asan and has_valgrind) and it or pending
  vg("both run clean under valgrind (errors and definite leaks)", function()
    local VG = "valgrind -q --error-exitcode=99 --leak-check=full"
      .. " --errors-for-leak-kinds=definite"
    local cmd = ("cd %s && timeout 120 env -u LUA_PATH -u LUA_CPATH %s %s %s %s 5 2>&1")
      :format(H.q(H.tmp), VG, H.q(bindir .. "/host"),
              H.q(root .. "/examples/embed/script.lua"), H.q(H.nginx .. "/1k"))
    local out, ok, code = H.sh("sh -c " .. H.q(cmd))
    assert(ok, ("host under valgrind exited with %s:\n%s"):format(tostring(code), out))
    assert.matches("host: 5 responses, 5 ok", out, 1, true)
    cmd = ("cd %s && timeout 120 env -u LUA_PATH -u LUA_CPATH %s %s %s 4 1 2>&1")
      :format(H.q(H.tmp), VG, H.q(bindir .. "/two_loops"), H.q(H.nginx .. "/1k"))
    out, ok, code = H.sh("sh -c " .. H.q(cmd))
    assert(ok, ("two_loops under valgrind exited with %s:\n%s"):format(tostring(code), out))
    assert.matches("two_loops: 24 responses, 24 ok", out, 1, true)
  end)
end)
-- }==================================================================
