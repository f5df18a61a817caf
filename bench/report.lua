-- bench/report.lua RAW META: the markdown report of bench/run.sh.
--
-- RAW is bench/out/raw.tsv (one line per run), META the key=value lines and
-- notes run.sh collected. Medians over rounds; "ratio" is this client's
-- throughput / the best peer's (highest median) throughput, taken round by
-- round (same round), median over the rounds.

local raw_path, meta_path = arg[1], arg[2]

-- {============================================================ workloads
local GROUPS = {
  { id = "W1", title = "W1 sequential keep-alive GET /small, ONE connection, plain HTTP/1.1",
    targets = { { "ratio", "wrk", 0.95 }, { "ratio", "libcurl-easy", 1.2 } } },
  { id = "W1T", title = "W1 TLS: the same over TLS (HTTP/1.1)" },
  { id = "W2", title = "W2 50 connections, concurrent GET /small, plain HTTP/1.1",
    targets = { { "ratio", "wrk", 0.95 }, { "cpu", "wrk", 1.2 } } },
  { id = "W3c1", title = "W3 HTTP/2 h2c (prior knowledge), 1 connection x 100 in flight",
    targets = { { "ratio", "h2load", 0.9 } } },
  { id = "W3c10", title = "W3 HTTP/2 h2c, 10 connections x 10 in flight",
    targets = { { "ratio", "h2load", 0.9 } } },
  { id = "W3t1", title = "W3 HTTP/2 over TLS, 1 connection x 100 in flight",
    targets = { { "ratio", "h2load", 0.9 }, { "ratio", "libcurl-multi", 2.0 } } },
  { id = "W3t10", title = "W3 HTTP/2 over TLS, 10 connections x 10 in flight",
    targets = { { "ratio", "h2load", 0.9 } } },
  { id = "W4p", title = "W4 big download (/big), body discarded: plain HTTP/1.1",
    targets = { { "ratio", "curl", 0.95 }, { "rss", nil, 16 } } },
  { id = "W4w", title = "W4 big download, plain HTTP/1.1, body to a file from C (resp:write_to)",
    targets = { { "ratio", "curl", 1.0 }, { "rss", nil, 16 } } },
  { id = "W4t", title = "W4 big download: TLS HTTP/1.1",
    targets = { { "ratio", "curl", 0.8 }, { "rss", nil, 16 } } },
  { id = "W4t2", title = "W4 big download: TLS HTTP/2",
    targets = { { "ratio", "curl", 0.8 }, { "rss", nil, 16 } } },
  { id = "W4c", title = "W4 big download: h2c",
    targets = { { "ratio", "curl", 0.95 }, { "rss", nil, 16 } } },
  { id = "W6p", title = "W6 chunked upload from a producer to /sink: plain HTTP/1.1",
    targets = { { "ratio", "curl", 1.0 }, { "rss", nil, 16 } } },
  { id = "W6t", title = "W6 chunked upload: TLS HTTP/1.1",
    targets = { { "ratio", "curl", 1.0 }, { "rss", nil, 16 } } },
  { id = "W5p", title = "W5 a new connection per request, GET /small: plain",
    targets = { { "ratio", "h2load-h1", 0.9 } } },
  { id = "W5t", title = "W5 a new connection per request: TLS, full handshakes (server keeps no sessions)" },
  { id = "W5r", title = "W5 TLS with session resumption (server keeps sessions and tickets)",
    targets = { { "ratio", "W5t:h2load-h1", 1.0 } } },
  { id = "W7", title = "W7 idle keep-alive connections held by one pool",
    targets = { { "perconn", nil, 4096 } } },
  { id = "W10", title = "W10 one SSE stream of 1,000,000 events (64-byte data lines), plain HTTP/1.1",
    targets = { { "ratio", "eventsource", 2.0 }, { "cpu", "eventsource", 0.5 } } },
  { id = "W8", title = "W8 WebSocket echo, ONE connection, 1 small message in flight (npm ws server)",
    targets = { { "ratio", "npm-ws", 1.5 } } },
  { id = "W8c1", title = "W8 on ONE core: the ws server moved to the client's CPU (no cross-CPU wake-up per echo)",
    targets = { { "ratio", "npm-ws", 1.5 } } },
  { id = "W9", title = "W9 WebSocket 16 MiB binary messages echoed, one in flight (npm ws server)",
    targets = { { "ratio", "npm-ws", 1.0 }, { "rss", nil, 32 } } },
  { id = "W9s", title = "W9 the same, streamed: sent from an iterator, received in 1 MiB parts",
    targets = { { "ratio", "W9:npm-ws", 1.0 }, { "rss", nil, 32 } } },
}
local OURS = "c_http_core"
local FLOOR = "floor-c"   -- W8's reference row (kind "ref"): bench/ws_floor.c
-- }=====================================================================

