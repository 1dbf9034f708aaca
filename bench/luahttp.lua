-- bench/luahttp.lua - the Lua peer: what a Lua user would pick outside TPT, lua-http on
-- cqueues (Debian's lua-http and lua-cqueues, run with lua5.1).
--
--   lua5.1 bench/luahttp.lua URL N K MODE
--
-- Keeps K requests in flight (K coroutines in one cqueues loop) until N have completed.
-- MODE "new": each request is http.request's `go()`, which opens a new connection per
-- request (lua-http keeps no pool). MODE "reuse": each coroutine opens one connection with
-- http.client and sends its requests on it one after another (keep-alive by hand).
--
-- Prints exactly one line on success:
--   luahttp requests=N inflight=K seconds=S rps=R bytes=B mode=MODE
local cqueues = require "cqueues"
local http_request = require "http.request"
local http_client = require "http.client"
local http_headers = require "http.headers"

local url, n, k, mode = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
if not url or not n or not k or n < 1 or k < 1 or (mode ~= "new" and mode ~= "reuse") then
	io.stderr:write("usage: luahttp.lua URL N K new|reuse\n")
	os.exit(2)
end
n, k = math.floor(n), math.floor(k)
if k > n then k = n end

local started, done, bytes, failed = 0, 0, 0, nil

local function check(status, body)
	if status ~= "200" then
		failed = failed or ("status " .. tostring(status))
		return
	end
	bytes = bytes + #body
	done = done + 1
end

local function worker_new()
	while started < n and not failed do
		started = started + 1
		local req = http_request.new_from_uri(url)
		local headers, stream = req:go(30)
		if not headers then
			failed = failed or tostring(stream)
			return
		end
		local body, err = stream:get_body_as_string(30)
		if not body then
			failed = failed or tostring(err)
			return
		end
		check(headers:get(":status"), body)
		stream:shutdown()
	end
end

local function worker_reuse()
	local uri = http_request.new_from_uri(url)
	local host, port = uri.host, uri.port
	local path = uri.headers:get(":path")
	local authority = uri.headers:get(":authority")
	local tls = uri.tls
	local conn, err = http_client.connect { host = host, port = port, tls = tls, version = 1.1 }
	if not conn then
		failed = failed or tostring(err)
		return
	end
	while started < n and not failed do
		started = started + 1
		local h = http_headers.new()
		h:append(":method", "GET")
		h:append(":scheme", tls and "https" or "http")
		h:append(":authority", authority)
		h:append(":path", path)
		h:append("user-agent", "tpt-http-bench luahttp")
		local stream = assert(conn:new_stream())
		local ok, werr = stream:write_headers(h, true, 30)
		if not ok then
			failed = failed or tostring(werr)
			return
		end
		local rh, herr = stream:get_headers(30)
		if not rh then
			failed = failed or tostring(herr)
			return
		end
		local body, berr = stream:get_body_as_string(30)
		if not body then
			failed = failed or tostring(berr)
			return
		end
		check(rh:get(":status"), body)
		stream:shutdown()
	end
	conn:close()
end

local cq = cqueues.new()
local t0 = cqueues.monotime()
for _ = 1, k do
	cq:wrap(mode == "new" and worker_new or worker_reuse)
end
local ok, err = cq:loop()
local secs = cqueues.monotime() - t0
if not ok then
	io.stderr:write("luahttp: " .. tostring(err) .. "\n")
	os.exit(1)
end
if failed or done ~= n then
	io.stderr:write("luahttp: " .. tostring(failed or ("only " .. done .. " of " .. n .. " completed")) .. "\n")
	os.exit(1)
end
print(string.format("luahttp requests=%d inflight=%d seconds=%.6f rps=%.1f bytes=%d mode=%s",
	n, k, secs, n / secs, bytes, mode))
