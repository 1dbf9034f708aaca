-- Spec section 2: the request object's methods and its running -> done -> dead life.
local T = dofile(arg[1])
local E = T.env

local function now() return socket.gettime() end
local function pack(...) return select("#", ...), { ... } end

-- Yield once, with a quick helper request so the next tick comes soon.
local function quick_tick()
  local helper = http.get(E.HTTP .. "/bytes/1")
  T.tick()
  return helper
end

T.test("request objects are userdata with __gc and the four methods", function()
  local req = http.get(E.HTTP .. "/bytes/1")
  T.eq(type(req), "userdata", "type of a request")
  local mt = getmetatable(req)
  T.eq(type(mt), "table", "metatable type")
  T.eq(type(mt.__gc), "function", "__gc type")
  T.eq(type(mt.__index), "table", "__index type")
  for _, name in ipairs({ "status", "progress", "cancel", "finish" }) do
    T.eq(type(mt.__index[name]), "function", name .. " type")
  end
  T.eq(getmetatable(http.get(E.HTTP .. "/bytes/1")), mt, "requests share one metatable")
  T.fetch(req)
end)

T.test("status() returns exactly running, done, dead", function()
  local req = http.get(E.HTTP .. "/bytes/1")
  local seen = {}
  local function poll()
    local n, r = pack(req:status())
    T.eq(n, 1, "status() result count")
    T.eq(type(r[1]), "string", "status() type")
    seen[r[1]] = true
    return r[1]
  end
  T.eq(poll(), "running", "first status")
  while poll() == "running" do T.tick() end
  T.eq(poll(), "done", "status once finished")
  req:finish()
  T.eq(poll(), "dead", "status after finish")
  local count = 0
  for k in pairs(seen) do
    count = count + 1
    T.ok(k == "running" or k == "done" or k == "dead", "status value " .. k)
  end
  T.eq(count, 3, "distinct status values seen")
end)

T.test("finish() while running returns nothing, does not block, keeps the request", function()
  local req = http.get(E.HTTP .. "/hang")
  local helper = quick_tick()
  T.eq(req:status(), "running", "status")
  local t0 = now()
  T.eq(select("#", req:finish()), 0, "finish() results while running")
  T.ok(now() - t0 < 0.5, "finish() returned at once")
  T.eq(req:status(), "running", "status after finish() while running")
  T.tick()
  -- A finish() as the tick's first call on a running request returns nothing too.
  t0 = now()
  T.eq(select("#", req:finish()), 0, "finish() results, first call of a tick")
  T.ok(now() - t0 < 0.5, "finish() returned at once")
  T.eq(req:status(), "running", "still running in a later tick")
  T.eq(select("#", req:cancel()), 0, "cancel() results")
  T.tick()
  T.eq(req:status(), "dead", "dead after cancel")
  T.fetch(helper)
end)

T.test("finish() once done: 3 values, then dead; a second finish() returns nothing", function()
  local req = http.get(E.HTTP .. "/bytes/100")
  T.eq(T.wait(req), "done", "status")
  local n, r = pack(req:finish())
  T.eq(n, 3, "finish() result count")
  T.eq(r[1], T.pattern(100), "body")
  T.eq(r[2], 200, "code")
  T.eq(type(r[3]), "table", "headers type")
  T.eq(req:status(), "dead", "status right after finish")
  T.eq(select("#", req:finish()), 0, "second finish() results")
  T.eq(select("#", req:progress()), 0, "progress() results when dead")
  T.eq(select("#", req:cancel()), 0, "cancel() results when dead")
  T.eq(req:status(), "dead", "status after cancel of a dead request")
  T.tick()
  T.eq(req:status(), "dead", "status in the next tick")
  T.eq(select("#", req:finish()), 0, "finish() results in the next tick")
  T.eq(select("#", req:progress()), 0, "progress() results in the next tick")
end)

T.test("a done request waits for finish() across ticks", function()
  local req = http.get(E.HTTP .. "/bytes/7")
  T.eq(T.wait(req), "done", "status")
  T.tick(3)
  T.eq(req:status(), "done", "status three ticks later")
  local body, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(7), "body")
end)

T.test("cancel() of a running request: dead in the next tick, finish() gives nothing", function()
  local req = http.get(E.HTTP .. "/hang")
  local helper = quick_tick()
  T.eq(req:status(), "running", "status before cancel")
  T.eq(select("#", req:cancel()), 0, "cancel() results")
  T.tick()
  T.eq(req:status(), "dead", "status after cancel")
  T.eq(select("#", req:finish()), 0, "finish() results after cancel")
  T.eq(select("#", req:progress()), 0, "progress() results after cancel")
  req:cancel()
  T.eq(req:status(), "dead", "status after a second cancel")
  T.fetch(helper)
end)

T.test("a failed request is done, then dead after finish()", function()
  local req = http.get(E.CLOSED .. "/")
  T.eq(T.wait(req), "done", "status")
  local body, code = req:finish()
  T.eq(code, 607, "code")
  T.eq(body, "", "body")
  T.eq(req:status(), "dead", "status after finish")
end)

T.run()
