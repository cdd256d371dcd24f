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
      local made_on = debug.getinfo(1, 'l').currentline - 2
      async.setTimeout(1, wrapped)
      async.go()
      assert.matches('pcall_spec.lua:%d+: late failure', got.tb)
      assert.matches('stack traceback', got.tb)
      assert.matches('pcall_spec.lua', got.where)
      assert.is_true(#got.info >= 1)
      assert.are.equal('table', type(got.info[1]))
      -- The first frame is the caller's, not the module's own wrapper.
      assert.matches('pcall_spec%.lua$', got.info[1].source)
      assert.are.equal(made_on, got.info[1].currentline)
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

   it('wraps any value, as the original did: callable tables work, the rest fails when called', function()
      local callable = setmetatable({}, {__call = function(self, x) return x * 2 end})
      assert.are.equal(42, async.pcall(callable)(21))
      for _, value in ipairs({false, 12, 'text', {}}) do
         local got
         local wrapped = async.pcall(value, function(tb) got = tb end)
         assert.is_function(wrapped)
         assert.is_nil(got)
         wrapped()
         assert.matches('attempt to call a ' .. type(value) .. ' value', got)
      end
      local got
      async.pcall(nil, function(tb) got = tb end)()
      assert.matches('attempt to call a nil value', got)
   end)
end)
