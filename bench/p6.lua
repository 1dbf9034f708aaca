-- bench/p6.lua - P6 scenario: an idle engine.
--
--   tpt-http run --fps 60 --allow-http bench/p6.lua URL IDLE_SECONDS
--
-- Makes one request (so the engine thread exists and holds a kept-alive connection),
-- prints "idle" when it has finished, then keeps ticking at the runner's fps with
-- nothing in flight for IDLE_SECONDS + 1 seconds and exits 0. bench/run.sh counts the
-- context switches of the thread named tpt-http-engine over an IDLE_SECONDS window
-- that starts after "idle".

local url = arg and arg[1]
local idle = tonumber(arg and arg[2])
if not url or not idle then
	print("usage: p6.lua URL IDLE_SECONDS")
	os.exit(2)
end

local req = http.get(url)
local idle_since
event.register(event.tick, function()
	if not idle_since then
		if req:status() == "running" then
			return
		end
		local _, code = req:finish()
		if code ~= 200 then
			print("tpt_http error: status " .. tostring(code))
			os.exit(1)
		end
		idle_since = socket.gettime()
		print("idle")
		io.stdout:flush()
		return
	end
	if socket.gettime() - idle_since >= idle + 1 then
		os.exit(0)
	end
end)
