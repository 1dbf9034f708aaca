-- busted specs for the native module, `require("tpt_http")`, run by module/run-specs.sh under
-- lua5.1, lua5.4 and luajit against the loopback servers of module/testserver.
--
-- Environment (set by run-specs.sh):
--   TPT_HTTP_TEST_HTTP   base URL of the plain HTTP server, e.g. http://127.0.0.1:PORT
--   TPT_HTTP_TEST_HTTPS  base URL of the HTTPS server, e.g. https://localhost:PORT
--   TPT_HTTP_TEST_CA     PEM file of the CA that issued the HTTPS server's certificate
--   TPT_HTTP_TEST_SILENT 127.0.0.1:PORT of a server that accepts connections and never answers
--   TPT_HTTP_LUA         the interpreter running these specs (for child processes)
--   LUA_CPATH            finds tpt_http.so

local system = require("system")

local HTTP = os.getenv("TPT_HTTP_TEST_HTTP")
local HTTPS = os.getenv("TPT_HTTP_TEST_HTTPS")
local CA = os.getenv("TPT_HTTP_TEST_CA")
local SILENT = os.getenv("TPT_HTTP_TEST_SILENT")
assert(HTTP and HTTPS and CA and SILENT, "TPT_HTTP_TEST_* are not set: run module/run-specs.sh")

local support = require("spec.support")
local interpreter, fresh, run = support.interpreter, support.fresh, support.run

-- Poll without tick gating (status is live) until the request is no longer running.
local function wait(req, timeout)
  local deadline = system.monotime() + (timeout or 10)
  while req:status() == "running" do
    assert(system.monotime() < deadline, "request still running after " .. (timeout or 10) .. " s")
    system.sleep(0.002)
  end
end

local function finish(req, timeout)
  wait(req, timeout)
  return req:finish()
end

local function header(headers, name)
  for _, pair in ipairs(headers) do
    if pair[1] == name then return pair[2] end
  end
end

-- The error `f(...)` raises, as a string (fails if it raises none).
local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function plain_http()
  local http = fresh()
  http.configure({ allow_http = true })
  return http
end

describe("require('tpt_http')", function()
  it("returns TPT's http functions plus configure and tick", function()
    local http = require("tpt_http")
    for _, name in ipairs({ "get", "post", "getAuthToken", "configure", "tick" }) do
      assert.equal("function", type(http[name]), name)
    end
    assert.equal(http, require("tpt_http"))
  end)

  it("gives request objects with status, progress, cancel and finish", function()
    local http = fresh()
    local req = http.get("https://localhost:1/")
    assert.equal("userdata", type(req))
    for _, name in ipairs({ "status", "progress", "cancel", "finish" }) do
      assert.equal("function", type(req[name]), name)
    end
    req:cancel()
  end)

  it("raises TPT's argument errors", function()
    local http = fresh()
    assert.matches("bad argument #1 to '[%w_.]*get' %(string expected, got no value%)",
      error_of(function() http.get() end))
    assert.matches("header 1 is not a table", error_of(http.get, "https://localhost:1/", { 5 }))
    assert.matches("form item 1 is not a table", error_of(http.post, "https://localhost:1/", { 5 }))
    assert.matches("bad argument #1 to '[%w_.]*getAuthToken' %(string expected, got table%)",
      error_of(function() http.getAuthToken({}) end))
  end)

  it("has no logged-in user for getAuthToken", function()
    local http = fresh()
    local req, err = http.getAuthToken("tptmp")
    assert.is_nil(req)
    assert.equal("not authenticated", err)
  end)
end)

