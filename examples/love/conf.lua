function love.conf(t)
  t.identity = "tpt_http_example" -- the save directory the download is written to
  t.window.title = "tpt_http download"
  t.window.width = 640
  t.window.height = 200
  t.modules.joystick = false
  t.modules.physics = false
end
