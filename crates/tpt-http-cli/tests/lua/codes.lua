-- Spec section 3: transport failures as 6xx status codes (plain http allowed, test CA trusted).
-- The body is always "" on a 6xx.
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

-- libcurl refuses a reply without an HTTP/1.x status line as HTTP/0.9 (CURLE_UNSUPPORTED_PROTOCOL).
T.test("601: a reply that is not HTTP (HTTP/0.9)", function() expect(E.GARBAGE .. "/", 601) end)
T.test("600: empty reply", function() expect(E.EMPTY_REPLY .. "/", 600) end)
T.test("600: truncated body", function() expect(E.TRUNCATED .. "/", 600) end)
T.test("600: certificate for another host", function() expect(E.WRONG_HOST .. "/echo", 600) end)
T.test("600: expired certificate", function() expect(E.EXPIRED .. "/echo", 600) end)

T.test("600: connection closed mid-body (HTTP/1.1) and stream reset (HTTP/2)", function()
  expect(E.HTTP .. "/abort-mid-body?n=5000", 600, "http/1.1 abort")
  expect(E.HTTPS_H1 .. "/abort-mid-body?n=5000", 600, "https http/1.1 abort")
  expect(E.HTTPS .. "/abort-mid-body?n=5000", 600, "http/2 reset")
end)

T.test("601: a scheme the client cannot speak", function()
  expect("ftp://127.0.0.1/file", 601, "ftp")
  expect("file:///etc/hostname", 601, "file")
end)

T.test("601: a redirect to a scheme the client cannot speak", function()
  expect(E.HTTP .. "/redirect-to?url=" .. enc("ftp://127.0.0.1/file"), 601)
end)

T.test("602: the host name does not resolve", function()
  expect("https://no-such-host.invalid/", 602, "https")
  expect("http://no-such-host.invalid/echo", 602, "http")
end)

T.test("602: a redirect to a host that does not resolve", function()
  expect(E.HTTP .. "/redirect-to?url=" .. enc("http://no-such-host.invalid/"), 602)
end)

T.test("606: malformed URLs", function()
  expect("", 606, "empty")
  expect("https://", 606, "scheme only")
  expect("http://", 606, "http scheme only")
  expect(E.HTTP .. "/echo?a b", 606, "a space in the query")
  expect("https://exa mple.com/", 606, "a space in the host")
end)

T.test("607: connection refused", function()
  expect(E.CLOSED .. "/", 607)
  expect(E.CLOSED:gsub("^http:", "https:") .. "/", 607, "https to a closed port")
end)

T.test("607: a redirect to a closed port", function()
  expect(E.HTTP .. "/redirect-to?url=" .. enc(E.CLOSED .. "/"), 607)
end)

-- /redirect/N answers N + 1 redirects: /redirect/N-1, ..., /redirect/0, then /echo.
T.test("611: more than 10 redirects; exactly 10 is fine", function()
  local body, code = T.fetch(http.get(E.HTTP .. "/redirect/9"))
  T.eq(code, 200, "10 redirects: code")
  T.eq(T.echo(body).path, "/echo", "10 redirects: final path")
  expect(E.HTTP .. "/redirect/10", 611, "11 redirects")
  expect(E.HTTP .. "/redirect/11", 611, "12 redirects")
  expect(E.HTTP .. "/redirect/30?code=301", 611, "31 redirects of 301")
  body, code = T.fetch(http.get(E.HTTPS .. "/redirect/9?code=307"))
  T.eq(code, 200, "10 redirects of 307 over http/2: code")
  T.eq(T.echo(body).path, "/echo?code=307", "10 redirects of 307 over http/2: final path")
  expect(E.HTTPS .. "/redirect/10?code=307", 611, "11 redirects of 307 over http/2")
end)

T.test("a server status of 600 or more: body dropped, code kept", function()
  expect(E.HTTP .. "/status/600", 600, "600")
  expect(E.HTTP .. "/status/650", 650, "650")
  expect(E.HTTP .. "/status/999", 999, "999")
  expect(E.HTTPS .. "/status/650", 650, "650 over http/2")
end)

T.test("many failures at once each get their own code", function()
  local cases = {
    { E.CLOSED .. "/", 607 }, { "", 606 }, { "ftp://x/", 601 }, { E.EMPTY_REPLY .. "/", 600 },
    { E.HTTP .. "/status/650", 650 }, { E.HTTP .. "/redirect/10", 611 },
    { "http://no-such-host.invalid/", 602 }, { E.HTTP .. "/status/404", 404 },
  }
  local reqs = {}
  for i, c in ipairs(cases) do reqs[i] = http.get(c[1]) end
  for i, c in ipairs(cases) do
    local body, code = T.fetch(reqs[i])
    T.eq(code, c[2], ("code of %q"):format(c[1]))
    if code >= 600 then T.eq(body, "", ("body of %q"):format(c[1])) end
  end
end)

T.run()
