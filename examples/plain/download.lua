-- Download a URL with the tpt_http native module from plain Lua (5.1, 5.4 or LuaJIT),
-- printing progress while it runs.
--
--   cargo build --release --manifest-path module/Cargo.toml --features lua54
--   cp module/target/release/libtpt_http.so tpt_http.so       # a name `require` finds
--   lua5.4 examples/plain/download.lua https://example.com/ [options]
--
-- Options:
--   -o FILE          where to write the body (default: the last part of the URL's path, or
--                    index.html when the path ends in /)
--   --allow-http     allow http:// URLs (HTTPS is enforced by default, as in TPT)
--   --ca-file PEM    also trust the CA certificates in PEM
--
-- Exit status: 0 when the server answered 200, 1 otherwise, 2 for bad arguments.
--
-- A plain interpreter has no frames: nothing calls http.tick(), so status() is live and the
-- script simply polls it, sleeping a little between polls.

local http = require("tpt_http")

local function usage(message)
  io.stderr:write("download.lua: ", message, "\n",
    "usage: download.lua URL [-o FILE] [--allow-http] [--ca-file PEM]\n")
  os.exit(2)
end

local url, out
local options = {}
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "-o" then
    out = arg[i + 1] or usage("-o needs a file name")
    i = i + 1
  elseif a == "--allow-http" then
    options.allow_http = true
  elseif a == "--ca-file" then
    options.ca_file = arg[i + 1] or usage("--ca-file needs a file name")
    i = i + 1
  elseif a:sub(1, 1) == "-" then
    usage("unknown option " .. a)
  elseif url then
    usage("only one URL, please")
  else
    url = a
  end
  i = i + 1
end
if not url then usage("no URL given") end
if not out then
  -- The last segment of the path: what follows scheme://authority, up to ? or #.
  local path = url:match("^%a[%w+.-]*://[^/?#]*([^?#]*)") or url:match("^[^?#]*")
  out = path:match("([^/]+)$") or "index.html"
end

-- Before the first request; raises for a bad option or an unusable CA file.
local configured, why = pcall(http.configure, options)
if not configured then usage(tostring(why)) end

-- A short sleep between polls: luasystem or LuaSocket when installed, else the shell's sleep.
local sleep
do
  local ok, system = pcall(require, "system")
  if ok and system.sleep then
    sleep = system.sleep
  else
    local has_socket, socket = pcall(require, "socket")
    if has_socket and socket.sleep then
      sleep = socket.sleep
    else
      sleep = function(s) os.execute("sleep " .. s) end
    end
  end
end

local function size(n)
  if n >= 1024 * 1024 then return string.format("%.1f MiB", n / (1024 * 1024)) end
  if n >= 1024 then return string.format("%.1f KiB", n / 1024) end
  return string.format("%d B", n)
end

io.stderr:write("download.lua: saving to ", out, "\n")
local req = http.get(url)
local shown = ""
local function show(total, received)
  local line
  if total > 0 then
    line = string.format("%s: %3d%%  %s of %s", url, math.floor(received * 100 / total),
      size(received), size(total))
  elseif received > 0 then
    line = string.format("%s: %s", url, size(received))
  else
    line = url .. ": connecting"
  end
  if line ~= shown then
    io.stderr:write("\r", line, string.rep(" ", math.max(0, #shown - #line)))
    shown = line
  end
end
while req:status() == "running" do
  show(req:progress())
  sleep(0.05)
end
-- The last poll may have come before the last bytes: show where the transfer ended.
local total, received = req:progress()
if received > 0 then show(total, received) end
io.stderr:write("\n")

local body, code, headers = req:finish()
if code ~= 200 then
  -- 6xx are TPT's transport failures: 601 http:// while HTTPS is enforced, 602 host not
  -- found, 605 timed out, 607 connection refused, 600 bad certificate or broken transfer...
  -- req:error() says which (nil when the server did answer, e.g. with 404).
  local why = req:error()
  io.stderr:write(string.format("download.lua: %s answered %d%s\n", url, code, why and (": " .. why) or ""))
  os.exit(1)
end
local f = assert(io.open(out, "wb"))
f:write(body)
f:close()
local kind = "unknown type"
for _, h in ipairs(headers) do
  if h[1] == "content-type" then kind = h[2] end
end
print(string.format("%s: %d, %s (%s) written to %s", url, code, size(#body), kind, out))
