-- bench/p1.lua - P1 scenario, "our side", written against TPT's Lua API.
--
-- Run by the tpt-http CLI runner:
--   tpt-http run --fps 0 --allow-http bench/p1.lua URL N K
--
-- Keeps K requests in flight until N requests have completed. Requests are
-- polled from the tick handler (TPT re-evaluates a request's status once per
-- tick, and a request reports "running" at least for the tick it was created
-- in), never in a busy loop.
--
-- Prints exactly one line on success:
--   tpt_http requests=N inflight=K seconds=S rps=R bytes=B

local url = arg and arg[1]
local n = tonumber(arg and arg[2])
local k = tonumber(arg and arg[3])
if not url or not n or not k or n < 1 or k < 1 then
	print("usage: p1.lua URL N K")
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
	slots[i] = http.get(url)
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
		print(string.format("tpt_http requests=%d inflight=%d seconds=%.6f rps=%.1f bytes=%d",
			n, k, secs, n / secs, bytes))
		if io and io.stdout then io.stdout:flush() end
		os.exit(0)
	end
end

t0 = socket.gettime()
for i = 1, k do
	start(i)
end
event.register(event.tick, tick)
