-- Spec section 1: the `http` table and the shape of request objects.
local T = dofile(arg[1])
local E = T.env

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = tostring(k) end
  table.sort(out)
  return table.concat(out, ",")
end

T.test("http has exactly get, post, getAuthToken", function()
  T.eq(type(http), "table", "type(http)")
  T.eq(keys(http), "get,getAuthToken,post", "keys of http")
  T.eq(type(http.get), "function", "type(http.get)")
  T.eq(type(http.post), "function", "type(http.post)")
  T.eq(type(http.getAuthToken), "function", "type(http.getAuthToken)")
end)

T.test("a request is a full userdata with __gc and an __index of four methods", function()
  local g = http.get(E.HTTP .. "/echo")
  local p = http.post(E.HTTP .. "/echo", "x")
  T.eq(type(g), "userdata", "type of a get request")
  T.eq(type(p), "userdata", "type of a post request")
  local mt = getmetatable(g)
  T.eq(type(mt), "table", "type of the metatable")
  T.eq(getmetatable(p), mt, "every request shares one metatable")
  T.eq(type(mt.__gc), "function", "type of __gc")
  T.eq(type(mt.__index), "table", "type of __index")
  local mkeys = {}
  for k in pairs(mt) do
    if k ~= "__name" then mkeys[#mkeys + 1] = tostring(k) end -- Lua 5.3+ adds __name
  end
  table.sort(mkeys)
  T.eq(table.concat(mkeys, ","), "__gc,__index", "metatable keys")
  T.eq(keys(mt.__index), "cancel,finish,progress,status", "keys of __index")
  for _, m in ipairs({ "status", "progress", "cancel", "finish" }) do
    T.eq(type(mt.__index[m]), "function", "type of " .. m)
    T.eq(g[m], mt.__index[m], "req." .. m .. " comes from __index")
  end
  T.eq(g.nonexistent, nil, "unknown field")
  local _, code = T.fetch(g)
  T.eq(code, 200, "get code")
  _, code = T.fetch(p)
  T.eq(code, 200, "post code")
end)

T.run()
