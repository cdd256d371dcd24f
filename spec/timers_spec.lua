local async = require 'async'
local support = require 'spec.support'

describe('timers', function()
   it('fire once, with the timer, after their timeout', function()
      local t0 = async.hrtime()
      local got, elapsed
      local timer = async.setTimeout(20, function(t) got = t; elapsed = async.hrtime() - t0 end)
      async.go()
      assert.are.equal(timer, got)
      assert.is_true(elapsed >= 19, 'fired after ' .. elapsed .. ' ms')
   end)

   it('due at the same time fire in the order they were set #novalgrind', function()
      local order = {}
      for i = 1, 200 do async.setTimeout(i % 3 == 0 and 0 or 50, function() order[#order + 1] = i end) end
      async.go()
      local expected = {}
      for i = 3, 200, 3 do expected[#expected + 1] = i end
      for i = 1, 200 do if i % 3 ~= 0 then expected[#expected + 1] = i end end
      assert.are.same(expected, order)
   end)

   it('order by deadline before creation', function()
      local order = {}
      async.setTimeout(30, function() order[#order + 1] = 'late' end)
      async.setTimeout(5, function() order[#order + 1] = 'early' end)
      async.go()
      assert.are.same({'early', 'late'}, order)
   end)

   it('repeat with setInterval until cleared', function()
      local ticks = 0
      async.setInterval(2, function(t)
         ticks = ticks + 1
         if ticks == 5 then t.clear() end
      end)
      async.go()
      assert.are.equal(5, ticks)
   end)

   it('clear() stops a pending timer and is harmless twice or after firing', function()
      local fired = 0
      local t = async.setTimeout(5, function() fired = fired + 1 end)
      t.clear(); t.clear()
      local u = async.setTimeout(1, function() fired = fired + 10 end)
      async.go()
      u.clear(); u.clear()
      assert.are.equal(10, fired)
   end)

   it('a cleared timer does not cancel a later one', function()
      local stale = async.setTimeout(1, function() end)
      async.go()
      local fired = false
      async.setTimeout(1, function() fired = true end)
      stale.clear()
      async.go()
      assert.is_true(fired)
   end)

   it('an unreferenced timer still fires', function()
      local fired = false
      do async.setTimeout(5, function() fired = true end) end
      collectgarbage('collect'); collectgarbage('collect')
      async.go()
      assert.is_true(fired)
   end)

   it('a setTimeout(0) made in a callback runs on a later iteration', function()
      local order = {}
      async.setTimeout(0, function()
         order[#order + 1] = 'a'
         async.setTimeout(0, function() order[#order + 1] = 'c' end)
      end)
      async.setTimeout(0, function() order[#order + 1] = 'b' end)
      async.go()
      assert.are.same({'a', 'b', 'c'}, order)
   end)

   it('are collected once fired or cleared', function()
      local weak = setmetatable({}, {__mode = 'v'})
      weak[1] = async.setTimeout(1, function() end)
      weak[2] = async.setTimeout(1000, function() end)
      weak[2].clear()
      async.go()
      collectgarbage('collect'); collectgarbage('collect')
      assert.is_nil(weak[1])
      assert.is_nil(weak[2])
   end)

   it('created and cleared by the 100,000 leave Lua heap and RSS flat #novalgrind', function()
      local cb = function() end
      local function cycle()
         for _ = 1, 100000 do async.setTimeout(30000, cb).clear() end
      end
      cycle(); cycle()
      local heap0, rss0 = support.heap_kib(), support.rss_kib()
      for _ = 1, 5 do cycle() end
      local heap1, rss1 = support.heap_kib(), support.rss_kib()
      assert.is_true(heap1 - heap0 < 256, ('Lua heap grew %d KiB'):format(heap1 - heap0))
      assert.is_true(rss1 - rss0 < 2048, ('RSS grew %d KiB'):format(rss1 - rss0))
      assert.are.same({}, async.handles())
   end)

   -- `close(cb)` on a closed server queues `cb` on a timer of the module's
   -- own. A finalizer can run at any allocation, so one that sets a timer
   -- may run while the module queues its own: each must keep its slot.
   local function finalizers_set_timers_while_the_module_queues(set_timer)
      local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function() end)
      server.close()
      async.go()
      local closed, made, armed = 0, 0, true
      local with_finalizer = newproxy(true)
      getmetatable(with_finalizer).__gc = function()
         if not armed then return end
         made = made + 1
         set_timer()
      end
      local rounds = 10000
      for _ = 1, rounds do
         local _ = newproxy(with_finalizer)
         server.close(function() closed = closed + 1 end)
      end
      collectgarbage(); collectgarbage()
      armed = false
      return function()
         assert.are.equal(rounds, closed)
         return made
      end
   end

   it('set by a finalizer while the module queues a timer each fire exactly once', function()
      local fired = 0
      local check = finalizers_set_timers_while_the_module_queues(function()
         async.setTimeout(0, function() fired = fired + 1 end)
      end)
      async.go()
      assert.are.equal(check(), fired)
   end)

   it('set by a finalizer while the module queues a timer can be cleared', function()
      local timers, fired = {}, 0
      local check = finalizers_set_timers_while_the_module_queues(function()
         timers[#timers + 1] = async.setTimeout(100, function() fired = fired + 1 end)
      end)
      for _, timer in ipairs(timers) do timer.clear() end
      local pending = async.handles().timer
      async.go()
      assert.are.equal(check(), #timers)
      assert.is_nil(pending)
      assert.are.equal(0, fired)
   end)

   it('clear() on a forged or altered timer is an error naming it', function()
      local timer = async.setTimeout(1000, function() end)
      local state
      for key, value in pairs(timer) do
         if type(key) == 'userdata' and type(value) == 'number' then state = key end
      end
      local impostor = setmetatable({}, getmetatable(timer))
      for _, forged in ipairs({-1, 2 ^ 40, 0.5, 'slot', {}, false}) do
         impostor[state] = forged
         assert.are.equal('clear: bad timer (not one that setTimeout or setInterval made)',
            support.error_of('timers_spec.lua', function() impostor.clear() end))
      end
      impostor[state] = nil
      assert.are.equal('clear: bad timer (not one that setTimeout or setInterval made)',
         support.error_of('timers_spec.lua', function() impostor.clear() end))
      -- A forged slot that is a real one clears nothing it does not own.
      local slot = timer[state]
      impostor[state] = slot
      impostor.clear()
      assert.are.equal(1, async.handles().timer)
      timer[state] = 'altered'
      assert.are.equal('clear: bad timer (not one that setTimeout or setInterval made)',
         support.error_of('timers_spec.lua', function() timer.clear() end))
      timer[state] = slot
      timer.clear()
      assert.are.same({}, async.handles())
   end)

   it('100,000 pending timers fire and leave no memory behind #novalgrind', function()
      local n = 0
      local cb = function() n = n + 1 end
      local function batch()
         for i = 1, 100000 do async.setTimeout(i % 2, cb) end
         async.go()
      end
      -- What C and Rust hold (malloc's count) and the Lua heap must not
      -- grow: a leaked queue entry (24 bytes or more a timer) would add
      -- 45 MiB over the 19 rounds measured. RSS itself jumps with the
      -- garbage collector's timing (LuaJIT's allocator keeps the pages of
      -- a round's garbage), so its bound only catches gross leaks.
      for _ = 1, 5 do batch() end
      local heap0, c0, rss0 = support.heap_kib(), support.malloc_kib(), support.rss_kib()
      for _ = 1, 19 do batch() end
      local heap1, c1, rss1 = support.heap_kib(), support.malloc_kib(), support.rss_kib()
      assert.are.equal(2400000, n)
      assert.is_true(heap1 - heap0 < 64, ('Lua heap grew %d KiB'):format(heap1 - heap0))
      assert.is_true(c1 - c0 < 1024, ('malloc in use grew %d KiB'):format(c1 - c0))
      assert.is_true(rss1 - rss0 < 40 * 1024, ('RSS grew %d KiB'):format(rss1 - rss0))
   end)
end)
