-- Spec section 1, the headers argument (2 of get, 3 of post): array and dictionary forms,
-- their errors, other types ignored, and our refusal of CR, LF and NUL.
local T = dofile(arg[1])
local E = T.env
local URL = E.HTTP .. "/echo"

local SRC = debug.getinfo(1, "S").short_src
T.eq(SRC:sub(-#"headers_list.lua"), "headers_list.lua", "chunk name of this script")

local raises = T.raises_at

local echo = T.echo_of

local values = T.values

-- The names of the x-* request headers, in order, joined with ",".
local function x_names(r)
  local out = {}
  for _, h in ipairs(r.headers) do
    if h[1]:sub(1, 2) == "x-" then out[#out + 1] = h[1] end
  end
  return table.concat(out, ",")
end

for _, base in ipairs({ E.HTTP, E.HTTPS }) do
  local proto = base:match("^%a+")

  T.test(proto .. ": array form keeps order and values", function()
    local r = echo(http.get(base .. "/echo", { { "X-C", "1" }, { "X-A", "two words" }, { "X-B", "3" } }))
    T.eq(x_names(r), "x-c,x-a,x-b", "order")
    T.eq(values(r, "x-c"), "1", "x-c")
    T.eq(values(r, "x-a"), "two words", "x-a")
    T.eq(values(r, "x-b"), "3", "x-b")
    r = echo(http.get(base .. "/echo", { { "X-B", "3" }, { "X-A", "2" }, { "X-C", "1" } }))
    T.eq(x_names(r), "x-b,x-a,x-c", "reversed order")
  end)

  T.test(proto .. ": array form keeps duplicates in order", function()
    local r = echo(http.get(base .. "/echo", { { "X-Dup", "1" }, { "X-Dup", "2" }, { "X-Dup", "1" } }))
    T.eq(values(r, "x-dup"), "1|2|1", "x-dup values")
    -- The echo server groups repeated names at the first one's position, so interleaving
    -- with another name can only be checked that far.
    r = echo(http.get(base .. "/echo", { { "X-One", "a" }, { "X-Two", "b" }, { "X-One", "c" } }))
    T.eq(values(r, "x-one"), "a|c", "x-one values")
    T.eq(values(r, "x-two"), "b", "x-two values")
  end)

  T.test(proto .. ": post takes headers as argument 3", function()
    local r = echo(http.post(base .. "/echo", "body", { { "X-Post", "p" }, { "X-Post2", "q" } }))
    T.eq(r.method, "POST", "method")
    T.eq(x_names(r), "x-post,x-post2", "order")
    T.eq(values(r, "x-post"), "p", "x-post")
    T.eq(r.body, "body", "body")
  end)
end

T.test("numbers count as strings in names and values", function()
  local r = echo(http.get(URL, { { "X-Num", 42 }, { "X-Half", 1.5 }, { 123, "n" } }))
  T.eq(values(r, "x-num"), "42", "x-num")
  T.eq(values(r, "x-half"), "1.5", "x-half")
  T.eq(values(r, "123"), "n", "header 123")
end)

T.test("extra fields of a header item are ignored", function()
  local r = echo(http.get(URL, { { "X-Extra", "v", "ignored", more = true } }))
  T.eq(values(r, "x-extra"), "v", "x-extra")
  T.eq(values(r, "ignored"), nil, "third field sent as something")
end)

T.test("dictionary form, coerced like post data", function()
  local r = echo(http.get(URL, {
    ["X-Dict"] = "v",
    ["X-Num"] = 5,
    ["X-Bool"] = true,
    ["X-Tab"] = {},
  }))
  T.eq(values(r, "x-dict"), "v", "x-dict")
  T.eq(values(r, "x-num"), "5", "x-num")
  -- non-string values become "", and a header with an empty value is not sent
  T.eq(values(r, "x-bool"), nil, "x-bool")
  T.eq(values(r, "x-tab"), nil, "x-tab")
  r = echo(http.post(URL, "b", { ["X-Post-Dict"] = "d" }))
  T.eq(values(r, "x-post-dict"), "d", "x-post-dict")
end)

T.test("a headers argument that is not a table is ignored", function()
  for _, h in ipairs({ "X-Str: injected", 5, true, false, print }) do
    local r = echo(http.get(URL, h))
    T.eq(r.method, "GET", "method with " .. type(h) .. " headers")
    T.eq(values(r, "x-str"), nil, "x-str with " .. type(h) .. " headers")
    T.eq(values(r, "accept"), "*/*", "accept with " .. type(h) .. " headers")
    r = echo(http.post(URL, "body", h))
    T.eq(r.method, "POST", "post method with " .. type(h) .. " headers")
    T.eq(r.body, "body", "post body with " .. type(h) .. " headers")
    T.eq(values(r, "x-str"), nil, "post x-str with " .. type(h) .. " headers")
  end
  local r = echo(http.get(URL, "X-Str: injected", "PUT"))
  T.eq(r.method, "PUT", "verb after ignored headers")
end)

T.test("empty headers table sends only the defaults", function()
  local r = echo(http.get(URL, {}))
  T.eq(x_names(r), "", "x- headers")
  T.eq(values(r, "accept"), "*/*", "accept")
end)

T.test("get: header errors name the item's 1-based index", function()
  raises("header 1 is not a table", function() http.get(URL, { "X-A: 1" }) end)
  raises("header 2 is not a table", function() http.get(URL, { { "X-A", "1" }, 5 }) end)
  raises("header 3 is not a table", function() http.get(URL, { { "X-A", "1" }, { "X-B", "2" }, true }) end)
  raises("name of header 1 is not a string", function() http.get(URL, { {} }) end)
  raises("name of header 2 is not a string", function() http.get(URL, { { "X-A", "1" }, { true, "2" } }) end)
  raises("name of header 2 is not a string", function() http.get(URL, { { "X-A", "1" }, { [2] = "2" } }) end)
  raises("value of header 1 is not a string", function() http.get(URL, { { "X-A" } }) end)
  raises("value of header 1 is not a string", function() http.get(URL, { { "X-A", {} } }) end)
  raises("value of header 2 is not a string", function() http.get(URL, { { "X-A", "1" }, { "X-B", false } }) end)
  raises("value of header 1 is not a string", function() http.get(URL, { { "X-A", {} }, "x" }) end)
end)

T.test("post: header errors name the item's 1-based index", function()
  raises("header 1 is not a table", function() http.post(URL, "b", { "X-A: 1" }) end)
  raises("name of header 2 is not a string", function() http.post(URL, "b", { { "X-A", "1" }, { {}, "2" } }) end)
  raises("value of header 1 is not a string", function() http.post(URL, nil, { { "X-A", print } }) end)
end)

-- Beyond the spec (TPT passes these through to libcurl): a header that would split into
-- several lines on the wire is refused with a Lua error.
T.test("a CR, LF or NUL in a header value is an error", function()
  local msg = 'header "X-Bad" contains CR, LF or NUL'
  raises(msg, function() http.get(URL, { { "X-Bad", "a\r\nX-Injected: 1" } }) end)
  raises(msg, function() http.get(URL, { { "X-Bad", "a\rb" } }) end)
  raises(msg, function() http.get(URL, { { "X-Bad", "a\nb" } }) end)
  raises(msg, function() http.get(URL, { { "X-Bad", "a\0b" } }) end)
  raises(msg, function() http.get(URL, { { "X-Ok", "1" }, { "X-Bad", "\n" } }) end)
  raises(msg, function() http.get(URL, { ["X-Bad"] = "a\nb" }) end)
  raises(msg, function() http.post(URL, "body", { { "X-Bad", "a\r\n" } }) end)
end)

T.test("a CR, LF or NUL in a header name is an error", function()
  for _, name in ipairs({ "X-Bad\r\nX-Injected", "X-Bad\n", "X-\rBad", "X-Bad\0" }) do
    local fn = function() http.get(URL, { { name, "v" } }) end
    local ok, err = pcall(fn)
    T.eq(ok, false, "pcall result for " .. ("%q"):format(name))
    local where, rest = err:match("^(.-:%d+): (.*)$")
    T.eq(where, SRC .. ":" .. debug.getinfo(fn, "S").linedefined, "error position")
    T.ok(rest:match('^header ".*" contains CR, LF or NUL$'), "error message " .. rest)
  end
end)

T.run()
