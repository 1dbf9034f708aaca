local T = dofile(arg[1])
local E = T.env

T.test("get returns body, status and headers", function()
  local body, code, headers = T.fetch(http.get(E.HTTP .. "/bytes/1000"))
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(1000), "body")
  T.eq(T.header(headers, "content-length"), "1000", "content-length header")
end)

T.test("https with the test CA, over HTTP/2", function()
  local body, code = T.fetch(http.get(E.HTTPS .. "/echo"))
  T.eq(code, 200, "code")
  T.eq(T.echo(body).version, "HTTP/2.0", "version")
end)

T.run()
