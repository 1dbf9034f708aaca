-- Spec section 1: arguments are checked in the order uri, post, headers, verb; the first bad
-- one gives the error.
local T = dofile(arg[1])
local E = T.env
local URL = E.HTTP .. "/echo"

local SRC = debug.getinfo(1, "S").short_src
T.eq(SRC:sub(-#"args_order.lua"), "args_order.lua", "chunk name of this script")

local raises = T.raises_at

local BAD_HEADERS = { "not a table" } -- "header 1 is not a table"
local BAD_FORM = { "not a table" } -- "form item 1 is not a table"
local BAD_VERB = {}

T.test("get: uri before headers before verb", function()
  raises("bad argument #1 to 'get' (string expected, got table)", function() http.get({}, BAD_HEADERS, BAD_VERB) end)
  raises("bad argument #1 to 'get' (string expected, got nil)", function() http.get(nil, BAD_HEADERS) end)
  raises("header 1 is not a table", function() http.get(URL, BAD_HEADERS, BAD_VERB) end)
  raises("bad argument #3 to 'get' (string expected, got table)", function() http.get(URL, {}, BAD_VERB) end)
  -- headers that are not a table are ignored, so the verb is the first bad argument
  raises("bad argument #3 to 'get' (string expected, got table)", function() http.get(URL, "x", BAD_VERB) end)
end)

T.test("post: uri before post before headers before verb", function()
  raises("bad argument #1 to 'post' (string expected, got table)",
    function() http.post({}, BAD_FORM, BAD_HEADERS, BAD_VERB) end)
  raises("bad argument #1 to 'post' (string expected, got boolean)", function() http.post(true, BAD_FORM) end)
  raises("form item 1 is not a table", function() http.post(URL, BAD_FORM, BAD_HEADERS, BAD_VERB) end)
  raises("name of form item 1 is not a string", function() http.post(URL, { {} }, BAD_HEADERS, BAD_VERB) end)
  raises("header 1 is not a table", function() http.post(URL, "body", BAD_HEADERS, BAD_VERB) end)
  raises("header 1 is not a table", function() http.post(URL, nil, BAD_HEADERS, BAD_VERB) end)
  raises("value of header 1 is not a string", function() http.post(URL, {}, { { "A" } }, BAD_VERB) end)
  raises("bad argument #4 to 'post' (string expected, got table)", function() http.post(URL, "body", {}, BAD_VERB) end)
  raises("bad argument #4 to 'post' (string expected, got table)", function() http.post(URL, nil, nil, BAD_VERB) end)
end)

T.test("a failed call starts no request, the next good one works", function()
  raises("header 1 is not a table", function() http.get(URL, BAD_HEADERS) end)
  local body, code = T.fetch(http.get(URL))
  T.eq(code, 200, "code")
  T.eq(T.echo(body).method, "GET", "method")
end)

T.run()
