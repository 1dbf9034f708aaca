-- Extensions beyond TPT: req:read(), req:error(), req:wait(), per-request options.
local T = dofile(arg[1])
local E = T.env

T.test("read() streams a body as it arrives; finish() returns only the unread rest", function()
  -- 6 pieces of 1000 bytes, 150 ms apart.
  local req = http.get(E.HTTP .. "/slow/6000?ms=150&chunk=1000")
  T.eq(req:read(), "", "nothing yet")
  local parts, seen_while_running = {}, 0
  while req:status() == "running" do
    local chunk = req:read()
    if #chunk > 0 then
      parts[#parts + 1] = chunk
      seen_while_running = seen_while_running + 1
    end
    coroutine.yield()
  end
  T.ok(seen_while_running >= 3, "pieces read before the response ended: " .. seen_while_running)
  local rest, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(table.concat(parts) .. rest, T.pattern(6000), "read parts and rest make the body")
  T.eq(req:read(), "", "nothing after finish")
end)

T.test("read() on a request nobody streams leaves finish() whole", function()
  local body, code = T.fetch(http.get(E.HTTP .. "/bytes/5000"))
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(5000), "body")
end)

T.test("read() after the whole body arrived takes it all; finish() gives the empty rest", function()
  local req = http.get(E.HTTP .. "/bytes/3000")
  T.wait(req)
  T.eq(req:read(), T.pattern(3000), "read")
  local rest, code = req:finish()
  T.eq(rest, "", "rest")
  T.eq(code, 200, "code")
end)

