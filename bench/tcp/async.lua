-- TCP echo server on the `async` module. Usage: luajit async.lua PORT
-- Each chunk is written back. This code has no pause/resume of its own (the
-- other servers stop reading while a write is pending): any backpressure is
-- up to the module.

-- This file is named like the module: keep `require` from loading ./async.lua.
package.path = package.path:gsub('%./%?%.lua;?', '')
local async = require 'async'
local port = assert(tonumber(arg[1]), 'usage: luajit async.lua PORT')

local server = async.tcp.listen({host = '127.0.0.1', port = port}, function(client)
  client.ondata(function(chunk) client.write(chunk) end)
end)
async.go()
