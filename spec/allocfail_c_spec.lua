-- The C engine tests (tests/c) under allocation-failure injection
-- (tools/allocfail/ctests.sh, src/allocfail.h): each af_* program runs with
-- CHC_FAIL_AT=N for a sample of N here (every N up to 12 and 6 spread over
-- the rest), many more under `make allocfail` (CHC_AF_FULL=1, and test_h2,
-- whose 760 000 allocations take 4 s a run). Their checks fail, as they
-- must; a sanitizer report, a crash or a hang before any failed check is a
-- bug.
local H = require "helper"

describe("allocation failures in the C engine tests (tools/allocfail/ctests.sh)", function()
  local full = os.getenv("CHC_AF_FULL") == "1"
  it("a failed allocation is never a crash, a sanitizer report or a hang", function()
    local env = full and "" or "CHC_AF_CT_ALL=12 CHC_AF_CT_SAMPLES=6 CHC_AF_CT_TIMEOUT=8 "
    local progs = full and "" or "test_loop test_h1 test_sse test_ws test_takeover"
    local out, ok = H.sh("env -u LD_PRELOAD " .. env .. "sh tools/allocfail/ctests.sh "
                         .. progs .. " 2>&1")
    for line in out:gmatch("[^\n]+") do
      if line:match("^ctest %S+: total") then io.stderr:write(line, "\n") end
    end
    assert(ok, "tools/allocfail/ctests.sh found bugs:\n" .. out)
  end)
end)