-- {============================================================ helpers
local function median(t)
  if #t == 0 then return nil end
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

local function commas(x, dec)
  local s = string.format("%." .. (dec or 0) .. "f", x)
  local int, frac = s:match("^(-?%d+)(.*)$")
  int = int:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(-?),", "%1")
  return int .. frac
end

local function fmt_rate(x)
  if x == nil then return "-" end
  if x >= 1000 then return commas(x) end
  if x >= 100 then return string.format("%.0f", x) end
  return string.format("%.1f", x)
end

local function fmt(x, dec)
  if x == nil then return "-" end
  return string.format("%." .. (dec or 2) .. "f", x)
end

local function split(line, sep)
  local out, i = {}, 1
  for field in (line .. sep):gmatch("(.-)" .. sep) do out[i] = field; i = i + 1 end
  return out
end
-- }=====================================================================

-- {============================================================ read
local meta, notes = {}, {}
for line in io.lines(meta_path) do
  local k, v = line:match("^(%w+)=(.*)$")
  if k then meta[k] = v else notes[#notes + 1] = line end
end

local runs = {}          -- runs[group][client] = { rows..., order = n }
local client_order = {}  -- per group
local header
for line in io.lines(raw_path) do
  local f = split(line, "\t")
  if not header then
    header = f
  else
    local r = {}
    for i, k in ipairs(header) do r[k] = f[i] end
    for _, k in ipairs{ "round", "rc", "ok", "wall_s", "user_s", "sys_s", "rss_kb",
                        "requests", "bytes", "rate", "srv_cpu_s", "accepts" } do
      r[k] = tonumber(r[k])
    end
    r.ok = r.ok == 1 and r.rc == 0
    local g = r.group
    runs[g] = runs[g] or {}
    client_order[g] = client_order[g] or {}
    if not runs[g][r.client] then
      runs[g][r.client] = {}
      table.insert(client_order[g], r.client)
    end
    table.insert(runs[g][r.client], r)
  end
end
-- }=====================================================================

-- {============================================================ summarize
-- per client: medians over its good runs
local function summarize(rows)
  local s = { rows = rows, n = #rows, good = 0, rates = {}, by_round = {} }
  local cpu, per, rss, srv, acc, srvmsg, climsg = {}, {}, {}, {}, {}, {}, {}
  for _, r in ipairs(rows) do
    s.kind = r.kind
    s.unit = r.unit ~= "-" and r.unit or s.unit
    s.notes = r.notes
    if r.status ~= "" then s.status = r.status end
    if r.ok and r.rate then
      s.good = s.good + 1
      s.rates[#s.rates + 1] = r.rate
      s.by_round[r.round] = r.rate
      local c = (r.user_s or 0) + (r.sys_s or 0)
      cpu[#cpu + 1] = c
      if r.unit == "MB/s" then
        if r.bytes and r.bytes > 0 then per[#per + 1] = c / (r.bytes / 2 ^ 30) end
      elseif r.requests and r.requests > 0 then
        per[#per + 1] = c / r.requests * 1e4
        if r.unit == "msg/s" then   -- W8: CPU per echo, client and server, in µs
          climsg[#climsg + 1] = c / r.requests * 1e6
          if r.srv_cpu_s then srvmsg[#srvmsg + 1] = r.srv_cpu_s / r.requests * 1e6 end
        end
      end
      if r.rss_kb then rss[#rss + 1] = r.rss_kb / 1024 end
      if r.srv_cpu_s and r.wall_s and r.wall_s > 0 then srv[#srv + 1] = r.srv_cpu_s / r.wall_s * 100 end
      if r.accepts then acc[#acc + 1] = r.accepts end
      s.extra = r.extra
      s.requests = r.requests
    end
  end
  s.rate = median(s.rates)
  if #s.rates > 0 then s.min, s.max = math.min(table.unpack(s.rates)), math.max(table.unpack(s.rates)) end
  s.cpu, s.per, s.rss, s.srv, s.acc = median(cpu), median(per), median(rss), median(srv), median(acc)
  s.srvmsg, s.climsg = median(srvmsg), median(climsg)
  s.bulk = s.unit == "MB/s"
  return s
end

local S = {}   -- S[group][client]
for g, clients in pairs(runs) do
  S[g] = {}
  for c, rows in pairs(clients) do S[g][c] = summarize(rows) end
end

local function best_peer(g)
  local best, bestc
  for c, s in pairs(S[g] or {}) do
    if s.kind == "peer" and s.rate and (not best or s.rate > best.rate) then best, bestc = s, c end
  end
  return bestc, best
end

-- same-round ratio of a to b (medians over rounds both ran fine), else the
-- ratio of the medians
local function ratio(a, b)
  if not (a and b and a.rate and b.rate) then return nil end
  local rs = {}
  for round, ra in pairs(a.by_round) do
    local rb = b.by_round[round]
    if rb and rb > 0 then rs[#rs + 1] = ra / rb end
  end
  return median(rs) or a.rate / b.rate
end

local function lookup(g, ref)   -- "client" or "group:client"
  local rg, rc = ref:match("^(.-):(.*)$")
  if not rg then return S[g] and S[g][ref], ref end
  return S[rg] and S[rg][rc], rc .. " (" .. rg .. ")"
end

local function extra_field(s, k)
  return s and s.extra and tonumber(s.extra:match("%f[%w_]" .. k .. "=([%d.]+)"))
end

-- The TLS rows' ceiling: what mbedTLS alone does on this CPU in the same run
-- (bench/ciphers.c, meta "ciphers="). Bulk rows: the cipher nginx picked
-- (our driver's tls= field) in MB/s; W5t: full handshakes/s from the client's
-- public-key work alone. Rows of small requests on a kept connection are not
-- bound by the cipher ("-").
local CIPHERS = {}
for k, v in (meta.ciphers or ""):gmatch("([%w_]+)=([%d.]+)") do CIPHERS[k] = tonumber(v) end
local TLS_BULK = { W4t = true, W4t2 = true, W6t = true }
local TLS_ROWS = { W1T = true, W3t1 = true, W3t10 = true, W4t = true, W4t2 = true,
                   W6t = true, W5t = true, W5r = true }
local function ceiling(g, s)
  local fl = S[g] and S[g][FLOOR]
  if fl and fl.rate then   -- W8: the floor client (bench/ws_floor.c) in this run
    local txt = string.format("floor client %s msg/s", fmt_rate(fl.rate))
    local v = s and ratio(s, fl)
    if v then txt = txt .. string.format(" (ours %.2fx)", v) end
    return txt
  end
  if not TLS_ROWS[g] then return nil end
  if TLS_BULK[g] then
    local tls = s and s.extra and s.extra:match("%f[%w_]tls=([^,]*)") or ""
    local key = tls:upper():find("CHACHA") and "chachapoly_mbps"
             or tls:upper():find("AES") and "aes128gcm_mbps" or nil
    local c = key and CIPHERS[key]
    if not c then return "-" end
    local name = key == "chachapoly_mbps" and "ChaCha20-Poly1305" or "AES-128-GCM"
    local txt = string.format("%s %.0f MB/s", name, c)
    if s and s.rate then txt = txt .. string.format(" (ours %.2fx)", s.rate / c) end
    return txt
  elseif g == "W5t" and CIPHERS.ecdhe_ecdsa_ms and CIPHERS.ecdhe_ecdsa_ms > 0 then
    local c = 1000 / CIPHERS.ecdhe_ecdsa_ms
    local txt = string.format("ECDHE-ECDSA %.0f handshakes/s", c)
    if s and s.rate then txt = txt .. string.format(" (ours %.2fx)", s.rate / c) end
    return txt
  end
  return "- (not cipher-bound)"
end
-- }=====================================================================

-- {============================================================ targets
-- returns "text", met (true/false/nil when not measurable)
local function check_target(g, t, ours)
  local kind, ref, want = t[1], t[2], t[3]
  if kind == "ratio" then
    local rs, rname = lookup(g, ref)
    local v = ratio(ours, rs)
    if not v then return string.format(">= %.2fx %s: -", want, rname) end
    return string.format(">= %.2fx %s: %.2fx", want, rname, v), v >= want
  elseif kind == "cpu" then
    local rs, rname = lookup(g, ref)
    if not (ours and ours.per and rs and rs.per) then return "CPU/10k <= " .. want .. "x " .. rname .. ": -" end
    local v = ours.per / rs.per
    return string.format("CPU/10k req <= %.1fx %s: %.2fx", want, rname, v), v <= want
  elseif kind == "rss" then
    if not (ours and ours.rss) then return "peak RSS <= " .. want .. " MiB: -" end
    return string.format("peak RSS <= %d MiB: %.1f", want, ours.rss), ours.rss <= want
  elseif kind == "perconn" then
    local v = extra_field(ours, "per_conn_b")
    if not v then return "<= 4 KiB/conn: -" end
    return string.format("<= %.0f KiB per idle conn: %.2f KiB", want / 1024, v / 1024), v <= want
  end
end
-- }=====================================================================

-- {============================================================ output
local out = {}
local function w(...) out[#out + 1] = table.concat({ ... }) end

w("# c_http_core benchmarks", meta.mode == "smoke" and " (SMOKE run: tiny counts, not a measurement)" or "")
w("")
w("- date: ", meta.date or "?", "; ", meta.rounds or "?", " round(s) per workload; elapsed ", meta.elapsed or "?")
w("- machine: ", meta.machine or "?")
w("- command: `", meta.command or "?", "` (", meta.pinning or "", ")")
w("- code: ", meta.git or "?")
w("- versions: ", meta.versions or "?")
for _, n in ipairs(notes) do w("- note: ", n) end
w("")
w("Medians over rounds. **ratio** = throughput / the best peer's throughput in the same round ",
  "(median over rounds). CPU = user+sys of the client process (GNU time); **CPU/10k** = CPU s per ",
  "10,000 requests (bulk rows: CPU s per GiB); **RSS** = the client's peak RSS; **srv** = nginx ",
  "worker CPU / wall (W8/W9: the node ws server's; 100 % = the server's core is the bottleneck; ",
  "W8 adds the server's CPU per echo in µs); **conns** = connections nginx ",
  "accepted during one run. **mbedTLS ceiling** (TLS rows): what mbedTLS alone does on this CPU, ",
  "measured in the same run by bench/ciphers.c (bulk: the negotiated cipher over 16 KiB records, ",
  "one core; W5t: the client's public-key work of a full handshake), and our rate / it.")
w("")
w("Setup (bench/server.sh): nginx 1.22, 1 worker, access_log off, sendfile on, keepalive_requests 10^9; ",
  "plain HTTP/1.1, h2c (prior knowledge), TLS (h2 + http/1.1, self-signed ECDSA P-256 cert, no session ",
  "cache: full handshakes) and TLS with session cache + tickets (W5r) ports on 127.0.0.1. /small = ",
  "\"Hello, World!\"; /big = a 512 MiB sparse file; W6 posts to /sink, which reads the whole body before ",
  "it answers (nginx's mirror module), so every client's upload is timed to the server's last byte. ",
  "Peers do not verify the certificate (-k), nor does c_http_core (tls.verify=false). W7 = RSS delta of ",
  "the process / connections, after opening them all at once (it includes heap left fragmented by the ",
  "per-request allocations) and the time to open them.")
w("")

-- summary
w("## Summary: c_http_core against the best peer of each workload")
w("")
w("| workload | c_http_core | best peer | ratio | CPU/10k (bulk: /GiB) ours : peer | RSS MiB ours : peer | mbedTLS ceiling or W8 floor (ours / it) | targets (issue 6) |")
w("|---|---|---|---|---|---|---|---|")
for _, G in ipairs(GROUPS) do
  local g = G.id
  if S[g] then
    local ours = S[g][OURS]
    local pc, ps = best_peer(g)
    local oursv
    if not ours then oursv = "-"
    elseif not ours.rate then
      oursv = (ours.status or "failed"):gsub("^(not supported yet):.*", "%1")
    else oursv = fmt_rate(ours.rate) .. " " .. ours.unit end
    local tg = {}
    for _, t in ipairs(G.targets or {}) do
      local txt, met = check_target(g, t, ours)
      tg[#tg + 1] = txt .. (met == true and " ✓" or met == false and " ✗" or "")
    end
    w("| ", g, " ", G.title:gsub("^W%d ", ""), " | ", oursv,
      " | ", pc and (pc .. " " .. fmt_rate(ps.rate) .. " " .. ps.unit) or "(no peer)",
      " | ", (ours and ps and ratio(ours, ps)) and fmt(ratio(ours, ps)) or "-",
      " | ", fmt(ours and ours.per), " : ", fmt(ps and ps.per),
      " | ", fmt(ours and ours.rss, 1), " : ", fmt(ps and ps.rss, 1),
      " | ", ceiling(g, ours) or "", " | ", table.concat(tg, "; "), " |")
  end
end
w("")

-- details
w("## Every client")
for _, G in ipairs(GROUPS) do
  local g = G.id
  if S[g] then
    local pc, ps = best_peer(g)
    w("")
    w("### ", g, ": ", (G.title:gsub("^W%d ", "")))
    w("")
    local ceil = ceiling(g, S[g][OURS])
    if ceil then
      w(S[g][FLOOR] and "The floor client in this run (bench/ws_floor.c: C, blocking socket, write + read per echo, no event loop), the least any client pays on this kernel and server: "
        or "mbedTLS alone in this run (bench/ciphers.c), the ceiling under our TLS: ", ceil, ".")
      w("")
    end
    w("| client | throughput (median, min–max) | ratio (ref ", pc or "-", ") | CPU s | CPU/10k (bulk: /GiB) | RSS MiB | srv | conns | ok | notes |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for _, c in ipairs(client_order[g]) do
      local s = S[g][c]
      local thr
      if s.rate then
        thr = fmt_rate(s.rate) .. " " .. s.unit
        if s.good > 1 then thr = thr .. " (" .. fmt_rate(s.min) .. "–" .. fmt_rate(s.max) .. ")" end
      else
        thr = s.status or "failed"
      end
      local r = ps and ratio(s, ps)
      local notes_ = s.notes or ""
      if s.extra and s.extra ~= "-" then
        local e = s.extra:gsub("hwm_kb=%d+,?", ""):gsub(",$", ""):gsub(",", ", ")
        if e ~= "" then notes_ = notes_ .. (notes_ ~= "" and "; " or "") .. e end
      end
      if s.rate and s.status then notes_ = notes_ .. "; " .. s.status end
      w("| ", c == OURS and ("**" .. c .. "**") or c, " | ", thr,
        " | ", r and fmt(r) or "-", " | ", fmt(s.cpu), " | ", fmt(s.per), " | ", fmt(s.rss, 1),
        " | ", s.srv and string.format("%.0f %%", s.srv) or "-",
        s.srvmsg and string.format(" (%.1f µs/echo)", s.srvmsg) or "", " | ", s.acc and commas(s.acc) or "-",
        " | ", s.good, "/", s.n, " | ", notes_, " |")
    end
    -- W8: where each echo's time goes, per client (medians, µs)
    local per_echo = {}
    for _, c in ipairs(client_order[g]) do
      local s = S[g][c]
      if s.srvmsg and s.climsg and s.rate then
        per_echo[#per_echo + 1] = string.format("%s: round trip %.1f, client CPU %.1f, server CPU %.1f",
          c, 1e6 / s.rate, s.climsg, s.srvmsg)
      end
    end
    if #per_echo > 0 then
      w("")
      w("Per echo, µs (medians; client CPU includes the process's start-up, about 0.3 s for node, ",
        "server CPU is the ws server's utime+stime over the client's run, from /proc/PID/stat): ",
        table.concat(per_echo, "; "), ".")
    end
  end
end
w("")
io.write(table.concat(out, "\n"), "\n")