describe("requests", function()
  it("GET over https with the test CA", function()
    local http = fresh()
    http.configure({ ca_file = CA })
    local body, code, headers = finish(http.get(HTTPS .. "/echo", { { "X-Spec", "yes" } }))
    assert.equal(200, code)
    assert.matches("method GET", body, 1, true)
    assert.matches("header x-spec: yes", body, 1, true)
    assert.equal("text/plain", header(headers, "content-type"))
  end)

  it("GET over http with a verb and response headers", function()
    local http = plain_http()
    local body, code = finish(http.get(HTTP .. "/echo", nil, "DELETE"))
    assert.equal(200, code)
    assert.matches("method DELETE", body, 1, true)
    local _, code2, headers = finish(http.get(HTTP .. "/headers?X-Test=hello"))
    assert.equal(200, code2)
    assert.equal("hello", header(headers, "x-test"))
  end)

  it("POST a raw body and a multipart form", function()
    local http = plain_http()
    local raw = finish(http.post(HTTP .. "/echo", "a=1&b=2"))
    assert.matches("method POST", raw, 1, true)
    assert.matches("body-length 7\n\na=1&b=2", raw, 1, true)
    local form, code = finish(http.post(HTTP .. "/echo", { { "name", "value" }, { "file", "data", "x.txt" } }))
    assert.equal(200, code)
    assert.matches("content-type: multipart/form-data; boundary=", form, 1, true)
    assert.matches('Content-Disposition: form-data; name="file"; filename="x.txt"', form, 1, true)
  end)

  it("reports HTTP statuses, redirects and transport failures", function()
    local http = plain_http()
    local body, code = finish(http.get(HTTP .. "/status/404"))
    assert.equal(404, code)
    assert.equal("status 404", body)
    local _, redirected = finish(http.get(HTTP .. "/redirect/2"))
    assert.equal(200, redirected)
    local _, malformed = finish(http.get(""))
    assert.equal(606, malformed)
  end)

  it("progress: -1, 0 before the response, then total and received", function()
    local http = plain_http()
    local hang = http.get(HTTP .. "/hang")
    local total, received = hang:progress()
    assert.equal(-1, total)
    assert.equal(0, received)
    hang:cancel()

    local size = 64 * 1024
    local req = http.get(HTTP .. "/slow/" .. size .. "?ms=15&chunk=4096")
    local partial, last = false, -1
    while req:status() == "running" do
      total, received = req:progress()
      assert.is_true(received >= last)
      last = received
      if received > 0 and received < size then
        partial = true
        assert.equal(size, total)
      end
      system.sleep(0.002)
    end
    assert.is_true(partial, "never saw a partial download")
    assert.same({ size, size }, { req:progress() })
    local body, code = req:finish()
    assert.equal(200, code)
    assert.equal(size, #body)
    assert.equal(0, select("#", req:progress()))
  end)

  it("progress of a body without Content-Length has total -1", function()
    local http = plain_http()
    local req = http.get(HTTP .. "/slow/16384?ms=20&chunk=2048&nolength=1")
    local partial = false
    while req:status() == "running" do
      local total, received = req:progress()
      if received > 0 then
        partial = true
        assert.equal(-1, total)
      end
      system.sleep(0.002)
    end
    assert.is_true(partial)
    local body = req:finish()
    assert.equal(16384, #body)
  end)

  it("cancel makes a request dead at once (no tick gating)", function()
    local http = plain_http()
    local req = http.get(HTTP .. "/hang")
    assert.equal("running", req:status())
    assert.equal(0, select("#", req:cancel()))
    assert.equal("dead", req:status())
    assert.equal(0, select("#", req:finish()))
    assert.equal(0, select("#", req:progress()))
    req:cancel()
    assert.equal("dead", req:status())
  end)

  it("finish gives nothing while running and once done", function()
    local http = plain_http()
    local req = http.get(HTTP .. "/bytes/10")
    assert.equal(0, select("#", http.get(HTTP .. "/hang"):finish()))
    wait(req)
    assert.equal("done", req:status())
    assert.equal(3, select("#", req:finish()))
    assert.equal("dead", req:status())
    assert.equal(0, select("#", req:finish()))
  end)

  it("collected request objects cancel their transfers", function()
    local http = plain_http()
    for _ = 1, 20 do http.get(HTTP .. "/hang") end
    collectgarbage()
    collectgarbage()
    local _, code = finish(http.get(HTTP .. "/echo"))
    assert.equal(200, code)
  end)
end)

describe("configure", function()
  it("defaults to an official build: https enforced, system CAs only", function()
    local http = fresh()
    local _, code = finish(http.get(HTTP .. "/echo"))
    assert.equal(601, code)
    local _, untrusted = finish(fresh().get(HTTPS .. "/echo"))
    assert.equal(600, untrusted)
  end)

  it("allow_http = true allows http://", function()
    local _, code = finish(plain_http().get(HTTP .. "/echo"))
    assert.equal(200, code)
  end)

  it("allow_http = false keeps https enforced", function()
    local http = fresh()
    http.configure({ allow_http = false, ca_file = CA })
    local _, code = finish(http.get(HTTP .. "/echo"))
    assert.equal(601, code)
    local _, ok = finish(http.get(HTTPS .. "/echo"))
    assert.equal(200, ok)
  end)

  it("network = false finishes every request with 604", function()
    local http = fresh()
    http.configure({ network = false, allow_http = true })
    local req = http.get(HTTP .. "/echo")
    assert.equal("done", req:status())
    local body, code = req:finish()
    assert.equal(604, code)
    assert.equal("", body)
  end)

  it("accumulates over several calls before the first request", function()
    local http = fresh()
    http.configure({ allow_http = true })
    http.configure({ ca_file = CA, connect_timeout = 5, auth_server = "https://localhost:1" })
    local _, a = finish(http.get(HTTP .. "/echo"))
    local _, b = finish(http.get(HTTPS .. "/echo"))
    assert.equal(200, a)
    assert.equal(200, b)
  end)

  it("max_host_connections limits connections per host", function()
    local http = fresh()
    http.configure({ allow_http = true, max_host_connections = 1 })
    local hang = http.get(HTTP .. "/hang")
    local queued = http.get(HTTP .. "/echo")
    system.sleep(0.3)
    assert.equal("running", queued:status())
    hang:cancel()
    local _, code = finish(queued)
    assert.equal(200, code)
  end)

  it("connect_timeout bounds the TLS handshake (605)", function()
    local http = fresh()
    http.configure({ connect_timeout = 0.3 })
    local started = system.monotime()
    local _, code = finish(http.get("https://" .. SILENT .. "/"))
    assert.equal(605, code)
    local seconds = system.monotime() - started
    assert.is_true(seconds > 0.2 and seconds < 3, string.format("took %.2f s", seconds))
  end)

  it("proxy sends requests through the proxy; '' means no proxy", function()
    local http = fresh()
    http.configure({ allow_http = true, proxy = "http://127.0.0.1:1" })
    local _, code = finish(http.get(HTTP .. "/echo"))
    assert.equal(607, code)
    local direct = fresh()
    direct.configure({ allow_http = true, proxy = "" })
    local _, ok = finish(direct.get(HTTP .. "/echo"))
    assert.equal(200, ok)
  end)

  it("raises after the first request", function()
    local http = plain_http()
    finish(http.get(HTTP .. "/echo"))
    local err = error_of(function() http.configure({ allow_http = true }) end)
    assert.matches("tpt_http_spec.lua:%d+: configure must be called before the first request$", err)
    -- also when the request failed at once, and with an empty table
    local offline = fresh()
    offline.configure({ network = false })
    offline.get("https://localhost:1/")
    assert.matches("configure must be called before the first request",
      error_of(offline.configure, {}), 1, true)
  end)

  it("rejects unknown options, naming them", function()
    local http = fresh()
    assert.matches("tpt_http_spec.lua:%d+: configure: unknown option 'allow_https'$",
      error_of(function() http.configure({ allow_https = true }) end))
    assert.matches("configure: option names must be strings", error_of(http.configure, { true }))
  end)

  it("rejects wrong types, naming the option", function()
    local http = fresh()
    local cases = {
      { allow_http = "yes" }, { network = 0 }, { ca_file = true }, { proxy = 8080 },
      { max_host_connections = "6" }, { max_host_connections = 0 }, { max_host_connections = 2.5 },
      { connect_timeout = "15" }, { connect_timeout = -1 }, { connect_timeout = 0 },
      { auth_server = false }, { auth_server = "" },
    }
    for _, options in ipairs(cases) do
      local key = next(options)
      local err = error_of(http.configure, options)
      assert.matches("configure: option '" .. key .. "' must be ", err, 1, true)
    end
    assert.matches("bad argument #1 to 'configure' (table expected, got string)",
      error_of(http.configure, "allow_http"), 1, true)
    assert.matches("bad argument #1 to 'configure' (table expected, got no value)",
      error_of(http.configure), 1, true)
    -- nothing was applied: https is still enforced
    local _, code = finish(http.get(HTTP .. "/echo"))
    assert.equal(601, code)
  end)

  it("rejects unreadable and invalid CA files and bad proxies", function()
    local http = fresh()
    assert.matches("configure: cannot read ca_file '/nonexistent/ca.pem'",
      error_of(http.configure, { ca_file = "/nonexistent/ca.pem" }), 1, true)
    local not_pem = os.tmpname()
    local f = assert(io.open(not_pem, "w"))
    f:write("not a certificate\n")
    f:close()
    local err = error_of(http.configure, { ca_file = not_pem })
    os.remove(not_pem)
    assert.matches("configure: ", err, 1, true)
    assert.matches("configure: ", error_of(http.configure, { proxy = "::not a url" }), 1, true)
  end)
end)

describe("tick()", function()
  it("without tick(), status is live", function()
    local http = fresh()
    http.configure({ network = false })
    assert.equal("done", http.get("https://localhost:1/"):status())
  end)

  it("a new request reports running in the tick it was made, even one that failed at once", function()
    local http = fresh()
    http.configure({ network = false })
    http.tick()
    local req = http.get("https://localhost:1/")
    assert.equal("running", req:status())
    assert.equal("running", req:status())
    assert.equal(0, select("#", req:finish()))
    http.tick()
    assert.equal("done", req:status())
    local _, code = req:finish()
    assert.equal(604, code)
  end)

  it("a finished request reports done only from the next tick on", function()
    local http = plain_http()
    http.tick()
    local req = http.get(HTTP .. "/bytes/100")
    system.sleep(0.3) -- long enough for the transfer to finish
    assert.equal("running", req:status()) -- still the tick it was made in
    local status, deadline = "running", system.monotime() + 10
    repeat
      http.tick()
      status = req:status()
      system.sleep(0.005)
    until status ~= "running" or system.monotime() > deadline
    assert.equal("done", status)
    local body, code = req:finish()
    assert.equal(200, code)
    assert.equal(100, #body)
  end)

  it("a request that is still running sets its flag again each tick", function()
    local http = plain_http()
    http.tick()
    local req = http.get(HTTP .. "/hang")
    for _ = 1, 3 do
      http.tick()
      assert.equal("running", req:status())
    end
    req:cancel()
  end)

  it("cancel: running until the next tick, progress 0, 0, then dead", function()
    local http = plain_http()
    http.tick()
    local req = http.get(HTTP .. "/hang")
    http.tick()
    assert.equal("running", req:status())
    req:cancel()
    assert.equal("running", req:status())
    assert.same({ 0, 0 }, { req:progress() })
    http.tick()
    assert.equal("dead", req:status())
    assert.equal(0, select("#", req:progress()))
  end)

  it("stays on when configure is called after tick()", function()
    local http = fresh()
    http.tick()
    http.configure({ network = false })
    local req = http.get("https://localhost:1/")
    assert.equal("running", req:status())
    http.tick()
    assert.equal("done", req:status())
  end)
end)

describe("exit with requests in flight", function()
  local lua = interpreter()

  -- Run `body` as a script in a child interpreter; returns its exit code, seconds taken, output.
  local function run_child(body, env)
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(string.format("local HTTP, HTTPS, CA = %q, %q, %q\n", HTTP, HTTPS, CA))
    f:write(body)
    f:close()
    local code, output, seconds = run(string.format("%s timeout 30 %s %s", env or "", lua, script))
    os.remove(script)
    return code, seconds, output
  end

  local start_requests = [[
local http = require("tpt_http")
http.configure({ allow_http = true, ca_file = CA })
KEEP = {}
for i = 1, 8 do
  KEEP[#KEEP + 1] = http.get(HTTP .. "/hang")
  KEEP[#KEEP + 1] = http.post(HTTPS .. "/hang", "body")
  http.get(HTTP .. "/hang") -- dropped: collected whenever
end
KEEP[#KEEP + 1] = http.get(HTTP .. "/slow/1000000?ms=10")
require("system").sleep(0.3) -- let the transfers connect and start
assert(KEEP[1]:status() == "running")
io.write("started\n")
]]

  local cases = {
    { "the script ends", "", 0 },
    { "the script calls os.exit(0)", "os.exit(0)\n", 0 },
    { "the script calls os.exit(0, true) (5.4 closes the state)", "os.exit(0, true)\n", 0 },
    { "the script collects garbage, then ends", "KEEP = nil\ncollectgarbage()\ncollectgarbage()\n", 0 },
    { "the script uses tick gating", "http.tick()\nhttp.tick()\n", 0 },
    { "the script raises an error", "error('boom')\n", 1 },
  }
  for _, case in ipairs(cases) do
    local name, tail, expected = case[1], case[2], case[3]
    it(lua .. " exits at once with status " .. expected .. " when " .. name, function()
      local code, seconds, output = run_child(start_requests .. tail)
      assert.equal(expected, code, output)
      assert.matches("started", output, 1, true)
      assert.is_true(seconds < 5, string.format("took %.1f s: %s", seconds, output))
    end)
  end

  it(lua .. " exits at once when the module was loaded and no request made", function()
    local code, seconds, output = run_child('local http = require("tpt_http")\nio.write("started\\n")\n')
    assert.equal(0, code, output)
    assert.is_true(seconds < 5)
  end)

  -- Closing the state dlcloses the module; it must stay mapped (the engine thread may run its
  -- code). Without any request nothing else keeps it loaded, so this shows the pin at work.
  -- glibc's loader reports what it does with LD_DEBUG=files; other loaders print nothing.
  it(lua .. " keeps the library loaded after the state closes (RTLD_NODELETE)", function()
    local code, _, output = run_child('require("tpt_http")\n', "LD_DEBUG=files")
    assert.equal(0, code, output)
    if not output:find("calling init:", 1, true) then
      pending("the dynamic loader does not report LD_DEBUG=files")
      return
    end
    assert.matches("marking [^\n]*tpt_http%.so[^\n]* as NODELETE", output)
    assert.is_nil(output:find("tpt_http%.so[^\n]*destroying link map"), output)
  end)
end)

describe("examples/plain/download.lua", function()
  local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
  local example = here .. "/../../examples/plain/download.lua"

  it("downloads a URL, printing progress", function()
    local out = os.tmpname()
    local code, output = run(string.format("%s %s %q --allow-http -o %s", interpreter(), example,
      HTTP .. "/slow/200000?ms=10&chunk=20000", out))
    local f = assert(io.open(out, "rb"))
    local body = f:read("*a")
    f:close()
    os.remove(out)
    assert.equal(0, code, output)
    assert.equal(200000, #body)
    assert.matches("%d+%%%s+[%d.]+ KiB of 195%.3 KiB", output)
    assert.matches(": 200, 195.3 KiB (application/octet-stream) written to ", output, 1, true)
  end)

  it("exits 1 when https is enforced and the URL is http://", function()
    local code, output = run(string.format("%s %s %q -o /dev/null", interpreter(), example, HTTP .. "/echo"))
    assert.equal(1, code, output)
    assert.matches("answered 601", output, 1, true)
  end)
end)
