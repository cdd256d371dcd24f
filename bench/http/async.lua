-- HTTP server for bench/http/run, async.http: listens on PORT and answers
-- every request as HTTP_CASE (default hello) says, with a headers table
-- as real handlers pass one (node.js sets the same Content-Type); runs
-- until killed.
--   hello  the 13-byte text/plain body 'Hello, World!'
--   json   the object of HTTP_PAYLOAD (a JSON file, ~1 KiB), decoded
--          once here and encoded again for each request
--   post   the request's application/json body, which the server hands
--          over decoded (req.body), encoded back
local async = require 'async'
local json = async.json
local port = tonumber(os.getenv('PORT') or '8080')
local case = os.getenv('HTTP_CASE') or 'hello'

local handler
if case == 'hello' then
   handler = function(req, res)
      res('Hello, World!', {['Content-Type'] = 'text/plain'})
   end
elseif case == 'json' then
   local file = assert(io.open((assert(os.getenv('HTTP_PAYLOAD'), 'HTTP_PAYLOAD not set'))))
   local obj = json.decode(file:read('*a'))
   file:close()
   handler = function(req, res)
      res(json.encode(obj), {['Content-Type'] = 'application/json'})
   end
elseif case == 'post' then
   handler = function(req, res)
      res(json.encode(req.body), {['Content-Type'] = 'application/json'})
   end
else
   error('unknown HTTP_CASE ' .. case)
end

async.http.listen({host = '127.0.0.1', port = port}, handler)
async.go()
