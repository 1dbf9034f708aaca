-- Host allow/deny rules (no private-address blocking here): allow *.allowed.test and
-- 127.0.0.1:<HTTP port>, deny localhost.
local T = dofile(arg[1])
local E = T.env

T.test("a denied host finishes with 607 and says why", function()
  local req = http.get(E.HTTPS .. "/bytes/1")
  local body, code = T.fetch(req)
  T.eq(code, 607, "code")
  T.eq(body, "", "body")
  T.eq(req:error(), "blocked by policy: host localhost is denied", "reason")
end)

T.test("a host outside the allow list is refused before any lookup", function()
  local req = http.get("http://elsewhere.invalid/")
  local _, code = T.fetch(req)
  T.eq(code, 607, "not 602: no lookup was made")
  T.eq(req:error(), "blocked by policy: host elsewhere.invalid is not allowed", "reason")
end)

T.test("an allowed wildcard host goes on to the lookup", function()
  local _, code = T.fetch(http.get("http://api.allowed.test/"))
  T.eq(code, 602, "allowed, but does not resolve")
end)

T.test("an allowed host:port works; the same host on another port does not", function()
  local _, code = T.fetch(http.get(E.HTTP .. "/bytes/3"))
  T.eq(code, 200, "allowed port")
  local other = E.HTTP:gsub(":(%d+)$", function(p) return ":" .. (tonumber(p) == 1 and 2 or 1) end)
  local req = http.get(other .. "/")
  local _, refused = T.fetch(req)
  T.eq(refused, 607, "other port")
end)

T.run()