T.test("a stream that fails mid-body: what was read stays read, the status says why", function()
  local req = http.get(E.HTTP .. "/abort-mid-body?n=4000")
  local got = ""
  while req:status() == "running" do
    got = got .. req:read()
    coroutine.yield()
  end
  local rest, code = req:finish()
  T.eq(code, 600, "code")
  T.eq(rest, "", "no body on failure")
  T.ok(#got <= 4000, "never more than was sent")
  T.ok(req:error() and req:error():find("body", 1, true), "reason: " .. tostring(req:error()))
end)

T.test("error(): nil for HTTP responses, a reason for each failure class", function()
  local cases = {
    { E.CLOSED .. "/", 607, "could not connect" },
    { "http://no-such-host.invalid/", 602, "could not resolve host" },
    { "", 606, "malformed url" },
    { "ftp://127.0.0.1/", 601, "unsupported protocol" },
    { E.HTTP .. "/redirect/11", 611, "more than 10 redirects" },
    { E.WRONG_HOST .. "/", 600, "certificate verify failed" },
    { E.TRUNCATED .. "/", 600, "body" },
  }
  for _, c in ipairs(cases) do
    local req = http.get(c[1])
    local _, code = T.fetch(req)
    T.eq(code, c[2], "code for " .. c[1])
    local why = req:error()
    T.ok(why and why:find(c[3], 1, true), ("reason for %s: %s"):format(c[1], tostring(why)))
  end
  local ok = http.get(E.HTTP .. "/status/404")
  local _, code = T.fetch(ok)
  T.eq(code, 404, "code")
  T.eq(ok:error(), nil, "an HTTP response has no failure reason")
  local gone = http.get(E.HTTP .. "/hang")
  T.eq(gone:error(), nil, "no reason while running (the server never answers)")
  gone:cancel()
  T.eq(gone:error(), "cancelled", "cancelled")
end)

T.test("wait() resumes each waiting coroutine once, when its request is done", function()
  -- Count each waiting coroutine's yields: exactly one means it was resumed only once done.
  local real_yield = coroutine.yield
  local yields, results, started, owner = {}, {}, 0, {}
  coroutine.yield = function(...)
    local i = owner[coroutine.running()]
    if i then yields[i] = (yields[i] or 0) + 1 end
    return real_yield(...)
  end
  for i = 1, 12 do
    local co = coroutine.create(function()
      local req = http.get(E.HTTP .. "/slow/" .. (i * 10) .. "?ms=" .. (10 * (i % 4)) .. "&chunk=5")
      local status = req:wait()
      T.eq(status, "done", "status after wait")
      local body, code = req:finish()
      results[i] = code == 200 and body == T.pattern(i * 10)
    end)
    owner[co] = i
    local ok, err = coroutine.resume(co)
    T.ok(ok, tostring(err))
    started = started + 1
  end
  while true do
    local n = 0
    for i = 1, 12 do if results[i] ~= nil then n = n + 1 end end
    if n == 12 then break end
    coroutine.yield()
  end
  coroutine.yield = real_yield
  for i = 1, 12 do
    T.eq(results[i], true, "coroutine " .. i .. " got its body")
    T.eq(yields[i], 1, "coroutine " .. i .. " resumed exactly once")
  end
end)

T.test("wait() outside a coroutine is an error", function()
  -- The test body runs in a coroutine; call wait from the main thread through a tick handler.
  local req = http.get(E.HTTP .. "/bytes/1")
  local err
  local function h()
    event.unregister(event.tick, h)
    local ok, e = pcall(req.wait, req)
    err = ok and "no error" or e
  end
  event.register(event.tick, h)
  while err == nil do coroutine.yield() end
  T.ok(err:find("wait must be called from a coroutine", 1, true), err)
end)

T.test("per-request timeout: 605 with a reason; ignored non-table options; bad values raise", function()
  local req = http.get(E.HTTP .. "/hang", nil, nil, { timeout = 0.2 })
  local t0 = socket.gettime()
  local body, code = T.fetch(req)
  T.eq(code, 605, "code")
  T.eq(body, "", "body")
  T.ok(socket.gettime() - t0 < 3, "timed out promptly")
  T.eq(req:error(), "request timed out after 200 ms", "reason")
  local _, ok = T.fetch(http.get(E.HTTP .. "/bytes/10", nil, nil, { timeout = 10 }))
  T.eq(ok, 200, "a generous timeout does not interfere")
  local _, post = T.fetch(http.post(E.HTTP .. "/echo", "x", nil, nil, { timeout = 10 }))
  T.eq(post, 200, "options are the 5th argument of post")
  local _, ignored = T.fetch(http.get(E.HTTP .. "/bytes/10", nil, nil, "not a table"))
  T.eq(ignored, 200, "non-table options are ignored")
  T.raises("option timeout must be a positive number of seconds", true, function()
    http.get(E.HTTP .. "/bytes/10", nil, nil, { timeout = -1 })
  end)
  T.raises("option timeout must be a positive number of seconds", true, function()
    http.get(E.HTTP .. "/bytes/10", nil, nil, { timeout = "5" })
  end)
end)

T.test("compressed = true asks for gzip/deflate and decodes; progress counts wire bytes", function()
  local plain = T.pattern(50000)
  -- Without the option nothing is requested or decoded (as TPT): the server's gzip arrives raw.
  local raw, code0, h0 = T.fetch(http.get(E.HTTP .. "/gzip/50000"))
  T.eq(code0, 200, "code")
  T.eq(raw:sub(1, 2), "\31\139", "gzip magic, undecoded")
  local echo = T.echo((T.fetch(http.get(E.HTTP .. "/echo", nil, nil, { compressed = true }))))
  T.eq(echo["accept-encoding"], "gzip, deflate", "accept-encoding sent")
  for _, kind in ipairs({ "gzip", "deflate" }) do
    local req = http.get(E.HTTP .. "/" .. kind .. "/50000", nil, nil, { compressed = true })
    T.wait(req)
    local total, received = req:progress()
    local body, code, headers = req:finish()
    T.eq(code, 200, kind .. " code")
    T.ok(body == plain, kind .. " body decoded exactly (" .. #body .. " bytes)")
    T.eq(T.header(headers, "content-encoding"), kind, kind .. " header kept")
    T.eq(received, total, kind .. " progress complete")
    T.ok(total < #plain, kind .. " progress counts compressed bytes: " .. total)
  end
  local streamed = http.get(E.HTTPS .. "/gzip/50000", nil, nil, { compressed = true })
  local parts = {}
  while streamed:status() == "running" do
    parts[#parts + 1] = streamed:read()
    coroutine.yield()
  end
  local rest = streamed:finish()
  T.ok(table.concat(parts) .. rest == plain, "read() yields decoded bytes")
  local bad = http.get(E.HTTP .. "/gzip-broken", nil, nil, { compressed = true })
  local b, c = T.fetch(bad)
  T.eq(c, 600, "broken gzip fails")
  T.eq(b, "", "no body")
  T.ok(bad:error():find("bad compressed body", 1, true), bad:error())
  T.raises("option compressed must be a boolean", true, function()
    http.get(E.HTTP .. "/bytes/1", nil, nil, { compressed = "yes" })
  end)
  T.eq(h0 ~= nil, true, "headers")
end)

T.test("extensions stay out of sight of TPT scripts", function()
  local req = http.get(E.HTTP .. "/bytes/1")
  local names = {}
  for k in pairs(getmetatable(req).__index) do names[#names + 1] = k end
  table.sort(names)
  T.eq(table.concat(names, ","), "cancel,finish,progress,status", "__index keys")
  T.eq(rawget(getmetatable(req).__index, "read"), nil, "read is not a raw method")
  T.eq(type(req.read), "function", "but reachable")
  T.fetch(req)
end)

T.run()
