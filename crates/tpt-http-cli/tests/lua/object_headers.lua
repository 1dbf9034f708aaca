-- Spec section 2: the headers table finish() returns.
local T = dofile(arg[1])
local E = T.env

local function enc(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- All values of header `name`, in order.
local function values(headers, name)
  local out = {}
  for _, h in ipairs(headers) do
    if h[1] == name then out[#out + 1] = h[2] end
  end
  return out
end

-- Entries of `headers` whose name starts with `prefix`, as "name=value" strings in order.
local function entries(headers, prefix)
  local out = {}
  for _, h in ipairs(headers) do
    if h[1]:sub(1, #prefix) == prefix then out[#out + 1] = h[1] .. "=" .. h[2] end
  end
  return table.concat(out, ",")
end

T.test("an array of {name, value} string pairs", function()
  local body, code, headers = T.fetch(http.get(E.HTTP .. "/headers?X-One=1&X-Two=2"))
  T.eq(code, 200, "code")
  T.eq(body, "ok", "body")
  T.eq(type(headers), "table", "headers type")
  T.ok(#headers >= 4, "at least content-type, content-length, x-one, x-two")
  local count = 0
  for k, h in pairs(headers) do
    count = count + 1
    T.eq(type(k), "number", "key type")
    T.eq(type(h), "table", "entry type")
    T.eq(#h, 2, "entry length")
    T.eq(type(h[1]), "string", "name type")
    T.eq(type(h[2]), "string", "value type")
  end
  T.eq(count, #headers, "no keys besides 1..n")
  T.eq(entries(headers, "x-"), "x-one=1,x-two=2", "x- headers")
  T.eq(T.header(headers, "content-type"), "text/plain", "content-type")
  T.eq(T.header(headers, "content-length"), "2", "content-length")
end)

T.test("names are lowercased", function()
  local _, code, headers = T.fetch(http.get(E.HTTP .. "/headers?X-MiXeD-CaSe=Value"))
  T.eq(code, 200, "code")
  T.eq(entries(headers, "x-"), "x-mixed-case=Value", "lowercased name, value kept")
  for _, h in ipairs(headers) do
    T.eq(h[1], h[1]:lower(), "name " .. h[1] .. " is lowercase")
  end
end)

T.test("values are trimmed of spaces and tabs, inner ones kept", function()
  local url = E.HTTP .. "/headers?X-Pad=" .. enc(" \t padded \t value\t  ") .. "&X-Colon=" .. enc("a: b:c")
  local _, code, headers = T.fetch(http.get(url))
  T.eq(code, 200, "code")
  T.eq(T.header(headers, "x-pad"), "padded \t value", "trimmed value")
  T.eq(T.header(headers, "x-colon"), "a: b:c", "value split at the first colon only")
end)

T.test("duplicates are kept, in order", function()
  local _, code, headers = T.fetch(http.get(E.HTTP .. "/headers?X-A=1&X-B=2&X-A=3"))
  T.eq(code, 200, "code")
  local a = values(headers, "x-a")
  T.eq(#a, 2, "number of x-a headers")
  T.eq(a[1], "1", "first x-a")
  T.eq(a[2], "3", "second x-a")
  T.eq(table.concat(values(headers, "x-b"), ","), "2", "x-b")
end)

T.test("the same over HTTP/2 and HTTPS HTTP/1.1", function()
  for _, base in ipairs({ E.HTTPS, E.HTTPS_H1 }) do
    local _, code, headers = T.fetch(http.get(base .. "/headers?X-A=1&X-MiXed=%20v%20&X-A=3"))
    T.eq(code, 200, "code over " .. base)
    T.eq(table.concat(values(headers, "x-a"), ","), "1,3", "x-a values over " .. base)
    T.eq(T.header(headers, "x-mixed"), "v", "lowercased, trimmed over " .. base)
    for _, h in ipairs(headers) do
      T.ok(h[1]:sub(1, 1) ~= ":", "no pseudo-header " .. h[1])
    end
  end
end)

T.test("only the final response's headers after redirects", function()
  local url = E.HTTP .. "/redirect-to?url=" .. enc("/headers?X-Final=yes")
  local body, code, headers = T.fetch(http.get(url))
  T.eq(code, 200, "code")
  T.eq(body, "ok", "body")
  T.eq(T.header(headers, "x-final"), "yes", "final header")
  T.eq(T.header(headers, "location"), nil, "location of the redirect hop")
  T.eq(table.concat(values(headers, "content-length"), ","), "2", "content-length values")

  body, code, headers = T.fetch(http.get(E.HTTP .. "/redirect/3"))
  T.eq(code, 200, "code after 4 hops")
  T.eq(T.header(headers, "location"), nil, "no location after 4 hops")
  T.eq(#values(headers, "content-length"), 1, "one content-length after 4 hops")
  T.eq(T.header(headers, "content-length"), tostring(#body), "final content-length")
end)

T.test("a 3xx that is not followed keeps its own headers", function()
  -- An empty Location is not followed (libcurl).
  local url = E.HTTP .. "/redirect-to?code=302&url="
  local _, code, headers = T.fetch(http.get(url))
  T.eq(code, 302, "code")
  T.eq(T.header(headers, "location"), "", "location of the final (302) response")
end)

T.test("on a failure: the headers that arrived before it", function()
  local body, code, headers = T.fetch(http.get(E.TRUNCATED .. "/"))
  T.eq(code, 600, "code of a truncated body")
  T.eq(body, "", "body")
  T.eq(#headers, 1, "header count")
  T.eq(headers[1][1], "content-length", "header name")
  T.eq(headers[1][2], "10", "header value")

  body, code, headers = T.fetch(http.get(E.HTTP .. "/abort-mid-body?n=1000"))
  T.eq(code, 600, "code of a body cut off mid-way")
  T.eq(body, "", "body")
  T.eq(T.header(headers, "content-length"), "2000", "content-length that arrived")
  T.eq(T.header(headers, "content-type"), "application/octet-stream", "content-type that arrived")

  body, code, headers = T.fetch(http.get(E.CLOSED .. "/"))
  T.eq(code, 607, "code of a refused connection")
  T.eq(body, "", "body")
  T.eq(type(headers), "table", "headers type")
  T.eq(next(headers), nil, "no headers arrived")
end)

T.run()
