-- Spec section 4: what goes over the wire. Binary bodies arrive exactly over HTTP/1.1, HTTP/2
-- and HTTPS HTTP/1.1; no compression is requested; no cookies are kept; any number of requests.
local T = dofile(arg[1])
local E = T.env

T.test("binary bodies are exact on every server kind", function()
  local want = T.pattern(100000)
  for _, base in ipairs({ E.HTTP, E.HTTPS, E.HTTPS_H1 }) do
    local body, code = T.fetch(http.get(base .. "/bytes/100000"))
    T.eq(code, 200, base .. ": code")
    T.eq(#body, 100000, base .. ": body length")
    T.ok(body == want, base .. ": body equals the pattern")
    body, code = T.fetch(http.get(base .. "/chunked/100000"))
    T.eq(code, 200, base .. " chunked: code")
    T.ok(body == want, base .. " chunked: body equals the pattern")
  end
end)

T.test("a 1 MB body", function()
  local body, code = T.fetch(http.get(E.HTTPS .. "/bytes/1000000"))
  T.eq(code, 200, "code")
  T.ok(body == T.pattern(1000000), "body equals the pattern")
end)

T.test("HTTP/2 by ALPN, HTTP/1.1 otherwise", function()
  local cases = { { E.HTTP, "HTTP/1.1" }, { E.HTTPS, "HTTP/2.0" }, { E.HTTPS_H1, "HTTP/1.1" }, { E.HTTPS_IP, "HTTP/2.0" } }
  for _, c in ipairs(cases) do
    local body, code = T.fetch(http.get(c[1] .. "/echo"))
    T.eq(code, 200, c[1] .. ": code")
    T.eq(T.echo(body).version, c[2], c[1] .. ": version")
  end
end)

T.test("no compression is requested", function()
  for _, base in ipairs({ E.HTTP, E.HTTPS }) do
    local body = T.fetch(http.get(base .. "/echo"))
    T.eq(T.echo(body)["accept-encoding"], nil, base .. ": accept-encoding")
    T.eq(T.echo(body)["te"], nil, base .. ": te")
  end
end)

T.test("no cookies are kept", function()
  local body, code, headers = T.fetch(http.get(E.HTTP .. "/cookie"))
  T.eq(code, 200, "first code")
  T.eq(T.header(headers, "set-cookie"), "a=b", "the server set a cookie")
  T.eq(body, "", "no cookie on the first request")
  body = T.fetch(http.get(E.HTTP .. "/cookie"))
  T.eq(body, "", "no cookie on the second request")
  local e = T.echo((T.fetch(http.get(E.HTTP .. "/echo"))))
  T.eq(e.cookie, nil, "no cookie header on /echo")
end)

T.test("a User-Agent in TPT's shape is sent", function()
  local e = T.echo((T.fetch(http.get(E.HTTPS .. "/echo"))))
  local ua = e["user-agent"]
  T.ok(ua, "a user-agent is sent")
  T.ok(ua:match("^PowderToy/%d+%.%d+ %(") ~= nil, "user-agent starts like TPT's: " .. ua)
end)

T.test("no limit on requests: 80 at once over HTTP/2, 20 over HTTP/1.1", function()
  local reqs = {}
  for i = 1, 80 do reqs[i] = http.get(E.HTTPS .. "/bytes/" .. (1000 + i)) end
  for i = 1, 20 do reqs[80 + i] = http.get(E.HTTP .. "/bytes/" .. (2000 + i)) end
  for i = 1, 100 do
    local body, code = T.fetch(reqs[i])
    T.eq(code, 200, "code of request " .. i)
    local n = i <= 80 and 1000 + i or 2000 + i - 80
    T.ok(body == T.pattern(n), "body of request " .. i)
  end
end)

T.test("sequential requests keep working on a reused connection", function()
  for _, base in ipairs({ E.HTTP, E.HTTPS, E.HTTPS_H1 }) do
    for i = 1, 5 do
      local body, code = T.fetch(http.post(base .. "/echo", "n" .. i))
      T.eq(code, 200, base .. " request " .. i .. ": code")
      T.eq(T.echo(body).body, "n" .. i, base .. " request " .. i .. ": echoed body")
    end
  end
end)

T.run()
