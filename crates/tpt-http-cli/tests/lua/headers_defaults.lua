-- Spec sections 1 and 4: the client's default request headers, and how caller headers
-- replace or remove them.
local T = dofile(arg[1])
local E = T.env

local echo = T.echo_of

local values = T.values

for _, base in ipairs({ E.HTTP, E.HTTPS }) do
  local URL = base .. "/echo"
  local proto = base:match("^%a+")

  T.test(proto .. ": default headers of a GET", function()
    local r = echo(http.get(URL))
    local ua = values(r, "user-agent")
    T.ok(ua, "a user-agent is sent")
    T.eq(ua:find("|", 1, true), nil, "one user-agent header")
    T.eq(ua:sub(1, #"PowderToy/"), "PowderToy/", "user-agent starts with PowderToy/")
    T.ok(ua:find("tpt-http/", 1, true), "user-agent " .. ua .. " contains tpt-http/")
    T.eq(values(r, "accept"), "*/*", "accept")
    T.eq(values(r, "content-type"), nil, "content-type of a GET")
    T.eq(values(r, "content-length"), nil, "content-length of a GET")
    T.eq(values(r, "accept-encoding"), nil, "accept-encoding")
    T.eq(values(r, "cookie"), nil, "cookie")
    T.eq(r["body-length"], "0", "body-length")
  end)

  T.test(proto .. ": default headers of a POST", function()
    local r = echo(http.post(URL, "x=1"))
    T.eq(values(r, "accept"), "*/*", "accept")
    T.eq(values(r, "content-type"), "application/x-www-form-urlencoded", "content-type")
    T.eq(values(r, "content-length"), "3", "content-length")
  end)

  T.test(proto .. ": a caller header replaces the default of the same name", function()
    local r = echo(http.get(URL, { { "User-Agent", "mine/1.0" } }))
    T.eq(values(r, "user-agent"), "mine/1.0", "user-agent")
    r = echo(http.get(URL, { { "user-agent", "lower/2" }, { "ACCEPT", "text/html" } }))
    T.eq(values(r, "user-agent"), "lower/2", "user-agent, lowercase name")
    T.eq(values(r, "accept"), "text/html", "accept, uppercase name")
    r = echo(http.get(URL, { ["User-Agent"] = "dict/3", Accept = "application/json" }))
    T.eq(values(r, "user-agent"), "dict/3", "user-agent, dictionary form")
    T.eq(values(r, "accept"), "application/json", "accept, dictionary form")
    r = echo(http.post(URL, "{}", { { "Content-Type", "application/json" } }))
    T.eq(values(r, "content-type"), "application/json", "content-type of a post")
    T.eq(r.body, "{}", "body")
  end)

  T.test(proto .. ": duplicates of a default header are all sent instead of it", function()
    local r = echo(http.get(URL, { { "Accept", "text/a" }, { "Accept", "text/b" } }))
    T.eq(values(r, "accept"), "text/a|text/b", "accept")
  end)

  T.test(proto .. ": a header with an empty value removes the default", function()
    local r = echo(http.get(URL, { { "Accept", "" } }))
    T.eq(values(r, "accept"), nil, "accept")
    T.ok(values(r, "user-agent"), "user-agent still sent")
    r = echo(http.get(URL, { { "User-Agent", "" } }))
    T.eq(values(r, "user-agent"), nil, "user-agent")
    T.eq(values(r, "accept"), "*/*", "accept still sent")
    r = echo(http.get(URL, { Accept = "" }))
    T.eq(values(r, "accept"), nil, "accept, dictionary form")
    r = echo(http.get(URL, { Accept = true }))
    T.eq(values(r, "accept"), nil, "accept, dictionary form with a non-string value")
    r = echo(http.post(URL, "data", { { "Content-Type", "" } }))
    T.eq(values(r, "content-type"), nil, "content-type of a post")
    T.eq(r.body, "data", "body")
    T.eq(values(r, "content-length"), "4", "content-length")
  end)

  T.test(proto .. ": a non-default header with an empty value is not sent", function()
    local r = echo(http.get(URL, { { "X-Empty", "" }, { "X-Kept", "k" } }))
    T.eq(values(r, "x-empty"), nil, "x-empty")
    T.eq(values(r, "x-kept"), "k", "x-kept")
  end)
end

T.run()
