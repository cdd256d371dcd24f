-- UDP: an echo server on a port the OS picks, and a client that sends it
-- three datagrams from a fiber (waiting for each send), counts the echoes
-- and then closes both. Also shows the error a too-large datagram gets.
-- Ends by itself.
local async = require 'async'

local server = async.udp.bind({host = '127.0.0.1', port = 0})
print('server: bound to port ' .. server.sockname.port)
server.onmessage(function(data, from)
   print(('server: %q from %s:%d'):format(data, from.address, from.port))
   server.send({'echo: ', data}, from) -- an array is one datagram
end)

local client = async.udp.bind({host = '127.0.0.1', port = 0})
local echoes = 0
client.onmessage(function(data)
   print('client: ' .. data)
   echoes = echoes + 1
   if echoes == 3 then
      client.close(function() print('client: closed') end)
      server.close(function() print('server: closed') end)
   end
end)

async.fiber(function()
   local send = async.fiber.sync(client.send) -- the fiber form of a method
   local to = 'udp://127.0.0.1:' .. server.sockname.port
   print('client: a 70000-byte datagram: ' .. send(string.rep('x', 70000), to))
   for _, word in ipairs({'one', 'two', 'three'}) do
      assert(send(word, to) == nil)
   end
end)

async.go()
