-- bench/p3.lua - P3 scenario: memory held per open request.
--
--   tpt-http run --fps 60 --allow-http --max-host-connections N bench/p3.lua URL N [MAX_SECONDS]
--
-- Starts N GETs of URL (a server that accepts and never answers), prints
-- "ready requests=N" after the first tick, and keeps ticking until it is killed
-- (bench/run.sh reads VmRSS from /proc/PID/status meanwhile) or MAX_SECONDS
-- (default 300) have passed. N = 0 is the baseline: the runner with nothing in flight.
-- Once a second it checks that every request is still running; if one is not, it
-- prints "tpt_http error: ..." and exits 1.

local url = arg and arg[1]
local n = tonumber(arg and arg[2])
local max_seconds = tonumber(arg and arg[3]) or 300
if not url or not n or n < 0 then
	print("usage: p3.lua URL N [MAX_SECONDS]")
	os.exit(2)
end

local reqs = {}
for i = 1, n do
	reqs[i] = http.get(url)
end

local t0 = socket.gettime()
local ticks = 0
event.register(event.tick, function()
	ticks = ticks + 1
	if ticks == 1 then
		print(string.format("ready requests=%d", n))
		io.stdout:flush()
	end
	if ticks % 60 == 0 then
		for i = 1, n do
			local st = reqs[i]:status()
			if st ~= "running" then
				local _, code = reqs[i]:finish()
				print(string.format("tpt_http error: request %d is %s (status %s)", i, st, tostring(code)))
				io.stdout:flush()
				os.exit(1)
			end
		end
	end
	if socket.gettime() - t0 > max_seconds then
		os.exit(0)
	end
end)
