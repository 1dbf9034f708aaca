-- Spec section 1, argument 2 of http.post: the dictionary form {name = value, ...} (a table
-- with #t == 0), sent as multipart/form-data in an unspecified order.
local T = dofile(arg[1])
local E = T.env

local function all(r, name)
  local out = {}
  for _, h in ipairs(r.headers) do
    if h[1] == name then out[#out + 1] = h[2] end
  end
  return out
end

-- POST `form` and return the parts as a map name -> { head = part header lines, value = ... },
-- and their count; the body must be exactly a sequence of parts and the closing delimiter.
local function post_parts(form, base)
  local body, code = T.fetch(http.post((base or E.HTTP) .. "/echo", form))
  T.eq(code, 200, "code")
  local r = T.echo(body)
  T.eq(r.method, "POST", "method")
  local types = all(r, "content-type")
  T.eq(#types, 1, "number of content-type headers")
  local b = types[1]:match("^multipart/form%-data; boundary=(.+)$")
  T.ok(b, "content-type " .. types[1] .. " is multipart/form-data with a boundary")
  local rest, parts, count = r.body, {}, 0
  local open, close = "--" .. b .. "\r\n", "--" .. b .. "--\r\n"
  while rest ~= close do
    T.eq(rest:sub(1, #open), open, "part delimiter")
    rest = rest:sub(#open + 1)
    local head_end = rest:find("\r\n\r\n", 1, true)
    T.ok(head_end, "part header terminator")
    local head = rest:sub(1, head_end - 1)
    rest = rest:sub(head_end + 4)
    local value_end = rest:find("\r\n--" .. b, 1, true)
    T.ok(value_end, "part value terminator")
    local value = rest:sub(1, value_end - 1)
    rest = rest:sub(value_end + 2)
    local name = head:match('^Content%-Disposition: form%-data; name="(.-)"$')
    T.ok(name, "part header " .. head .. " is a single plain Content-Disposition")
    T.eq(parts[name], nil, "part " .. name .. " appears once")
    parts[name] = value
    count = count + 1
  end
  return parts, count
end

for _, base in ipairs({ E.HTTP, E.HTTPS }) do
  T.test(base:match("^%a+") .. ": every pair becomes one plain part", function()
    local parts, n = post_parts({ a = "1", b = 2, ["with space"] = "x\0y" }, base)
    T.eq(n, 3, "number of parts")
    T.eq(parts.a, "1", "part a")
    T.eq(parts.b, "2", "part b")
    T.eq(parts["with space"], "x\0y", "part 'with space'")
  end)
end

T.test("a value that is not a string or number becomes empty, silently", function()
  local parts, n = post_parts({ t = true, f = false, tab = {}, fn = print, s = "kept" })
  T.eq(n, 5, "number of parts")
  T.eq(parts.t, "", "part t")
  T.eq(parts.f, "", "part f")
  T.eq(parts.tab, "", "part tab")
  T.eq(parts.fn, "", "part fn")
  T.eq(parts.s, "kept", "part s")
end)

T.test("a lone non-string value still sends its part", function()
  local parts, n = post_parts({ a = true })
  T.eq(n, 1, "number of parts")
  T.eq(parts.a, "", "part a")
end)

T.test("a table with #t == 0 is a dictionary even with numeric keys", function()
  local parts, n = post_parts({ [2] = "two", [1.5] = "x" })
  T.eq(n, 2, "number of parts")
  T.eq(parts["2"], "two", "part 2")
  T.eq(parts["1.5"], "x", "part 1.5")
end)

T.run()
