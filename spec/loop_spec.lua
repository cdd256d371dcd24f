local async = require 'async'

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
end)
