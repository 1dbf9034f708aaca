-- Spec section 1, argument 1 of http.get / http.post: the uri.
local T = dofile(arg[1])
local E = T.env

-- The chunk name Lua shows in error positions for this script.
local SRC = debug.getinfo(1, "S").short_src
T.eq(SRC:sub(-#"args_uri.lua"), "args_uri.lua", "chunk name of this script")

-- `fn` is a one-line closure that calls the API itself (not as a tail call, which would lose
-- the caller's frame): the error must be exactly "<this file>:<that line>: <message>".
local raises = T.raises_at

local echo = T.echo_of

T.test("get: a string uri is fetched", function()
  local r = echo(http.get(E.HTTP .. "/echo?x=1"))
  T.eq(r.method, "GET", "method")
  T.eq(r.path, "/echo?x=1", "path")
end)

T.test("post: a string uri is fetched", function()
  local r = echo(http.post(E.HTTP .. "/echo?y=2", "b"))
  T.eq(r.method, "POST", "method")
  T.eq(r.path, "/echo?y=2", "path")
end)

T.test("get/post: a number uri is accepted and converted", function()
  -- No number can name the loopback server with its port, so only check that the call is
  -- accepted and returns a request, then cancel it.
  local g = http.get(0)
  T.eq(type(g), "userdata", "type of get(0)")
  T.eq(getmetatable(g), getmetatable(http.get(E.HTTP .. "/echo")), "metatable of get(0)")
  g:cancel()
  local p = http.post(12345, "x")
  T.eq(type(p), "userdata", "type of post(12345)")
  p:cancel()
end)

T.test("get: a non-string uri is an argument error", function()
  raises("bad argument #1 to 'get' (string expected, got no value)", function() http.get() end)
  raises("bad argument #1 to 'get' (string expected, got nil)", function() http.get(nil) end)
  raises("bad argument #1 to 'get' (string expected, got nil)", function() http.get(nil, {}, "GET") end)
  raises("bad argument #1 to 'get' (string expected, got table)", function() http.get({}) end)
  raises("bad argument #1 to 'get' (string expected, got table)", function() http.get({ E.HTTP }) end)
  raises("bad argument #1 to 'get' (string expected, got boolean)", function() http.get(true) end)
  raises("bad argument #1 to 'get' (string expected, got boolean)", function() http.get(false) end)
  raises("bad argument #1 to 'get' (string expected, got function)", function() http.get(print) end)
end)

T.test("post: a non-string uri is an argument error", function()
  raises("bad argument #1 to 'post' (string expected, got no value)", function() http.post() end)
  raises("bad argument #1 to 'post' (string expected, got nil)", function() http.post(nil, "x") end)
  raises("bad argument #1 to 'post' (string expected, got table)", function() http.post({}, "x") end)
  raises("bad argument #1 to 'post' (string expected, got boolean)", function() http.post(true) end)
  raises("bad argument #1 to 'post' (string expected, got function)", function() http.post(print) end)
end)

T.test("the error names the caller's line, also inside nested calls", function()
  local function wrapper(u)
    local r = http.get(u)
    return r
  end
  local line = debug.getinfo(wrapper, "S").linedefined + 1
  local ok, err = pcall(wrapper, {})
  T.eq(ok, false, "pcall result")
  T.eq(err, ("%s:%d: bad argument #1 to 'get' (string expected, got table)"):format(SRC, line), "error")
end)

T.run()
