-- Ctrl-C while a call waits (issue 20, item 1): a real SIGINT to a child
-- lua5.4 reaches Lua promptly (the interpreter's "interrupted!"), in a sync
-- call from the main chunk, in http.sleep and inside http.run, and the pool
-- stays usable. Every wait of the child is bounded by the peer (it gives up
-- after 8 s), so a child that ignores the signal still ends.
local H = require "helper"

local STALL = H.raw .. "/stall-head?s=8"

-- Runs the child in MODE, sends SIGINT 0.5 s after it says "ready", and
-- returns its output lines as a table keyed by their first word.
local function interrupt(mode)
  local cmd = ("echo $$; exec lua5.4 spec/scripts/sigint_child.lua %s %s %s 2>&1")
    :format(mode, H.q(STALL), H.q(H.raw .. "/hello"))
  local f = assert(io.popen(cmd, "r"))
  local pid = assert(tonumber(f:read("l")), "no pid")
  local first = f:read("l")
  assert.equals("ready", first)
  os.execute("sleep 0.5")
  assert(os.execute("kill -INT " .. pid))
  local out, lines = {}, {}
  for line in f:lines() do
    lines[#lines + 1] = line
    local k, rest = line:match("^(%S+)%s*(.*)$")
    if k then out[k] = rest end
  end
  f:close()
  out.all = table.concat(lines, "\n")
  return out
end

local function check(out)
  local secs, msg = (out.caught or ""):match("^(%S+) (.*)$")
  assert(secs, "the child said nothing about the wait:\n" .. out.all)
  assert.matches("interrupted!", msg, 1, true)
  -- sent at ~0.5 s; the peer would answer (close) at 8 s
  assert.is_true(tonumber(secs) < 5, "the signal took " .. secs .. " s:\n" .. out.all)
  assert.equals("200", out.after, out.all)
end

describe("SIGINT during a wait", function()
  it("interrupts a sync request in the main chunk; the pool works after", function()
    local out = interrupt("sync")
    check(out)
    assert.equals("0 1", out.stats, out.all) -- the stalled connection is gone
  end)

  it("interrupts http.sleep in the main chunk", function()
    check(interrupt("sleep"))
  end)

  it("interrupts http.run; its tasks can be cancelled and the pool reused", function()
    check(interrupt("run"))
  end)
end)
