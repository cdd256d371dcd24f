-- TCP echo server on the `async` module. Usage: luajit async.lua PORT
-- (or PATH, a Unix domain socket to listen at, for bench/pipe).
-- Each chunk is written back; like node.js, reading pauses while more than
-- the high-water mark is queued, and resumes once it has drained.

-- This file is named like the module: keep `require` from loading ./async.lua.
package.path = package.path:gsub('%./%?%.lua;?', '')
local async = require 'async'
local where = assert(arg[1], 'usage: luajit async.lua PORT|PATH')

local function echo(client)
  client.ondata(function(chunk)
    if not client.write(chunk) then client.pause() end
  end)
  client.ondrain(function() client.resume() end)
end
if tonumber(where) then
  async.tcp.listen({host = '127.0.0.1', port = tonumber(where)}, echo)
else
  async.pipe.listen(where, echo)
end
async.go()
