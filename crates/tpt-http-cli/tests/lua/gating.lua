-- Spec section 2, "Tick gating (TPT v100)": a request seen "running" in a tick stays "running"
-- for the rest of that tick; new requests start flagged; cancel() evaluates the status.
local T = dofile(arg[1])
local E = T.env

local function now() return socket.gettime() end

-- Yield once; a quick helper request makes the runner's next tick come as soon as it finishes
-- (the runner ticks when a request finishes), even while `hanging` requests stay in flight.
local function quick_tick()
  local helper = http.get(E.HTTP .. "/bytes/1")
  T.tick()
  return helper
end

-- Busy-wait inside the current tick until pred() is true; fails after `limit` seconds.
local function spin_until(pred, limit, what)
  local deadline = now() + (limit or 5)
  while not pred() do
    if now() > deadline then error(what .. ": still false after " .. (limit or 5) .. " s", 2) end
  end
end

T.test("a new request reports running throughout its creation tick", function()
  local req = http.get(E.HTTP .. "/bytes/10")
  local stop = now() + 0.3
  while now() < stop do
    T.eq(req:status(), "running", "status in the creation tick")
  end
  T.eq(select("#", req:finish()), 0, "finish() results in the creation tick")
  local s, ticks = T.wait(req)
  T.eq(s, "done", "status once finished")
  T.ok(ticks >= 1, "done only after a tick")
  local body, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(10), "body")
end)

T.test("requests that fail at once report running in their creation tick", function()
  local cases = { { "", 606 }, { "https://", 606 }, { "ftp://127.0.0.1/", 601 }, { E.CLOSED .. "/", 607 } }
  local reqs = {}
  for i, c in ipairs(cases) do reqs[i] = http.get(c[1]) end
  local stop = now() + 0.1
  while now() < stop do
    for i, c in ipairs(cases) do
      T.eq(reqs[i]:status(), "running", ("status of %q in the creation tick"):format(c[1]))
    end
  end
  for i, c in ipairs(cases) do
    T.eq(select("#", reqs[i]:finish()), 0, ("finish() of %q in the creation tick"):format(c[1]))
  end
  for i, c in ipairs(cases) do
    local body, code = T.fetch(reqs[i])
    T.eq(code, c[2], ("code of %q"):format(c[1]))
    T.eq(body, "", ("body of %q"):format(c[1]))
  end
end)

T.test("a request seen running stays running for the rest of the tick", function()
  -- 2 bytes: the first at once, the second 600 ms later.
  local req = http.get(E.HTTP .. "/slow/2?ms=600&chunk=1")
  local helper = quick_tick()
  T.eq(req:status(), "running", "first poll in the second tick")
  spin_until(function()
    T.eq(req:status(), "running", "status while the last byte is awaited")
    local _, got = req:progress()
    return got == 2
  end, 5, "both bytes arrived")
  -- The transfer ends right after its last byte; keep polling well past that point.
  local stop = now() + 0.3
  local polls = 0
  while now() < stop do
    T.eq(req:status(), "running", "status after the transfer ended, same tick")
    polls = polls + 1
  end
  T.ok(polls > 1, "polled more than once")
  T.eq(select("#", req:finish()), 0, "finish() while seen running this tick")
  T.tick()
  T.eq(req:status(), "done", "status in the following tick")
  local body, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(2), "body")
  T.eq(select(2, T.fetch(helper)), 200, "helper code")
end)

T.test("done is reported only from the next tick, and stays done", function()
  local req = http.get(E.HTTP .. "/bytes/10")
  local s, ticks = T.wait(req)
  T.eq(s, "done", "status")
  T.ok(ticks >= 1, "at least one tick passed before done")
  T.eq(req:status(), "done", "polled again in the same tick")
  T.tick(2)
  T.eq(req:status(), "done", "two ticks later")
  local body, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(10), "body")
end)

T.test("cancel in the creation tick: running, progress 0 0, then dead", function()
  local req = http.get(E.HTTP .. "/hang")
  T.eq(select("#", req:cancel()), 0, "cancel() results")
  T.eq(req:status(), "running", "status after cancel, same tick")
  T.eq(select("#", req:progress()), 2, "progress() result count")
  local total, got = req:progress()
  T.eq(total, 0, "progress total after cancel")
  T.eq(got, 0, "progress received after cancel")
  T.eq(select("#", req:finish()), 0, "finish() after cancel, same tick")
  T.tick()
  T.eq(req:status(), "dead", "status in the next tick")
  T.eq(select("#", req:progress()), 0, "progress() results when dead")
  T.eq(select("#", req:finish()), 0, "finish() results when dead")
end)

T.test("cancel as the first call of a tick evaluates the status: running until next tick", function()
  local req = http.get(E.HTTP .. "/hang")
  local helper = quick_tick()
  req:cancel()
  T.eq(req:status(), "running", "status after cancel, same tick")
  local total, got = req:progress()
  T.eq(total, 0, "progress total after cancel")
  T.eq(got, 0, "progress received after cancel")
  T.tick()
  T.eq(req:status(), "dead", "status in the next tick")
  T.eq(select(2, T.fetch(helper)), 200, "helper code")
end)

T.test("progress of a transfer cancelled this tick is 0 0 even after bytes arrived", function()
  -- 100 pieces of 100 bytes, 50 ms apart: about 5 s in all, cancelled long before the end.
  local req = http.get(E.HTTP .. "/slow/10000?ms=50&chunk=100")
  local helper = quick_tick()
  spin_until(function()
    local total, got = req:progress()
    return total == 10000 and got > 0
  end, 5, "some bytes arrived")
  T.eq(req:status(), "running", "status before cancel")
  req:cancel()
  T.eq(req:status(), "running", "status after cancel, same tick")
  local total, got = req:progress()
  T.eq(total, 0, "progress total after cancel")
  T.eq(got, 0, "progress received after cancel")
  T.tick()
  T.eq(req:status(), "dead", "status in the next tick")
  T.eq(select("#", req:progress()), 0, "progress() results when dead")
  T.eq(select(2, T.fetch(helper)), 200, "helper code")
end)

T.test("cancel of a request seen done in this tick makes it dead at once", function()
  local req = http.get(E.HTTP .. "/bytes/10")
  T.eq(T.wait(req), "done", "status")
  req:cancel()
  T.eq(req:status(), "dead", "status right after cancel")
  T.eq(select("#", req:progress()), 0, "progress() results")
  T.eq(select("#", req:finish()), 0, "finish() results")
  T.tick()
  T.eq(req:status(), "dead", "status in the next tick")
end)

T.test("cancel of a done request as the tick's first call makes it dead at once", function()
  local req = http.get(E.HTTP .. "/bytes/10")
  T.eq(T.wait(req), "done", "status")
  T.tick()
  req:cancel()
  T.eq(req:status(), "dead", "status right after cancel")
  T.eq(select("#", req:finish()), 0, "finish() results")
end)

T.test("a request that ended while flagged cancels like a running one", function()
  local req = http.get(E.HTTP .. "/slow/2?ms=600&chunk=1")
  local helper = quick_tick()
  T.eq(req:status(), "running", "status, first poll of the tick")
  spin_until(function()
    local _, got = req:progress()
    return got == 2
  end, 5, "body arrived")
  local stop = now() + 0.2
  while now() < stop do end
  req:cancel()
  T.eq(req:status(), "running", "status after cancel, same tick")
  T.tick()
  T.eq(req:status(), "dead", "status in the next tick")
  T.eq(select("#", req:finish()), 0, "finish() results")
  T.fetch(helper)
end)

T.run()
