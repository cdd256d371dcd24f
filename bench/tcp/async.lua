-- TCP echo server on the `async` module. Usage: luajit async.lua PORT
-- Each chunk is written back; like node.js, reading pauses while more than
-- the high-water mark is queued, and resumes once it has drained.

-- This file is named like the module: keep `require` from loading ./async.lua.
package.path = package.path:gsub('%./%?%.lua;?', '')
local async = require 'async'
local port = assert(tonumber(arg[1]), 'usage: luajit async.lua PORT')

local server = async.tcp.listen({host = '127.0.0.1', port = port}, function(client)
  client.ondata(function(chunk)
    if not client.write(chunk) then client.pause() end
  end)
  client.ondrain(function() client.resume() end)
end)
async.go()
