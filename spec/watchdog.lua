-- spec/watchdog.lua: busted --helper loaded by spec/run.sh.
--
-- run.sh runs each spec file in its own busted process under a time limit
-- (the per-file watchdog).  A hung spec is killed, and busted never gets to
-- say which test it was in; so this helper writes the full name of each
-- test as it starts into $CHC_WATCHDOG_FILE, and run.sh names that test
-- when it has to kill the file.
local busted = require "busted"

local function full_name(element)
  local names = { element.name or element.descriptor }
  local parent = busted.parent(element)
  while parent and (parent.name or parent.descriptor) and
        parent.descriptor ~= "file" do
    table.insert(names, 1, parent.name or parent.descriptor)
    parent = busted.parent(parent)
  end
  return table.concat(names, " ")
end

local path = os.getenv("CHC_WATCHDOG_FILE")
if path and path ~= "" then
  busted.subscribe({ "test", "start" }, function(element)
    local f = io.open(path, "w")
    if f then
      f:write(full_name(element), "\n")
      f:close()
    end
    return nil, true
  end)
end
