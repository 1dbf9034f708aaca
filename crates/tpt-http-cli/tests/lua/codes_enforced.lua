-- Spec sections 3 and 4, run with HTTPS enforced (the default of an official build): any other
-- scheme, a URL without a scheme (taken as http) and a redirect to http fail with 601.
local T = dofile(arg[1])
local E = T.env

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function expect(url, code, what)
  local body, got = T.fetch(http.get(url))
  T.eq(got, code, (what or url) .. ": code")
  T.eq(body, "", (what or url) .. ": body")
end

T.test("601: http:// when HTTPS is enforced", function()
  expect(E.HTTP .. "/echo", 601, "http url")
  local body, code = T.fetch(http.post(E.HTTP .. "/echo", "data"))
  T.eq(code, 601, "post to http: code")
  T.eq(body, "", "post to http: body")
end)

T.test("601: a URL without a scheme is http", function()
  expect(E.HTTP:gsub("^http://", "") .. "/echo", 601, "schemeless")
end)

T.test("601: other schemes", function()
  expect("ftp://127.0.0.1/file", 601, "ftp")
end)

T.test("601: a redirect from https to http", function()
  expect(E.HTTPS .. "/redirect-to?url=" .. enc(E.HTTP .. "/echo"), 601, "absolute http location")
  expect(E.HTTPS .. "/redirect-to?code=307&url=" .. enc(E.HTTP .. "/echo"), 601, "307 to http")
end)

T.test("https and https redirects still work", function()
  local body, code = T.fetch(http.get(E.HTTPS .. "/echo"))
  T.eq(code, 200, "https code")
  T.eq(T.echo(body).version, "HTTP/2.0", "https version")
  body, code = T.fetch(http.get(E.HTTPS .. "/redirect-to?url=" .. enc(E.HTTPS_H1 .. "/echo")))
  T.eq(code, 200, "https -> https redirect code")
  T.eq(T.echo(body).version, "HTTP/1.1", "redirect reached the h1-only server")
  body, code = T.fetch(http.get(E.HTTPS .. "/redirect/3"))
  T.eq(code, 200, "relative redirects over https")
end)

T.run()
