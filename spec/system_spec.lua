local async = require 'async'

describe('system information', function()
   it('hrtime() is monotonic milliseconds with sub-millisecond resolution #novalgrind', function()
      local a = async.hrtime()
      local b = async.hrtime()
      assert.are.equal('number', type(a))
      assert.is_true(b >= a)
      assert.is_true(b - a < 5)
      local t0 = async.hrtime()
      async.setTimeout(20, function() end)
      async.go()
      local d = async.hrtime() - t0
      assert.is_true(d >= 19 and d < 500, d)
      local fractional = false
      for _ = 1, 100 do if async.hrtime() % 1 ~= 0 then fractional = true end end
      assert.is_true(fractional)
   end)

   it('reports memory in bytes', function()
      local total, free = async.getTotalMemory(), async.getFreeMemory()
      assert.is_true(total > 64 * 1024 * 1024)
      assert.is_true(free > 0 and free <= total)
   end)

   it('describes every CPU (cpuInfo, and getCpuInfo as the original documented it)', function()
      assert.are.equal(async.cpuInfo, async.getCpuInfo)
      local cpus = async.getCpuInfo()
      assert.is_true(#cpus >= 1)
      for _, cpu in ipairs(cpus) do
         assert.are.equal('string', type(cpu.model))
         assert.are.equal('number', type(cpu.speed))
         for _, k in ipairs({'user', 'nice', 'sys', 'idle', 'irq'}) do
            assert.are.equal('number', type(cpu.times[k]), k)
         end
         assert.is_true(cpu.times.idle > 0)
      end
   end)
end)
