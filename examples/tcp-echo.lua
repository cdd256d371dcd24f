-- TCP: an echo server on a port the OS picks, a client that sends three
-- lines and reads them back with fiber reads, then both close. Ends by
-- itself.
local async = require 'async'

local server
server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
   print(('server: connection from %s:%d'):format(client.peername.address, client.peername.port))
   client.onsplitdata('\n', function(line)
      client.write({'echo: ', line, '\n'}) -- one vectored write
   end)
   client.onend(function() print('server: the client is done') end)
end)
print('server: listening on port ' .. server.sockname.port)

local client = async.tcp.connect('tcp://127.0.0.1:' .. server.sockname.port .. '/', function(client)
   client.sync() -- fiber reads from here on
   async.fiber(function()
      for _, word in ipairs({'one', 'two', 'three'}) do
         client.write(word .. '\n')
         print('client: ' .. client.readline())
      end
      client.close(function()
         print('client: closed')
         server.close(function() print('server: closed') end)
      end)
   end)
end)
client.onerr(function(err) print('client error: ' .. err) end)

async.go()
