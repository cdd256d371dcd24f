-- async.curl: requests made by the curl program (which is what gives the
-- module HTTPS), here against a small local server: a GET with a query,
-- a POST of JSON decoded on the way back, a 404, and several URLs at
-- once with getn. Needs the curl program; no network. Ends by itself.
local async = require 'async'
local curl = async.curl
local json = async.json

local server = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res)
   if req.url.path == '/missing' then
      res('no such page', nil, 404)
   elseif req.method == 'POST' then
      -- A JSON body arrives decoded; answer with JSON.
      res(json.encode({received = req.body, sum = req.body.a + req.body.b}), {['Content-Type'] = 'application/json'})
   else
      res('you asked for ' .. req.url.path .. ' with ' .. tostring(req.url.query))
   end
end)
local base = 'http://127.0.0.1:' .. server.sockname.port

curl.get({url = base .. '/hello', query = {name = 'a b', n = 1}}, function(body, code)
   print('get:', code, body)
   curl.post({url = base .. '/add', json = {a = 2, b = 3}, format = 'json'}, function(value, code)
      print('post json:', code, 'sum = ' .. value.sum, 'echo a = ' .. value.received.a)
      curl.get(base .. '/missing', function(body, code)
         print('missing:', code, body)
         local urls = {base .. '/1', base .. '/2', base .. '/3'}
         local left = #urls
         curl.getn(urls, {max = 2}, function(body, url, code)
            print('getn:', url, code, body)
            left = left - 1
            if left == 0 then server.close() end
         end)
      end)
   end)
end)

async.go()
