-- Unix domain sockets: an echo server at a socket file in a fresh
-- temporary directory, and a client that sends three lines at once, then
-- reads the answers with fiber reads until the server hangs up. The
-- server removes its socket file when it closes. Ends by itself.
local async = require 'async'

local dir = assert(io.popen('mktemp -d'):read('*l'))
local path = dir .. '/echo.sock'

local server
server = async.pipe.listen(path, function(client)
   print('server: a connection on ' .. client.sockname)
   client.onsplitdata('\n', function(line)
      if line == 'bye' then
         client.close() -- after what is queued is sent
         server.close(function()
            print('server: closed, socket file gone: ' .. tostring(io.open(path) == nil))
            os.remove(dir)
         end)
      else
         client.write({'echo: ', line, '\n'}) -- one vectored write
      end
   end)
end)
print('server: listening at ' .. server.sockname)

-- Writes made before the connection is up wait for it.
local client = async.pipe.connect(path, function(c) print('client: connected to ' .. c.peername) end)
client.onerr(function(err) print('client error: ' .. err) end)
client.write('one\ntwo\nthree\nbye\n')
client.sync() -- fiber reads from here on
async.fiber(function()
   for line in client.readline do print('client: ' .. line) end
   print('client: the server hung up')
end)

async.go()
