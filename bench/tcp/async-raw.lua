-- TCP echo server on the `async` module, reading raw buffers: each chunk
-- arrives as a buffer object over the read buffer (no Lua string is made)
-- and is written back from it; reading pauses while more than the
-- high-water mark is queued. Usage: luajit async-raw.lua PORT

-- This directory has a file named like the module: keep `require` from
-- loading ./async.lua.
package.path = package.path:gsub('%./%?%.lua;?', '')
local async = require 'async'
local port = assert(tonumber(arg[1]), 'usage: luajit async-raw.lua PORT')
async.tcp.listen({host = '127.0.0.1', port = port}, function(client)
  client.onrawdata(function(buf)
    if not client.write(buf) then client.pause() end
  end)
  client.ondrain(function() client.resume() end)
end)
async.go()
