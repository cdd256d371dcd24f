local async = require 'async'

describe('the module', function()
   it('is one table, whatever the route to it', function()
      assert.are.equal(async, require 'async')
      for _, name in ipairs({'time', 'fiber', 'flow', 'pcall', 'url', 'tcp', 'udp', 'handle', 'json'}) do
         assert.are.equal(async[name], require('async.' .. name), name)
         assert.is_not_nil(async[name], name)
      end
   end)

   it('describes the stream handle API in async.handle', function()
      assert.are.equal(65536, async.handle.highWaterMark)
      local names = {}
      for _, name in ipairs(async.handle.methods) do names[name] = true end
      for _, name in ipairs({'ondata', 'onrawdata', 'onsplitdata', 'onend', 'onerr', 'onclose', 'write', 'close',
                             'sync', 'syncraw', 'read', 'readsplit', 'readline', 'pause', 'resume', 'ondrain'}) do
         assert.is_true(names[name], name)
      end
   end)

   it('ignores SIGPIPE when opened, so a write to a reset socket cannot kill the process', function()
      -- A fresh luajit with SIGPIPE at its default action reports the
      -- SIGPIPE bit (signal 13: bit 12) of SigIgn before and after require.
      local probe = [[
         local function ignored()
            local status = io.open('/proc/self/status'):read('*a')
            return math.floor(tonumber(status:match('SigIgn:%s*(%x+)'), 16) / 2 ^ 12) % 2
         end
         local before = ignored()
         require 'async'
         io.write(before, ' ', ignored())
      ]]
      local p = io.popen("env --default-signal=PIPE luajit -e \"" .. probe:gsub('\n', ' ') .. "\"")
      local out = p:read('*a')
      p:close()
      assert.are.equal('0 1', out)
   end)

   it("loads penlight as the original did, when it is installed, and changes nothing when it is not", function()
      local function child(code)
         local path = os.tmpname()
         local f = assert(io.open(path, 'w'))
         f:write(code)
         f:close()
         local out = io.popen('luajit ' .. path .. ' 2>&1'):read('*a')
         os.remove(path)
         return out
      end
      -- A stand-in for penlight, found by require as the real one is.
      assert.are.equal('loaded once\ttrue\n', child([[
         local loads = 0
         package.preload.pl = function() loads = loads + 1; List = 'lazy global' end
         require 'async'
         require 'async.fiber'
         print(loads == 1 and 'loaded once', List == 'lazy global')
      ]]))
      -- Without penlight: no error, no global.
      assert.are.equal('true\tnil\tnil\n', child([[
         package.path = ''
         print(pcall(require, 'async'), package.loaded.pl, List)
      ]]):gsub('table: 0x%x+\t', ''))
      -- The real penlight, where it is installed (busted needs it).
      if pcall(require, 'pl.utils') then
         assert.are.equal('table\ttable\n', child([[
            require 'async'
            print(type(List), type(tablex))
         ]]))
      end
   end)

   it('opens again after package.loaded is cleared, with the same loop', function()
      local fired = false
      async.setTimeout(1, function() fired = true end)
      package.loaded.async = nil
      local again = require 'async'
      assert.are.equal(async, again)
      again.go()
      assert.is_true(fired)
   end)

   it('can be required from inside a coroutine and used from the main thread', function()
      package.loaded.async = nil
      local inner
      local co = coroutine.create(function() inner = require 'async' end)
      assert.is_true(coroutine.resume(co))
      co = nil
      collectgarbage('collect')
      local fired = 0
      inner.setTimeout(1, function() fired = fired + 1 end)
      inner.go()
      assert.are.equal(1, fired)
   end)

   it('names the kind of a handle in tostring and keeps user fields', function()
      local t = async.setTimeout(1000, function() end)
      assert.matches('^timer: 0x%x+$', tostring(t))
      t.send = function() return 'mine' end
      t.n = 42
      assert.are.equal('mine', t.send())
      assert.are.equal(42, t.n)
      t.clear()
   end)

   it('raises plain-string errors that name the function and the argument', function()
      local ok, err = pcall(async.setTimeout, 10)
      assert.is_false(ok)
      assert.are.equal('string', type(err))
      assert.matches("bad argument #2 to 'setTimeout' %(function expected, got no value%)", err)
      ok, err = pcall(async.setInterval, {}, print)
      assert.matches("bad argument #1 to 'setInterval' %(number expected, got table%)", err)
      ok, err = pcall(async.go, 5)
      assert.matches("bad argument #1 to 'go' %(function expected, got number%)", err)
      ok, err = pcall(async.run)
      assert.matches("bad argument #1 to 'run'", err)
   end)

   it('positions an argument error at the caller', function()
      local ok, err = pcall(function() async.setTimeout('soon', print) end)
      assert.matches('module_spec.lua:%d+: bad argument #1', err)
   end)
end)
