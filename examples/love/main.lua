-- LÖVE 11 example: download a file with the tpt_http native module, drawing a progress bar
-- every frame. Escape cancels the download (and quits once nothing runs).
--
-- LÖVE runs LuaJIT, so build the module for it and put it where LÖVE's `require` looks (the
-- game's directory when it is not packed in a .love file):
--
--   cargo build --release --manifest-path module/Cargo.toml --features luajit
--   cp module/target/release/libtpt_http.so examples/love/tpt_http.so
--   love examples/love [URL] [--allow-http] [--ca-file PEM]
--
-- The body is written to LÖVE's save directory (shown on screen when done).
--
-- Like TPT, this host calls http.tick() once per frame, before polling: a request reports
-- "running" at least until the frame after it was made or cancelled, exactly as in the game.

local http = require("tpt_http")

local DEFAULT_URL = "https://powdertoy.co.uk/"

local url
local req
local file_name
local total, received = -1, 0
local message = "" -- what happened, once the request is over
local started -- love.timer time of the request, for the speed shown

local function format_size(n)
  if n >= 1024 * 1024 then return string.format("%.1f MiB", n / (1024 * 1024)) end
  if n >= 1024 then return string.format("%.1f KiB", n / 1024) end
  return string.format("%d B", n)
end

function love.load(args)
  local options = {}
  local i = 1
  while args[i] do
    local a = args[i]
    if a == "--allow-http" then
      options.allow_http = true
    elseif a == "--ca-file" and args[i + 1] then
      options.ca_file = args[i + 1]
      i = i + 1
    else
      url = a
    end
    i = i + 1
  end
  url = url or DEFAULT_URL
  file_name = url:match("^[^?#]*/([^/?#]+)$") or "download.out"

  -- The policy, before the first request: official TPT defaults unless asked otherwise.
  local ok, err = pcall(http.configure, options)
  if not ok then
    message = "configure: " .. tostring(err)
    return
  end
  req = http.get(url)
  started = love.timer.getTime()
end

function love.update()
  http.tick() -- one game frame: TPT's tick, before the script's frame code
  if not req then return end

  local status = req:status()
  if status == "running" then
    total, received = req:progress()
  elseif status == "done" then
    local body, code = req:finish()
    local why = req:error() -- nil when the server answered, else why the transfer failed
    req = nil
    if code == 200 then
      love.filesystem.write(file_name, body)
      received, total = #body, #body
      message = string.format("done: %s saved to %s/%s", format_size(#body),
        love.filesystem.getSaveDirectory(), file_name)
    else
      message = string.format("failed with status %d", code) .. (why and (": " .. why) or "")
    end
  else -- "dead": cancelled
    req = nil
    message = "cancelled"
  end
end

function love.keypressed(key)
  if key == "escape" then
    if req then
      req:cancel() -- reports "dead" from the next tick on
    else
      love.event.quit()
    end
  end
end

function love.draw()
  local w = love.graphics.getWidth()
  local x, y, bar_w, bar_h = 20, 80, w - 40, 30
  love.graphics.setColor(1, 1, 1)
  love.graphics.printf(url or "", x, 20, bar_w)

  -- The bar: filled to received/total when the size is known, a moving block when it is not.
  love.graphics.rectangle("line", x, y, bar_w, bar_h)
  love.graphics.setColor(0.2, 0.7, 0.3)
  if total > 0 then
    love.graphics.rectangle("fill", x + 2, y + 2, (bar_w - 4) * math.min(1, received / total), bar_h - 4)
  elseif req then
    local block = bar_w / 5
    local t = (love.timer.getTime() * 0.5) % 1
    love.graphics.rectangle("fill", x + 2 + (bar_w - 4 - block) * t, y + 2, block, bar_h - 4)
  end
  love.graphics.setColor(1, 1, 1)

  local line
  if req then
    local elapsed = math.max(love.timer.getTime() - started, 0.001)
    local rate = format_size(math.floor(received / elapsed)) .. "/s"
    if total > 0 then
      line = string.format("%3d%%  %s of %s  %s  (Escape cancels)", math.floor(received * 100 / total),
        format_size(received), format_size(total), rate)
    elseif received > 0 then
      line = string.format("%s  %s  (Escape cancels)", format_size(received), rate)
    else
      line = "connecting...  (Escape cancels)"
    end
  else
    line = message .. "  (Escape quits)"
  end
  love.graphics.printf(line, x, y + bar_h + 15, bar_w)
end
