local async = require 'async'
local support = require 'spec.support'

describe('the loop', function()
   it('go() returns once nothing is left', function()
      async.go()
      assert.are.same({}, async.handles())
   end)

   it('re-raises a callback error with its traceback, and go() continues', function()
      local after = false
      async.setTimeout(1, function() error('boom in a timer') end)
      async.setTimeout(20, function() after = true end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.are.equal('string', type(err))
      assert.matches('loop_spec.lua:%d+: boom in a timer', err)
      assert.matches('stack traceback:', err)
      assert.is_false(after)
      assert.are.equal(1, async.handles().timer)
      async.go()
      assert.is_true(after)
   end)

   it('reports a non-string error value', function()
      async.setTimeout(1, function() error({code = 7}) end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('error object is a table value', err)
   end)

   it('go() from inside a callback returns at once and the running loop carries on', function()
      local order = {}
      async.setTimeout(1, function()
         async.go()
         order[#order + 1] = 'returned'
         async.setTimeout(5, function() order[#order + 1] = 'later timer' end)
      end)
      async.go()
      assert.are.same({'returned', 'later timer'}, order)
   end)

   it('go(fn) from inside a callback ticks fn until the running go() returns', function()
      local ticks, last = 0, nil
      async.setTimeout(1, function()
         async.go(function() ticks = ticks + 1 end)
         -- The tick keeps the loop alive, as go(fn)'s does: stop it.
         async.setTimeout(20, function() last = ticks; async.stop() end)
      end)
      async.go()
      assert.is_true(last > 0, 'ticks: ' .. tostring(last))
      -- The tick stopped with the loop: nothing is left open, and the
      -- next go() does not call it.
      assert.are.same({}, async.handles())
      local after = ticks
      async.setTimeout(10, function() end)
      async.go()
      assert.are.equal(after, ticks)
   end)

   it('stop() makes go() return after the current callback', function()
      local ran = {}
      async.setTimeout(1, function() ran[#ran + 1] = 1; async.stop() end)
      local later = async.setTimeout(50, function() ran[#ran + 1] = 2 end)
      async.go()
      assert.are.same({1}, ran)
      later.clear()
   end)

   it('stop() outside go() does nothing', function()
      async.stop()
      local fired = false
      async.setTimeout(1, function() fired = true end)
      async.go()
      assert.is_true(fired)
   end)

   it('go(fn) calls fn about every millisecond while the loop runs #novalgrind', function()
      local calls = 0
      local done = false
      async.setTimeout(30, function() done = true; async.stop() end)
      async.go(function() calls = calls + 1 end)
      assert.is_true(done)
      assert.is_true(calls >= 5 and calls <= 40, calls .. ' calls')
      assert.are.same({}, async.handles())
   end)

   it('run(fn) runs fn in a fiber, then the loop', function()
      local steps = {}
      async.run(function()
         steps[#steps + 1] = async.fiber.context() ~= nil
         async.fiber.sleep(5)
         steps[#steps + 1] = 'woke'
      end)
      assert.are.same({true, 'woke'}, steps)
   end)

   it('raises errors from HTTP, JSON and process callbacks with their own message and position #novalgrind', function()
      local function failure_of(start)
         local cleanup = start()
         local ok, message = pcall(async.go)
         cleanup()
         async.go()
         assert.is_false(ok)
         return message
      end
      local http_error = failure_of(function()
         local server = async.http.listen({host = '127.0.0.1', port = 0}, function() error('http handler failed') end)
         -- The handler never answers: the client gives up after 100 ms.
         async.http.request({url = 'http://127.0.0.1:' .. server.sockname.port .. '/', timeout = 100}, function() end)
         return function() async.http.closeIdleConnections(); server.close() end
      end)
      local json_error = failure_of(function()
         local server = async.json.listen({host = '127.0.0.1', port = 0}, function() error('json handler failed') end)
         local client
         async.json.connect({host = '127.0.0.1', port = server.sockname.port}, function(c) client = c; c.send({1}) end)
         return function() client.close(); server.close() end
      end)
      local exec_error = failure_of(function()
         async.process.exec('true', {}, function() error('exec callback failed') end)
         return function() end
      end)
      assert.matches('^[^\n]*loop_spec.lua:%d+: http handler failed\n', http_error)
      assert.matches('^[^\n]*loop_spec.lua:%d+: json handler failed\n', json_error)
      assert.matches('^[^\n]*loop_spec.lua:%d+: exec callback failed\n', exec_error)
   end)

   -- Three callbacks of one kind fail in the same turn of the loop, in a
   -- child luajit: `go()` must raise each error in turn, as it does for
   -- timers (README, "When a callback fails"): the child catches two and
   -- leaves the third to end it, on stderr, with exit status 1.
   describe('raises every error of callbacks failing in the same turn', function()
      local prelude = [=[
         local async = require 'async'
         local function fail(i) error('boom ' .. i) end
         local function ignore() end
         local probe = async.tcp.listen({host = '127.0.0.1', port = 0}, ignore)
         local refused = probe.sockname.port
         probe.close()
         async.go()
      ]=]
      local epilogue = [=[
         for _ = 1, 2 do
            local ok, err = pcall(async.go)
            print(ok and 'no error' or err:match('^[^\n]*'))
         end
         async.go()
         print('an error was lost')
      ]=]

      local function assert_each_raised(setup)
         local script = os.tmpname()
         local f = assert(io.open(script, 'w'))
         f:write(prelude, setup, epilogue)
         f:close()
         local output = support.converse('timeout 60 luajit ' .. script, {})
         os.remove(script)
         local raised = {}
         for i in output:gmatch(': boom (%d)\n') do raised[#raised + 1] = tonumber(i) end
         table.sort(raised)
         assert.are.same({1, 2, 3}, raised, output)
         -- luajit names itself by its path when valgrind's wrapper runs it.
         assert.matches('\n%S*luajit: [^\n]*: boom %d\nstack traceback:\n.*exit=1\n$', output)
      end

      it('of timers', function()
         assert_each_raised [=[
            for i = 1, 3 do async.setTimeout(1, function() fail(i) end) end
         ]=]
      end)

      it('of onerr, after a refused connect', function()
         assert_each_raised [=[
            for i = 1, 3 do
               async.tcp.connect({host = '127.0.0.1', port = refused}).onerr(function() fail(i) end)
            end
         ]=]
      end)

      it('of onclose', function()
         assert_each_raised [=[
            for i = 1, 3 do
               local client = async.tcp.connect({host = '127.0.0.1', port = refused})
               client.onerr(ignore)
               client.onclose(function() fail(i) end)
            end
         ]=]
      end)

      it('of close(cb), on sockets and servers', function()
         assert_each_raised [=[
            for i = 1, 2 do
               local client = async.tcp.connect({host = '127.0.0.1', port = refused})
               client.onerr(ignore)
               client.close(function() fail(i) end)
            end
            async.tcp.listen({host = '127.0.0.1', port = 0}, ignore).close(function() fail(3) end)
         ]=]
      end)

      it('of connection callbacks', function()
         assert_each_raised [=[
            local accepted = 0
            local server
            server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
               client.destroy()
               accepted = accepted + 1
               if accepted == 3 then server.close() end
               fail(accepted)
            end)
            for _ = 1, 3 do
               async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c) c.close() end).onerr(ignore)
            end
         ]=]
      end)

      it('of ondata, whose data is handed over at once', function()
         assert_each_raised [=[
            local accepted = {}
            local server
            server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
               accepted[#accepted + 1] = client
               if #accepted < 3 then return end
               server.close()
               for _, c in ipairs(accepted) do c.write('x'); c.close() end
            end)
            for i = 1, 3 do
               async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
                  c.ondata(function() fail(i) end)
               end)
            end
         ]=]
      end)

      it('of process onexit and onclose', function()
         assert_each_raised [=[
            async.process.spawn('true', {}, function(p) p.onexit(function() fail(1) end) end)
            async.process.spawn('true', {}, function(p) p.onexit(function() fail(2) end) end)
            async.process.spawn('true', {}, function(p) p.onclose(function() fail(3) end) end)
         ]=]
      end)

      it('of HTTP client callbacks', function()
         assert_each_raised [=[
            for i = 1, 3 do
               async.http.request({url = 'http://127.0.0.1:' .. refused .. '/'}, function() fail(i) end)
            end
         ]=]
      end)
   end)
end)

describe('async.loop', function()
   it('is reachable as a submodule too', function()
      assert.are.equal(async.loop, require 'async.loop')
   end)

   it('alive() says whether anything keeps the loop running', function()
      assert.is_false(async.loop.alive())
      local timer = async.setTimeout(1000, function() end)
      assert.is_true(async.loop.alive())
      timer.clear()
      local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function() end)
      assert.is_true(async.loop.alive())
      server.close()
      async.go()
      assert.is_false(async.loop.alive())
   end)

   it('now() is the cached loop time; updateTime() refreshes and returns it', function()
      local before = async.loop.now()
      assert.are.equal('number', type(before))
      local spin = async.hrtime() + 20
      while async.hrtime() < spin do end
      assert.are.equal(before, async.loop.now()) -- cached: no loop ran
      local updated = async.loop.updateTime()
      assert.is_true(updated >= before + 15)
      assert.are.equal(updated, async.loop.now())
      local seen
      async.setTimeout(30, function() seen = async.loop.now() end)
      async.go()
      assert.is_true(seen >= updated + 30)
   end)

   it('metrics() counts iterations, events and idle time', function()
      local first = async.loop.metrics()
      for _, field in ipairs({'idleTime', 'iterations', 'events', 'eventsWaiting'}) do
         assert.are.equal('number', type(first[field]))
         assert.is_true(first[field] >= 0)
      end
      local server, client
      server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
         c.ondata(function() c.close(); server.close() end)
      end)
      async.setTimeout(50, function()
         client = async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            c.write('x')
            c.close()
         end)
      end)
      async.go()
      local second = async.loop.metrics()
      assert.is_true(second.iterations > first.iterations)
      assert.is_true(second.events > first.events)
      -- The loop waited some 50 ms for the timer with nothing to do.
      assert.is_true(second.idleTime - first.idleTime >= 40)
      assert.is_true(client ~= nil)
   end)
end)

describe('async.handles', function()
   it('with {list = true} lists every libuv handle with its state', function()
      local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function() end)
      local sig = async.signal('SIGUSR2', function() end)
      local list = async.handles({list = true})
      local by_kind = {}
      for _, h in ipairs(list) do
         assert.are.equal('string', type(h.type))
         assert.are.equal('boolean', type(h.active))
         assert.are.equal('boolean', type(h.ref))
         assert.are.equal('boolean', type(h.closing))
         by_kind[h.kind] = by_kind[h.kind] or h
      end
      local s = by_kind['tcp.server']
      assert.are.equal('tcp', s.type)
      assert.is_true(s.active and s.ref and not s.closing)
      assert.are.equal('number', type(s.fd))
      local g = by_kind.signal
      assert.are.equal('signal', g.type)
      assert.is_true(g.active)
      assert.is_false(g.ref)
      assert.is_nil(g.fd)
      assert.is_not_nil(by_kind.internal) -- the timer driver's timer, at least
      server.close()
      sig.close()
      local closing = 0
      for _, h in ipairs(async.handles({list = true})) do
         if h.kind ~= 'internal' then
            assert.is_true(h.closing)
            closing = closing + 1
         end
      end
      assert.are.equal(2, closing)
      async.go()
      for _, h in ipairs(async.handles({list = true})) do assert.are.equal('internal', h.kind) end
      -- The counting form is unchanged.
      assert.is_nil(next(async.handles()))
      assert.is_nil(next(async.handles({list = false})))
   end)

   it('rejects a bad option', function()
      assert.are.equal("bad argument #1 to 'handles' (table expected, got string)",
         support.error_of('loop_spec.lua', function() async.handles('list') end))
      assert.matches('^handles: list must be a boolean',
         support.error_of('loop_spec.lua', function() async.handles({list = 1}) end))
   end)
end)
