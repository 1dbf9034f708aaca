-- `gc_object(f)`: an object whose finalizer is `f`, in any Lua version (Lua 5.1 and LuaJIT
-- finalize only userdata, made here with `newproxy`). Shared by lifetimes.rs and fuzz_lua.rs.
function gc_object(f)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = f
    return p
  end
  return setmetatable({}, { __gc = f })
end
