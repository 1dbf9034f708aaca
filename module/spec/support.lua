-- Helpers shared by the module's specs (not a spec itself: busted runs only *_spec.lua).
-- Loaded with `require("spec.support")`: busted runs in module/.

local system = require("system")

local support = {}

-- The interpreter running these specs, for child processes (run-specs.sh sets TPT_HTTP_LUA).
function support.interpreter()
  local lua = os.getenv("TPT_HTTP_LUA")
  if lua and lua ~= "" then return lua end
  if jit then return "luajit" end
  return (_VERSION == "Lua 5.1") and "lua5.1" or "lua5.4"
end

-- A fresh module table: a new `Http` handle that has made no request yet, so it can be configured.
function support.fresh()
  package.loaded.tpt_http = nil
  return require("tpt_http")
end

-- Run a shell command; returns its exit code, its output (stdout and stderr) and the seconds
-- it took.
function support.run(command)
  local out = os.tmpname()
  local started = system.monotime()
  local p = assert(io.popen(string.format("%s >%s 2>&1; echo $?", command, out)))
  local code = tonumber(p:read("*l"))
  p:close()
  local seconds = system.monotime() - started
  local f = assert(io.open(out, "rb"))
  local output = f:read("*a")
  f:close()
  os.remove(out)
  return code, output, seconds
end

return support
