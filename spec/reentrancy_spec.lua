-- Lua code that runs while the module is in the middle of something: a
-- garbage-collector finalizer (any allocation the module makes can run
-- one) or a callback that uses the very socket, server or limiter that is
-- calling it. Nothing may panic ("already borrowed"), abort, or lose or
-- reorder data. Each case runs in a child luajit (an abort there must not
-- take the test runner down) and must end normally, printing 'ok'.
local support = require 'spec.support'

-- What every child runs first: the collector runs all the time, so that
-- the allocations of the module run finalizers, and `finalizers(n, f)`
-- leaves `n` objects whose finalizers call `f()` (until `finished`).
local prelude = [[
local async = require 'async'
collectgarbage('setpause', 0)
collectgarbage('setstepmul', 1000)
finished = false
function finalizers(n, f)
   for _ = 1, n do
      getmetatable(newproxy(true)).__gc = function() if not finished then f() end end
   end
end
]]

local function assert_ok(source)
   assert.matches('ok\nexit=0\n$', support.child(prelude .. source))
end

describe('re-entrancy', function()
   it('lets finalizers write, query, pause, re-split and limit a socket while its lines are delivered, in order', function()
      assert_ok [[
         local lines, ran, N = 0, 0, 20000
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            local on_line
            local actions = {
               function() c.write('x') end,
               function() assert(c.writeQueueSize() >= 0) end,
               function() c.pause(); c.resume() end,
               function() c.setMaxLineSize(1000) end,
               function() c.onsplitdata('\n', on_line) end,
            }
            -- New finalizers once the last ran, and nothing else made in
            -- the handler: the collector steps in the module's allocations
            -- (each line's string, a new one every time).
            local pending = 0
            local function arm()
               if pending > 0 then return end
               pending = 5
               finalizers(5, function()
                  pending, ran = pending - 1, ran + 1
                  actions[(ran - 1) % #actions + 1]()
               end)
            end
            on_line = function(line)
               lines = lines + 1
               assert(line == 'line ' .. lines, line)
               arm()
               if lines == N then c.close(); server.close() end
            end
            c.onsplitdata('\n', on_line)
            arm()
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function() end)
            client.onend(function() client.close() end)
            local text = {}
            for i = 1, N do text[i] = 'line ' .. i .. '\n' end
            client.write(table.concat(text))
         end)
         async.go()
         finished = true
         assert(lines == N, lines)
         assert(ran > 0)
         print('ok')
      ]]
   end)

   it('lets a finalizer close or destroy the socket whose lines are being delivered', function()
      assert_ok [[
         for _, how in ipairs({'close', 'destroy'}) do
            local lines, closed = 0, false
            local server
            server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
               c.onclose(function() closed = true; server.close() end)
               c.onsplitdata('\n', function()
                  lines = lines + 1
                  if lines >= 100 then finalizers(5, function() c[how]() end) end
               end)
            end)
            async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
               client.onerr(function() end)
               client.ondata(function() end)
               client.onend(function() client.close() end)
               client.write(string.rep('line\n', 20000), function() client.close() end)
            end)
            async.go()
            assert(closed and lines >= 100, how .. ': ' .. lines)
         end
         finished = true
         print('ok')
      ]]
   end)

   it('lets a data callback query the socket and switch its reader (writeQueueSize, onsplitdata, ondata)', function()
      assert_ok [[
         local lines, chunks = 0, 0
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            local function on_line(line)
               lines = lines + 1
               assert(c.writeQueueSize() >= 0)
               finalizers(5, function() c.writeQueueSize() end)
               if lines < 10 then
                  c.onsplitdata('\n', on_line)
               elseif lines == 10 then
                  c.ondata(function(chunk) chunks = chunks + 1; c.writeQueueSize() end)
               end
            end
            c.onsplitdata('\n', on_line)
            c.onend(function() c.close(); server.close() end)
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write(string.rep('line\n', 100), function()
               client.write(string.rep('more\n', 100), function() client.close() end)
            end)
         end)
         async.go()
         finished = true
         assert(lines == 10, lines)
         print('ok')
      ]]
   end)

   it("lets finalizers use the socket while a fiber's readsplit(fn) takes the pieces its function gave", function()
      assert_ok [[
         local pieces, ran = 0, 0
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            async.fiber(function()
               -- Numbers for pieces: each is made a string as it is taken.
               local function split(data)
                  local cut = {}
                  for i = 1, #data do cut[i] = i + 0.5 end
                  finalizers(20, function() ran = ran + 1; c.writeQueueSize(); c.write('x') end)
                  return cut, ''
               end
               while c.readsplit(split) do pieces = pieces + 1 end
               c.close()
               server.close()
            end)
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function() end)
            client.onerr(function() end)
            client.write(string.rep('y', 20000), function() client.close() end)
         end)
         async.go()
         finished = true
         assert(pieces == 20000, pieces)
         assert(ran > 0)
         print('ok')
      ]]
   end)

   it("lets a finalizer queue a call on a ratelimiter while it queues another #novalgrind", function()
      assert_ok [[
         local limit = async.flow.ratelimiter(100000)
         local calls, queued = 0, 0
         local function call(done) calls = calls + 1; done() end
         for i = 1, 5000 do
            finalizers(2, function() queued = queued + 1; limit(call, {}) end)
            queued = queued + 1
            limit(call, {})
         end
         async.go()
         -- Calls queued by finalizers that ran after the loop ended.
         finished = true
         async.go()
         assert(calls == queued, calls .. ' of ' .. queued)
         print('ok')
      ]]
   end)
end)
