//! Fuzzing the Lua surface (issue 4, "safe for scripts nobody trusts").
//!
//! A driver written in Lua calls every function of the `http` table (`get`, `post`,
//! `getAuthToken`) and every method of a request object (`status`, `progress`, `cancel`,
//! `finish`, `read`, `error`, `wait`, and the `__gc` metamethod a script can reach through
//! `getmetatable(req)`) with zero to six arguments of every Lua type: nil, booleans, integers and
//! floats (NaN, infinities, -0.0, huge, tiny), strings (empty, binary, with NUL/CR/LF, up to
//! 1 MiB), tables (empty, arrays, dictionaries, form and header lists, option tables, nested,
//! cyclic, with holes, with metatables whose metamethods raise errors, raise non-string errors,
//! yield or return junk), functions, coroutines, other request objects, `io.stdout`, proxies
//! with hostile finalizers, a light userdata and an mlua userdata. Each call runs under `pcall`,
//! as a function, as a method on a real request and as a method on a wrong `self`; some run
//! inside coroutines. The choices come from a seeded PRNG (Park-Miller, in Lua), so a run is
//! reproducible: the seed is printed and `TPT_HTTP_FUZZ_SEED` replays it.
//!
//! Finalizer order (issue 10): each state may get objects with finalizers made *before*
//! `install` (so Lua finalizes them after the `http` context), which call every `http` function
//! and request method they can reach; before a state is closed, those objects, the global `http`
//! table and the requests are dropped in a random order with collections in between.
//!
//! What is asserted: the process survives; every error value is a string; every error message
//! is one of the documented forms (argument errors, form and header errors, the CR/LF/NUL
//! header error, the `timeout` and `compressed` option errors, `wait must be called from a
//! coroutine`, Lua's own yield errors); no metamethod of a fuzzer value ever runs inside a library call (the binding
//! reads arguments with raw access); every successful call returns what the spec says; and
//! every request of a closed state ends (`Http::in_flight() == 0`).
//!
//! `TPT_HTTP_FUZZ_CALLS` sets the number of calls of the offline run (default 200,000; the
//! loopback run makes a twentieth of that).

use std::collections::BTreeMap;
use std::error::Error as _;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tpt_http::mlua::{self, Lua, LuaString, Table};
use tpt_http::policy::HostRule;
use tpt_http::{AuthUser, Config, Http, IdentityProvider};
use tpt_http_testserver::{Server, TestCa};

/// The Lua driver: `...` is (http table, light userdata, mlua userdata, url list, networked).
/// Returns `run(seed, calls)`, which makes `calls` fuzzed calls and returns
/// `calls, errors, records`; a record is `{kind, function, form, count, message, args}` for
/// one kind of outcome worth a look (every error, and every anomaly), deduplicated by shape.
const DRIVER: &str = r##"
local http, light, rustud, urls, net = ...
local unpack = table.unpack or unpack
local loadstr = loadstring or load
local rawlen = rawlen or function(t) return #t end
local cocreate, coresume, costatus, yield = coroutine.create, coroutine.resume, coroutine.status, coroutine.yield
local newproxy = newproxy

