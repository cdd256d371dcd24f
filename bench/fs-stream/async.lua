-- File-to-socket server on `async`: each client gets FILE piped to it
-- (fs.createReadStream(FILE).pipe(client)), then the connection closes.
-- Usage: luajit async.lua FILE   (prints "port=N" once listening)
local async = require 'async'

local path = assert(arg[1], 'usage: luajit async.lua FILE')
local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
   async.fs.createReadStream(path).pipe(client)
end)
io.stdout:write('port=', server.sockname.port, '\n')
io.stdout:flush()
async.go()
