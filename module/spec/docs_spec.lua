-- busted specs that keep the documentation true for the native module (run by
-- module/run-specs.sh, environment as in tpt_http_spec.lua):
--   * every Lua snippet of README.md, module/README.md and docs/reference.md that does
--     require("tpt_http") runs in a child interpreter against the loopback servers and prints
--     what it should (the runner's snippets are run by crates/tpt-http-cli/tests/readme.rs);
--   * the editor annotations (types/tpt_http.lua) list exactly the module's functions and
--     configure's options;
--   * configure's errors name the value; examples/plain/download.lua's file name, progress and
--     failures.

local HTTP = os.getenv("TPT_HTTP_TEST_HTTP")
local HTTPS = os.getenv("TPT_HTTP_TEST_HTTPS")
local CA = os.getenv("TPT_HTTP_TEST_CA")
assert(HTTP and HTTPS and CA, "TPT_HTTP_TEST_* are not set: run module/run-specs.sh")

local support = require("spec.support")
local interpreter, fresh, run = support.interpreter, support.fresh, support.run

-- The repository's root, absolute (busted runs in module/).
local ROOT
do
  local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
  local p = assert(io.popen("cd '" .. here .. "/../..' && pwd"))
  ROOT = p:read("*l")
  p:close()
end

local function read(path)
  local f = assert(io.open(ROOT .. "/" .. path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- The ```lua blocks of a Markdown text, in order.
local function lua_blocks(markdown)
  local blocks, current = {}, nil
  for line in (markdown .. "\n"):gmatch("([^\n]*)\n") do
    local fence = line:match("^%s*```(%w*)%s*$")
    if current == nil and fence == "lua" then
      current = {}
    elseif current ~= nil and fence == "" then
      blocks[#blocks + 1] = table.concat(current, "\n") .. "\n"
      current = nil
    elseif current ~= nil then
      current[#current + 1] = line
    end
  end
  assert(current == nil, "a ```lua block is not closed")
  return blocks
end

-- The example URLs of the docs and the routes that stand in for them (the same table is in
-- crates/tpt-http-cli/tests/readme.rs). Longest first.
local ROUTES = {
  { "https://example.com/data.json", "/bytes/27" },
  { "https://example.com/stream", "/slow/4096?ms=5&chunk=512" },
  { "https://example.com/", "/bytes/1000" },
}

local function plain(s) return (s:gsub("%p", "%%%0")) end

local function rewrite(snippet)
  local out = snippet
  for _, r in ipairs(ROUTES) do
    out = out:gsub(plain(r[1]), ((HTTPS .. r[2]):gsub("%%", "%%%%")))
  end
  out = out:gsub(plain("/path/extra-ca.pem"), (CA:gsub("%%", "%%%%")))
  assert(not out:find("example.com", 1, true), "a snippet uses a URL the spec does not map:\n" .. snippet)
  return out
end

-- Run a snippet in a child interpreter; the system's CAs are replaced by the test CA
-- (SSL_CERT_FILE), so that https://localhost verifies as a real site would.
local function run_snippet(snippet)
  local path = os.tmpname()
  write(path, rewrite(snippet))
  local code, output = run(string.format("SSL_CERT_FILE=%q %s %q", CA, interpreter(), path))
  os.remove(path)
  return code, output
end

local function module_snippets(file)
  local found = {}
  for _, b in ipairs(lua_blocks(read(file))) do
    if b:find('require("tpt_http")', 1, true) then found[#found + 1] = b end
  end
  return found
end

describe("the Lua snippets of the READMEs", function()
  it("extracts ```lua blocks", function()
    assert.same({ "print(1)\n", "print(2)\nprint(3)\n" },
      lua_blocks("x\n```lua\nprint(1)\n```\n```sh\nls\n```\n  ```lua\nprint(2)\nprint(3)\n  ```\n"))
  end)

  -- What each snippet prints (Lua patterns, matched against the whole output), in order.
  local cases = {
    ["README.md"] = {
      "^200\t1000\tnil\n$",
    },
    ["docs/reference.md"] = {
      "^$",
      "^200\t1000\n$",
    },
    ["module/README.md"] = {
      "^200\t1000\n$",
      "^false\tconfigure: option 'max_host_connections' must be an integer from 1 to 65535 %(got 0%)\n$",
      "^607\tcould not connect to 127%.0%.0%.1 port 1: [^\n]+\n$",
      "^200\t4096\n$",
      "^done\t200\t27\n$",
    },
  }
  for _, file in ipairs({ "README.md", "module/README.md", "docs/reference.md" }) do
    local snippets = module_snippets(file)
    local expected = cases[file]
    it(file .. ": each snippet has its expected output here", function()
      assert.equal(#expected, #snippets, file .. " has " .. #snippets .. " snippets for the module")
    end)
    for i, snippet in ipairs(snippets) do
      it(file .. " snippet " .. i .. " runs", function()
        local code, output = run_snippet(snippet)
        assert.equal(0, code, snippet .. "\n" .. output)
        assert.is_truthy(expected[i] and output:find(expected[i]), "snippet:\n" .. snippet .. "\noutput:\n" .. output)
      end)
    end
  end
end)

describe("types/tpt_http.lua", function()
  local source = read("types/tpt_http.lua")

  local function declared(prefix)
    local names = {}
    for name in source:gmatch("\nfunction " .. plain(prefix) .. "([%w_]+)%(") do names[name] = true end
    return names
  end

  it("annotates exactly the functions of the module's table", function()
    local annotated = declared("HTTP.")
    for name in pairs(declared("module.")) do annotated[name] = true end
    local real = {}
    for name, value in pairs(fresh()) do
      assert.equal("function", type(value), name)
      real[name] = true
    end
    assert.same(real, annotated)
  end)

  it("annotates configure's options, each of which configure knows", function()
    local class = source:match("%-%-%-@class TPTHTTPConfigureOptions\n(.-)\n\n")
    assert.is_truthy(class)
    local count = 0
    for name in class:gmatch("%-%-%-@field ([%w_]+)%?") do
      count = count + 1
      -- A value of no option's type: the error must be about the value, not an unknown key.
      local ok, err = pcall(fresh().configure, { [name] = {} })
      assert.is_false(ok)
      assert.matches("option '" .. name .. "' must be", tostring(err), 1, true)
    end
    assert.equal(7, count)
  end)
end)

describe("configure's messages", function()
  it("show the value that was refused", function()
    local http = fresh()
    local _, err = pcall(http.configure, { max_host_connections = 0 })
    assert.matches("must be an integer from 1 to 65535 (got 0)", err, 1, true)
    _, err = pcall(http.configure, { proxy = 8080 })
    assert.matches("option 'proxy' must be a string (got 8080)", err, 1, true)
    _, err = pcall(http.configure, { allow_http = "yes" })
    assert.matches("option 'allow_http' must be a boolean (got \"yes\")", err, 1, true)
  end)

  it("reject an auth_server that is not an http(s) URL, as documented", function()
    for _, bad in ipairs({ "not a url", "powdertoy.co.uk", "ftp://x/", "" }) do
      local ok, err = pcall(fresh().configure, { auth_server = bad })
      assert.is_false(ok, bad)
      assert.matches("option 'auth_server' ", tostring(err), 1, true)
    end
    local _, err = pcall(fresh().configure, { auth_server = "not a url" })
    assert.matches("must be an http:// or https:// URL (got \"not a url\")", err, 1, true)
    fresh().configure({ auth_server = "https://localhost:1/" })
  end)

  it("name a CA file that holds no certificate", function()
    local path = os.tmpname()
    write(path, "hello\n")
    local ok, err = pcall(fresh().configure, { ca_file = path })
    os.remove(path)
    assert.is_false(ok)
    assert.matches("configure: ca_file '" .. path .. "': extra CA file holds no certificate", err, 1, true)
  end)
end)

describe("examples/plain/download.lua", function()
  local example = ROOT .. "/examples/plain/download.lua"

  local function in_temp_dir(command)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local code, output = run(string.format("cd %s && %s", dir, command))
    return dir, code, output
  end

  local function ls(dir)
    local p = assert(io.popen("ls -A " .. dir))
    local names = p:read("*a")
    p:close()
    os.execute("rm -rf " .. dir)
    return names
  end

  it("names the file after the URL's path, index.html for a path ending in /", function()
    local dir, code, output = in_temp_dir(string.format("%s %s %q --allow-http", interpreter(), example, HTTP .. "/"))
    assert.equal(1, code, output) -- the test server has nothing at /
    assert.matches("saving to index.html\n", output, 1, true)
    assert.equal("", ls(dir))
    dir, code, output = in_temp_dir(string.format("%s %s %q --allow-http", interpreter(), example,
      HTTP .. "/bytes/10?a=/b#c/"))
    assert.equal(0, code, output)
    assert.matches("saving to 10\n", output, 1, true)
    assert.equal("10\n", ls(dir))
  end)

  it("shows the progress reaching 100%", function()
    local dir, code, output = in_temp_dir(string.format("%s %s %q --ca-file %s -o body.bin", interpreter(), example,
      HTTPS .. "/slow/100000?ms=5&chunk=10000", CA))
    assert.equal(0, code, output)
    assert.equal("body.bin\n", ls(dir))
    assert.matches("100%  97.7 KiB of 97.7 KiB", output, 1, true)
  end)

  it("says why a transfer failed", function()
    local _, code, output = in_temp_dir(string.format("%s %s http://127.0.0.1:1/x --allow-http", interpreter(), example))
    assert.equal(1, code, output)
    assert.matches("answered 607: could not connect to 127.0.0.1 port 1: ", output, 1, true)
  end)

  it("exits 2 with a clear message for a bad --ca-file", function()
    local _, code, output = in_temp_dir(string.format("%s %s https://localhost/ --ca-file /nonexistent.pem",
      interpreter(), example))
    assert.equal(2, code, output)
    assert.matches("download.lua: configure: cannot read ca_file '/nonexistent.pem'", output, 1, true)
    assert.is_falsy(output:find("traceback", 1, true), output)
  end)
end)