-- Park-Miller: exact both in doubles (LuaJIT) and in 64-bit integers (Lua 5.4).
local M = 2147483647
local st = 1
local function rnd(n) st = (st * 48271) % M if n < 1 then return 0 end return st % n end
local function pick(t) return t[rnd(#t) + 1] end

local mm_hits, mm_last, gc_hits = 0, nil, 0
local reqs = {}            -- real request objects, fed back as arguments
local kept = {}            -- objects finalizers resurrected
local victims, nvictims = {}, 0  -- tables finalizers edit (possibly while a call reads them)
local suspended, nsusp = {}, 0   -- coroutines left suspended by a call
local fin_count = 0

local probe = http.get("probe")
local reqmeta = getmetatable(probe)
local idx = reqmeta.__index
local function is_req(v) return type(v) == "userdata" and rawequal(getmetatable(v), reqmeta) end
local function add_req(r)
  if #reqs < 48 then reqs[#reqs + 1] = r else reqs[(fin_count % 48) + 1] = r end
end

-- Metamethods of fuzzer values: they count their own runs, which must never happen inside a
-- library call (mode 0: error string, 1: error table, 2: yield, 3: return junk).
local function hostile(name, mode)
  return function()
    mm_hits = mm_hits + 1
    mm_last = name
    if mode == 0 then error("FUZZ:" .. name, 0)
    elseif mode == 1 then error({ fuzz = name }, 0)
    elseif mode == 2 then return yield("FUZZ-YIELD:" .. name)
    else return "FUZZ-VALUE" end
  end
end

-- Finalizers: run by the collector at any allocation, including inside library calls.
-- PUC Lua 5.1 propagates a finalizer's error to whatever allocation triggered the collection
-- (later versions and LuaJIT do not), which would make the driver itself fail at random: there,
-- finalizers do not raise.
local gc_errors_escape = _VERSION == "Lua 5.1" and not jit
local function finalizer(mode)
  if gc_errors_escape and mode <= 2 then mode = 3 end
  return function(o)
    gc_hits = gc_hits + 1
    fin_count = fin_count + 1
    if mode == 0 then error("FUZZ:__gc", 0)
    elseif mode == 1 then error({ fuzz = "__gc" }, 0)
    elseif mode == 2 then yield("FUZZ-YIELD:__gc")
    elseif mode == 3 then local r = http.get("gc") add_req(r)          -- re-entrant request
    elseif mode == 4 then                                              -- methods, re-entrant
      local r = reqs[(fin_count % 48) + 1]
      if r then r:status() r:progress() r:read() r:error() r:cancel() r:finish() end
    elseif mode == 5 then kept[(fin_count % 32) + 1] = o                -- resurrection
    else                                                               -- edit an argument table
      local v = victims[(fin_count % 16) + 1]
      if v then rawset(v, fin_count, { "gc", "x" }) rawset(v, 1, nil) rawset(v, "gc", fin_count) end
    end
  end
end

local MM = { "__index", "__newindex", "__len", "__tostring", "__call", "__concat", "__eq", "__lt",
  "__le", "__unm", "__add", "__pairs", "__ipairs", "__close" }
local function hostile_mt()
  local mode = rnd(4)
  local mt = {}
  for i = 1, #MM do mt[MM[i]] = hostile(MM[i], mode) end
  local k = rnd(4)
  if k == 0 then mt.__name = "FUZZNAME" elseif k == 1 then mt.__metatable = "locked" end
  if rnd(4) == 0 then mt.__mode = pick({ "k", "v", "kv" }) end
  mt.__gc = finalizer(rnd(7))
  return mt
end

local ALPH = { "a", "Z", "0", "9", ":", " ", "\t", "\r", "\n", "\0", "\255", "/", "%", "\"", "=", "-",
  ".", "\128", "\195\169", "?", "#", "@", "[", "]" }
local bin = {} for i = 0, 255 do bin[i + 1] = string.char(i) end bin = table.concat(bin)
local MIB = { string.rep("\0\r\nA", 262144), "http://" .. string.rep("a", 1048576 - 7), string.rep("b", 1048576) }
local STRS = { "", "x", "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "G E T", "GET\r\n", "timeout",
  "a\0b", "\r\n", "\0", "\r", "\n", "Content-Type", "content-length", "Transfer-Encoding", "User-Agent",
  "X-A\r\nB: c", "name", "file.png", "text/plain", bin, "http://", "https://", "ftp://x",
  "file:///etc/passwd", "http://[::1", "http://:0", "https://localhost/", " ", "%00", "-1", "0", "1e308",
  "nan", "inf", "0x10", ":", "::", "a:b", "running", "done", "dead", "probe" }
for _, u in ipairs(urls) do STRS[#STRS + 1] = u end

local function short()
  local n = rnd(16) local t = {}
  for i = 1, n do t[i] = pick(ALPH) end
  return table.concat(t)
end
local function rstr()
  local k = rnd(1000)
  if k < 550 then return pick(STRS)
  elseif k < 650 then return pick(urls) .. short()
  elseif k < 960 then return short()
  elseif k < 996 then return string.rep(pick(ALPH), rnd(70000))
  else return pick(MIB) end
end

local NUMS = { 0, -0.0, 1, -1, 2, 3, 4, 5, 0.5, 1.5, 1e-9, 5e-324, 1e-300, 1e308, 2^31, 2^31 - 1, 2^32,
  2^53, 2^63, -2^63, 2^64, 1/0, -1/0, 0/0, -(0/0), math.pi, 100, 604, 65536,
  math.maxinteger or 2^62, math.mininteger or -2^62 }

local dead_co = cocreate(function() end) coresume(dead_co)
local susp_co = cocreate(function() yield() end) coresume(susp_co)
local function thread()
  local k = rnd(4)
  if k == 0 then return cocreate(function() end)
  elseif k == 1 then return dead_co
  elseif k == 2 then return susp_co
  else return (coroutine.running()) end
end

local function duck()
  local k = rnd(3)
  local status
  if k == 0 then status = function() mm_hits = mm_hits + 1 mm_last = "duck status" return "running" end
  elseif k == 1 then
    local polls = 0
    status = function()
      mm_hits = mm_hits + 1 mm_last = "duck status" polls = polls + 1
      if polls > 1 then error("FUZZ:duck status", 0) end
      return "running"
    end
  else status = hostile("duck status", rnd(4)) end
  return { status = status }
end

local function hostile_table(t)
  if getmetatable(t) ~= nil then return t end
  nvictims = nvictims + 1
  victims[(nvictims % 16) + 1] = t
  return setmetatable(t, hostile_mt())
end
local function hostile_userdata()
  if not newproxy then return hostile_table({}) end
  local u = newproxy(true)
  local mt = getmetatable(u)
  for k, v in pairs(hostile_mt()) do mt[k] = v end
  return u
end

local check_finish -- defined with the checks below
local function request()
  if #reqs == 0 or rnd(8) == 0 then
    local k = rnd(3)
    local ok, r
    if k == 0 then ok, r = pcall(http.get, pick(urls))
    elseif k == 1 then ok, r = pcall(http.post, pick(urls), "body")
    else ok, r = pcall(http.getAuthToken, "aud") end
    if ok and is_req(r) then add_req(r) return r end
    return probe
  end
  local r = pick(reqs)
  local k = rnd(12)
  if k == 0 then r:cancel()
  elseif k <= 2 then check_finish(r)
  elseif k == 3 then r:read() end
  return r
end

local UDS = { io.stdout, io.stderr, light, rustud, probe }
local FUNCS = { print, error, yield, function() end, function(...) return ... end, tostring,
  http.get, idx.wait, hostile("function", 0) }

local gen, gen_table
local function field()
  local k = rnd(10)
  if k < 6 then return rstr() elseif k < 8 then return pick(NUMS) else return gen(3) end
end
local function list(d, width)
  local t = {}
  for i = 1, rnd(4) + 1 do
    if rnd(10) == 0 then t[i] = gen(d + 1)
    else
      local item = { field(), field() }
      if width > 2 then
        if rnd(2) == 0 then item[3] = field() end
        if rnd(2) == 0 then item[4] = field() end
        if rnd(5) == 0 then item[5] = field() end
      end
      if rnd(20) == 0 then hostile_table(item) end
      t[i] = item
    end
  end
  return t
end
local function dict(d)
  local t = {}
  for _ = 1, rnd(5) do
    local key = rnd(4) == 0 and gen(d + 1) or rstr()
    if key ~= nil and key == key then t[key] = field() end
  end
  return t
end
local function options()
  local k = rnd(8)
  if k == 0 then return { timeout = pick(NUMS) }
  elseif k == 1 then return { timeout = gen(3) }
  elseif k == 2 then return { timeout = rnd(5) + 0.5, other = gen(3) }
  elseif k == 3 then return hostile_table({ timeout = pick(NUMS), compressed = rnd(2) == 0 })
  elseif k == 4 then return { compressed = rnd(2) == 0, timeout = rnd(3) == 0 and gen(3) or nil }
  elseif k == 5 then return { compressed = gen(3) }
  elseif k == 6 then return { compressed = true, timeout = 30 }
  else return {} end
end
gen_table = function(d)
  local k = rnd(13)
  if k == 0 then return {}
  elseif k == 1 then local t = {} for i = 1, rnd(6) + 1 do t[i] = gen(d + 1) end return t
  elseif k == 2 then return dict(d)
  elseif k == 3 then return list(d, 4)
  elseif k == 4 then return list(d, 2)
  elseif k == 5 then return options()
  elseif k == 6 then local t = {} t[1] = t t.x = t t[2] = { t, t } return t
  elseif k == 7 then local t = {} local c = t for _ = 1, 200 do c[1] = {} c = c[1] end return t
  elseif k == 8 then return { nil, rstr(), nil, rstr() }
  elseif k == 9 then local t = list(d, 4) t.name = rstr() t.timeout = pick(NUMS) return t
  elseif k == 10 then return hostile_table(d < 2 and gen_table(d + 1) or {})
  elseif k == 11 then return duck()
  else return setmetatable({}, { __index = idx }) end
end
gen = function(d)
  local k = rnd(40)
  if k < 2 then return nil
  elseif k < 4 then return rnd(2) == 0
  elseif k < 9 then return pick(NUMS)
  elseif k < 18 then return rstr()
  elseif k < 26 then if d < 3 then return gen_table(d) else return {} end
  elseif k < 28 then return pick(FUNCS)
  elseif k < 30 then return thread()
  elseif k < 35 then return request()
  elseif k < 37 then return pick(UDS)
  elseif k < 38 then return hostile_userdata()
  else return hostile_table({}) end
end

-- Plausible arguments per position, so that later checks are reached too.
local VERBS = { "", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "G E T", "GET\r\n", "\0" }
local function plausible(fname, pos)
  local kinds
  if fname == "get" then kinds = { "url", "headers", "verb", "options" }
  elseif fname == "post" then kinds = { "url", "post", "headers", "verb", "options" }
  elseif fname == "getAuthToken" then kinds = { "string" }
  else kinds = { "request" } end
  local kind = kinds[pos]
  if kind == "url" then return rnd(3) == 0 and rstr() or pick(urls)
  elseif kind == "string" then return rstr()
  elseif kind == "post" then local k = rnd(4) if k == 0 then return rstr() elseif k == 1 then return list(0, 4) elseif k == 2 then return dict(0) else return nil end
  elseif kind == "headers" then local k = rnd(3) if k == 0 then return list(0, 2) elseif k == 1 then return dict(0) else return nil end
  elseif kind == "verb" then return rnd(3) == 0 and rstr() or pick(VERBS)
  elseif kind == "options" then return options()
  elseif kind == "request" then return request()
  else return gen(0) end
end

local function pack(...) return { n = select("#", ...), ... } end

-- Call sites, written out so that Lua names the function in its messages.
local C = {}
C.get = {
  f = function(n, a) return pack(http.get(unpack(a, 1, n))) end,
  m = function(n, a) return pack(http:get(unpack(a, 1, n))) end,
}
C.post = {
  f = function(n, a) return pack(http.post(unpack(a, 1, n))) end,
  m = function(n, a) return pack(http:post(unpack(a, 1, n))) end,
}
C.getAuthToken = {
  f = function(n, a) return pack(http.getAuthToken(unpack(a, 1, n))) end,
  m = function(n, a) return pack(http:getAuthToken(unpack(a, 1, n))) end,
}
local METHODS = { "status", "progress", "cancel", "finish", "read", "error", "wait" }
for _, m in ipairs(METHODS) do
  C[m] = loadstr(([[
    local %s, pack, unpack = ...
    return {
      f = function(n, a) return pack(%s(unpack(a, 1, n))) end,
      m = function(n, a, r) return pack(r:%s(unpack(a, 1, n))) end,
      fake = function(n, a, r, fake) return pack(fake:%s(unpack(a, 1, n))) end,
    }]]):format(m, m, m, m), "=fuzz")(idx[m], pack, unpack)
end
C.__gc = loadstr([[
  local __gc, pack, unpack = ...
  return { f = function(n, a) return pack(__gc(unpack(a, 1, n))) end }]], "=fuzz")(reqmeta.__gc, pack, unpack)
local TARGETS = { "get", "get", "post", "post", "getAuthToken", "status", "progress", "cancel", "finish",
  "read", "error", "wait", "wait", "__gc" }
local FORMS = { get = { "f", "f", "f", "m" }, post = { "f", "f", "f", "m" }, getAuthToken = { "f", "f", "m" },
  __gc = { "f" } }
for _, m in ipairs(METHODS) do FORMS[m] = { "f", "m", "m", "fake" } end

-- Outcomes worth a look, deduplicated by shape.
local records, order = {}, {}
local function describe(v)
  local t = type(v)
  if t == "string" then
    if #v > 40 then return ("string(%d bytes)"):format(#v) end
    return (("%q"):format(v):gsub("\n", "n"))
  elseif t == "number" then return tostring(v)
  elseif t == "table" then return ("table(#%d%s)"):format(rawlen(v), getmetatable(v) ~= nil and ", metatable" or "")
  elseif t == "userdata" then
    if is_req(v) then return "request"
    elseif rawequal(v, io.stdout) then return "io.stdout"
    elseif rawequal(v, light) then return "light userdata" end
    return "userdata"
  end
  return t
end
local function args_of(a, n)
  local out = {}
  for i = 1, n do out[i] = describe(a[i]) end
  return table.concat(out, ", ")
end
local function note(kind, fname, form, msg, a, n)
  if #msg > 300 then msg = msg:sub(1, 150) .. "<...>" .. msg:sub(-150) end
  local shape = msg:gsub('header ".*" contains', 'header "*" contains'):gsub("%d+", "N")
  local key = kind .. "|" .. fname .. "|" .. form .. "|" .. shape
  local r = records[key]
  if r then r[4] = r[4] + 1 return end
  r = { kind, fname, form, 1, msg, args_of(a, n) }
  records[key] = r
  order[#order + 1] = r
end

local STATUS = { running = true, done = true, dead = true }
local function isint(x) return type(x) == "number" and x == math.floor(x) end
local function bad(fname, form, what, a, n) note("return", fname, form, what, a, n) end

-- Check what a call that did not raise returned.
local oks, codes = {}, {}
local function check(fname, form, r, a, n)
  oks[fname] = (oks[fname] or 0) + 1
  local base = form:gsub("^co%-", "")
  local real = (base == "m" and fname ~= "get" and fname ~= "post" and fname ~= "getAuthToken")
    or (base == "f" and is_req(a[1]))
  if fname == "get" or fname == "post" or fname == "getAuthToken" then
    if base == "m" then note("accepted", fname, form, "http table accepted as the url", a, n) return end
    if fname == "getAuthToken" and r.n == 2 and r[1] == nil and r[2] == "not authenticated" then return end
    if r.n ~= 1 or not is_req(r[1]) then bad(fname, form, "did not return one request", a, n) return end
    add_req(r[1])
    return
  end
  if fname == "__gc" then
    if r.n ~= 0 then bad(fname, form, "__gc returned values", a, n) end
    if type(a[1]) == "userdata" and not is_req(a[1]) then note("accepted", fname, form, "foreign userdata", a, n) end
    return
  end
  if not real then
    note("accepted", fname, form, "wrong self accepted", a, n)
    return
  end
  if fname == "status" then
    if r.n ~= 1 or not STATUS[r[1]] then bad(fname, form, "status not one of running/done/dead", a, n) end
  elseif fname == "progress" then
    if r.n == 2 then
      if not (isint(r[1]) and isint(r[2]) and r[1] >= -1 and r[2] >= 0) then bad(fname, form, "progress not integers", a, n)
      elseif not net and not ((r[1] == -1 or r[1] == 0) and r[2] == 0) then bad(fname, form, "offline progress not -1,0 or 0,0", a, n) end
    elseif r.n ~= 0 then bad(fname, form, "progress returned " .. r.n .. " values", a, n) end
  elseif fname == "cancel" then
    if r.n ~= 0 then bad(fname, form, "cancel returned values", a, n) end
  elseif fname == "finish" then
    if r.n == 3 then
      if type(r[1]) ~= "string" or not isint(r[2]) or type(r[3]) ~= "table" then bad(fname, form, "finish types", a, n)
      elseif not net and (r[1] ~= "" or r[2] ~= 604 or next(r[3]) ~= nil) then bad(fname, form, "offline finish not \"\", 604, {}", a, n)
      elseif r[2] < 100 or r[2] > 999 then bad(fname, form, "finish code out of range", a, n)
      else
        codes[r[2]] = (codes[r[2]] or 0) + 1
        for i, h in ipairs(r[3]) do
          if type(h) ~= "table" or type(h[1]) ~= "string" or type(h[2]) ~= "string" then bad(fname, form, "header entry", a, n) break end
        end
      end
    elseif r.n ~= 0 then bad(fname, form, "finish returned " .. r.n .. " values", a, n) end
  elseif fname == "read" then
    if r.n ~= 1 or type(r[1]) ~= "string" then bad(fname, form, "read not a string", a, n)
    elseif not net and r[1] ~= "" then bad(fname, form, "offline read not empty", a, n) end
  elseif fname == "error" then
    if r.n ~= 1 or (r[1] ~= nil and type(r[1]) ~= "string") then bad(fname, form, "error not nil or a string", a, n)
    elseif not net and r[1] ~= nil and r[1] ~= "networking is disabled by the host" and r[1] ~= "cancelled" then
      bad(fname, form, "offline error reason", a, n)
    end
  elseif fname == "wait" then
    if r.n ~= 1 or not STATUS[r[1]] or r[1] == "running" then bad(fname, form, "wait did not return done or dead", a, n) end
  end
end

check_finish = function(r) check("finish", "m", pack(r:finish()), {}, 0) end

local epoch = 0 -- calls started so far: a call that yielded shares its window with others
local function call(fname, form, f, n, a, r, fake)
  local before, started = mm_hits, epoch
  local ok, res = pcall(f, n, a, r, fake)
  if mm_hits ~= before and epoch == started then note("metamethod", fname, form, tostring(mm_last), a, n) end
  if ok then check(fname, form, res, a, n)
  elseif type(res) == "string" then note("error", fname, form, res, a, n)
  else
    local tag = type(res) == "table" and rawget(res, "fuzz")
    note("nonstring", fname, form, type(res) .. (tag and (" from " .. tostring(tag)) or ""), a, n)
  end
  return "returned"
end

local calls, errors = 0, 0
local function run(seed, count)
  st = seed % (M - 1) + 1
  records, order, oks, codes = {}, {}, {}, {}
  local g0 = gc_hits
  for _ = 1, count do
    local t = rnd(1000)
    if t < 3 then collectgarbage()
    elseif t < 30 then collectgarbage("step")
    elseif t < 40 and nsusp > 0 then
      -- resume a coroutine a call left suspended (as a script's own scheduler might)
      local i = rnd(#suspended) + 1
      local co = suspended[i]
      if co and costatus(co) == "suspended" then coresume(co, gen(2)) end
    elseif t < 45 then reqs = {}                      -- drop every reference: the collector cancels
    end
    local fname = pick(TARGETS)
    if fname == "__gc" and rnd(2) == 0 then fname = "status" end -- it kills requests: keep it rarer
    local form = pick(FORMS[fname])
    local n = rnd(7)
    local a = {}
    for i = 1, n do
      if rnd(2) == 0 then a[i] = plausible(fname, form == "f" and i or i + 1) else a[i] = gen(0) end
    end
    local r = request()
    local fake = setmetatable({}, { __index = idx })
    local f = C[fname][form]
    calls = calls + 1
    epoch = epoch + 1
    if rnd(100) < 15 then
      local co = cocreate(call)
      local mm0 = mm_hits
      local ok, y = coresume(co, fname, "co-" .. form, f, n, a, r, fake)
      if not ok then note("driver", fname, "co-" .. form, tostring(y), a, n)
      elseif costatus(co) == "suspended" then
        if mm_hits ~= mm0 then note("metamethod", fname, "co-" .. form, tostring(mm_last), a, n) end
        nsusp = nsusp + 1
        suspended[(nsusp % 64) + 1] = co
      end
    else
      call(fname, form, f, n, a, r, fake)
    end
  end
  local out = {}
  for i, r in ipairs(order) do out[i] = r end
  return count, out, gc_hits - g0, oks, codes
end
return run
"##;

/// splitmix64: the Rust side's PRNG (batch seeds, state lifetimes).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.replace('_', "").parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text:?} is not a number")))
}

fn seed() -> u64 {
    env_u64("TPT_HTTP_FUZZ_SEED").unwrap_or(0x7e57_f022_2026)
}

fn offline_calls() -> u64 {
    env_u64("TPT_HTTP_FUZZ_CALLS").unwrap_or(200_000)
}

struct Fixed;

impl IdentityProvider for Fixed {
    fn current_user(&self) -> Option<AuthUser> {
        Some(AuthUser {
            user_id: "42".into(),
            session_key: "fuzz-session".into(),
        })
    }
}

/// An mlua userdata of another type, for the `self` and argument positions.
struct Opaque;

impl mlua::UserData for Opaque {}

static LIGHT_TARGET: u64 = 0;

/// Lua run before `install` (issue 10): `n` objects with finalizers, older than the `http`
/// context, each calling every `http` function and every method of the requests in its holder
/// (filled after install by [`ARM_EARLY`]) whenever it is finalized, at a collection or at close.
const EARLY: &str = concat!(
    include_str!("lua/gc_object.lua"),
    r#"
local n = ...
local methods = { "status", "progress", "read", "error", "cancel", "finish" }
EARLY, EARLY_HOLDERS = {}, {}
for i = 1, n do
  local h = {}
  EARLY_HOLDERS[i] = h
  -- The finalizer's own mistakes must not escape (Lua 5.1 raises them from collectgarbage).
  EARLY[i] = gc_object(function() pcall(function()
    local http = h.http
    local reqs = h.reqs or {}
    if http then
      for _, f in ipairs({ "get", "post", "getAuthToken" }) do
        local ok, r = pcall(http[f], "http://127.0.0.1:9/early", "body")
        if ok and type(r) == "userdata" then reqs[#reqs + 1] = r end
      end
    end
    for _, r in ipairs(reqs) do
      for _, m in ipairs(methods) do pcall(function() return r[m](r) end) end
      if i % 2 == 0 then pcall(getmetatable(r).__gc, r) end
    end
  end) end)
end
"#
);

/// After `install`: give every early holder the `http` table and a few requests.
const ARM_EARLY: &str = r#"
for i, h in ipairs(EARLY_HOLDERS) do
  h.http = http
  h.reqs = {}
  for j = 1, i % 3 do h.reqs[j] = http.get("http://127.0.0.1:9/armed") end
end
"#;

/// Before closing a state: drop the early objects, their holders, the global `http` table and
/// the requests in an order drawn from `seed`, collecting garbage in between.
const DROP_EARLY: &str = r#"
local seed = ...
local st = seed
local function rnd(n) st = (st * 48271) % 2147483647 return st % n end
local actions = {}
for i = 1, #EARLY do
  actions[#actions + 1] = function() EARLY[i] = nil end
  actions[#actions + 1] = function() EARLY_HOLDERS[i].reqs = nil end
end
actions[#actions + 1] = function() http = nil end
actions[#actions + 1] = function() collectgarbage() end
actions[#actions + 1] = function() collectgarbage("step") end
for i = #actions, 2, -1 do
  local j = rnd(i) + 1
  actions[i], actions[j] = actions[j], actions[i]
end
for _, act in ipairs(actions) do act() end
collectgarbage()
"#;

/// One Lua state with the `http` API and the driver loaded.
struct FuzzState {
    lua: Lua,
    http: Http,
    run: mlua::Function,
}

impl FuzzState {
    /// A state with `early` finalizer objects made before `install` (see [`EARLY`]).
    fn new(config: Config, identity: bool, urls: &[String], net: bool, early: u64) -> FuzzState {
        let lua = Lua::new();
        lua.load(EARLY)
            .set_name("=early")
            .call::<()>(early)
            .expect("early finalizers");
        let http = tpt_http::install(&lua, config).expect("install the http table");
        lua.load(ARM_EARLY)
            .set_name("=arm")
            .exec()
            .expect("arm early finalizers");
        if identity {
            http.set_identity(Some(Arc::new(Fixed)));
        }
        let table: Table = lua.globals().get("http").expect("http table");
        let light = mlua::LightUserData(&LIGHT_TARGET as *const u64 as *mut std::ffi::c_void);
        let opaque = lua.create_userdata(Opaque).expect("userdata");
        let url_list = lua.create_sequence_from(urls.iter().cloned()).expect("url list");
        let run: mlua::Function = lua
            .load(DRIVER)
            .set_name("=fuzz")
            .call((table, light, opaque, url_list, net))
            .unwrap_or_else(|e| panic!("the fuzz driver does not load: {e}"));
        FuzzState { lua, http, run }
    }

    /// Close the state, first dropping the early finalizers and the `http` table in an order
    /// drawn from `seed` when `drop_first` is set; returns the host's handle.
    fn close(self, seed: u64, drop_first: bool) -> Http {
        let FuzzState { lua, http, run } = self;
        drop(run);
        if drop_first {
            lua.load(DROP_EARLY)
                .set_name("=drop")
                .call::<()>((seed % 2_147_483_646) as i64 + 1)
                .expect("drop in random order");
        }
        drop(lua);
        http
    }

    /// Run one batch; fold its records into `tally`.
    fn batch(&self, seed: u64, calls: u64, tally: &mut Tally) {
        let lua_seed = (seed % 2_147_483_646) as i64 + 1;
        let (done, records, gc_hits, oks, codes): (u64, Table, u64, Table, Table) = self
            .run
            .call((lua_seed, calls))
            .unwrap_or_else(|e| panic!("the fuzz driver failed (batch seed {seed:#x}): {e}"));
        tally.calls += done;
        tally.finalizer_runs += gc_hits;
        for pair in oks.pairs::<String, u64>() {
            let (fname, n) = pair.expect("successful calls");
            *tally.successes.entry(fname).or_default() += n;
        }
        for pair in codes.pairs::<u16, u64>() {
            let (code, n) = pair.expect("finish codes");
            *tally.codes.entry(code).or_default() += n;
        }
        for record in records.sequence_values::<Table>() {
            let record = record.expect("record");
            let kind: String = record.get(1).expect("kind");
            let fname: String = record.get(2).expect("function");
            let form: String = record.get(3).expect("form");
            let count: u64 = record.get(4).expect("count");
            let msg: LuaString = record.get(5).expect("message");
            let msg = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
            let args: LuaString = record.get(6).expect("args");
            let args = String::from_utf8_lossy(&args.as_bytes()).into_owned();
            tally.add(&kind, &fname, &form, count, &msg, &args, seed);
        }
    }

    /// After a batch: one tick for gated states, and resume the coroutines blocked in wait().
    fn between_batches(&self, gating: bool, tally: &mut Tally) {
        if gating {
            self.http.tick();
        }
        if let Err(e) = self.http.resume_waiting(&self.lua) {
            let msg = e.source().map_or_else(|| e.to_string(), |s| s.to_string());
            tally.add(
                "resume_waiting",
                "Http::resume_waiting",
                "host",
                1,
                msg.lines().next().unwrap_or(""),
                "",
                0,
            );
        }
    }
}

/// Every error message the spec documents, by function; `None` for anything else.
fn classify(fname: &str, form: &str, msg: &str) -> Option<&'static str> {
    // Lua's own errors, which no library call should cause but which Lua may raise.
    if msg.ends_with("attempt to yield across C-call boundary")
        || msg.ends_with("attempt to yield across metamethod/C-call boundary")
        || msg.ends_with("attempt to yield from outside a coroutine")
    {
        return Some("lua: attempt to yield across a C call");
    }
    if msg.ends_with("invalid key to 'next'") {
        return Some("lua: invalid key to 'next' (a finalizer edited the table being read)");
    }
    // Every library error carries the caller's position: our driver's chunk and line.
    let body = {
        let rest = msg.strip_prefix("fuzz:")?;
        let (line, rest) = rest.split_once(": ")?;
        line.parse::<u32>().ok()?;
        rest
    };
    let base = form.trim_start_matches("co-");
    let as_method = base == "m" || base == "fake";
    let request_fn = matches!(fname, "get" | "post" | "getAuthToken");
    let (expected, positions): (&str, &[u32]) = match fname {
        "get" => ("string", &[1, 3]),
        "post" => ("string", &[1, 4]),
        "getAuthToken" => ("string", &[1]),
        _ => ("HTTPRequest", &[1]),
    };
    let type_error = |rest: &str| -> bool {
        rest.split_once(" expected, got ")
            .is_some_and(|(t, got)| t == expected && got.len() > 1 && got.ends_with(')'))
    };
    if let Some(rest) = body.strip_prefix("bad argument #") {
        let (n, rest) = rest.split_once(" to '")?;
        let n: u32 = n.parse().ok()?;
        let (f, rest) = rest.split_once("' (")?;
        // `wait` is written in Lua and names its self #1 however it is called.
        let arg = if as_method && fname != "wait" { n + 1 } else { n };
        return (f == fname && positions.contains(&arg) && type_error(rest)).then_some("argument type");
    }
    if let Some(rest) = body.strip_prefix("calling '") {
        let (f, rest) = rest.split_once("' on bad self (")?;
        return (f == fname && as_method && positions.contains(&1) && type_error(rest)).then_some("bad self");
    }
    if fname == "wait" && body == "wait must be called from a coroutine" {
        return Some("wait outside a coroutine");
    }
    if !request_fn || fname == "getAuthToken" {
        return None;
    }
    let numbered = |prefix: &str, suffix: &str| {
        body.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n >= 1))
    };
    if numbered("header ", " is not a table")
        || numbered("name of header ", " is not a string")
        || numbered("value of header ", " is not a string")
    {
        return Some("header item");
    }
    if body.starts_with("header \"") && body.ends_with("\" contains CR, LF or NUL") {
        return Some("header with CR, LF or NUL");
    }
    if body == "option timeout must be a positive number of seconds" {
        return Some("timeout option");
    }
    if body == "option compressed must be a boolean" {
        return Some("compressed option");
    }
    if fname == "post"
        && (numbered("form item ", " is not a table")
            || numbered("name of form item ", " is not a string")
            || numbered("value of form item ", " is not a string")
            || numbered("filename of form item ", " is not a string")
            || numbered("content type of form item ", " is not a string"))
    {
        return Some("form item");
    }
    None
}

struct Finding {
    count: u64,
    message: String,
    args: String,
    seed: u64,
}

#[derive(Default)]
struct Tally {
    calls: u64,
    errors: u64,
    finalizer_runs: u64,
    expected: BTreeMap<String, u64>,
    successes: BTreeMap<String, u64>,
    codes: BTreeMap<u16, u64>,
    findings: BTreeMap<String, Finding>,
}

impl Tally {
    #[allow(clippy::too_many_arguments)]
    fn add(&mut self, kind: &str, fname: &str, form: &str, count: u64, msg: &str, args: &str, seed: u64) {
        let category = match kind {
            "error" => {
                self.errors += count;
                classify(fname, form, msg).map(|c| format!("{fname}: {c}"))
            }
            _ => None,
        };
        match category {
            Some(c) => *self.expected.entry(c).or_default() += count,
            None => {
                let shape: String = msg
                    .chars()
                    .map(|c| if c.is_ascii_digit() { 'N' } else { c })
                    .collect();
                let key = format!("{kind} in {fname} ({form}): {shape}");
                let entry = self.findings.entry(key).or_insert_with(|| Finding {
                    count: 0,
                    message: msg.to_string(),
                    args: args.to_string(),
                    seed,
                });
                entry.count += count;
            }
        }
    }

    fn report(&self, title: &str, seed: u64, elapsed: Duration) -> String {
        let mut out = format!(
            "{title}: seed {seed:#x}, {} calls, {} errors, {} finalizer runs, {:.1} s\n",
            self.calls,
            self.errors,
            self.finalizer_runs,
            elapsed.as_secs_f64()
        );
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("  calls that returned: {}\n", list(&self.successes)));
        let codes: BTreeMap<String, u64> = self.codes.iter().map(|(c, n)| (c.to_string(), *n)).collect();
        out.push_str(&format!("  finish() status codes: {}\n", list(&codes)));
        out.push_str("  documented errors:\n");
        for (c, n) in &self.expected {
            out.push_str(&format!("    {n:>8}  {c}\n"));
        }
        if self.findings.is_empty() {
            out.push_str("  findings: none\n");
        } else {
            out.push_str(&format!("  findings ({} kinds):\n", self.findings.len()));
            for (key, f) in &self.findings {
                out.push_str(&format!(
                    "    {:>8}  {key}\n              e.g. {:?} with ({}) [batch seed {:#x}]\n",
                    f.count, f.message, f.args, f.seed
                ));
            }
        }
        out
    }
}

/// Wait until every request of the closed states has ended.
fn assert_all_ended(handles: &[Http], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left: usize = handles.iter().map(Http::in_flight).sum();
        if left == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} requests of closed Lua states still in flight after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The main run: networking disabled (every request finishes with 604), about 200,000 calls
/// over Lua states that are closed after a random number of batches, with and without tick
/// gating and a logged-in user.
#[test]
fn fuzz_offline() {
    let seed = seed();
    let total = offline_calls();
    println!("fuzz_lua offline: seed {seed:#x} (TPT_HTTP_FUZZ_SEED), {total} calls (TPT_HTTP_FUZZ_CALLS)");
    let started = Instant::now();
    let mut rng = SplitMix(seed);
    let mut tally = Tally::default();
    let urls = vec![
        "https://example.com/".to_string(),
        "http://127.0.0.1:9/x".to_string(),
    ];
    let mut handles = Vec::new();
    let mut states = 0;
    while tally.calls < total {
        let gating = rng.below(2) == 0;
        let identity = rng.below(2) == 0;
        let config = Config {
            network_enabled: false,
            tick_gating: gating,
            ..Config::default()
        };
        let state = FuzzState::new(config, identity, &urls, false, rng.below(4));
        states += 1;
        for _ in 0..1 + rng.below(10) {
            let n = (total - tally.calls).min(2_000);
            if n == 0 {
                break;
            }
            state.batch(rng.next(), n, &mut tally);
            state.between_batches(gating, &mut tally);
        }
        // Close the state with whatever it holds: requests, suspended coroutines, finalizers.
        handles.push(state.close(rng.next(), rng.below(2) == 0));
    }
    assert_all_ended(&handles, Duration::from_secs(10));
    let report = tally.report("fuzz_lua offline", seed, started.elapsed());
    println!("{report}  lua states: {states}");
    assert!(tally.calls >= total, "ran {} of {total} calls", tally.calls);
    assert!(
        tally.findings.is_empty(),
        "the Lua surface misbehaved (replay with TPT_HTTP_FUZZ_SEED={seed:#x}):\n{report}"
    );
}

/// A smaller run with networking on, against loopback HTTP and HTTPS servers (and nothing
/// else: the policy allows only their two addresses, so no fuzzed URL reaches DNS), with
/// states closed while transfers are in flight.
#[test]
fn fuzz_loopback() {
    let seed = seed() ^ 0x006e_6574_776f_726b;
    let total = (offline_calls() / 20).max(1_000);
    println!("fuzz_lua loopback: seed {seed:#x}, {total} calls");
    let started = Instant::now();
    let server = Server::http();
    let ca = TestCa::new();
    let tls = Server::https(&ca);
    server.add_user("42", "fuzz-session", "fuzzer");
    let base = server.base_url();
    let tls_base = tls.base_url();
    let urls: Vec<String> = [
        "/bytes/0",
        "/bytes/10",
        "/bytes/70000",
        "/chunked/30000",
        "/slow/4096?ms=5&chunk=512",
        "/status/404",
        "/status/503",
        "/redirect/3",
        "/redirect-to?url=http://example.invalid/",
        "/echo",
        "/hang",
        "/abort-mid-body?n=1000",
        "/headers?a=b&a=c",
    ]
    .iter()
    .flat_map(|p| [format!("{base}{p}"), format!("{tls_base}{p}")])
    .collect();
    let mut rng = SplitMix(seed);
    let mut tally = Tally::default();
    let mut handles = Vec::new();
    while tally.calls < total {
        let mut config = Config {
            enforce_https: false,
            no_proxy_env: true,
            extra_ca_pem: Some(ca.cert_pem().into_bytes()),
            auth_server: base.clone(),
            timeout: Some(Duration::from_secs(20)),
            tick_gating: rng.below(3) == 0,
            ..Config::default()
        };
        for rule in [
            format!("127.0.0.1:{}", server.port()),
            format!("localhost:{}", tls.port()),
        ] {
            config
                .hosts
                .allow
                .push(HostRule::parse(&rule).expect("host rule"));
        }
        let gating = config.tick_gating;
        let state = FuzzState::new(config, rng.below(2) == 0, &urls, true, rng.below(4));
        for _ in 0..1 + rng.below(8) {
            let n = (total - tally.calls).min(250);
            if n == 0 {
                break;
            }
            state.batch(rng.next(), n, &mut tally);
            // Let transfers make progress, then tick and resume waiters.
            std::thread::sleep(Duration::from_millis(15));
            state.between_batches(gating, &mut tally);
        }
        handles.push(state.close(rng.next(), rng.below(2) == 0));
    }
    assert_all_ended(&handles, Duration::from_secs(20));
    let report = tally.report("fuzz_lua loopback", seed, started.elapsed());
    println!("{report}");
    assert!(
        tally.findings.is_empty(),
        "the Lua surface misbehaved with networking on:\n{report}"
    );
}

/// `req:wait()` is a method like the others: a wrong `self` must get the argument error every
/// other method gives (`bad argument #1 to 'wait' (HTTPRequest expected, got number)`), not a
/// Lua error from inside the extension's code, and no code of the wrong `self` (its
/// metamethods, or a `status` field) may run, in `wait` or later in `Http::resume_waiting`:
/// otherwise one fake request whose `status` raises makes every later `resume_waiting` fail,
/// and the real waiters of the state are never resumed.
#[test]
fn wait_with_a_wrong_self_raises_an_argument_error() {
    let lua = Lua::new();
    let http = tpt_http::install(
        &lua,
        Config {
            network_enabled: false,
            tick_gating: true,
            ..Config::default()
        },
    )
    .expect("install");
    let results: Vec<String> = lua
        .load(
            r#"
            local wait = getmetatable(http.get("x")).__index.wait
            local ran = 0
            local duck = { status = function() ran = ran + 1 return "running" end }
            local polls = 0
            local flaky = { status = function() ran = ran + 1 polls = polls + 1 if polls > 1 then error("flaky") end return "running" end }
            local trap = setmetatable({}, { __index = function() ran = ran + 1 error("trap") end })
            local out = {}
            for _, self in ipairs({ 5, "s", {}, duck, trap, io.stdout, flaky }) do
              local co = coroutine.create(function() return wait(self) end)
              local before = ran
              local ok, e = coroutine.resume(co)
              out[#out + 1] = ("%s|%s|%s|%d"):format(tostring(ok), tostring(e), coroutine.status(co), ran - before)
            end
            -- A real waiter: its request is "running" until the next tick.
            real = coroutine.create(function() return http.get("y"):wait() end)
            coroutine.resume(real)
            return out
        "#,
        )
        .set_name("=wait")
        .eval()
        .expect("the check itself runs");
    http.tick();
    let resumed = http
        .resume_waiting(&lua)
        .map_err(|e| e.source().map(|s| s.to_string()));
    let real: String = lua
        .load("return coroutine.status(real)")
        .eval()
        .expect("status of the real waiter");
    let types = ["number", "string", "table", "table", "table", "userdata", "table"];
    let mut wrong = Vec::new();
    for (got, ty) in results.iter().zip(types) {
        let parts: Vec<&str> = got.split('|').collect();
        let (ok, msg, status, ran) = (parts[0], parts[1], parts[2], parts[3]);
        let expected = format!("bad argument #1 to 'wait' (HTTPRequest expected, got {ty})");
        if ok != "false" || !msg.ends_with(&expected) || status != "dead" || ran != "0" {
            wrong.push(format!(
                "wait(<{ty}>): resume ok={ok}, error {msg:?}, coroutine {status}, code of the wrong self ran {ran} times; expected {expected:?}"
            ));
        }
    }
    if !matches!(resumed, Ok(0)) || real != "dead" {
        wrong.push(format!(
            "after a tick, Http::resume_waiting gave {resumed:?} and the real waiter is {real} (expected Ok(0), dead)"
        ));
    }
    assert!(
        wrong.is_empty(),
        "req:wait() does not check its self (lib.rs EXTENSIONS, ext.wait):\n  {}",
        wrong.join("\n  ")
    );
}

/// `getmetatable(req).__gc` is reachable from every script (TPT's request metatable holds it),
/// so it must check its argument like the methods do: a userdata that is not a request
/// (`io.stdout`, `newproxy()`, another library's userdata) must be refused or ignored, never
/// read as a request. Each case runs in a child process, so a crash is reported rather than
/// taking the test binary down.
#[test]
fn request_gc_metamethod_ignores_foreign_userdata() {
    const CASES: [&str; 4] = ["io.stdout", "newproxy(false)", "newproxy(true)", "opaque"];
    if let Ok(case) = std::env::var("TPT_HTTP_FUZZ_GC_CASE") {
        gc_case(&case);
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let mut failures = Vec::new();
    for case in CASES {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "request_gc_metamethod_ignores_foreign_userdata",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TPT_HTTP_FUZZ_GC_CASE", case)
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stdout.contains("gc case done") {
            let tail: Vec<&str> = stdout
                .lines()
                .chain(stderr.lines())
                .filter(|l| l.contains("gc case") || l.contains("panicked") || l.contains("assert"))
                .map(str::trim)
                .collect();
            failures.push(format!(
                "getmetatable(req).__gc({case}): child exited with {} {:?}",
                out.status,
                tail.join(" | ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "the request __gc metamethod mishandles a foreign userdata (lua.rs req_gc must check \
         the metatable before reading the userdata as a request):\n  {}",
        failures.join("\n  ")
    );
}

fn gc_case(case: &str) {
    let lua = Lua::new();
    let _http = tpt_http::install(
        &lua,
        Config {
            network_enabled: false,
            ..Config::default()
        },
    )
    .expect("install");
    lua.globals()
        .set("opaque", lua.create_userdata(Opaque).expect("userdata"))
        .expect("global");
    // newproxy exists only in Lua 5.1 and LuaJIT.
    let case_guard = if case.starts_with("newproxy") {
        "newproxy == nil"
    } else {
        "false"
    };
    let code = format!(
        r#"
        local req = http.get("x")
        local gc = getmetatable(req).__gc
        if {case_guard} then return "skipped|no newproxy in this Lua|done" end
        local victim = {case}
        local ok, e = pcall(gc, victim)
        collectgarbage()
        local after = req:status()
        io.stdout:write("")
        return tostring(ok) .. "|" .. tostring(e) .. "|" .. after
    "#
    );
    let got: String = lua
        .load(code)
        .set_name("=gc")
        .eval()
        .unwrap_or_else(|e| panic!("gc case {case}: lua error {e}"));
    println!("gc case {case}: {got}");
    let (ok, rest) = got.split_once('|').expect("result");
    let (msg, after) = rest.rsplit_once('|').expect("result");
    // Lua 5.4 names a userdata by its metatable's __name ("got FILE*").
    let refused = msg.contains("bad argument #1 to '")
        && msg.contains("' (HTTPRequest expected, got ")
        && msg.ends_with(')');
    assert!(
        ok == "true" || ok == "skipped" || refused,
        "gc case {case}: unexpected error {msg:?}"
    );
    assert_eq!(after, "done", "gc case {case}: the real request was disturbed");
    println!("gc case done");
}
