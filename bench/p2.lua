-- bench/p2.lua - P2 scenario: the cost of polling status() on many running requests.
--
--   tpt-http run --fps 60 --allow-http --max-host-connections N bench/p2.lua URL N TICKS
--
-- Starts N GETs of URL (a server that accepts and never answers, so they all stay
-- "running"), then in each of TICKS ticks times, with socket.gettime(), one loop calling
-- status() on every request, as a script polling its requests once per frame does.
--
-- Prints one line:
--   tpt_http p2 requests=N ticks=T median_ms=M max_ms=X min_running=R ms=t1,t2,...
-- and exits 0; exits 1 if a request stopped running (the server answered or the
-- connection failed).

local url = arg and arg[1]
local n = tonumber(arg and arg[2])
local ticks = tonumber(arg and arg[3]) or 60
if not url or not n or n < 1 or ticks < 1 then
	print("usage: p2.lua URL N TICKS")
	os.exit(2)
end

local reqs = {}
for i = 1, n do
	reqs[i] = http.get(url)
end

local times = {}
local min_running = n
local tick

tick = function()
	local t0 = socket.gettime()
	local running = 0
	for i = 1, n do
		if reqs[i]:status() == "running" then
			running = running + 1
		end
	end
	local dt = (socket.gettime() - t0) * 1000
	times[#times + 1] = dt
	if running < min_running then
		min_running = running
	end
	if #times >= ticks then
		event.unregister(event.tick, tick)
		local sorted = {}
		for i, v in ipairs(times) do
			sorted[i] = v
		end
		table.sort(sorted)
		local m = #sorted
		local median
		if m % 2 == 1 then
			median = sorted[(m + 1) / 2]
		else
			median = (sorted[m / 2] + sorted[m / 2 + 1]) / 2
		end
		local list = {}
		for i, v in ipairs(times) do
			list[i] = string.format("%.4f", v)
		end
		print(string.format("tpt_http p2 requests=%d ticks=%d median_ms=%.4f max_ms=%.4f min_running=%d ms=%s",
			n, m, median, sorted[m], min_running, table.concat(list, ",")))
		io.stdout:flush()
		os.exit(min_running == n and 0 or 1)
	end
end

event.register(event.tick, tick)
