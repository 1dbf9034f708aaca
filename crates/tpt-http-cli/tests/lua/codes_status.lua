-- Spec section 2: status_code is the final real HTTP status; 4xx and 5xx keep their bodies, a
-- 3xx that is not followed (304, or no Location) is returned as is.
local T = dofile(arg[1])
local E = T.env

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

T.test("4xx and 5xx with their bodies", function()
  for _, n in ipairs({ 400, 401, 403, 404, 408, 418, 429, 500, 502, 503, 599 }) do
    local body, code = T.fetch(http.get(E.HTTP .. "/status/" .. n))
    T.eq(code, n, "code")
    T.eq(body, "status " .. n, "body of " .. n)
  end
  local body, code = T.fetch(http.get(E.HTTPS .. "/status/404"))
  T.eq(code, 404, "404 over http/2")
  T.eq(body, "status 404", "404 body over http/2")
end)

T.test("2xx codes pass through", function()
  for _, n in ipairs({ 200, 201, 202, 203, 206 }) do
    local body, code = T.fetch(http.get(E.HTTP .. "/status/" .. n))
    T.eq(code, n, "code")
    T.eq(body, "status " .. n, "body of " .. n)
  end
  local body, code = T.fetch(http.get(E.HTTP .. "/status/204"))
  T.eq(code, 204, "204 code")
  T.eq(body, "", "204 has no body")
end)

T.test("304 has no body; with a Location it is followed, as libcurl follows any 3xx", function()
  local body, code = T.fetch(http.get(E.HTTP .. "/status/304"))
  T.eq(code, 304, "304 code")
  T.eq(body, "", "304 body")
  body, code = T.fetch(http.get(E.HTTP .. "/redirect-to?code=304&url=" .. enc("/status/201")))
  T.eq(code, 201, "304 with a Location is followed")
end)

T.test("a 3xx without Location is returned with its body", function()
  for _, n in ipairs({ 300, 301, 302, 303, 307, 308 }) do
    local body, code = T.fetch(http.get(E.HTTP .. "/no-location/" .. n))
    T.eq(code, n, "code")
    T.eq(body, "no location", "body of " .. n)
  end
  local body, code = T.fetch(http.post(E.HTTPS .. "/no-location/302", "x"))
  T.eq(code, 302, "post over http/2: code")
  T.eq(body, "no location", "post over http/2: body")
end)

T.test("a URL without a scheme is http", function()
  local hostport = E.HTTP:gsub("^http://", "")
  local body, code = T.fetch(http.get(hostport .. "/echo?x=1"))
  T.eq(code, 200, "code")
  local echo = T.echo(body)
  T.eq(echo.path, "/echo?x=1", "path")
  T.eq(echo.version, "HTTP/1.1", "version")
end)

T.run()
