-- async.setImmediate: runs after the I/O of the loop iteration, in the
-- order set; one set during a run waits for the next iteration;
-- clear() cancels; errors follow the callback policy.
local async = require 'async'
local support = require 'spec.support'
local run = support.run

describe('async.setImmediate', function()
   it('runs each callback once, in the order set, with its handle', function()
      local order, handles = {}, {}
      for i = 1, 5 do
         handles[i] = async.setImmediate(function(h)
            order[#order + 1] = i
            assert.are.equal(handles[i], h)
         end)
      end
      assert.are.equal(5, async.handles().immediate)
      assert.are.equal('immediate', tostring(handles[1]):match('^(%w+):'))
      async.go()
      assert.are.same({1, 2, 3, 4, 5}, order)
      assert.is_nil(async.handles().immediate)
      assert.is_false(async.loop.alive())
   end)

   it('is also async.time.setImmediate', function()
      assert.are.equal(async.setImmediate, async.time.setImmediate)
   end)

   it('runs one set during a run on the next iteration, after the timers due', function()
      local order = {}
      local iterations = {}
      async.setImmediate(function()
         order[#order + 1] = 'first'
         iterations[1] = async.loop.metrics().iterations
         async.setTimeout(0, function() order[#order + 1] = 'timeout' end)
         async.setImmediate(function()
            order[#order + 1] = 'second'
            iterations[2] = async.loop.metrics().iterations
         end)
      end)
      async.setImmediate(function() order[#order + 1] = 'sibling' end)
      async.go()
      assert.are.same({'first', 'sibling', 'timeout', 'second'}, order)
      assert.is_true(iterations[2] > iterations[1])
   end)

   it('runs before a 0 ms timeout when set in an I/O callback', function()
      local order = {}
      run(5, function(done)
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.close()
            server.close()
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            async.setTimeout(0, function()
               order[#order + 1] = 'timeout'
               client.close()
               done()
            end)
            async.setImmediate(function() order[#order + 1] = 'immediate' end)
         end)
      end)
      assert.are.same({'immediate', 'timeout'}, order)
   end)

   it('does not wait for I/O while one is pending', function()
      -- A listening server keeps the loop waiting; the immediate must run
      -- at once all the same.
      local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function() end)
      local ran_at
      local started = async.hrtime()
      async.setImmediate(function()
         ran_at = async.hrtime()
         server.close()
      end)
      async.go()
      assert.is_true(ran_at - started < 500)
   end)

   it('clear() cancels it; repeated or after the run it is harmless', function()
      local ran = {}
      local a = async.setImmediate(function() ran[#ran + 1] = 'a' end)
      local b = async.setImmediate(function() ran[#ran + 1] = 'b' end)
      local c
      async.setImmediate(function() ran[#ran + 1] = 'first'; c.clear() end)
      c = async.setImmediate(function() ran[#ran + 1] = 'c' end)
      a.clear()
      a.clear()
      assert.are.equal(3, async.handles().immediate)
      async.go()
      assert.are.same({'b', 'first'}, ran)
      b.clear()
      assert.is_nil(async.handles().immediate)
      assert.is_false(async.loop.alive())
   end)

   it('a table dressed as an immediate clears nothing', function()
      local ran = false
      local real = async.setImmediate(function() ran = true end)
      local fake = setmetatable({}, getmetatable(real))
      assert.are.equal('clear: bad immediate (not one that setImmediate made)',
         support.error_of('immediate_spec.lua', function() fake.clear() end))
      for k, v in pairs(real) do rawset(fake, k, v) end
      fake.clear()
      async.go()
      assert.is_true(ran)
   end)

   it('raises a failing callback from go(); the rest run on the next go()', function()
      local ran = {}
      async.setImmediate(function() ran[#ran + 1] = 1 end)
      async.setImmediate(function() error('immediate failed') end)
      async.setImmediate(function() ran[#ran + 1] = 3 end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('immediate_spec.lua:%d+: immediate failed', err)
      assert.are.same({1}, ran)
      assert.are.equal(1, async.handles().immediate)
      async.go()
      assert.are.same({1, 3}, ran)
   end)

   it('rejects a missing callback', function()
      assert.are.equal("bad argument #1 to 'setImmediate' (function expected, got no value)",
         support.error_of('immediate_spec.lua', function() async.setImmediate() end))
      assert.are.equal("bad argument #1 to 'setImmediate' (function expected, got number)",
         support.error_of('immediate_spec.lua', function() async.setImmediate(5) end))
   end)

   it('fiber.sync.setImmediate yields the fiber for one iteration', function()
      local order = {}
      async.run(function()
         order[#order + 1] = 'before'
         local handle = async.fiber.sync.setImmediate()
         order[#order + 1] = tostring(handle):match('^(%w+):')
      end)
      assert.are.same({'before', 'immediate'}, order)
   end)

   it('many immediates run and leave nothing behind', function()
      local n = 0
      for _ = 1, 10000 do async.setImmediate(function() n = n + 1 end) end
      async.go()
      assert.are.equal(10000, n)
      assert.is_nil(async.handles().immediate)
   end)
end)
