-- Private addresses refused (block_private), with plain http allowed so IP literals can be
-- spelled every way; the harness allows exactly 127.0.0.1:<HTTP port>.
local T = dofile(arg[1])
local E = T.env
local http_port = E.HTTP:match(":(%d+)$")
local https_port = E.HTTPS:match(":(%d+)$")

local function blocked(url, why)
  local req = http.get(url)
  local body, code = T.fetch(req)
  T.eq(code, 607, "code for " .. url)
  T.eq(body, "", "body for " .. url)
  T.eq(req:error(), why, "reason for " .. url)
end

T.test("a name that resolves to a private address is refused", function()
  blocked(E.HTTPS .. "/bytes/10", "blocked by policy: private address 127.0.0.1")
end)

T.test("every spelling of a private IP literal is refused", function()
  for _, host in ipairs({ "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]", "0x7f000001" }) do
    blocked("http://" .. host .. ":" .. https_port .. "/bytes/1", "blocked by policy: private address 127.0.0.1")
  end
  blocked("http://[::1]:" .. https_port .. "/", "blocked by policy: private address ::1")
  blocked("http://10.0.0.5:" .. https_port .. "/", "blocked by policy: private address 10.0.0.5")
  blocked("http://169.254.169.254/latest/meta-data/", "blocked by policy: private address 169.254.169.254")
  blocked("http://[fd00::1]/", "blocked by policy: private address fd00::1")
  blocked("http://0.0.0.0:" .. http_port .. "/", "blocked by policy: private address 0.0.0.0")
end)

T.test("an exact allow rule re-admits one private host:port", function()
  local body, code = T.fetch(http.get(E.HTTP .. "/bytes/10"))
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(10), "body")
end)

T.test("every redirect hop is checked", function()
  local target = "http://localhost:" .. https_port .. "/bytes/1"
  local req = http.get(E.HTTP .. "/redirect-to?url=" .. target)
  local _, code = T.fetch(req)
  T.eq(code, 607, "redirect to a private address")
  T.eq(req:error(), "blocked by policy: private address 127.0.0.1", "reason")
  local _, ok = T.fetch(http.get(E.HTTP .. "/redirect/2"))
  T.eq(ok, 200, "redirects within the admitted host:port")
end)

T.run()
