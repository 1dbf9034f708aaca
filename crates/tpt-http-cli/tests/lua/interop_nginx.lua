local T = dofile(arg[1])
local E = T.env

T.test("plain GET of a static file", function()
  local body, code, headers = T.fetch(http.get(E.HTTP .. "/small.txt"))
  T.eq(code, 200, "code")
  T.eq(body, "hello from nginx\n", "body")
  T.ok((T.header(headers, "server") or ""):match("^nginx"), "server header names nginx")
  T.eq(T.header(headers, "content-length"), "17", "content-length")
end)

T.test("binary body over HTTPS/2 arrives whole, progress reports Content-Length", function()
  local req = http.get(E.HTTPS .. "/pattern.bin")
  T.wait(req)
  local total, received = req:progress()
  T.eq(total, 300000, "total")
  T.eq(received, 300000, "received")
  local body, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(#body, 300000, "length")
  T.ok(body == T.pattern(300000), "bytes match the file")
end)

T.test("301 followed, final headers only", function()
  local body, code, headers = T.fetch(http.get(E.HTTPS .. "/moved"))
  T.eq(code, 200, "code")
  T.eq(body, "hello from nginx\n", "body")
  T.eq(T.header(headers, "location"), nil, "no location header from the redirect hop")
end)

T.test("a redirect loop ends with 611", function()
  local body, code = T.fetch(http.get(E.HTTP .. "/loop"))
  T.eq(code, 611, "code")
  T.eq(body, "", "body")
end)

T.test("4xx passes through with its body", function()
  local body, code = T.fetch(http.get(E.HTTPS .. "/teapot"))
  T.eq(code, 418, "code")
  T.eq(body, "short and stout", "body")
end)

T.test("404 from nginx", function()
  local _, code = T.fetch(http.get(E.HTTP .. "/missing"))
  T.eq(code, 404, "code")
end)

T.test("16 downloads at once over HTTP/1.1", function()
  local reqs = {}
  for i = 1, 16 do reqs[i] = http.get(E.HTTP .. "/pattern.bin") end
  for i = 1, 16 do
    local body, code = T.fetch(reqs[i])
    T.eq(code, 200, "code " .. i)
    T.eq(#body, 300000, "length " .. i)
  end
end)

T.run()
