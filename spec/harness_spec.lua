-- The test harness itself: peers are up and behave as documented.
-- Uses only curl (through spec/helper.lua), not the library.
local H = require "helper"

describe("harness", function()
  it("exports the peers' addresses", function()
    assert.truthy(H.nginx and H.nginx:match("^http://127%.0%.0%.1:%d+$"))
    assert.truthy(H.raw and H.raw:match("^http://127%.0%.0%.1:%d+$"))
    assert.truthy(H.tmp and H.tmp ~= "")
    assert.is_number(H.nginx_port)
    assert.is_number(H.raw_port)
  end)

  it("pattern generators agree (helper, nginx files, raw peer)", function()
    local p = H.pattern(1024)
    assert.equal(1024, #p)
    assert.equal(0, p:byte(1))
    assert.equal(250, p:byte(251))
    assert.equal(0, p:byte(252))
    assert.equal(H.www_sha256("1k"), H.sha256(p))
    assert.equal(H.www_sha256("1m"), H.sha256(H.pattern(1 << 20)))
    assert.equal(H.sha256(H.pattern(1000, 7)), H.sha256(H.pattern(1007):sub(8)))
    local body = H.get(H.raw .. "/bytes?n=100000&chunked=1&chunk=777")
    assert.equal(H.pattern(100000), body)
  end)
end)

describe("nginx peer", function()
  it("/small returns Hello, World!", function()
    assert.equal("Hello, World!", H.get(H.nginx .. "/small"))
  end)

  it("serves the 64 MiB file with the advertised sha256", function()
    local out = H.sh("curl -s --max-time 60 " .. H.q(H.nginx .. "/64m") .. " | sha256sum")
    assert.equal(H.www_sha256("64m"), out:match("^(%x+)"))
  end)

  it("/chunked/1m is chunked with the same content", function()
    local head = H.curl({ "-D", "-", "-o", "/dev/null", H.nginx .. "/chunked/1m" })
    assert.truthy(head:lower():find("transfer-encoding: chunked", 1, true))
    local out = H.sh("curl -s " .. H.q(H.nginx .. "/chunked/1m") .. " | sha256sum")
    assert.equal(H.www_sha256("1m"), out:match("^(%x+)"))
  end)

  it("/headers proves connection reuse", function()
    local out = H.curl({ "-D", "-", "-o", "/dev/null", "-H", "X-Foo: bar",
                         H.nginx .. "/headers", H.nginx .. "/headers" })
    assert.truthy(out:find("X-Got-Foo: bar", 1, true))
    assert.truthy(out:find("X-Conn-Requests: 2", 1, true))
    local c1, c2 = out:match("X%-Conn: (%d+).-X%-Conn: (%d+)")
    assert.equal(c1, c2)
  end)

  it("/status/NNN and /nginx_status", function()
    for _, code in ipairs({ 200, 204, 304, 404, 500 }) do
      local out = H.curl({ "-o", "/dev/null", "-w", "%{http_code}",
                           H.nginx .. "/status/" .. code })
      assert.equal(tostring(code), out)
    end
    local st = H.nginx_status()
    assert.truthy(st.active >= 1 and st.accepts >= 1 and st.requests >= 1)
  end)

  it("/echo accepts a 64 MiB upload", function()
    local out = H.curl({ "--data-binary", "@" .. H.www .. "/64m", H.nginx .. "/echo" })
    assert.equal("ok\n", out)
  end)
end)

describe("raw peer", function()
  it("/hello", function()
    assert.equal("hello", H.get(H.raw .. "/hello"))
  end)

  it("/trailers sends trailers after the last chunk", function()
    local out = H.curl({ "--raw", H.raw .. "/trailers" })
    local tail = "\r\n0\r\nX-Checksum: abc\r\nX-Trailer-Two: 2\r\n\r\n"
    assert.equal(tail, out:sub(-#tail))
  end)

  it("/chunked decodes to hello world", function()
    assert.equal("hello world", H.get(H.raw .. "/chunked"))
  end)

  it("/upload-sha256 reports length and hash of a 1 MiB body", function()
    local path = H.write_tmp(H.pattern(1 << 20), "up")
    local want = ("%d %s"):format(1 << 20, H.sha256_file(path))
    assert.equal(want, H.curl({ "--data-binary", "@" .. path, H.raw .. "/upload-sha256" }))
    -- chunked, with a trailer
    local out = H.curl({ "-D", "-", "-H", "Transfer-Encoding: chunked",
                         "--data-binary", "@" .. path, H.raw .. "/upload-sha256" })
    assert.truthy(out:find(want, 1, true))
    assert.truthy(out:find("X-Got-Chunked: 1", 1, true))
  end)

  it("/conn-id and /stats count connections, not the control queries", function()
    -- other specs' pools may still hold idle connections to the peer
    local open0 = H.stats_reset().open
    local out = H.curl({ "-D", "-", H.raw .. "/conn-id", H.raw .. "/conn-id" })
    assert.truthy(out:find("X-Requests-On-Conn: 2", 1, true))
    local st = H.stats({ wait_open = open0 })
    assert.equal(1, st.accepted)
    assert.equal(open0, st.open)
    assert.equal(2, st.requests)
  end)

  it("/echo-head returns the exact request head", function()
    local out = H.curl({ "-H", "X-A: 1", "-H", "X-A: 2", H.raw .. "/echo-head" })
    assert.truthy(out:find("^GET /echo%-head HTTP/1%.1\r\n"))
    local tail = "X-A: 1\r\nX-A: 2\r\n\r\n"
    assert.equal(tail, out:sub(-#tail))
  end)

  it("broken endpoints make curl fail", function()
    for path, code in pairs({ ["/truncated"] = 18, ["/truncated-chunked"] = 18,
                              ["/bad-chunk"] = 56, ["/bad-status"] = 1 }) do
      local _, rc = H.curl({ "-o", "/dev/null", H.raw .. path })
      assert.equal(code, rc, path)
    end
    local _, rc = H.curl({ "-o", "/dev/null", "--max-time", "1", H.raw .. "/stall-head" })
    assert.equal(28, rc)
  end)

  it("/drip reports what it sent", function()
    local out = H.sh("curl -s " .. H.q(H.raw .. "/drip?n=1000000") .. " | wc -c")
    assert.equal(1000000, tonumber(out))
    local d = H.drip_status()
    assert.equal(1000000, d.sent)
    assert.is_true(d.done)
  end)

  it("answers on ::1 when available", function()
    if not H.ipv6 then return pending("no ::1 on this machine") end
    assert.equal("hello", H.get(H.raw6 .. "/hello"))
    assert.equal("Hello, World!", H.get(H.nginx6 .. "/small"))
  end)
end)

describe("helper", function()
  it("rss_kb reads VmRSS and VmHWM", function()
    local rss, hwm = H.rss_kb()
    assert.truthy(rss > 0 and hwm >= rss)
  end)
end)
