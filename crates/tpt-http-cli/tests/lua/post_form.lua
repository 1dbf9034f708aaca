-- Spec section 1, argument 2 of http.post: the array form {{name, value, [filename],
-- [content_type]}, ...}, sent as multipart/form-data, and its errors.
local T = dofile(arg[1])
local E = T.env
local URL = E.HTTP .. "/echo"

local SRC = debug.getinfo(1, "S").short_src
T.eq(SRC:sub(-#"post_form.lua"), "post_form.lua", "chunk name of this script")

local raises = T.raises_at

local function all(r, name)
  local out = {}
  for _, h in ipairs(r.headers) do
    if h[1] == name then out[#out + 1] = h[2] end
  end
  return out
end

-- POST `form` to /echo; returns the echo report and the multipart boundary.
local function post_form(form, base)
  local body, code = T.fetch(http.post((base or E.HTTP) .. "/echo", form))
  T.eq(code, 200, "code")
  local r = T.echo(body)
  T.eq(r.method, "POST", "method")
  local types = all(r, "content-type")
  T.eq(#types, 1, "number of content-type headers")
  local boundary = types[1]:match("^multipart/form%-data; boundary=(.+)$")
  T.ok(boundary, "content-type " .. types[1] .. " is multipart/form-data with a boundary")
  T.eq(all(r, "content-length")[1], tostring(#r.body), "content-length")
  return r, boundary
end

-- The exact multipart body for `parts`: each { disposition-params, content-type or nil, value }.
local function multipart(boundary, parts)
  local out = {}
  for _, p in ipairs(parts) do
    out[#out + 1] = "--" .. boundary .. "\r\nContent-Disposition: form-data; " .. p[1] .. "\r\n"
    if p[2] then out[#out + 1] = "Content-Type: " .. p[2] .. "\r\n" end
    out[#out + 1] = "\r\n" .. p[3] .. "\r\n"
  end
  out[#out + 1] = "--" .. boundary .. "--\r\n"
  return table.concat(out)
end

for _, base in ipairs({ E.HTTP, E.HTTPS }) do
  T.test(base:match("^%a+") .. ": parts with names, values, filenames and content types", function()
    local r, b = post_form({
      { "plain", "v" },
      { "bin", "\0\255\r\n--x\0" },
      { "pic", "PNGDATA\0", "a.png" },
      { "notes", "hello", "notes.txt" },
      { "raw", "x", "data" },
      { "odd", "y", "archive.unknownext" },
      { "typed", "z", "f.png", "text/x-custom" },
      { "ct", "w", nil, "application/json" },
      { "empty", "" },
    }, base)
    T.eq(r.body, multipart(b, {
      { 'name="plain"', nil, "v" },
      { 'name="bin"', nil, "\0\255\r\n--x\0" },
      { 'name="pic"; filename="a.png"', "image/png", "PNGDATA\0" },
      { 'name="notes"; filename="notes.txt"', "text/plain", "hello" },
      -- libcurl gives a data part a type only for the extensions it knows
      { 'name="raw"; filename="data"', nil, "x" },
      { 'name="odd"; filename="archive.unknownext"', nil, "y" },
      { 'name="typed"; filename="f.png"', "text/x-custom", "z" },
      { 'name="ct"', "application/json", "w" },
      { 'name="empty"', nil, "" },
    }), "multipart body")
  end)
end

T.test("numbers count as strings in every field", function()
  local r, b = post_form({
    { 1, 2 },
    { "half", 1.5 },
    { "f", "v", 7 },
    { "g", "v", "x.txt", 5 },
  })
  T.eq(r.body, multipart(b, {
    { 'name="1"', nil, "2" },
    { 'name="half"', nil, "1.5" },
    { 'name="f"; filename="7"', nil, "v" },
    { 'name="g"; filename="x.txt"', "5", "v" },
  }), "multipart body")
end)

T.test("extra fields of an item are ignored", function()
  local r, b = post_form({
    { "a", "1", extra = "ignored", [0] = "zero" },
    { "b", "2", "b.txt", "text/x-b", "fifth", "sixth" },
    { "c", "3", nil, nil, "fifth" },
  })
  T.eq(r.body, multipart(b, {
    { 'name="a"', nil, "1" },
    { 'name="b"; filename="b.txt"', "text/x-b", "2" },
    { 'name="c"', nil, "3" },
  }), "multipart body")
end)

T.test("a one-item form is still multipart", function()
  local r, b = post_form({ { "only", "one" } })
  T.eq(r.body, multipart(b, { { 'name="only"', nil, "one" } }), "multipart body")
end)

T.test("item errors name the item's 1-based index", function()
  raises("form item 1 is not a table", function() http.post(URL, { "x" }) end)
  raises("form item 2 is not a table", function() http.post(URL, { { "a", "1" }, "x" }) end)
  raises("form item 2 is not a table", function() http.post(URL, { { "a", "1" }, 5 }) end)
  raises("form item 3 is not a table", function() http.post(URL, { { "a", "1" }, { "b", "2" }, true }) end)
  raises("name of form item 1 is not a string", function() http.post(URL, { {} }) end)
  raises("name of form item 1 is not a string", function() http.post(URL, { { true, "v" } }) end)
  raises("name of form item 1 is not a string", function() http.post(URL, { { {}, "v" } }) end)
  raises("name of form item 2 is not a string", function() http.post(URL, { { "a", "1" }, { [2] = "v" } }) end)
  raises("value of form item 1 is not a string", function() http.post(URL, { { "a" } }) end)
  raises("value of form item 1 is not a string", function() http.post(URL, { { "a", {} } }) end)
  raises("value of form item 3 is not a string", function() http.post(URL, { { "a", "1" }, { "b", "2" }, { "c", false } }) end)
  raises("filename of form item 1 is not a string", function() http.post(URL, { { "a", "b", true } }) end)
  raises("filename of form item 2 is not a string", function() http.post(URL, { { "a", "b" }, { "c", "d", {} } }) end)
  raises("content type of form item 1 is not a string", function() http.post(URL, { { "a", "b", "f", {} } }) end)
  raises("content type of form item 1 is not a string", function() http.post(URL, { { "a", "b", nil, true } }) end)
  raises("content type of form item 2 is not a string", function() http.post(URL, { { "a", "b" }, { "c", "d", "f.txt", print } }) end)
end)

T.test("an earlier bad item is reported before a later one", function()
  raises("value of form item 1 is not a string", function() http.post(URL, { { "a", {} }, "x" }) end)
  raises("form item 2 is not a table", function() http.post(URL, { { "a", "b" }, "x", { true } }) end)
end)

T.run()
