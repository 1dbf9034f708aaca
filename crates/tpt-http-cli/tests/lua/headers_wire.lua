-- Spec section 1: caller headers keep their order and duplicates *on the wire*. The /echo
-- route groups repeated names, so this script reads the raw HTTP/1.1 request itself from a
-- one-shot listener made with LuaJIT's ffi (Linux only: elsewhere the tests are skipped).
local T = dofile(arg[1])

local ok_ffi, ffi = pcall(require, "ffi")
local SUPPORTED = ok_ffi and ffi.os == "Linux"

local C
if SUPPORTED then
  ffi.cdef([[
    struct tpt_sockaddr_in { uint16_t family; uint8_t port[2]; uint8_t addr[4]; uint8_t zero[8]; };
    struct tpt_pollfd { int fd; short events; short revents; };
    int socket(int domain, int type, int protocol);
    int bind(int fd, const void *addr, unsigned int len);
    int listen(int fd, int backlog);
    int getsockname(int fd, void *addr, unsigned int *len);
    int accept(int fd, void *addr, unsigned int *len);
    int poll(struct tpt_pollfd *fds, unsigned long nfds, int timeout);
    long recv(int fd, void *buf, size_t len, int flags);
    long send(int fd, const void *buf, size_t len, int flags);
    int close(int fd);
  ]])
  C = ffi.C
end

local AF_INET, SOCK_STREAM, POLLIN = 2, 1, 1

-- A listener on 127.0.0.1 with an OS-chosen port; returns fd, port.
local function listen()
  local fd = C.socket(AF_INET, SOCK_STREAM, 0)
  T.ok(fd >= 0, "socket()")
  local sa = ffi.new("struct tpt_sockaddr_in")
  sa.family = AF_INET
  sa.addr[0], sa.addr[1], sa.addr[2], sa.addr[3] = 127, 0, 0, 1
  T.eq(C.bind(fd, sa, ffi.sizeof(sa)), 0, "bind()")
  T.eq(C.listen(fd, 4), 0, "listen()")
  local len = ffi.new("unsigned int[1]", ffi.sizeof(sa))
  T.eq(C.getsockname(fd, sa, len), 0, "getsockname()")
  return fd, sa.port[0] * 256 + sa.port[1]
end

local function wait_readable(fd, ms)
  local p = ffi.new("struct tpt_pollfd[1]")
  p[0].fd, p[0].events = fd, POLLIN
  T.eq(C.poll(p, 1, ms), 1, "poll() before the timeout")
end

-- Accept one connection on `lfd`, read one request (head and Content-Length body), answer
-- 200 "ok" and close. Returns the raw request bytes. Blocks this tick (the transfer runs on
-- the engine's thread).
local function serve_one(lfd)
  wait_readable(lfd, 5000)
  local cfd = C.accept(lfd, nil, nil)
  T.ok(cfd >= 0, "accept()")
  local buf, chunks = ffi.new("uint8_t[4096]"), {}
  local raw
  while true do
    raw = table.concat(chunks)
    local head_end = raw:find("\r\n\r\n", 1, true)
    if head_end then
      local len = tonumber(raw:sub(1, head_end):lower():match("\r\ncontent%-length:%s*(%d+)")) or 0
      if #raw >= head_end + 3 + len then break end
    end
    wait_readable(cfd, 5000)
    local n = tonumber(C.recv(cfd, buf, 4096, 0))
    T.ok(n > 0, "recv() got data before the connection closed")
    chunks[#chunks + 1] = ffi.string(buf, n)
  end
  local reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
  T.eq(tonumber(C.send(cfd, reply, #reply, 0)), #reply, "send()")
  C.close(cfd)
  return raw
end

-- Run `start(url)` against a fresh listener; returns the request line, the header lines as
-- { lowercase name, value } in wire order, and the body.
local function capture(start)
  local lfd, port = listen()
  local req = start(("http://127.0.0.1:%d/wire"):format(port))
  -- The runner hands new requests to the engine when the tick handler returns, and then
  -- sleeps until some request finishes: a quick second request ends that sleep, so the next
  -- tick comes at once with our request under way.
  local waker = http.get(T.env.HTTP .. "/bytes/1")
  T.tick()
  local ok, raw = pcall(serve_one, lfd)
  waker:cancel()
  C.close(lfd)
  if not ok then error(raw, 0) end
  local body, code = T.fetch(req)
  T.eq(code, 200, "code")
  T.eq(body, "ok", "body")
  local head, payload = raw:match("^(.-)\r\n\r\n(.*)$")
  local lines = {}
  for line in (head .. "\r\n"):gmatch("(.-)\r\n") do lines[#lines + 1] = line end
  local request_line = table.remove(lines, 1)
  local headers = {}
  for _, line in ipairs(lines) do
    local n, v = line:match("^([^:]+):[ \t]*(.-)[ \t]*$")
    T.ok(n, "header line " .. ("%q"):format(line))
    headers[#headers + 1] = { n:lower(), v }
  end
  return request_line, headers, payload
end

-- The x-* headers as "name: value" joined with "|".
local function x_lines(headers)
  local out = {}
  for _, h in ipairs(headers) do
    if h[1]:sub(1, 2) == "x-" then out[#out + 1] = h[1] .. ": " .. h[2] end
  end
  return table.concat(out, "|")
end

local function wire_test(name, fn)
  T.test(name, function()
    if not SUPPORTED then
      print("skip " .. name .. " (needs LuaJIT's ffi on Linux)")
      return
    end
    fn()
  end)
end

-- As libcurl sends CURLOPT_HTTPHEADER lines: one line per header, in the caller's order.
wire_test("duplicate headers are sent in the caller's order", function()
  local line, headers = capture(function(url)
    return http.get(url, { { "X-One", "a" }, { "X-Two", "b" }, { "X-One", "c" }, { "X-Two", "d" } })
  end)
  T.eq(line, "GET /wire HTTP/1.1", "request line")
  T.eq(x_lines(headers), "x-one: a|x-two: b|x-one: c|x-two: d", "x- header lines")
end)

wire_test("a replaced default keeps the caller's duplicates in order", function()
  local _, headers = capture(function(url)
    return http.get(url, { { "Accept", "text/a" }, { "X-Mid", "m" }, { "Accept", "text/b" } })
  end)
  local seq = {}
  for _, h in ipairs(headers) do
    if h[1] == "accept" or h[1] == "x-mid" then seq[#seq + 1] = h[1] .. ": " .. h[2] end
  end
  T.eq(table.concat(seq, "|"), "accept: text/a|x-mid: m|accept: text/b", "accept and x-mid lines")
end)

wire_test("a post's verb, headers and binary body on the wire", function()
  local body = "\0\255a\r\n\r\nb"
  local line, headers, payload = capture(function(url)
    return http.post(url, body, { { "X-P", "1" }, { "X-Q", "2" }, { "X-P", "3" } }, "PUT")
  end)
  T.eq(line, "PUT /wire HTTP/1.1", "request line")
  local x_p, x_q = {}, {}
  for _, h in ipairs(headers) do
    if h[1] == "x-p" then x_p[#x_p + 1] = h[2] end
    if h[1] == "x-q" then x_q[#x_q + 1] = h[2] end
  end
  T.eq(table.concat(x_p, "|"), "1|3", "x-p values in order")
  T.eq(table.concat(x_q, "|"), "2", "x-q values")
  T.eq(payload, body, "body")
end)

T.run()
