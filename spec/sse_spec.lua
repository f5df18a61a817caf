-- Server-Sent Events against a live scripted server (spec/peers/sse_peer.js,
-- started here): resp:events() on any response and http.sse/pool:sse with
-- reconnection, over HTTP/1.1 and HTTP/2 (h2c).
local http = require "c_http_core"
local core = require "c_http_core.core"
local H = require "helper"

-- {==================================================================
-- The peer: started once for the file, stopped in teardown.
local peer = {}

local function start_peer()
  local P = H.sse_peer()
  peer.pid, peer.h1, peer.h2, peer.stop = P.pid, P.h1, P.h2, P.stop
end

local function stop_peer()
  if peer.stop then peer.stop() end
  peer.pid, peer.stop = nil, nil
end

local within = H.within

local key_seq = 0
local function key()
  key_seq = key_seq + 1
  return ("k%d_%d"):format(os.time(), key_seq)
end

local function collect(iter, st, ctl, close)
  local out = {}
  for ev in iter, st, ctl, close do out[#out + 1] = ev end
  return out
end

describe("SSE", function()
  setup(start_peer)
  teardown(stop_peer)

  for _, proto in ipairs({ "HTTP/1.1", "HTTP/2" }) do
    local function base() return proto == "HTTP/2" and peer.h2 or peer.h1 end
    local function pool(extra)
      local o = { timeout = 10 }
      if proto == "HTTP/2" then o.http1, o.http2 = false, true end
      for k, v in pairs(extra or {}) do o[k] = v end
      return http.Pool(o)
    end

    describe("over " .. proto, function()
      after_each(H.check_clean)

      it("resp:events() gives a GET's events with their ids", within(10, function()
        local p <close> = pool()
        local resp = assert(p:request("GET", base() .. "/events?n=3&id=1"))
        assert.equal(proto == "HTTP/2" and "HTTP/2" or "HTTP/1.1", resp.version)
        local evs = collect(resp:events())
        assert.equal(3, #evs)
        for i, ev in ipairs(evs) do
          assert.same({ event = "message", data = "e" .. i, id = tostring(i) }, ev)
        end
      end))

      it("resp:events() parses the event stream that answers a POST", within(10, function()
        local p <close> = pool()
        local resp = assert(p:request("POST", base() .. "/post",
                                      { body = "alpha\nbeta\ngamma\n" }))
        local got = {}
        for ev in resp:events() do got[#got + 1] = ev.data end
        assert.same({ "alpha", "beta", "gamma" }, got)
      end))

      it("delivers an event while the stream is still open", within(10, function()
        local p <close> = pool()
        local k = key()
        local es <close> = p:sse(base() .. "/open?key=" .. k, { reconnect = false })
        local ev = assert(es:next())
        -- the server ends this stream only after /signal, which is only
        -- sent now: the event came while the stream was open
        assert.equal("first", ev.data)
        local r = assert(p:request("GET", base() .. "/signal?key=" .. k))
        assert.equal("ok", r:read())
        assert.equal("second", assert(es:next()).data)
        assert.is_nil(es:next())
      end))

      it("reconnects with Last-Event-ID, honours retry, stops on 204", within(20, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key()
                                 .. "&steps=ok,ok,ok,204&retry=300")
        local datas, times = {}, {}
        for ev in es:events() do
          datas[#datas + 1] = ev.data
          times[#times + 1] = http.now()
          assert.equal(300, ev.retry)
        end
        assert.same({ "lei=", "lei=1", "lei=2" }, datas)
        assert.equal("3", es.last_event_id)
        for i = 2, 3 do
          local gap = times[i] - times[i - 1]
          assert(gap >= 0.27 and gap <= 0.3 * 1.2 + H.slack,
                 ("reconnection after %.3f s, retry was 0.3 s"):format(gap))
        end
      end))

      it("sends opts.last_event_id on the first request", within(10, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=noid,204",
                                 { last_event_id = "41" })
        assert.equal("41", es.last_event_id)
        local evs = collect(es:events())
        assert.equal(1, #evs)
        assert.equal("lei=41", evs[1].data)
        assert.equal("41", evs[1].id)
      end))

      it("ends at once on a first 204, without an error", within(10, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=204")
        local ev, err = es:next()
        assert.is_nil(ev)
        assert.is_nil(err)
      end))

      it("refuses a Content-Type other than text/event-stream", within(10, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=wrong,ok")
        local ok, err = pcall(function()
          for _ in es:events() do error("got an event") end
        end)
        assert.is_false(ok)
        assert.is_true(http.is_error(err, "RemoteProtocolError"))
        assert.matches("text/plain", err.message, 1, true)
        assert.matches("text/event-stream", err.message, 1, true)
      end))

      it("stops with an error on a non-2xx status, retries 503", within(10, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=404,ok")
        local ev, err = es:next()
        assert.is_nil(ev)
        assert.equal(404, err.status)
        assert.matches("404", err.message)
        local es2 <close> = p:sse(base() .. "/seq?key=" .. key()
                                  .. "&steps=503,ok,204", { retry = 0.05 })
        local evs = collect(es2:events())
        assert.equal(1, #evs)
        assert.equal("2", evs[1].id) -- the second connection's event
      end))

      it("reconnects after the connection dies mid-stream", within(10, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=cut,ok,204",
                                 { retry = 0.05 })
        local datas = {}
        for ev in es:events() do datas[#datas + 1] = ev.data end
        assert.same({ "lei=", "lei=1" }, datas)
        assert.equal("2", es.last_event_id)
      end))

      it("backs off exponentially on failures in a row", within(15, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key()
                                 .. "&steps=503,503,503,ok,204", { retry = 0.1 })
        local elapsed, ev = H.timed(es.next, es)
        assert.equal("lei=", ev.data)
        -- waits of 0.1, 0.2 and 0.4 s (each plus up to 20 % jitter); without
        -- backoff they would be 0.3 s in all
        local lo, hi = 0.7 * 0.9, 0.7 * 1.2 + H.slack
        assert(elapsed >= lo and elapsed <= hi,
               ("three failures took %.3f s, expected [%.2f, %.2f]"):format(elapsed, lo, hi))
        assert.is_nil(es:next())
      end))

      it("caps the backoff at max_delay", within(15, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key()
                                 .. "&steps=503,503,503,503,503,ok,204",
                                 { retry = 0.1, max_delay = 0.1 })
        local elapsed, ev = H.timed(es.next, es)
        assert.equal("lei=", ev.data)
        -- five waits of 0.1 s, each plus up to 20 % jitter (uncapped: 0.1,
        -- 0.2, 0.4, 0.8, 1.6: 3.1 s)
        local lo, hi = 0.5 * 0.9, 0.5 * 1.2 + H.slack
        assert(elapsed >= lo and elapsed <= hi,
               ("five failures took %.3f s, expected [%.2f, %.2f]"):format(elapsed, lo, hi))
        assert.is_nil(es:next())
      end))

      it("waits at least a Retry-After given with a retriable status", within(15, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=503ra1,ok,204",
                                 { retry = 0.05 })
        local elapsed, ev = H.timed(es.next, es)
        assert.equal("lei=", ev.data)
        -- Retry-After: 1 outweighs retry = 0.05
        local lo, hi = 1.0, 1.2 + H.slack
        assert(elapsed >= lo and elapsed <= hi,
               ("the wait was %.3f s, expected [%.2f, %.2f]"):format(elapsed, lo, hi))
        assert.is_nil(es:next())
      end))

      it("reports a read timeout (the next_event/next way: nil, err)", within(10, function()
        local p <close> = pool()
        local resp = assert(p:request("GET", base() .. "/hold", { timeout = { read = 0.3 } }))
        local elapsed, ev, err = H.timed(resp.next_event, resp)
        assert.is_nil(ev)
        assert.is_true(http.is_error(err, "ReadTimeout"))
        H.assert_window(elapsed, 0.3, "read timeout")
        resp:close()
        local es <close> = p:sse(base() .. "/hold", { reconnect = false,
                                                      timeout = { read = 0.3 } })
        ev, err = es:next()
        assert.is_nil(ev)
        assert.is_true(http.is_error(err, "ReadTimeout"))
      end))

      it("consumes only the bytes of the events taken (backpressure)", within(10, function()
        local p <close> = pool()
        local resp = assert(p:request("GET", base() .. "/events?n=3"))
        assert.equal("e1", assert(resp:next_event()).data)
        -- the rest of the body is still the transport's, byte for byte
        local rest = assert(resp:read())
        assert.equal("data: e2\n\ndata: e3\n\n", rest)
      end))

      it("heartbeat comments keep a quiet stream within the read timeout", within(10, function()
        local p <close> = pool()
        local resp = assert(p:request("GET", base() .. "/heartbeat?n=8&ms=100",
                                      { timeout = { read = 0.5 } }))
        local evs = collect(resp:events())
        assert.equal(1, #evs)
        assert.equal("alive", evs[1].data)
      end))

      it("bounds reconnections with max_reconnects", within(10, function()
        local p <close> = pool()
        local es <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=ok",
                                 { retry = 0.02, max_reconnects = 2 })
        assert.equal(3, #collect(es:events()))
        local es2 <close> = p:sse(base() .. "/seq?key=" .. key() .. "&steps=ok",
                                  { reconnect = false })
        assert.equal(1, #collect(es2:events()))
      end))

      it("refuses an event larger than max_event", within(10, function()
        local p <close> = pool()
        local resp = assert(p:request("GET", base() .. "/big?size=5000"))
        local ok, err = pcall(function()
          for _ in resp:events({ max_event = 1000 }) do error("got an event") end
        end)
        assert.is_false(ok)
        assert.is_true(http.is_error(err, "RemoteProtocolError"))
        assert.matches("max_event", err.message)
        -- http.sse does not reconnect after it: the server would send it again
        local es <close> = p:sse(base() .. "/big?size=5000", { max_event = 1000 })
        local ev, err2 = es:next()
        assert.is_nil(ev)
        assert.matches("max_event", err2.message)
        assert.is_nil(es:next())
        local resp2 = assert(p:request("GET", base() .. "/big?size=5000"))
        local evs = collect(resp2:events({ max_event = 5000 }))
        assert.equal(5000, #evs[1].data)
        assert.equal("after", evs[2].data)
      end))

      it("gives an event split over many TCP segments", within(10, function()
        local p <close> = pool()
        local resp = assert(p:request("GET", base() .. "/split"))
        local evs = collect(resp:events())
        assert.same({ { event = "message", id = "s1",
                        data = "split across\nsegments" } }, evs)
      end))

      it("frees the connection slot when a task in events() is cancelled", within(15, function()
        local p <close> = pool({ max_connections = 1, timeout = { pool = 5, read = 10 } })
        local ctl <close> = pool()
        local function hold_open()
          local r = assert(ctl:request("GET", base() .. "/stats"))
          return tonumber(r:read():match('"hold_open":(%d+)'))
        end
        local started = false
        local t = http.spawn(function()
          -- no <close> and no for loop: only the cancelled wait itself
          -- can free the slot
          local es = p:sse(base() .. "/hold")
          started = true
          while es:next() do end
        end)
        H.wait_until(function() return started and hold_open() == 1 end, 5,
                     "the /hold stream to open")
        collectgarbage("stop") -- no __gc may close it behind the test's back
        t:cancel()
        local ok, err = pcall(t.join, t)
        assert.is_false(ok)
        assert.is_true(http.is_error(err, "Cancelled"))
        -- the one slot is free again for the next request
        local r = assert(p:request("GET", base() .. "/events?n=1"))
        assert.equal(1, #collect(r:events()))
        H.wait_until(function() return hold_open() == 0 end, 5,
                     "the server to see the stream closed")
        collectgarbage("restart")
      end))

      it("runs 100 event streams at once in tasks", within(30, function()
        local p <close> = pool()
        local k = key()
        local tasks = {}
        for i = 1, 100 do
          tasks[i] = http.spawn(function()
            local es <close> = p:sse(base() .. "/barrier?n=100&key=" .. k,
                                     { reconnect = false })
            local got = {}
            for ev in es:events() do got[#got + 1] = ev.data end
            return table.concat(got, ",")
          end)
        end
        -- "go" only comes once all 100 streams are open at the same time
        for i = 1, 100 do assert.equal("hello,go", tasks[i]:join()) end
      end))

      it("es:close() ends a reconnection wait at once", within(10, function()
        local p <close> = pool()
        local es = p:sse(base() .. "/seq?key=" .. key() .. "&steps=ok", { retry = 60 })
        local got = 0
        local t = http.spawn(function()
          for _ in es:events() do got = got + 1 end
          return got
        end)
        H.wait_until(function() return got == 1 and es._resp == nil end, 5,
                     "the first stream to end")
        local elapsed = H.timed(function()
          es:close()
          assert.equal(1, t:join())
        end)
        assert(elapsed < 0.25 + H.slack, ("close took %.3f s"):format(elapsed))
      end))

      it("es:close() while the request is on its way closes its response", within(10, function()
        local p <close> = pool({ max_connections = 1, timeout = { pool = 5, read = 10 } })
        local ctl <close> = pool()
        local k = key()
        local es = p:sse(base() .. "/slowhead?key=" .. k)
        local t = http.spawn(function() return es:next() end)
        H.wait_until(function() return es._attempts == 1 end, 5, "the request to start")
        es:close() -- the server sends the head only after the signal
        assert(ctl:request("GET", base() .. "/signal?key=" .. k)):read()
        assert.is_nil(t:join())
        -- the one slot is free again (the response was closed, not leaked)
        local r = assert(p:request("GET", base() .. "/events?n=1"))
        assert.equal(1, #collect(r:events()))
      end))

      it("es:close() ends the iteration from another task", within(10, function()
        local p <close> = pool()
        local es = p:sse(base() .. "/hold")
        local t = http.spawn(function() return #collect(es:events()) end)
        H.wait_until(function() return es._resp ~= nil end, 5, "the stream to open")
        http.sleep(0.05)
        es:close()
        assert.equal(0, t:join())
        assert.is_nil(es:next())
      end))
    end)
  end

  describe("outside a task", function()
    it("resp:events() drives the loop in a plain script", function()
      local p <close> = http.Pool({ timeout = 10 })
      local resp = assert(p:request("GET", peer.h1 .. "/split"))
      local n = 0
      for ev in resp:events() do n = n + 1; assert.equal("s1", ev.id) end
      assert.equal(1, n)
      local es <close> = p:sse(peer.h1 .. "/seq?key=" .. key() .. "&steps=ok,204",
                               { retry = 0.02 })
      assert.equal(1, #collect(es:events()))
      assert.equal(0, core.stats().tasks)
    end)
  end)

  describe("examples/sse_tail.lua", function()
    local function tail(args)
      local errf = H.tmpname("stderr")
      local p = assert(io.popen(("%s examples/sse_tail.lua %s 2>%s"):format(
        os.getenv("LUA") or "lua5.4", args, H.q(errf)), "r"))
      local out = p:read("a")
      local _, _, code = p:close()
      local f = assert(io.open(errf, "rb"))
      local err = f:read("a")
      f:close()
      return out, err, code
    end

    it("prints the events, resumes with --from, stops on 204", function()
      local out, err, code = tail("--once " .. H.q(peer.h1 .. "/events?n=3&id=1"))
      assert.equal(0, code, err)
      assert.equal("e1\ne2\ne3\n", out)
      out, err, code = tail("-v --from 7 " .. H.q(peer.h1 .. "/seq?key=" .. key()
                                                  .. "&steps=ok,204&retry=20"))
      assert.equal(0, code, err)
      assert.equal("[message #1] lei=7\n", out)
      out, err, code = tail("-n 2 --h2 " .. H.q(peer.h2 .. "/events?n=5"))
      assert.equal(0, code, err)
      assert.equal("e1\ne2\n", out)
    end)

    it("exits 1 with the reason on an error", function()
      local out, err, code = tail(H.q(peer.h1 .. "/seq?key=" .. key() .. "&steps=404"))
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("404", err)
    end)
  end)

  describe("misuse", function()
    it("raises on a bad last_event_id or option", function()
      assert.has_error(function() http.sse(peer.h1 .. "/x", { last_event_id = "a\nb" }) end,
        nil)
      local ok, err = pcall(http.sse, peer.h1, { last_event_id = "a\0b" })
      assert.is_false(ok)
      assert.matches("CR, LF or NUL", err)
      ok, err = pcall(http.sse, peer.h1, { bogus = 1 })
      assert.is_false(ok)
      assert.matches("unknown sse option 'bogus'", err)
      ok, err = pcall(http.sse, peer.h1, { max_event = 0 })
      assert.is_false(ok)
      assert.matches("max_event", err)
    end)
  end)
end)
