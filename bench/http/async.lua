-- Hello-world HTTP server for bench/http/run: listens on PORT, answers
-- every request with a 13-byte text/plain body, with a headers table as
-- real handlers pass one (and as node.js sets its Content-Type); runs
-- until killed.
local async = require 'async'
local port = tonumber(os.getenv('PORT') or '8080')
async.http.listen({host = '127.0.0.1', port = port}, function(req, res)
   res('Hello, World!', {['Content-Type'] = 'text/plain'})
end)
async.go()
