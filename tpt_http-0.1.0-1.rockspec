-- The tpt_http native module (module/) as a rock. From a checkout of the repository:
--
--   luarocks --lua-version 5.4 make tpt_http-0.1.0-1.rockspec    # Lua 5.4
--   luarocks make tpt_http-0.1.0-1.rockspec                      # the default Lua (5.1 on Debian)
--   luarocks make tpt_http-0.1.0-1.rockspec LUA=/usr/bin/luajit  # LuaJIT
--
-- It runs cargo (the Rust toolchain must be installed), builds for the interpreter luarocks
-- targets (lua51, lua54 or luajit, asked from $(LUA) itself) and installs the library as
-- tpt_http.so in the rock's $(LIBDIR), where `require("tpt_http")` finds it. The editor
-- annotations (types/tpt_http.lua) and the script author's reference (docs/) are copied into
-- the rock's own folder (`luarocks show --rock-dir tpt_http` prints where).
rockspec_format = "3.0"
package = "tpt_http"
version = "0.1.0-1"
source = {
   -- `luarocks make` builds the checkout it is run in and does not fetch this; set it to the
   -- published repository before uploading the rock anywhere.
   url = "git+https://example.invalid/tpt-http.git",
   tag = "v0.1.0",
}
description = {
   summary = "The Powder Toy's non-blocking Lua http API (http.get, http.post, getAuthToken)",
   detailed = [[
      require("tpt_http") gives TPT's http.get, http.post and http.getAuthToken with request
      objects polled with status(), progress(), cancel() and finish(), implemented in Rust
      (hyper, rustls) on a background thread: nothing blocks the Lua thread. Plus configure()
      for the policy (HTTPS enforced by default) and tick() for TPT's per-frame status gating.
   ]],
   license = "MIT OR Apache-2.0",
   labels = { "http", "https", "async", "powder-toy", "love" },
}
dependencies = {
   "lua >= 5.1, < 5.5",
}
build = {
   type = "command",
   build_command = [[
      feature=$("$(LUA)" -e 'if jit then print("luajit") elseif _VERSION == "Lua 5.1" then print("lua51") elseif _VERSION == "Lua 5.4" then print("lua54") end') &&
      if [ -z "$feature" ]; then echo "tpt_http supports Lua 5.1, Lua 5.4 and LuaJIT" >&2; exit 1; fi &&
      cargo build --release --manifest-path module/Cargo.toml --features "$feature"
   ]],
   install_command = [[
      mkdir -p "$(LIBDIR)" &&
      cp module/target/release/libtpt_http.so "$(LIBDIR)/tpt_http.so"
   ]],
   copy_directories = { "docs", "types" },
}
