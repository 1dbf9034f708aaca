-- bench/p5.lua - P5 scenario: a script making one request, timed as a whole process.
--
--   tpt-http run --fps 0 --allow-http bench/p5.lua URL
--
-- The README's quick-start script: one GET, polled from a tick handler; the runner
-- exits when the handler has unregistered and nothing is in flight.

local req = http.get(arg[1])
local function poll()
	if req:status() == "running" then
		return
	end
	local body, code = req:finish()
	event.unregister(event.tick, poll)
	if code ~= 200 then
		print("tpt_http error: status " .. tostring(code))
		os.exit(1)
	end
end
event.register(event.tick, poll)
