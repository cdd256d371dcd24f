-- JSON-lines RPC: a server that evaluates {op=, a=, b=} requests, and a
-- client that sends a batch, matches answers by id, and hangs up. A peer
-- sending a line that is not JSON is disconnected; the server goes on.
-- Ends by itself.
local async = require 'async'
local json = async.json

local ops = {
   add = function(a, b) return a + b end,
   mul = function(a, b) return a * b end,
}

local server = json.listen({host = '127.0.0.1', port = 0}, function(request, reply)
   local op = ops[request.op]
   if op then
      reply({id = request.id, result = op(request.a, request.b)})
   else
      reply({id = request.id, error = 'unknown op ' .. tostring(request.op)})
   end
end)
local port = server.sockname.port

-- A rude peer first: it is cut off, the server stays up.
async.tcp.connect({host = '127.0.0.1', port = port}, function(rude)
   rude.ondata(function() end)
   rude.onclose(function() print('the rude peer was disconnected') end)
   rude.write('this is not json\n')
end)

json.connect({host = '127.0.0.1', port = port}, function(client)
   local batch = {
      {id = 1, op = 'add', a = 2, b = 3},
      {id = 2, op = 'mul', a = 6, b = 7},
      {id = 3, op = 'pow', a = 2, b = 8},
   }
   local left = #batch
   client.receive(function(message)
      print(('answer %d: %s'):format(message.id, json.encode(message)))
      left = left - 1
      if left == 0 then
         client.close()
         server.close(function() print('server closed') end)
      end
   end)
   for _, request in ipairs(batch) do client.send(request) end
end)
async.go()
