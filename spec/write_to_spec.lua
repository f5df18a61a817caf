-- resp:write_to (issue 13): the body written from C to a file handle or a
-- path, exact bytes, bounded memory, the handle's position and buffer
-- kept, and failures with err.bytes_written.
local H = require "helper"
local http = require "c_http_core"

after_each(H.check_clean)

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("resp:write_to", function()
  it("writes a 64 MiB body to a path: exact bytes, bounded RSS", function()
    local pool = http.Pool()
    local path = H.tmpname("w64m")
    collectgarbage()
    local rss0 = H.rss_kb()
    local resp = assert(pool:request("GET", H.nginx .. "/64m"))
    local n, err = resp:write_to(path)
    assert(n, tostring(err))
    assert.equals(64 * 1024 * 1024, n)
    local _, hwm = H.rss_kb()
    assert.equals(H.www_sha256("64m"), H.sha256_file(path))
    if H.rss_meaningful then
      -- no Lua string per chunk: the high-water mark grows by buffers only
      assert.is_true(hwm - rss0 < 16 * 1024,
                     ("RSS grew by %d kB"):format(hwm - rss0))
    end
    resp:close()
    -- the connection went back to the pool: the body was read to the end
    assert.equals(1, pool:stats().idle)
    os.remove(path)
    pool:close()
  end)

  it("writes at a handle's position, after what Lua buffered, and leaves it open", function()
    local path = H.tmpname("wfh")
    local f = assert(io.open(path, "w+b"))
    f:setvbuf("full", 4096)
    f:write("HEAD:")                 -- still in the FILE's buffer
    local resp = assert(http.request("GET", H.nginx .. "/64k"))
    local n = assert(resp:write_to(f))
    assert.equals(65536, n)
    assert.equals(5 + 65536, f:seek())
    f:write(":TAIL")
    f:close()
    resp:close()
    local s = read_file(path)
    assert.equals("HEAD:", s:sub(1, 5))
    assert.equals(":TAIL", s:sub(-5))
    assert.equals(H.www_sha256("64k"), H.sha256(s:sub(6, -6)))
    os.remove(path)
  end)

  it("works inside tasks, several at once", function()
    local paths = {}
    http.run(function()
      local ts = {}
      for i = 1, 3 do
        paths[i] = H.tmpname("wtask")
        ts[i] = http.spawn(function()
          local resp = assert(http.request("GET", H.nginx .. "/1m"))
          local n = assert(resp:write_to(paths[i]))
          resp:close()
          return n
        end)
      end
      for i = 1, 3 do assert.equals(1024 * 1024, ts[i]:join()) end
    end)
    for i = 1, 3 do
      assert.equals(H.www_sha256("1m"), H.sha256_file(paths[i]))
      os.remove(paths[i])
    end
  end)

  it("returns nil, err with bytes_written when the body fails", function()
    local path = H.tmpname("wtrunc")
    local resp = assert(http.request("GET", H.raw .. "/truncated"))
    local n, err = resp:write_to(path)
    assert.is_nil(n)
    assert.equals("RemoteProtocolError", err.kind)
    assert.equals(10, err.bytes_written)
    assert.equals(10, #read_file(path))   -- the partial file is left
    resp:close()
    os.remove(path)
  end)

  it("returns nil, err with bytes_written when the disk fails", function()
    local f = assert(io.open("/dev/full", "wb"))
    local resp = assert(http.request("GET", H.nginx .. "/64k"))
    local n, err = resp:write_to(f)
    assert.is_nil(n)
    assert.equals("WriteError", err.kind)
    assert.matches("No space left", err.message)
    assert.equals(0, err.bytes_written)
    resp:close()
    f:close()
    n, err = assert(http.request("GET", H.nginx .. "/1k")):write_to("/nonexistent/dir/x")
    assert.is_nil(n)
    assert.equals(0, err.bytes_written)
  end)

  it("refuses what is not a file", function()
    local resp = assert(http.request("GET", H.nginx .. "/1k"))
    assert.has_error(function() resp:write_to(42) end,
                     "write_to expects a file handle or a path, got number")
    local f = assert(io.open(H.tmpname("wclosed"), "wb"))
    f:close()
    assert.has_error(function() resp:write_to(f) end)
    resp:close()
  end)
end)
