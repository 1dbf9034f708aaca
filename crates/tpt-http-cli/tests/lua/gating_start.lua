-- Spec sections 1 and 2: "the request starts at once", and a new request is flagged as seen
-- running, so it reports "running" in its creation tick even when its transfer has already
-- finished within that tick.
local T = dofile(arg[1])
local E = T.env

local function now() return socket.gettime() end

T.test("a request starts at once: it finishes within its creation tick, still running", function()
  local req = http.get(E.HTTP .. "/bytes/10")
  T.eq(req:status(), "running", "status right after get")
  -- progress() is live: wait (inside this tick) until the whole body has arrived.
  local deadline = now() + 3
  local total, got = req:progress()
  while not (total == 10 and got == 10) do
    T.eq(req:status(), "running", "status in the creation tick")
    if now() > deadline then
      error(("transfer made no progress within its creation tick in 3 s (progress %d, %d)"):format(total, got))
    end
    total, got = req:progress()
  end
  -- The body is complete; poll on a while longer so the transfer has certainly ended.
  local stop = now() + 0.3
  while now() < stop do
    T.eq(req:status(), "running", "status in the creation tick after the transfer ended")
  end
  T.eq(select("#", req:finish()), 0, "finish() results in the creation tick")
  T.tick()
  T.eq(req:status(), "done", "status in the next tick")
  local body, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(10), "body")
end)

T.run()
