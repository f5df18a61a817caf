-- Tracing (issue 13): the events of fresh, reused, TLS, failed and
-- body-carrying exchanges, in order and with what each phase knows;
-- errors in the trace function; per-request and per-pool functions.
-- (Proxied connections: spec/proxy_spec.lua, "traces the proxy phase".)
local H = require "helper"
local http = require "c_http_core"

after_each(H.check_clean)

-- a trace function that keeps the events (and their info) in order
local function recorder()
  local evs = {}
  return evs, function(event, info)
    evs[#evs + 1] = event
    evs[event] = info
  end
end

local function names(evs)
  return table.concat(evs, " ", 1, #evs)
end

describe("trace", function()
  it("reports every phase of a fresh connection, in order", function()
    local evs, fn = recorder()
    local pool = http.Pool{ trace = fn }
    local t0 = http.now()
    local resp = assert(pool:request("GET", H.nginx .. "/1k"))
    assert.equals(1024, #resp:read())
    resp:close()
    local t1 = http.now()
    assert.equals("resolve.started resolve.complete connect.started " ..
                  "connect.complete send_headers.started send_headers.complete " ..
                  "receive_headers.started receive_headers.complete " ..
                  "receive_body.started receive_body.complete " ..
                  "response_closed.started response_closed.complete", names(evs))
    local c = evs["connect.complete"]
    assert.equals("127.0.0.1", c.address)
    assert.equals(H.nginx_port, c.port)
    assert.is_false(evs["send_headers.started"].reused)
    assert.equals(200, evs["receive_headers.complete"].status)
    assert.equals(1024, evs["receive_body.complete"].bytes)
    local last = t0
    for _, e in ipairs(evs) do
      local t = evs[e].t
      assert.is_true(t >= last and t <= t1, e .. " out of time order")
      last = t
    end
    pool:close()
  end)

  it("says when the connection was reused, and skips its setup", function()
    local evs, fn = recorder()
    local pool = http.Pool()
    assert(pool:request("GET", H.nginx .. "/1k")):read()
    local resp = assert(pool:request("GET", H.nginx .. "/1k", { trace = fn }))
    resp:read()
    resp:close()
    assert.equals("send_headers.started", evs[1])
    assert.is_true(evs["send_headers.started"].reused)
    assert.is_nil(evs["connect.started"])
    pool:close()
  end)

  it("reports TLS: ALPN, version and cipher", function()
    local evs, fn = recorder()
    local pool = http.Pool{ tls = { ca_file = H.tls_dir .. "/ca.pem" }, http2 = true }
    local resp = assert(pool:request("GET", H.tls .. "/1k", { trace = fn }))
    resp:read()
    resp:close()
    assert.matches("connect.complete tls.started tls.complete send_headers.started",
                   names(evs), 1, true)
    local t = evs["tls.complete"]
    assert.equals("h2", t.alpn)
    assert.equals("TLSv1.2", t.tls_version)
    assert.is_string(t.cipher)
    assert.equals("HTTP/2", resp.version)
    pool:close()
  end)

  it("reports the request body", function()
    local evs, fn = recorder()
    local parts = { "abc", "defg" }
    local resp = assert(http.request("POST", H.raw .. "/upload-sha256", { trace = fn,
      body = function() return table.remove(parts, 1) end }))
    resp:read()
    resp:close()
    assert.matches("send_headers.complete send_body.started send_body.complete " ..
                   "receive_headers.started", names(evs), 1, true)
    assert.equals(7, evs["send_body.complete"].bytes)
  end)

  it("reports failures with the error", function()
    local evs, fn = recorder()
    local port = tonumber((H.sh("/usr/bin/python3 -c 'import socket; s = socket.socket(); " ..
                   "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")))
    local pool = http.Pool{ trace = fn }
    local resp, err = pool:request("GET", "http://127.0.0.1:" .. port .. "/")
    assert.is_nil(resp)
    assert.equals("resolve.started resolve.complete connect.started connect.failed",
                  names(evs))
    assert.equals(err.kind, evs["connect.failed"].error.kind)
    -- a body cut short
    evs, fn = recorder()
    resp = assert(pool:request("GET", H.raw .. "/truncated", { trace = fn }))
    local body, berr = resp:read()
    assert.is_nil(body)
    assert.equals("receive_body.failed", evs[#evs])
    assert.equals(berr.kind, evs["receive_body.failed"].error.kind)
    resp:close()
    pool:close()
  end)

  it("survives an error raised by the trace function", function()
    local calls = 0
    local resp = assert(http.request("GET", H.nginx .. "/1k", { trace = function()
      calls = calls + 1
      error("broken trace function")
    end }))
    assert.equals(200, resp.status)
    assert.equals(1024, #resp:read())
    resp:close()
    assert.is_true(calls >= 8)
  end)

  it("prefers the request's function to the pool's", function()
    local a, fa = recorder()
    local b, fb = recorder()
    local pool = http.Pool{ trace = fa }
    local resp = assert(pool:request("GET", H.nginx .. "/1k", { trace = fb }))
    resp:read()
    resp:close()
    assert.equals(0, #a)
    assert.is_true(#b > 0)
    pool:close()
  end)

  it("refuses a trace that is not a function", function()
    assert.has_error(function() http.Pool{ trace = 1 } end,
                     "trace must be a function, got number")
    assert.has_error(function() http.request("GET", H.nginx, { trace = "x" }) end,
                     "trace must be a function, got string")
  end)
end)
