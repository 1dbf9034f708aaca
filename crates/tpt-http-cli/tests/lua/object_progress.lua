-- Spec section 2: progress() gives total (Content-Length or -1) and received body bytes, as
-- integers; -1, 0 before the transfer starts or after an early failure.
local T = dofile(arg[1])
local E = T.env

local function now() return socket.gettime() end

local function is_int(x)
  return type(x) == "number" and x == math.floor(x)
end

-- progress() with integer checks.
local function progress(req, what)
  local n = select("#", req:progress())
  T.eq(n, 2, (what or "progress") .. ": result count")
  local total, got = req:progress()
  T.ok(is_int(total), (what or "progress") .. ": total is an integer")
  T.ok(is_int(got), (what or "progress") .. ": received is an integer")
  return total, got
end

-- Start a request and yield once, with a quick helper request so the next tick comes as soon
-- as that one finishes: in that tick `url`'s transfer is under way.
local function started(url)
  local req = http.get(url)
  local helper = http.get(E.HTTP .. "/bytes/1")
  T.tick()
  return req, helper
end

-- Sample progress() inside the current tick (it is live) until pred(total, got) holds.
local function spin_until(req, pred, what)
  local deadline = now() + 5
  while true do
    local total, got = progress(req, what)
    if pred(total, got) then return total, got end
    if now() > deadline then
      error(("%s: not reached in 5 s (last %s, %s)"):format(what, total, got), 2)
    end
  end
end

T.test("-1, 0 before the response arrives", function()
  local req = http.get(E.HTTP .. "/hang")
  local total, got = progress(req, "creation tick")
  T.eq(total, -1, "total right after get")
  T.eq(got, 0, "received right after get")
  -- The server reads the request and never answers: nothing changes.
  local stop = now() + 0.2
  while now() < stop do
    total, got = progress(req, "while waiting")
    T.eq(total, -1, "total while waiting for the response")
    T.eq(got, 0, "received while waiting for the response")
  end
  T.tick()
  total, got = progress(req, "next tick")
  T.eq(total, -1, "total in the next tick")
  T.eq(got, 0, "received in the next tick")
  req:cancel()
end)

T.test("-1, 0 while the server stays silent", function()
  local req = http.get(E.SILENT .. "/")
  local stop = now() + 0.2
  while now() < stop do
    local total, got = progress(req, "silent")
    T.eq(total, -1, "total")
    T.eq(got, 0, "received")
  end
  req:cancel()
end)

T.test("-1, 0 after an early failure", function()
  for _, url in ipairs({ E.CLOSED .. "/", "", "ftp://127.0.0.1/x" }) do
    local req = http.get(url)
    T.eq(T.wait(req), "done", "status of " .. url)
    local total, got = progress(req, url)
    T.eq(total, -1, "total after the failure of " .. ("%q"):format(url))
    T.eq(got, 0, "received after the failure of " .. ("%q"):format(url))
    local body, code = req:finish()
    T.ok(code >= 600, "failure code of " .. ("%q"):format(url))
    T.eq(body, "", "body")
  end
end)

T.test("during a transfer with Content-Length: total is it, received grows", function()
  -- 20 pieces of 1000 bytes, 60 ms apart (about 1.1 s).
  local req = started(E.HTTP .. "/slow/20000?ms=60&chunk=1000")
  local total, first = spin_until(req, function(_, got) return got > 0 end, "first bytes")
  T.eq(total, 20000, "total once bytes arrive")
  T.ok(first < 20000, "first sample is partial")
  local _, second = spin_until(req, function(_, got) return got > first end, "more bytes")
  T.ok(second < 20000, "second sample is partial (" .. second .. ")")
  -- Every sample until the end: total fixed, received never decreasing.
  local last = second
  spin_until(req, function(t, got)
    T.eq(t, 20000, "total during the transfer")
    T.ok(got >= last, "received never decreases")
    last = got
    return got == 20000
  end, "whole body")
  T.eq(T.wait(req), "done", "status")
  total, last = progress(req, "done")
  T.eq(total, 20000, "total once done")
  T.eq(last, 20000, "received once done")
  local body, code = req:finish()
  T.eq(code, 200, "code")
  T.eq(body, T.pattern(20000), "body")
end)

T.test("during a transfer without Content-Length: total is -1", function()
  local req = started(E.HTTP .. "/slow/20000?ms=40&chunk=1000&nolength=1")
  local total, got = spin_until(req, function(_, g) return g > 0 end, "first bytes")
  T.eq(total, -1, "total without Content-Length")
  T.ok(got < 20000, "partial")
  req:cancel()
end)

T.test("once done, before finish: the full sizes", function()
  local cases = {
    { E.HTTP .. "/bytes/5000", 5000, 5000 },
    { E.HTTPS .. "/bytes/5000", 5000, 5000 },
    { E.HTTPS_H1 .. "/bytes/5000", 5000, 5000 },
    { E.HTTP .. "/chunked/100000", -1, 100000 },
    { E.HTTPS_H1 .. "/chunked/100000", -1, 100000 },
    { E.HTTP .. "/bytes/0", 0, 0 },
  }
  for _, c in ipairs(cases) do
    local req = http.get(c[1])
    T.eq(T.wait(req), "done", "status of " .. c[1])
    local total, got = progress(req, c[1])
    T.eq(total, c[2], "total of " .. c[1])
    T.eq(got, c[3], "received of " .. c[1])
    local body, code = req:finish()
    T.eq(code, 200, "code of " .. c[1])
    T.eq(#body, c[3], "body length of " .. c[1])
  end
end)

T.test("after redirects: the final transfer's sizes", function()
  local req = http.get(E.HTTP .. "/redirect/3")
  T.eq(T.wait(req), "done", "status")
  local total, got = progress(req, "redirected")
  local body, code, headers = req:finish()
  T.eq(code, 200, "code")
  T.eq(total, tonumber(T.header(headers, "content-length")), "total is the final Content-Length")
  T.eq(got, #body, "received is the final body size")
  T.ok(#body > 0, "non-empty final body")
end)

T.test("a 4xx response counts its body", function()
  local req = http.get(E.HTTP .. "/status/404")
  T.eq(T.wait(req), "done", "status")
  local total, got = progress(req, "404")
  T.eq(total, 10, "total of the 404 body")
  T.eq(got, 10, "received of the 404 body")
  T.eq(req:finish(), "status 404", "404 body")
end)

T.run()
