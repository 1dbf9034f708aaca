-- bench/p1.lua - P1 scenario, "our side", written against TPT's Lua API.
--
-- Run by the tpt-http CLI runner:
--   tpt-http run --fps 0 --allow-http bench/p1.lua URL N K [close]
--
-- With "close", every request sends `Connection: close`, so each one opens a new
-- connection (over HTTP/1.1; HTTP/2 drops the header, as it must).
--
-- Keeps K requests in flight until N requests have completed. Requests are
-- polled from the tick handler (TPT re-evaluates a request's status once per
-- tick, and a request reports "running" at least for the tick it was created
-- in), never in a busy loop.
--
-- Prints exactly one line on success:
--   tpt_http requests=N inflight=K seconds=S rps=R bytes=B engine_csw=E host_csw=H
-- E and H: context switches (voluntary + involuntary, from /proc) of the engine thread
-- (`tpt-http-engine`) and of this, the host's, thread so far; -1 where /proc cannot tell.

local url = arg and arg[1]
local n = tonumber(arg and arg[2])
local k = tonumber(arg and arg[3])
local close = arg and arg[4] == "close"
if not url or not n or not k or n < 1 or k < 1 or (arg[4] and not close) then
	print("usage: p1.lua URL N K [close]")
	os.exit(2)
end
n = math.floor(n)
k = math.floor(k)
if k > n then
	k = n
end

local slots = {}    -- slots[i] = request object in flight, or nil
local started = 0
local done = 0
local bytes = 0
local t0
local tick

local function fail(msg)
	print("tpt_http error: " .. msg)
	if io and io.stdout then io.stdout:flush() end
	event.unregister(event.tick, tick)
	os.exit(1)
end

local function start(i)
	started = started + 1
	if close then
		slots[i] = http.get(url, { Connection = "close" })
	else
		slots[i] = http.get(url)
	end
end

-- Context switches of thread TID of this process so far (-1 if unknown).
local function switches(pid, tid)
	local f = io.open("/proc/" .. pid .. "/task/" .. tid .. "/status")
	if not f then return -1 end
	local text = f:read("*a")
	f:close()
	local v = tonumber(text:match("\nvoluntary_ctxt_switches:%s*(%d+)"))
	local n = tonumber(text:match("\nnonvoluntary_ctxt_switches:%s*(%d+)"))
	if not v or not n then return -1 end
	return v + n
end

-- (engine thread switches, host thread switches), -1 where unknown.
local function thread_switches()
	local f = io.open("/proc/self/stat")
	if not f then return -1, -1 end
	local pid = (f:read("*l") or ""):match("^(%d+)")
	f:close()
	if not pid then return -1, -1 end
	local engine = -1
	local ls = io.popen("ls /proc/" .. pid .. "/task 2>/dev/null")
	if ls then
		for tid in ls:lines() do
			local c = io.open("/proc/" .. pid .. "/task/" .. tid .. "/comm")
			local comm = c and c:read("*l")
			if c then c:close() end
			if comm == "tpt-http-engine" then
				engine = switches(pid, tid)
			end
		end
		ls:close()
	end
	-- The runner runs scripts on the process's main thread.
	return engine, switches(pid, pid)
end

tick = function()
	for i = 1, k do
		local req = slots[i]
		if req then
			local st = req:status()
			if st == "done" then
				local body, code = req:finish()
				if code ~= 200 then
					fail("request " .. tostring(done + 1) .. " returned status " .. tostring(code))
				end
				bytes = bytes + #body
				done = done + 1
				if started < n then
					start(i)
				else
					slots[i] = nil
				end
			elseif st == "dead" then
				fail("request reported status \"dead\"")
			end
		end
	end
	if done >= n then
		local secs = socket.gettime() - t0
		event.unregister(event.tick, tick)
		local engine, host = thread_switches()
		print(string.format("tpt_http requests=%d inflight=%d seconds=%.6f rps=%.1f bytes=%d engine_csw=%d host_csw=%d",
			n, k, secs, n / secs, bytes, engine, host))
		if io and io.stdout then io.stdout:flush() end
		os.exit(0)
	end
end

t0 = socket.gettime()
for i = 1, k do
	start(i)
end
event.register(event.tick, tick)
