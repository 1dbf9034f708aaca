-- Checks the spec's *(inferred)* points against httpbin (what a real server sees).
local T = dofile(arg[1])
local B = T.env.HTTPBIN

-- httpbin's JSON may or may not have a space after each colon.
local function has(body, needle, what)
  local flat = body:gsub('":%s+', '":')
  needle = needle:gsub('":%s+', '":')
  T.ok(flat:find(needle, 1, true), (what or "body") .. " contains " .. needle .. "\n" .. body)
end

T.test("raw post body is sent as application/x-www-form-urlencoded", function()
  local body, code = T.fetch(http.post(B .. "/post", "a=1&b=2"))
  T.eq(code, 200, "code")
  has(body, '"Content-Type": "application/x-www-form-urlencoded"')
  has(body, '"a": "1"')
end)

T.test("multipart form with a file part", function()
  local body, code = T.fetch(http.post(B .. "/post", {
    { "field", "value" },
    { "upload", "file contents", "notes.txt" },
  }))
  T.eq(code, 200, "code")
  has(body, '"field": "value"')
  has(body, '"upload": "file contents"')
  has(body, '"Content-Type": "multipart/form-data; boundary=')
end)

T.test("an empty header value removes the default header", function()
  local body = T.fetch(http.get(B .. "/headers", { { "Accept", "" }, { "X-Kept", "yes" } }))
  T.ok(not body:find('"Accept"', 1, true), "no Accept header:\n" .. body)
  has(body, '"X-Kept": "yes"')
end)

T.test("no compression is requested", function()
  local body = T.fetch(http.get(B .. "/headers"))
  T.ok(not body:find("Accept-Encoding", 1, true), "no Accept-Encoding:\n" .. body)
  has(body, '"User-Agent": "PowderToy/')
end)

T.test("POST answered by 302 is re-sent as GET", function()
  local body, code = T.fetch(http.post(B .. "/redirect-to?url=/anything&status_code=302", "payload"))
  T.eq(code, 200, "code")
  has(body, '"method": "GET"')
  has(body, '"data": ""')
end)

T.test("POST answered by 303 is re-sent as GET", function()
  local body = T.fetch(http.post(B .. "/redirect-to?url=/anything&status_code=303", "payload"))
  has(body, '"method": "GET"')
end)

T.test("POST answered by 307 keeps method and body", function()
  local body = T.fetch(http.post(B .. "/redirect-to?url=/anything&status_code=307", "payload"))
  has(body, '"method": "POST"')
  has(body, '"Content-Length": "7"')
  has(body, '"payload"')
end)

T.test("a custom verb is kept across a redirect", function()
  local body = T.fetch(http.get(B .. "/redirect-to?url=/anything&status_code=302", nil, "DELETE"))
  has(body, '"method": "DELETE"')
end)

T.test("status and body of an error response", function()
  local body, code = T.fetch(http.get(B .. "/status/418"))
  T.eq(code, 418, "code")
  has(body, "teapot")
end)

T.test("streamed body without Content-Length reports total -1", function()
  local req = http.get(B .. "/stream-bytes/5000?chunk_size=500")
  T.wait(req)
  local total, received = req:progress()
  T.eq(total, -1, "total")
  T.eq(received, 5000, "received")
  local body = req:finish()
  T.eq(#body, 5000, "length")
end)

T.test("response headers are lowercased, duplicates kept", function()
  local _, code, headers = T.fetch(http.get(B .. "/response-headers?X-One=1&X-One=2"))
  T.eq(code, 200, "code")
  local ones = {}
  for _, h in ipairs(headers) do if h[1] == "x-one" then ones[#ones + 1] = h[2] end end
  T.eq(table.concat(ones, ","), "1,2", "x-one values")
end)

T.run()
