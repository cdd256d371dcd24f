local async = require 'async'

describe('async.pcall', function()
   it('returns the results when nothing fails', function()
      local wrapped = async.pcall(function(a, b) return a + b end)
      assert.are.equal(5, wrapped(2, 3))
   end)

   it('gives the handler both tracebacks and the creation frames', function()
      local got
      local wrapped = async.pcall(function() error('late failure') end,
         function(tb, where, info) got = {tb = tb, where = where, info = info} end)
      async.setTimeout(1, wrapped)
      async.go()
      assert.matches('pcall_spec.lua:%d+: late failure', got.tb)
      assert.matches('stack traceback', got.tb)
      assert.matches('pcall_spec.lua', got.where)
      assert.is_true(#got.info >= 1)
      assert.are.equal('table', type(got.info[1]))
   end)

   it('prints the report without a handler', function()
      local printed = {}
      local real_print = print
      _G.print = function(s) printed[#printed + 1] = s end
      async.pcall(function() error('quiet') end)()
      _G.print = real_print
      assert.are.equal(1, #printed)
      assert.matches('quiet', printed[1])
      assert.matches('%-%-%-%-', printed[1])
   end)
end)
