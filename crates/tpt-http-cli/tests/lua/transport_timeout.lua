-- Spec section 4, run with a 300 ms connect timeout: the timeout covers connecting (TCP and the
-- TLS handshake) and fails with 605; there is no total or idle timeout after that.
local T = dofile(arg[1])
local E = T.env

local function now() return socket.gettime() end

T.test("605: a TLS handshake that never completes hits the connect timeout", function()
  local t0 = now()
  local body, code = T.fetch(http.get(E.SILENT:gsub("^http:", "https:") .. "/"))
  local elapsed = now() - t0
  T.eq(code, 605, "code")
  T.eq(body, "", "body")
  T.ok(elapsed >= 0.25, ("not before the timeout (%.3f s)"):format(elapsed))
  T.ok(elapsed < 3, ("soon after the timeout (%.3f s)"):format(elapsed))
end)

T.test("no total or idle timeout once connected", function()
  local hang = http.get(E.HTTP .. "/hang")
  local silent = http.get(E.SILENT .. "/")
  local slow = http.get(E.HTTP .. "/slow/3?ms=500&chunk=1")
  local t0 = now()
  while now() - t0 < 1.2 do
    T.eq(hang:status(), "running", "a request the server never answers")
    T.eq(silent:status(), "running", "a request to a silent server")
    coroutine.yield()
  end
  local body, code = T.fetch(slow)
  T.eq(code, 200, "a body with 500 ms pauses: code")
  T.eq(body, T.pattern(3), "a body with 500 ms pauses: body")
  T.eq(hang:status(), "running", "hang still running at the end")
  hang:cancel()
  silent:cancel()
  T.tick()
  T.eq(hang:status(), "dead", "cancelled")
  T.eq(silent:status(), "dead", "cancelled")
end)

T.run()
