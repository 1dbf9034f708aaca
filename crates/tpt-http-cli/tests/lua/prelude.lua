-- Test prelude for the Lua behaviour suite. A test script starts with
--   local T = dofile(arg[1])
-- and gets: T.env (servers' URLs, from the harness), assertions, and a small coroutine
-- scheduler that runs one test at a time across ticks, as a TPT script polls requests.
local T = { env = {}, tests = {}, passed = 0, failed = 0 }
for i = 2, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  if k then T.env[k] = v end
end

local function show(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

function T.eq(actual, expected, what)
  if actual ~= expected then
    error(("%s: expected %s, got %s"):format(what or "value", show(expected), show(actual)), 2)
  end
end

function T.ok(cond, what)
  if not cond then error((what or "assertion") .. " failed", 2) end
end

-- Call fn(...) expecting an error whose message is exactly `message` after an optional
-- "chunk:line: " prefix, which must name this test file when `prefixed` is true.
function T.raises(message, prefixed, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error(("expected error %q, got none"):format(message), 2) end
  T.eq(type(err), "string", "error value type")
  if prefixed then
    local where, rest = err:match("^(.-:%d+): (.*)$")
    if not where then error(("error %q has no chunk:line: prefix"):format(err), 2) end
    T.eq(rest, message, "error message")
  else
    T.eq(err, message, "error message")
  end
end

-- Call `fn`, a one-line closure calling the API (not as a tail call), expecting the error
-- "<fn's file>:<fn's line>: <message>": the position prefix TPT's errors carry.
function T.raises_at(message, fn)
  local ok, err = pcall(fn)
  if ok then error(("expected error %q, got none"):format(message), 2) end
  local info = debug.getinfo(fn, "S")
  T.eq(err, ("%s:%d: %s"):format(info.short_src, info.linedefined, message), "error")
end

-- Fetch `req`, check it answered 200, and parse the server's /echo report.
function T.echo_of(req)
  local body, code = T.fetch(req)
  T.eq(code, 200, "code")
  return T.echo(body)
end

-- Every value of request header `name` in an /echo report, joined with "|" (nil when absent).
function T.values(r, name)
  local out = {}
  for _, h in ipairs(r.headers) do
    if h[1] == name then out[#out + 1] = h[2] end
  end
  if #out > 0 then return table.concat(out, "|") end
end

-- Wait (yielding once per tick) until req:status() is not "running"; returns that status
-- and the number of ticks waited.
function T.wait(req, limit)
  limit = limit or 3000
  local ticks = 0
  while true do
    local s = req:status()
    if s ~= "running" then return s, ticks end
    ticks = ticks + 1
    if ticks > limit then error("request still running after " .. limit .. " ticks", 2) end
    coroutine.yield()
  end
end

-- Wait for req, check it is "done", and return finish()'s results.
function T.fetch(req)
  local s = T.wait(req)
  T.eq(s, "done", "status")
  return req:finish()
end

function T.tick(n)
  for _ = 1, n or 1 do coroutine.yield() end
end

-- Parse the test server's /echo report.
function T.echo(body)
  local head, rest = body:match("^(.-)\n\n(.*)$")
  T.ok(head, "echo report has a body separator")
  local r = { headers = {}, body = rest }
  for line in head:gmatch("[^\n]+") do
    local k, v = line:match("^(%S+) (.*)$")
    if k == "header" then
      local n, hv = v:match("^(.-): (.*)$")
      r.headers[#r.headers + 1] = { n, hv }
      r[n] = r[n] or hv
    else
      r[k] = v
    end
  end
  return r
end

-- Value of response header `name` in a finish() header table.
function T.header(headers, name)
  for _, h in ipairs(headers) do
    if h[1] == name then return h[2] end
  end
end

-- The test server's /bytes pattern.
function T.pattern(n)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = string.char(i % 251) end
  return table.concat(t)
end

function T.test(name, fn)
  T.tests[#T.tests + 1] = { name = name, fn = fn }
end

-- Run the queued tests one after another, one resume per tick; exit 0 if all passed.
function T.run()
  local i, co = 0, nil
  local function step()
    if not co then
      i = i + 1
      local t = T.tests[i]
      if not t then
        print(("%d passed, %d failed"):format(T.passed, T.failed))
        os.exit(T.failed == 0 and 0 or 1)
      end
      co = coroutine.create(t.fn)
    end
    local ok, err = coroutine.resume(co)
    if not ok then
      T.failed = T.failed + 1
      print(("FAIL %s: %s\n%s"):format(T.tests[i].name, tostring(err), debug.traceback(co)))
      co = nil
    elseif coroutine.status(co) == "dead" then
      T.passed = T.passed + 1
      print("ok   " .. T.tests[i].name)
      co = nil
    end
  end
  event.register(event.tick, step)
end

return T
