local async = require 'async'
local fiber = async.fiber

describe('fibers', function()
   it('start at once and return the fiber and what the first run returned', function()
      local f, ok, a, b = fiber(function() return 1, 2 end)
      assert.are.equal('table', type(f))
      assert.are.equal('thread', type(f.co))
      assert.is_true(ok)
      assert.are.same({1, 2}, {a, b})
      local g, ok2 = fiber.new(function() fiber.context().yield() end)
      assert.are.equal('suspended', coroutine.status(g.co))
      assert.is_true(ok2)
   end)

   it('resume() and yield() pass values', function()
      local seen = {}
      local f = fiber(function(...)
         local f = fiber.context()
         seen[#seen + 1] = f.yield('out')
      end)
      f.resume('in')
      assert.are.same({'in'}, seen)
   end)

   it('raise an error inside the fiber to whoever resumed it', function()
      local ok, err = pcall(fiber, function() error('inside') end)
      assert.is_false(ok)
      assert.matches('inside', err)
      assert.matches('stack traceback', err)
   end)

   it('context() is the running fiber, nil outside, and prints nothing', function()
      assert.is_nil(fiber.context())
      local inside
      local f = fiber(function() inside = fiber.context() end)
      assert.are.equal(f, inside)
   end)

   it('sleep() suspends the fiber only', function()
      local order = {}
      async.run(function()
         order[#order + 1] = 'start'
         local t0 = async.hrtime()
         fiber.sleep(20)
         order[#order + 1] = async.hrtime() - t0 >= 19 and 'slept' or 'too short'
      end)
      assert.are.same({'start', 'slept'}, order)
   end)

   it('wait() on one function returns its results unpacked', function()
      local a, b
      async.run(function()
         a, b = fiber.wait(function(x, y, done) async.setTimeout(1, function() done(x + y, 'ok') end) end, {2, 3})
      end)
      assert.are.same({5, 'ok'}, {a, b})
   end)

   it('wait() on many functions keeps to the limit and returns results in order', function()
      local inflight, peak = 0, 0
      local funcs, args = {}, {}
      for i = 1, 500 do
         funcs[i] = function(n, done)
            inflight = inflight + 1
            peak = math.max(peak, inflight)
            async.setTimeout(n % 3, function() inflight = inflight - 1; done(n * 2) end)
         end
         args[i] = {i}
      end
      local results
      async.run(function() results = fiber.wait(funcs, args, 16) end)
      assert.are.equal(500, #results)
      for i = 1, 500 do assert.are.same({i * 2}, results[i]) end
      assert.are.equal(16, peak)
   end)

   it('wait() passes results through cb and copes with callbacks made at once', function()
      local results
      async.run(function()
         results = fiber.wait({function(done) done(1) end, function(done) done(2) end}, {{}, {}},
            function(v) return v * 10 end)
      end)
      assert.are.same({{10}, {20}}, results)
   end)

   it('wait() outside a fiber raises an error', function()
      assert.has_error(function() fiber.wait(function(done) done() end, {}) end)
      local ok, err = pcall(fiber.sleep, 1)
      assert.matches('inside a fiber', err)
   end)

   it('sync.NAME waits on the asynchronous function of that name', function()
      local timer
      async.run(function() timer = fiber.sync.setTimeout(5) end)
      assert.matches('^timer', tostring(timer))
      assert.has_error(function() return fiber.sync.noSuchFunction end)
   end)
   it('refuse to run the loop inside a fiber, where callbacks would run in the coroutine', function()
      local ok, err
      fiber(function() ok, err = pcall(async.go) end)
      assert.is_false(ok)
      assert.matches('go: the loop must run in the main program', err)
      local fired = false
      async.setTimeout(1, function() fired = true end)
      async.go()
      assert.is_true(fired)
   end)

   it('a read that cannot suspend (inside a C function) fails and leaves the stream readable', function()
      local sort_error, lines = nil, {}
      local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
         async.setTimeout(20, function() client.write('a\nb\n'); client.close() end)
      end)
      async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
         fiber(function()
            c.sync()
            local _, e = pcall(table.sort, {3, 1, 2}, function(x, y) return c.readline() ~= nil end)
            sort_error = e
            for line in c.readline do lines[#lines + 1] = line end
            c.close()
            server.close()
         end)
      end)
      async.go()
      assert.matches('readline: cannot wait for data here %(attempt to yield across', sort_error)
      assert.are.same({'a', 'b'}, lines)
   end)
end)
