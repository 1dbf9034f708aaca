-- Spec section 1, argument 2 of http.post: raw bodies, and the forms that send no body.
local T = dofile(arg[1])
local E = T.env

local echo = T.echo_of

-- Every value of request header `name` in an echo report.
local function all(r, name)
  local out = {}
  for _, h in ipairs(r.headers) do
    if h[1] == name then out[#out + 1] = h[2] end
  end
  return out
end

local function one(r, name)
  local v = all(r, name)
  T.eq(#v, 1, "number of " .. name .. " headers")
  return v[1]
end

local BINARY = "a\0b\255c\r\n\r\nd\0"

for _, base in ipairs({ E.HTTP, E.HTTPS }) do
  local proto = base:match("^(%a+):")

  T.test(proto .. ": a raw string body is sent byte for byte", function()
    local r = echo(http.post(base .. "/echo", BINARY))
    T.eq(r.method, "POST", "method")
    T.eq(r.body, BINARY, "body")
    T.eq(r["body-length"], tostring(#BINARY), "body-length")
    T.eq(one(r, "content-length"), tostring(#BINARY), "content-length")
    T.eq(one(r, "content-type"), "application/x-www-form-urlencoded", "content-type")
  end)

  T.test(proto .. ": every byte value survives", function()
    local t = {}
    for i = 0, 255 do t[#t + 1] = string.char(i) end
    local all_bytes = table.concat(t):rep(40)
    local r = echo(http.post(base .. "/echo", all_bytes))
    T.eq(r["body-length"], tostring(#all_bytes), "body-length")
    T.ok(r.body == all_bytes, "body equals the 10240 bytes sent")
  end)
end

T.test("a number body is converted to its string form", function()
  local r = echo(http.post(E.HTTP .. "/echo", 42))
  T.eq(r.method, "POST", "method")
  T.eq(r.body, "42", "body of 42")
  T.eq(one(r, "content-length"), "2", "content-length")
  T.eq(one(r, "content-type"), "application/x-www-form-urlencoded", "content-type")
  r = echo(http.post(E.HTTP .. "/echo", 1.5))
  T.eq(r.body, "1.5", "body of 1.5")
  r = echo(http.post(E.HTTP .. "/echo", -7))
  T.eq(r.body, "-7", "body of -7")
end)

T.test("a body that looks like a form is sent as is", function()
  local r = echo(http.post(E.HTTP .. "/echo", "a=1&b=%20 2"))
  T.eq(r.body, "a=1&b=%20 2", "body")
end)

local EMPTY = {
  { "missing", function(u) return http.post(u) end },
  { "nil", function(u) return http.post(u, nil) end },
  { "empty string", function(u) return http.post(u, "") end },
  { "empty table", function(u) return http.post(u, {}) end },
  { "true", function(u) return http.post(u, true) end },
  { "false", function(u) return http.post(u, false) end },
  { "function", function(u) return http.post(u, print) end },
}
for _, case in ipairs(EMPTY) do
  T.test("post with " .. case[1] .. " body: POST with a zero-length body", function()
    for _, base in ipairs({ E.HTTP, E.HTTPS }) do
      local ok, req = pcall(case[2], base .. "/echo")
      T.ok(ok, "no error (" .. tostring(req) .. ")")
      local r = echo(req)
      T.eq(r.method, "POST", "method")
      T.eq(r["body-length"], "0", "body-length")
      T.eq(r.body, "", "body")
      T.eq(one(r, "content-length"), "0", "content-length")
    end
  end)
end

T.test("headers still apply when the body is nil", function()
  local r = echo(http.post(E.HTTP .. "/echo", nil, { { "X-With-Nil-Body", "yes" } }))
  T.eq(r.method, "POST", "method")
  T.eq(r["body-length"], "0", "body-length")
  T.eq(one(r, "x-with-nil-body"), "yes", "x-with-nil-body")
end)

T.test("tables are never URL-encoded", function()
  for _, form in ipairs({ { a = "1", b = "2" }, { { "a", "1" }, { "b", "2" } } }) do
    local r = echo(http.post(E.HTTP .. "/echo", form))
    T.eq(r.method, "POST", "method")
    T.ok(one(r, "content-type"):match("^multipart/form%-data; boundary=") ~= nil, "multipart content-type")
    T.ok(not r.body:find("a=1", 1, true), "body has no a=1")
    T.ok(not r.body:find("b=2", 1, true), "body has no b=2")
    T.ok(r.body:find('name="a"', 1, true) ~= nil, "body has a part named a")
  end
end)

T.run()
