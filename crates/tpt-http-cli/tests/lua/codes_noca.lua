-- Spec section 3, run with no trusted CA at all (no extra CA, no system roots): every HTTPS
-- server's certificate is from an unknown issuer, which is a 600.
local T = dofile(arg[1])
local E = T.env

local function expect(url, code, what)
  local body, got = T.fetch(http.get(url))
  T.eq(got, code, (what or url) .. ": code")
  T.eq(body, "", (what or url) .. ": body")
end

T.test("600: unknown CA over HTTP/2 and HTTP/1.1", function()
  expect(E.HTTPS .. "/echo", 600, "h2 server")
  expect(E.HTTPS_H1 .. "/echo", 600, "h1-only server")
  expect(E.HTTPS_IP .. "/echo", 600, "by IP address")
end)

T.test("600: unknown CA reached through a redirect from http", function()
  expect(E.HTTP .. "/redirect-to?url=" .. E.HTTPS .. "/echo", 600)
end)

T.test("plain http still works", function()
  local body, code = T.fetch(http.get(E.HTTP .. "/bytes/10"))
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(10), "body")
end)

T.run()
