-- Limits: responses up to 1000 bytes, 2 requests in flight, 0.4 s idle timeout, 3 s total.
local T = dofile(arg[1])
local E = T.env

-- Over HTTP/1.1 (E.HTTP) and HTTP/2 (E.HTTPS negotiates h2; issue 10's mutation audit found
-- the h2 path untested).
for _, over in ipairs({ { "HTTP/1.1", E.HTTP }, { "HTTP/2", E.HTTPS } }) do
  local proto, base = over[1], over[2]
  T.test("a response over the size limit fails with 600 and no body over " .. proto, function()
    local body, code = T.fetch(http.get(base .. "/bytes/1000"))
    T.eq(code, 200, "at the limit")
    T.eq(#body, 1000, "length")
    for _, path in ipairs({ "/bytes/1001", "/chunked/5000", "/slow/3000?ms=10&chunk=500&nolength=1" }) do
      local req = http.get(base .. path)
      local big, code2 = T.fetch(req)
      T.eq(code2, 600, "code for " .. path)
      T.eq(big, "", "no partial body for " .. path)
      T.eq(req:error(), "response larger than 1000 bytes", "reason for " .. path)
    end
  end)
end

T.test("the size limit applies to the decoded size of a compressed body", function()
  local req = http.get(E.HTTP .. "/gzip/5000", nil, nil, { compressed = true })
  local body, code = T.fetch(req)
  T.eq(code, 600, "a small gzip that decodes past the limit")
  T.eq(body, "", "no partial body")
  T.eq(req:error(), "response larger than 1000 bytes", "reason")
end)

T.test("a slow drip under the idle timeout completes; a stall beyond it gives 605", function()
  local _, code = T.fetch(http.get(E.HTTP .. "/slow/500?ms=100&chunk=100"))
  T.eq(code, 200, "drip every 100 ms")
  local req = http.get(E.HTTP .. "/slow/300?ms=900&chunk=100")
  local body, stalled = T.fetch(req)
  T.eq(stalled, 605, "stall of 900 ms")
  T.eq(body, "", "body")
  T.eq(req:error(), "no data for 400 ms", "reason")
  local hang = http.get(E.HTTP .. "/hang")
  local _, never = T.fetch(hang)
  T.eq(never, 605, "a server that never answers")
  T.eq(hang:error(), "no data for 400 ms", "reason")
end)

T.test("the total timeout ends a drip that never stops being slow", function()
  local t0 = socket.gettime()
  local req = http.get(E.HTTP .. "/slow/1000?ms=300&chunk=50")
  local _, code = T.fetch(req)
  T.eq(code, 605, "code")
  T.eq(req:error(), "request timed out after 3000 ms", "reason")
  T.ok(socket.gettime() - t0 < 6, "ended near the limit")
end)

T.test("requests beyond the in-flight limit wait in order, none starved", function()
  local reqs = {}
  for i = 1, 6 do reqs[i] = http.get(E.HTTP .. "/slow/400?ms=60&chunk=100") end
  local finished, max_active = {}, 0
  while #finished < 6 do
    local active = 0
    for i = 1, 6 do
      local r = reqs[i]
      if r then
        local s = r:status()
        if s == "done" then
          local body, code = r:finish()
          T.eq(code, 200, "code " .. i)
          T.eq(#body, 400, "length " .. i)
          finished[#finished + 1] = i
          reqs[i] = nil
        elseif s == "running" then
          local _, received = r:progress()
          if received and received > 0 then active = active + 1 end
        end
      end
    end
    if active > max_active then max_active = active end
    coroutine.yield()
  end
  T.ok(max_active <= 2, "at most 2 transferring at once, saw " .. max_active)
  T.eq(finished[1] <= 2 and finished[6] >= 5, true, "first started finish first: " .. table.concat(finished, ","))
end)

T.run()
