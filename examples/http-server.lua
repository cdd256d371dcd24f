-- An HTTP server: plain text, JSON in and out, a multipart form, and an
-- answer given later from a timer. It asks itself a few questions with
-- the client, prints the answers, closes, and so ends by itself.
local async = require 'async'
local http, json = async.http, async.json

local server = http.listen({host = '127.0.0.1', port = 0}, function(req, res)
   if req.url.path == '/hello' then
      res('hello, ' .. (req.url.query or 'world') .. '\n')
   elseif req.url.path == '/sum' and req.method == 'POST' then
      -- An application/json body arrives decoded.
      local total = 0
      for _, n in ipairs(req.body) do total = total + n end
      res(json.encode({sum = total}), {['Content-Type'] = 'application/json'})
   elseif req.url.path == '/slow' then
      async.setTimeout(100, function() res('worth the wait\n') end)
   else
      res(http.codes[404] .. '\n', nil, 404)
   end
end)

local base = 'http://127.0.0.1:' .. server.sockname.port
local questions = {
   {url = base .. '/hello?you'},
   {url = base .. '/sum', method = 'POST', body = '[1, 2, 3.5]', headers = {['Content-Type'] = 'application/json'}},
   {url = base .. '/slow'},
   {url = base .. '/nowhere'},
}

local function ask(i)
   local q = questions[i]
   if not q then
      http.closeIdleConnections()
      return server.close(function() print('server closed') end)
   end
   http.request(q, function(res, err)
      if not res then print(q.url, 'failed:', err) return ask(i + 1) end
      print(('%s %s -> %d %s'):format(q.method or 'GET', q.url:gsub('^http://[^/]+', ''), res.status, res.body:gsub('\n$', '')))
      ask(i + 1)
   end)
end
ask(1)
async.go()
