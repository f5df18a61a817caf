-- fetch.lua: a small curl-like command line on c_http_core.
--
--   lua5.4 examples/fetch.lua -v http://127.0.0.1:8080/
--   lua5.4 examples/fetch.lua -o big.iso --progress http://host/big.iso
--   lua5.4 examples/fetch.lua --data-binary @photo.jpg -H 'Content-Type: image/jpeg' URL

local USAGE = [[
usage: lua5.4 examples/fetch.lua [options] URL

  -X, --request METHOD    request method (default: GET, or POST with -d)
  -H, --header 'N: v'     add a request header (repeatable)
  -d, --data DATA         send DATA as the body; @FILE streams FILE, @- stdin
      --data-binary DATA  the same as -d (the body is always sent as is)
  -o, --output FILE       write the body to FILE instead of stdout
      --progress          progress bar on stderr (the default with -o when
                          stderr is a terminal)
  -v, --verbose           show the request line, the response head and the
                          timeline of the exchange (trace events, like
                          curl -w's times)
  -x, --proxy URL         go through a proxy: http://[user:pass@]host:port,
                          https://..., socks5://..., socks5h://...
      --proxy-env         use the proxy curl would (http_proxy, https_proxy,
                          all_proxy, no_proxy)
  -f, --fail              exit 22 (and write no body) when the status is >= 400
      --timeout SECONDS   limit on each wait: connect, read, write, pool slot
      --max-time SECONDS  limit on the whole exchange, body included
  -k, --insecure          do not verify the server's TLS certificate
      --cacert FILE       verify the server against the CAs in FILE
      --http2             allow HTTP/2
      --unix-socket PATH  connect through a Unix socket
  -h, --help              this text

Exit status: 0 on success, whatever the HTTP status; 22 with --fail on a
status >= 400; 2 on a usage error; on a transport error (a one-line message
on stderr) 7 (cannot connect), 28 (timeout), 35 (TLS), 97 (the proxy
refused), 1 (anything else).
]]

-- From a checkout without LUA_PATH/LUA_CPATH: use ../lua and ../build.
local root = (arg[0]:match("^(.*)/") or ".") .. "/.."
if not package.searchpath("c_http_core", package.path) then
  package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
end
if not package.searchpath("c_http_core.core", package.cpath) then
  package.cpath = root .. "/build/?.so;" .. package.cpath
end

local http = require "c_http_core"


local function die(msg, code)
  io.stderr:write("fetch: ", tostring(msg), "\n")
  os.exit(code or 1)
end

-- curl's exit codes for the common transport errors.
local function exit_code(err)
  if http.is_error(err, "ProxyError") then return 97 end
  if http.is_error(err, "TLSError") then return 35 end   -- before ConnectError
  if http.is_error(err, "ConnectError") then return 7 end
  if http.is_error(err, "TimeoutError") then return 28 end
  return 1
end

-- {==================================================================
-- Command line

local FLAGS = {
  ["-v"] = "verbose", ["--verbose"] = "verbose", ["-f"] = "fail",
  ["--fail"] = "fail", ["-k"] = "insecure", ["--insecure"] = "insecure",
  ["--progress"] = "progress", ["--http2"] = "http2",
  ["--proxy-env"] = "proxy_env",
  ["-h"] = "help", ["--help"] = "help",
}
local VALUED = {
  ["-X"] = "method", ["--request"] = "method",
  ["-H"] = "header", ["--header"] = "header",
  ["-d"] = "data", ["--data"] = "data", ["--data-binary"] = "data",
  ["-o"] = "output", ["--output"] = "output",
  ["--timeout"] = "timeout", ["--max-time"] = "max_time",
  ["--cacert"] = "cacert", ["--unix-socket"] = "unix_socket",
  ["-x"] = "proxy", ["--proxy"] = "proxy",
}

local function parse_args(args)
  local o, headers = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if FLAGS[a] then
      o[FLAGS[a]] = true
    elseif VALUED[a] then
      local v = args[i + 1]
      if v == nil then die(a .. " needs a value (see --help)", 2) end
      i = i + 1
      if VALUED[a] == "header" then
        local name, value = v:match("^%s*([^:%s]+)%s*:%s*(.-)%s*$")
        if not name then die("bad header '" .. v .. "' (expected 'Name: value')", 2) end
        headers[#headers + 1] = { name, value }
      else
        o[VALUED[a]] = v
      end
    elseif a:match("^%-.") then
      die("unknown option " .. a .. " (see --help)", 2)
    elseif o.url then
      die("more than one URL given", 2)
    else
      o.url = a
    end
    i = i + 1
  end
  o.headers = headers
  for _, k in ipairs{ "timeout", "max_time" } do
    if o[k] then
      o[k] = tonumber(o[k])
      if not o[k] or o[k] <= 0 then die("--" .. k:gsub("_", "-") .. " needs a number of seconds", 2) end
    end
  end
  return o
end
-- }==================================================================

-- {==================================================================
-- Request body and progress

-- A body for -d: the string itself, or for @FILE / @- the open file. The
-- library reads a file body in blocks as the transport takes them (a file
-- of any size is never read whole) and sends Content-Length when the file
-- can seek. The file is ours to close: the process exit does it. (Reading
-- stdin blocks the event loop while it waits; fine for a one-request tool.)
local function request_body(data)
  if data == nil or data:sub(1, 1) ~= "@" then return data end
  local path = data:sub(2)
  if path == "-" then return io.stdin end
  local f, err = io.open(path, "rb")
  if not f then die(err, 2) end
  return f
end


local function size(n)
  local units, i = { "B", "KiB", "MiB", "GiB", "TiB" }, 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and ("%d B"):format(n) or ("%.1f %s"):format(n, units[i])
end

-- Returns update(n [, done]): draws "[####....]  42%  27.0 MiB / 64.0 MiB
-- 310.5 MiB/s" on stderr (bytes and rate only when total is unknown), at most
-- ten times a second, and a last time with a newline when done.
local function progress_bar(total)
  local start, last, WIDTH, drawn = http.now(), http.now(), 30, 0
  return function(n, done)
    local t = http.now()
    if not done and t - last < 0.1 then return end
    last = t
    local line = size(n)
    if total and total > 0 then
      local frac = math.min(n / total, 1)
      local fill = math.floor(frac * WIDTH)
      line = ("[%s%s] %3d%%  %s / %s"):format(("#"):rep(fill), ("."):rep(WIDTH - fill),
                                              math.floor(frac * 100), line, size(total))
    end
    if t > start then line = line .. "  " .. size(n / (t - start)) .. "/s" end
    -- blanks over what is left of a longer previous line
    io.stderr:write("\r", line, (" "):rep(drawn - #line), done and "\n" or "")
    drawn = #line
  end
end

local function stderr_is_tty()
  return os.execute("test -t 2") == true
end
-- }==================================================================

local o = parse_args(arg)
if o.help then
  io.write(USAGE)
  os.exit(0)
end
if not o.url then die("no URL given (usage: fetch.lua [options] URL, see --help)", 2) end

-- The library raises on misuse (a bad option, method, URL or header, a CA
-- file it cannot read): report that as a usage error, without a traceback.
local function checked(fn, ...)
  local ok, v = pcall(fn, ...)
  if not ok then die(tostring(v):gsub("^[^:]*:%d+: ", ""), 2) end
  return v
end

-- -v: the exchange's timeline on stderr, each event at its time since the
-- start (resolve, connect, proxy, tls, send_*, receive_*, response_closed)
local t0 = http.now()
local function timeline(event, info)
  local extra = {}
  for _, k in ipairs{ "address", "port", "peer", "alpn", "tls_version",
                      "cipher", "reused", "status", "bytes", "error" } do
    if info[k] ~= nil then extra[#extra + 1] = k .. "=" .. tostring(info[k]) end
  end
  io.stderr:write(("* %8.3f ms  %-26s %s\n"):format((info.t - t0) * 1000,
                  event, table.concat(extra, " ")))
end

local proxy = o.proxy
if o.proxy_env and not proxy then proxy = http.proxy_from_env(o.url) end

local pool = checked(http.Pool, {
  proxy = proxy,
  trace = o.verbose and timeline or nil,
  http2 = o.http2,
  uds = o.unix_socket,
  timeout = o.timeout,                               -- nil: the default (30 s)
  tls = (o.insecure or o.cacert) and { verify = not o.insecure, ca_file = o.cacert } or nil,
})

-- A Request is checked when it is built, so it is known-good when sent.
local req = checked(http.Request, {
  method = o.method or (o.data and "POST" or "GET"),
  url = o.url,
  headers = o.headers,
  body = request_body(o.data),
  timeout = o.max_time and { total = o.max_time },
})

if o.verbose then   -- what we ask for; the library adds Host and the framing
  io.stderr:write("> ", req.method, " ", req.url, "\n")
  for _, h in ipairs(req.headers) do io.stderr:write("> ", h[1], ": ", h[2], "\n") end
end

local resp, err = pool:request(req)
if not resp then die(err, exit_code(err)) end

if o.verbose then
  io.stderr:write(("* head after %.3f s on a %s connection\n"):format(
    resp.elapsed, resp.reused and "reused" or "new"))
  io.stderr:write(("< %s %d %s\n"):format(resp.version, resp.status, resp.reason))
  for _, h in ipairs(resp.headers) do io.stderr:write("< ", h[1], ": ", h[2], "\n") end
  io.stderr:write("<\n")
end

if o.fail and resp.status >= 400 then
  resp:close()
  die(("the server answered %d %s"):format(resp.status, resp.reason), 22)
end

local out = io.stdout
if o.output and o.output ~= "-" then
  out, err = io.open(o.output, "wb")
  if not out then die(err) end
end

local show = o.progress or (o.output and o.output ~= "-" and stderr_is_tty())
local progress = show and progress_bar(tonumber(resp.headers["content-length"]))

-- Stream the body chunk by chunk. The iterator raises the error object on a
-- failure mid-body (a timeout, a truncated body): it never ends silently.
local received = 0
local ok
ok, err = pcall(function()
  for chunk in resp:iter() do
    local written, werr = out:write(chunk)
    if not written then error("writing the output: " .. werr, 0) end
    received = received + #chunk
    if progress then progress(received) end
  end
end)
if progress then progress(received, true) end
if not ok then die(err, exit_code(err)) end
if out ~= io.stdout then out:close() end

if o.verbose and resp.trailers then
  for _, h in ipairs(resp.trailers) do io.stderr:write("< ", h[1], ": ", h[2], "\n") end
end
pool:close()
