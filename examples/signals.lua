-- Signals: an HTTP server that shuts down gracefully on SIGTERM. A slow
-- request is in flight when the signal comes; the server stops taking
-- connections, finishes that response, and the program ends by itself.
-- It sends itself the signal (through a shell whose parent it is), so
-- it ends by itself; SIGINT (Ctrl-C) is handled the same way.
local async = require 'async'

local t0 = async.hrtime()
local function say(what)
   print(('%7.1f ms  %s'):format(async.hrtime() - t0, what))
end

local server = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res)
   say('request for ' .. req.url.path .. ', answering in 300 ms')
   async.setTimeout(300, function() res('slow answer\n') end)
end)
local port = server.sockname.port
say('listening on port ' .. port)

-- The handlers do not keep the loop running: once the server is closed
-- and the last response sent, go() returns, signal or not.
local handlers = {}
local function shut_down(name)
   say(name .. ': closing the server, finishing what is in flight')
   server.close(function() say('server closed') end)
   -- Give the signals their default action back: a second Ctrl-C or
   -- SIGTERM ends the program at once if the shutdown hangs.
   for _, h in ipairs(handlers) do h.close() end
end
handlers[1] = async.signal('SIGTERM', shut_down)
handlers[2] = async.signal('SIGINT', shut_down)

async.http.get('http://127.0.0.1:' .. port .. '/slow', function(response, err)
   say('client got: ' .. (response and response.body:gsub('\n$', '') or err))
end)

-- Once the request is in flight, ask to be stopped, as a service manager would.
async.setTimeout(100, function()
   say('sending SIGTERM to ourselves')
   async.process.spawn('sh', {'-c', 'kill -TERM $PPID'})
end)

-- A connection after the shutdown began is refused.
async.setTimeout(200, function()
   local client = async.tcp.connect({host = '127.0.0.1', port = port}, function(c)
      say('connected?!')
      c.close()
   end)
   client.onerr(function(e) say('new connection: ' .. e) end)
end)

async.go()
local metrics = async.loop.metrics()
say(('done after %d loop iterations, %.0f ms of them idle'):format(metrics.iterations, metrics.idleTime))
