-- bench/p4.lua - P4 scenario: one large body into a Lua string.
--
--   tpt-http run --fps 0 --allow-http bench/p4.lua URL
--
-- Downloads URL with http.get, takes the body with finish() and prints
--   tpt_http bytes=#body code=CODE
-- Exits 0 on status 200, 1 otherwise. bench/run.sh times the whole process and reads
-- its peak RSS with /usr/bin/time.

local url = arg and arg[1]
if not url then
	print("usage: p4.lua URL")
	os.exit(2)
end

local req = http.get(url)
local poll
poll = function()
	if req:status() == "running" then
		return
	end
	local body, code = req:finish()
	event.unregister(event.tick, poll)
	print(string.format("tpt_http bytes=%d code=%s", #body, tostring(code)))
	io.stdout:flush()
	os.exit(code == 200 and 0 or 1)
end
event.register(event.tick, poll)
