local async = require 'async'

describe('flow.ratelimiter', function()
   it('starts calls in order, at most perSecond per second', function()
      local limit = async.flow.ratelimiter(50) -- one slot every 20 ms
      local starts, t0 = {}, async.hrtime()
      for i = 1, 6 do
         limit(function(n, done) starts[#starts + 1] = {n, async.hrtime() - t0}; done() end, {i})
      end
      async.go()
      assert.are.equal(6, #starts)
      for i = 1, 6 do assert.are.equal(i, starts[i][1]) end
      assert.is_true(starts[6][2] >= 90, 'six calls took ' .. starts[6][2] .. ' ms')
   end)

   it('wraps a trailing callback so that it counts as done', function()
      local limit = async.flow.ratelimiter(1000)
      local got
      limit(function(a, b, cb) async.setTimeout(1, function() cb(a + b) end) end, {1, 2, function(v) got = v end})
      async.go()
      assert.are.equal(3, got)
   end)

   it('never runs more than perSecond calls at once', function()
      local limit = async.flow.ratelimiter(2)
      local running, peak = 0, 0
      for i = 1, 4 do
         limit(function(done)
            running = running + 1; peak = math.max(peak, running)
            async.setTimeout(1200, function() running = running - 1; done() end)
         end)
      end
      local t = async.setTimeout(1300, function() async.stop() end)
      async.go()
      assert.are.equal(2, peak)
      async.go()
   end)

   it('checks its arguments', function()
      assert.has_error(function() async.flow.ratelimiter(0) end)
      local limit = async.flow.ratelimiter(10)
      assert.has_error(function() limit('not a function') end)
   end)
end)
