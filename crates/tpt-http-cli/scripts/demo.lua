-- tpt-http demo: runs against a local HTTPS server (arg[1] is its base URL).
-- Uses only TPT's http API, polled once per tick as a script in the game would.
local base = arg[1]
local started = socket.gettime()

local downloads = {
  { name = "readme.txt",  req = http.get(base .. "/files/readme.txt") },
  { name = "save.cps",    req = http.get(base .. "/files/save.cps") },
  { name = "slow stream", req = http.get(base .. "/slow/262144?ms=25&chunk=16384") },
  { name = "chunked",     req = http.get(base .. "/chunked/300000") },
}
local upload = http.post(base .. "/echo", {
  { "title", "My save" },
  { "save", "\0\1\2 binary save data \255", "mysave.cps", "application/vnd.powdertoy.save" },
  { "notes", "made with tpt-http" },
}, { { "X-Demo", "yes" } })
local doomed = http.get(base .. "/hang")
local token = http.getAuthToken("demo-service")

-- Decode a JWT's payload (base64url) to show what the token says.
local function jwt_payload(jwt)
  local b64 = jwt:match("^[^.]+%.([^.]+)%.") or ""
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local bits, out = 0, {}
  local acc = 0
  for c in b64:gmatch(".") do
    acc = acc * 64 + (alphabet:find(c, 1, true) - 1)
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      local byte = math.floor(acc / 2 ^ bits)
      out[#out + 1] = string.char(byte)
      acc = acc - byte * 2 ^ bits
    end
  end
  return table.concat(out)
end

print(("tpt-http demo: %d downloads, 1 multipart upload, 1 auth token and 1 request to cancel, against %s"):format(#downloads, base))

local ticks, results = 0, {}
local function bar(total, received)
  if total <= 0 then return ("%9d bytes so far"):format(received) end
  local width = 24
  local filled = math.floor(width * received / total)
  return ("[%s%s] %3d%%"):format(("#"):rep(filled), ("."):rep(width - filled), math.floor(100 * received / total))
end

local function handler()
  ticks = ticks + 1
  local pending = 0
  for _, d in ipairs(downloads) do
    if not d.done then
      local status = d.req:status()
      if status == "running" then
        pending = pending + 1
        if ticks % 6 == 0 then
          print(("  %-12s %s"):format(d.name, bar(d.req:progress())))
        end
      elseif status == "done" then
        local body, code = d.req:finish()
        d.done = true
        results[#results + 1] = ("%-12s %d  %7d bytes  after %d ticks"):format(d.name, code, #body, ticks)
        print(("  %-12s finished: %d, %d bytes"):format(d.name, code, #body))
      end
    end
  end
  if upload and upload:status() == "done" then
    local body, code, headers = upload:finish()
    print(("  upload       finished: %d; the server saw:"):format(code))
    for line in body:gmatch("[^\n]+") do
      if line:match("^method") or line:match("^header content%-type") or line:match("^header x%-demo") or line:match("^body%-length") then
        print("    " .. line)
      end
    end
    print("  response headers:")
    for _, h in ipairs(headers) do print(("    %s: %s"):format(h[1], h[2])) end
    results[#results + 1] = ("%-12s %d  multipart form with a file"):format("upload", code)
    upload = nil
  elseif upload then
    pending = pending + 1
  end
  if token and token:status() == "done" then
    local jwt, code = token:finish()
    print(("  auth token   finished: %d, a JWT of %d bytes whose payload is %s"):format(code, #jwt, jwt_payload(jwt)))
    results[#results + 1] = ("%-12s %d  token for %s"):format("auth token", code, jwt_payload(jwt):match('"name":"([^"]*)"') or "?")
    token = nil
  elseif token then
    pending = pending + 1
  end
  if doomed and ticks == 20 then
    print(("  cancelling the request that never answers (status was %q)"):format(doomed:status()))
    doomed:cancel()
  elseif doomed and ticks > 20 then
    results[#results + 1] = ("%-12s %s  after cancel()"):format("cancelled", doomed:status())
    doomed = nil
  elseif doomed then
    pending = pending + 1
  end
  if pending == 0 then
    print(("summary after %d ticks (%.2f s):"):format(ticks, socket.gettime() - started))
    for _, r in ipairs(results) do print("  " .. r) end
    event.unregister(event.tick, handler)
  end
end
event.register(event.tick, handler)
