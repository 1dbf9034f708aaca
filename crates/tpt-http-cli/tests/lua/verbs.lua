-- Spec section 1, the verb argument (3 of get, 4 of post): it replaces only the method string.
local T = dofile(arg[1])
local E = T.env

local SRC = debug.getinfo(1, "S").short_src
T.eq(SRC:sub(-#"verbs.lua"), "verbs.lua", "chunk name of this script")

local raises = T.raises_at

local echo = T.echo_of

local values = T.values

for _, base in ipairs({ E.HTTP, E.HTTPS }) do
  local URL = base .. "/echo"
  local proto = base:match("^%a+")

  T.test(proto .. ": nil or empty verb means the normal method", function()
    T.eq(echo(http.get(URL, nil, nil)).method, "GET", "get, nil verb")
    T.eq(echo(http.get(URL, nil, "")).method, "GET", "get, empty verb")
    T.eq(echo(http.get(URL, {}, "")).method, "GET", "get, empty headers and verb")
    local r = echo(http.post(URL, "data", nil, nil))
    T.eq(r.method, "POST", "post, nil verb")
    T.eq(r.body, "data", "post body, nil verb")
    r = echo(http.post(URL, "data", {}, ""))
    T.eq(r.method, "POST", "post, empty verb")
    T.eq(r.body, "data", "post body, empty verb")
  end)

  T.test(proto .. ": a get with a verb sends that method with no body", function()
    local r = echo(http.get(URL, nil, "DELETE"))
    T.eq(r.method, "DELETE", "method")
    T.eq(r["body-length"], "0", "body-length")
    T.eq(values(r, "content-length"), nil, "content-length")
    T.eq(values(r, "content-type"), nil, "content-type")
    T.eq(values(r, "accept"), "*/*", "accept")
    r = echo(http.get(URL, nil, "POST"))
    T.eq(r.method, "POST", "method POST on a get")
    T.eq(r["body-length"], "0", "body-length of POST on a get")
    T.eq(values(r, "content-type"), nil, "content-type of POST on a get")
  end)

  T.test(proto .. ": a post with a verb sends that method with the post body", function()
    local r = echo(http.post(URL, "data", nil, "PUT"))
    T.eq(r.method, "PUT", "method")
    T.eq(r.body, "data", "body")
    T.eq(values(r, "content-length"), "4", "content-length")
    T.eq(values(r, "content-type"), "application/x-www-form-urlencoded", "content-type")
    r = echo(http.post(URL, { { "f", "v" } }, nil, "PATCH"))
    T.eq(r.method, "PATCH", "method with a form")
    T.ok(values(r, "content-type"):match("^multipart/form%-data; boundary="), "multipart content-type")
    T.ok(r.body:find('Content-Disposition: form-data; name="f"\r\n\r\nv\r\n', 1, true), "form part")
    r = echo(http.post(URL, nil, nil, "DELETE"))
    T.eq(r.method, "DELETE", "method with no body")
    T.eq(r["body-length"], "0", "body-length with no body")
    r = echo(http.post(URL, "q", nil, "GET"))
    T.eq(r.method, "GET", "GET verb on a post")
    T.eq(r.body, "q", "body of GET verb on a post")
  end)

  T.test(proto .. ": the verb is sent as given, case kept", function()
    T.eq(echo(http.get(URL, nil, "delete")).method, "delete", "lowercase verb")
    T.eq(echo(http.get(URL, nil, "PROPFIND")).method, "PROPFIND", "extension verb")
  end)

  T.test(proto .. ": verb and headers together", function()
    local r = echo(http.post(URL, "d", { { "X-V", "1" } }, "PUT"))
    T.eq(r.method, "PUT", "method")
    T.eq(values(r, "x-v"), "1", "x-v")
    T.eq(r.body, "d", "body")
  end)
end

T.test("a number verb is converted", function()
  T.eq(echo(http.get(E.HTTP .. "/echo", nil, 123)).method, "123", "get verb 123")
  local r = echo(http.post(E.HTTP .. "/echo", "b", nil, 42))
  T.eq(r.method, "42", "post verb 42")
  T.eq(r.body, "b", "post body")
end)

T.test("any other verb type is an argument error", function()
  local URL = E.HTTP .. "/echo"
  raises("bad argument #3 to 'get' (string expected, got table)", function() http.get(URL, nil, {}) end)
  raises("bad argument #3 to 'get' (string expected, got table)", function() http.get(URL, {}, { "DELETE" }) end)
  raises("bad argument #3 to 'get' (string expected, got boolean)", function() http.get(URL, nil, true) end)
  raises("bad argument #3 to 'get' (string expected, got boolean)", function() http.get(URL, nil, false) end)
  raises("bad argument #3 to 'get' (string expected, got function)", function() http.get(URL, nil, print) end)
  raises("bad argument #4 to 'post' (string expected, got table)", function() http.post(URL, "d", nil, {}) end)
  raises("bad argument #4 to 'post' (string expected, got boolean)", function() http.post(URL, "d", {}, false) end)
  raises("bad argument #4 to 'post' (string expected, got function)", function() http.post(URL, nil, nil, print) end)
end)

T.run()
