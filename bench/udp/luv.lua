-- UDP echo server on luv: sends each datagram back to its sender, with
-- try_send (no request, no copy) and send when the kernel would block.
-- Binds 127.0.0.1 on a port the OS picks and prints "port N".
local uv = require 'luv'

local sock = uv.new_udp()
assert(sock:bind('127.0.0.1', 0))
assert(sock:recv_start(function(err, data, addr)
   assert(not err, err)
   if data and addr then
      if not sock:try_send(data, addr.ip, addr.port) then
         sock:send(data, addr.ip, addr.port, function() end)
      end
   end
end))
io.stdout:write('port ', sock:getsockname().port, '\n')
io.stdout:flush()
uv.run()
