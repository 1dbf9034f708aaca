-- Issue 10: no crash reachable from Lua through finalizer order, with the native module under
-- the stock interpreters (run by module/run-specs.sh). Each case runs in a child interpreter,
-- so a crash (SIGSEGV: exit status 139) is reported as a failure, not a dead suite.

local system = require("system")

local SILENT = os.getenv("TPT_HTTP_TEST_SILENT")
assert(SILENT, "TPT_HTTP_TEST_SILENT is not set: run module/run-specs.sh")

local support = require("spec.support")
local interpreter, run = support.interpreter, support.run

-- Run `body` in a child interpreter; returns its exit code and output.
local function run_child(body)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(string.format("local URL = %q\n", "http://" .. SILENT .. "/"))
  -- An object with a finalizer in any Lua version.
  f:write([[
local function gc_object(fn)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = fn
    return p
  end
  return setmetatable({}, { __gc = fn })
end
]])
  f:write(body)
  f:close()
  local code, output = run(string.format("timeout 30 %s %s", interpreter(), script))
  os.remove(script)
  return code, output
end

local lua = interpreter()

describe(lua .. " finalizer order", function()
  local cases = {
    -- The review's six lines: a finalizer older than the module calls http.get at close.
    { "a finalizer older than the module calls get at close", [[
local holder = {}
keep = gc_object(function()
  local ok, r = pcall(function() return holder.http.get("https://127.0.0.1:1/bye") end)
  io.write("gc ", tostring(ok), " ", ok and r:status() or tostring(r), "\n")
end)
holder.http = require("tpt_http")
io.write("end\n")
]], "end\ngc true dead\n" },
    { "a finalizer older than the module calls post, getAuthToken and every method at close", [[
local holder = {}
keep = gc_object(function()
  local r = holder.http.post(URL, "x")
  r:status() r:progress() r:read() r:error() r:cancel() r:finish()
  local a = holder.http.getAuthToken("aud")
  io.write("gc ", r:status(), " ", type(a), " ", a:status(), "\n")
end)
holder.http = require("tpt_http")
holder.http.configure({ allow_http = true })
]], "gc dead userdata dead\n" },
    { "a finalizer older than the module uses a live request at close", [[
local holder = {}
keep = gc_object(function()
  local r = holder.req
  r:status() r:progress() r:read() r:error() r:finish()
  getmetatable(r).__gc(r)
  io.write("gc ", r:status(), "\n")
end)
local http = require("tpt_http")
http.configure({ allow_http = true })
holder.req = http.get(URL)
]], "gc dead\n" },
    { "a finalizer is the last holder of http.get in a plain collection", [[
local h = {}
-- Made inside a function, so no register of the main chunk keeps the object alive.
local function arm()
  local mine = h -- its own upvalue: the main chunk's `h = nil` below does not reach it
  h.keep = gc_object(function() made = mine.get(URL) end)
end
arm()
local http = require("tpt_http")
http.configure({ allow_http = true })
h.get = http.get
http = nil
package.loaded.tpt_http = nil
h.keep = nil
h = nil
collectgarbage()
collectgarbage()
io.write("made ", made:status(), "\n")
made:cancel()
io.write("cancelled ", made:status(), "\n")
]], "made running\ncancelled dead\n" },
    { "finalizers newer than the module make requests during close", [[
local http = require("tpt_http")
http.configure({ allow_http = true })
keep = gc_object(function() made = http.get(URL) made:status() end)
keep2 = gc_object(function() made2 = http.post(URL, "x") end)
io.write("end\n")
]], "end\n" },
  }
  for _, case in ipairs(cases) do
    local name, body, expected = case[1], case[2], case[3]
    it("ends cleanly when " .. name, function()
      local started = system.monotime()
      local code, output = run_child(body)
      assert.equal(0, code, output)
      assert.equal(expected, output)
      assert.is_true(system.monotime() - started < 10, output)
    end)
  end
end)
