-- Run with networking disabled (Config::network_enabled = false): every request fails at once
-- with 604, yet reports "running" in the tick it was created (spec sections 2 and 3).
local T = dofile(arg[1])
local E = T.env

local function now() return socket.gettime() end
local function pack(...) return select("#", ...), { ... } end

local function check_604_lifecycle(url)
  local req = http.get(url)
  T.eq(req:status(), "running", "status in the creation tick")
  local total, got = req:progress()
  T.eq(total, -1, "progress total in the creation tick")
  T.eq(got, 0, "progress received in the creation tick")
  -- The failure is immediate; polling on for a while in the same tick changes nothing.
  local stop = now() + 0.1
  while now() < stop do
    T.eq(req:status(), "running", "status polled again in the creation tick")
  end
  T.eq(select("#", req:finish()), 0, "finish() results in the creation tick")
  T.tick()
  T.eq(req:status(), "done", "status in the next tick")
  total, got = req:progress()
  T.eq(total, -1, "progress total once done")
  T.eq(got, 0, "progress received once done")
  local n, r = pack(req:finish())
  T.eq(n, 3, "finish() result count")
  T.eq(r[1], "", "body")
  T.eq(r[2], 604, "code")
  T.eq(type(r[3]), "table", "headers type")
  T.eq(next(r[3]), nil, "headers table is empty")
  T.eq(req:status(), "dead", "status after finish")
  T.eq(select("#", req:progress()), 0, "progress() results when dead")
  T.eq(select("#", req:finish()), 0, "second finish() results")
end

T.test("604 over https: running in the creation tick, done in the next", function()
  check_604_lifecycle(E.HTTPS .. "/echo")
end)

T.test("604 over plain http: running in the creation tick, done in the next", function()
  check_604_lifecycle(E.HTTP .. "/echo")
end)

T.test("finish() of a 604 request gives \"\", 604, {}", function()
  local req = http.post(E.HTTP .. "/echo", "data")
  T.eq(req:status(), "running", "status in the creation tick")
  T.tick()
  T.eq(req:status(), "done", "status in the next tick")
  local body, code, headers = req:finish()
  T.eq(body, "", "body")
  T.eq(code, 604, "code")
  T.eq(type(headers), "table", "headers type")
  T.eq(#headers, 0, "header count")
  T.eq(next(headers), nil, "headers table is empty")
  T.eq(req:status(), "dead", "status after finish")
  T.eq(select("#", req:finish()), 0, "second finish() results")
end)

T.test("a 604 request cancelled in its creation tick is dead in the next", function()
  local req = http.get(E.HTTPS .. "/echo")
  req:cancel()
  T.eq(req:status(), "running", "status after cancel, creation tick")
  local total, got = req:progress()
  T.eq(total, 0, "progress total after cancel")
  T.eq(got, 0, "progress received after cancel")
  T.tick()
  T.eq(req:status(), "dead", "status in the next tick")
  T.eq(select("#", req:finish()), 0, "finish() results")
end)

T.test("many 604 requests in one tick all report running, then done", function()
  local reqs = {}
  for i = 1, 20 do reqs[i] = http.get(E.HTTPS .. "/bytes/" .. i) end
  for i = 1, 20 do T.eq(reqs[i]:status(), "running", "status of request " .. i) end
  T.tick()
  for i = 1, 20 do
    T.eq(reqs[i]:status(), "done", "status of request " .. i .. " in the next tick")
    local body, code = reqs[i]:finish()
    T.eq(code, 604, "code of request " .. i)
    T.eq(body, "", "body of request " .. i)
  end
end)

T.run()
