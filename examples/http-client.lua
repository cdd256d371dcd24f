-- The HTTP client: GET and POST against a tiny local server, several
-- requests on one kept-alive connection, a chunked response, a timeout,
-- and the same requests written as straight-line code in a fiber with
-- fiber.sync. Ends by itself.
local async = require 'async'
local http = async.http

local connections = 0
local seen = {}
local server = http.listen({host = '127.0.0.1', port = 0}, function(req, res, client)
   if not seen[client] then seen[client] = true; connections = connections + 1 end
   if req.url.path == '/chunked' then
      -- Chunked by hand, as the original had it: res sends the head and
      -- the body as given (here the first chunk, framed); the handler
      -- writes the other chunks and the last one on the connection.
      res('3\r\nin \r\n', {['Transfer-Encoding'] = 'chunked'})
      client.write('6\r\nthree \r\n')
      client.write('6\r\nchunks\r\n0\r\n\r\n')
   elseif req.url.path == '/never' then
      -- No answer: the client's timeout fires.
   else
      res(req.method .. ' ' .. req.url.path .. ' ' .. #req.body .. ' bytes')
   end
end)
local base = 'http://127.0.0.1:' .. server.sockname.port

http.get(base .. '/first', function(res, err)
   print('get:', res.status, res.body)
   http.post(base .. '/second', 'some data', function(res)
      print('post:', res.status, res.body)
      http.get(base .. '/chunked', function(res)
         print('chunked:', res.headers['transfer-encoding'], res.body)
         http.request({url = base .. '/never', timeout = 200}, function(res, err)
            print('timeout:', res, err)
            -- The same, written straight in a fiber.
            async.fiber(function()
               local sync = async.fiber.sync
               local a = sync.request({url = base .. '/in-a-fiber'})
               local b = sync.request({url = base .. '/again', method = 'PUT', body = 'xyz'})
               print('fiber:', a.body, '|', b.body)
               print('connections the server accepted:', connections)
               http.closeIdleConnections()
               server.close()
            end)
         end)
      end)
   end)
end)
async.go()
