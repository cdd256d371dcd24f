-- UDP echo server on `async`: sends each datagram back to its sender.
-- Binds 127.0.0.1 on a port the OS picks and prints "port N".
local async = require 'async'

local sock = async.udp.bind({host = '127.0.0.1', port = 0})
sock.onmessage(function(data, from)
   sock.send(data, from)
end)
io.stdout:write('port ', sock.sockname.port, '\n')
io.stdout:flush()
async.go()
