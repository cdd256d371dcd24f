local async = require 'async'
local support = require 'spec.support'

-- Runs `code` with `args` on the pool and returns what the callback got.
local function work(code, args)
   local calls, result, err = 0, nil, nil
   async.work(code, args, function(r, e) calls = calls + 1; result, err = r, e end)
   async.go()
   assert.are.equal(1, calls)
   return result, err
end

-- The threads of libuv's pool, hence the most jobs that run at once.
local POOL_THREADS = tonumber(os.getenv('UV_THREADPOOL_SIZE')) or 4

local function temporary_folder()
   local dir = os.tmpname()
   os.remove(dir)
   assert(os.execute('mkdir -p ' .. dir) == 0)
   return dir
end

describe('async.work', function()
   it('runs the code with the arguments as ... and gives its first result to the callback', function()
      local result, err = work('local a, b = ... return a * b, "ignored"', {6, 7})
      assert.are.equal(42, result)
      assert.is_nil(err)
      assert.are.same({nil, nil}, {work('local x = ...')})
      -- Without arguments, the callback may come second.
      local got
      async.work('return select("#", ...)', function(r) got = r end)
      async.go()
      assert.are.equal(0, got)
      -- As with any Lua function, extra arguments are ignored.
      async.work('return 5', function(r) got = r end, 'extra')
      async.go()
      assert.are.equal(5, got)
   end)

   it('copies arguments and results of every kind, both ways', function()
      local binary = '\0\1\255 bytes\r\n' .. string.rep('\200', 100)
      local given = {
         n = 7,
         true, false, -1.5, 2^53, binary,
         {1, 2, {3, {4}}, name = 'x', [1.5] = 'half', [true] = 'yes', [false] = {}, nested = {deep = {er = {'!'}}}},
         -- a hole at 7 that `n` keeps
      }
      local result, err = work('return {n = select("#", ...), ...}', given)
      assert.is_nil(err)
      assert.are.same({n = 7, true, false, -1.5, 2^53, binary, given[6]}, result)
      assert.are_not.equal(given[6], result[6])
      assert.are.equal(binary, result[5])
      -- Numbers keep their exact value, infinities included.
      local numbers = {0.1, -0, 1e308, 1 / 0, -1 / 0, 2^-1074}
      assert.are.same(numbers, (work('return {...}', numbers)))
      local nan = work('local x = ... return x', {0 / 0})
      assert.are_not.equal(nan, nan)
      -- json.null stays json.null; a table met twice is copied twice.
      local shared = {1}
      result = work('local a, b, null = ... a[2] = 2 return {a, b, null, b[2]}', {shared, shared, async.json.null})
      assert.are.same({{1, 2}, {1}, async.json.null}, result)
      assert.are.equal(async.json.null, result[3])
      assert.are.same({1}, shared)
   end)

   it('copies large strings whole', function()
      local big = string.rep('0123456789abcdef\0', 256 * 1024) -- 4.25 MiB
      local result, err = work('local s = ... return s:reverse()', {big})
      assert.is_nil(err)
      assert.are.equal(#big, #result)
      assert.is_true(result == big:reverse())
   end)

   it('gives syntax errors, runtime errors and results that cannot be copied to the callback', function()
      assert.are.same({nil, 'work:1: unexpected symbol near \'<eof>\''}, {work('return (')})
      assert.are.same({nil, 'work:2: boom'}, {work('local x = 1\nerror("boom")')})
      assert.are.same({nil, 'no position'}, {work('error("no position", 0)')})
      assert.are.same({nil, '(error object is a table value)'}, {work('error({code = 1})')})
      assert.are.same({nil, 'work:1: attempt to call global \'nope\' (a nil value)'}, {work('return nope()')})
      assert.are.same({nil, 'work: cannot copy a function value at result'}, {work('return print')})
      assert.are.same({nil, 'work: cannot copy a userdata value at result.list[2]'}, {work('return {list = {1, io.stdout}}')})
      assert.are.same({nil, 'work: cannot copy a thread value at result[true]'}, {work('return {[true] = coroutine.create(print)}')})
      assert.are.same({nil, 'work: cannot copy a table that contains itself at result.a.b'},
         {work('local t = {a = {}} t.a.b = t return t')})
      assert.are.same({nil, 'work: cannot copy a table key (keys must be strings, numbers or booleans) at result'},
         {work('return {[{}] = 1}')})
      local _, err = work('local t = {} for i = 1, 1000 do t = {t} end return t')
      assert.are.equal('work: cannot copy tables nested deeper than 1000 (in result)', err)
      -- 1000 levels are fine.
      local deep = work('local t = {} for i = 1, 999 do t = {t} end return t')
      for _ = 1, 999 do deep = deep[1] end
      assert.are.same({}, deep)
   end)

   it('refuses bad arguments at the call, naming the function and argument', function()
      local cb = function() error('must not be called') end
      local function refused(...)
         local args = {n = select('#', ...), ...}
         return support.error_of('work_spec.lua', function() async.work(unpack(args, 1, args.n)) end)
      end
      assert.are.equal("bad argument #1 to 'work' (string expected, got nil)", refused(nil, {}, cb))
      assert.are.equal("bad argument #1 to 'work' (string expected, got number)", refused(1, {}, cb))
      assert.are.equal("bad argument #2 to 'work' (table or function expected, got string)", refused('', 'x', cb))
      assert.are.equal("bad argument #2 to 'work' (table or function expected, got no value)", refused(''))
      assert.are.equal("bad argument #3 to 'work' (function expected, got no value)", refused('', {}))
      assert.are.equal("bad argument #3 to 'work' (function expected, got table)", refused('', {}, {}))
      assert.are.equal('work: cannot copy a function value at args[2]', refused('', {1, print}, cb))
      assert.are.equal('work: cannot copy a userdata value at args[1].f["a b"]', refused('', {{f = {['a b'] = io.stderr}}}, cb))
      assert.are.equal('work: cannot copy a cdata value at args[1][3]', refused('', {{1, 2, 3LL}}, cb))
      local cycle = {}
      cycle.list = {cycle}
      assert.are.equal('work: cannot copy a table that contains itself at args[1].list[1]', refused('', {cycle}, cb))
      local many = {n = 7001}
      assert.are.equal('work: too many arguments (7001; at most 7000)', refused('', many, cb))
      -- Nothing was queued by the refused calls.
      async.go()
   end)

   it('runs the callback on the loop under the callback policy: its error is raised by go()', function()
      local second = false
      async.work('return 1', function() error('callback failed') end)
      async.work('return 2', function() second = true end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('callback failed', err)
      async.go()
      assert.is_true(second)
   end)

   -- Not under valgrind, which runs one thread at a time: two spinning
   -- jobs can starve the loop's ticker there for the jobs' whole wait.
   it('runs CPU-bound jobs side by side while the loop goes on #novalgrind', function()
      local dir = temporary_folder()
      -- Each job marks that it started, then waits (busy, without sleeping:
      -- nothing in a worker sleeps) until the other one did: two jobs run
      -- one after the other would never see each other. Then each waits,
      -- busy again, until the loop has ticked three times meanwhile (the
      -- ticker leaves a file): a loop held up by the jobs never would.
      local code = [[
         local dir, me, other = ...
         assert(io.open(dir .. '/' .. me, 'w')):close()
         local function wait_for(name)
            local deadline, spins = os.time() + 10, 0
            while os.time() < deadline do
               local f = io.open(dir .. '/' .. name)
               if f then f:close() return true end
               for i = 1, 1e5 do spins = spins + i % 3 end
            end
            return false
         end
         local saw_other = wait_for(other)
         local saw_ticks = wait_for('ticked')
         -- Then some real computation.
         local sum = 0
         for i = 1, 3e6 do sum = sum + i % 7 end
         return {saw_other = saw_other, saw_ticks = saw_ticks, sum = sum}
      ]]
      local results, ticks = {}, 0
      local ticker = async.setInterval(2, function()
         ticks = ticks + 1
         if ticks == 3 then assert(io.open(dir .. '/ticked', 'w')):close() end
      end)
      for _, pair in ipairs({{'a', 'b'}, {'b', 'a'}}) do
         async.work(code, {dir, pair[1], pair[2]}, function(r, e)
            assert.is_nil(e)
            results[#results + 1] = r
            if #results == 2 then ticker.clear() end
         end)
      end
      async.go()
      os.execute('rm -rf ' .. dir)
      local done = {saw_other = true, saw_ticks = true, sum = 8999997}
      assert.are.same({done, done}, results)
   end)

   it('runs more jobs than the pool has threads, on as many reused states as run at once', function()
      local results, ids, count = {}, {}, 0
      local code = [[
         -- One id per worker state, kept in its globals.
         work_spec_state = work_spec_state or tostring({})
         local i = ...
         local x = 0
         for k = 1, 2000 do x = x + k end
         return {i = i, x = x, state = work_spec_state}
      ]]
      for i = 1, 40 do
         async.work(code, {i}, function(r, e)
            assert.is_nil(e)
            results[r.i] = r.x
            if not ids[r.state] then ids[r.state] = true; count = count + 1 end
         end)
      end
      async.go()
      for i = 1, 40 do assert.are.equal(2001000, results[i]) end
      assert.is_true(count >= 1 and count <= POOL_THREADS, count .. ' states for ' .. POOL_THREADS .. ' threads')
   end)

   it('reuses an idle state: a global one job sets is seen by the next job on that state', function()
      local seen = {}
      local function next_job()
         async.work('work_spec_counter = (work_spec_counter or 0) + 1 return work_spec_counter', function(r)
            seen[#seen + 1] = r
            if #seen < 5 then next_job() end
         end)
      end
      next_job()
      async.go()
      -- One job at a time: each takes the state the last one gave back.
      for i = 2, 5 do assert.are.equal(seen[1] + i - 1, seen[i]) end
   end)

   it('keeps going after a job failed, and other jobs are unaffected', function()
      local outcomes = {}
      for i = 1, 6 do
         local code = i % 2 == 0 and 'local i = ... error("fail " .. i, 0)' or 'local i = ... return i * 10'
         async.work(code, {i}, function(r, e) outcomes[i] = r or e end)
      end
      async.go()
      assert.are.same({10, 'fail 2', 30, 'fail 4', 50, 'fail 6'}, outcomes)
      assert.are.equal(3, work('return 3'))
   end)

   it('lets a job require pure-Lua modules, but not async', function()
      local dir = temporary_folder()
      local f = assert(io.open(dir .. '/work_spec_module.lua', 'w'))
      f:write('return {twice = function(x) return 2 * x end}')
      f:close()
      local result, err = work([[
         local dir, x = ...
         package.path = dir .. '/?.lua;' .. package.path
         return require('work_spec_module').twice(x)
      ]], {dir, 21})
      os.execute('rm -rf ' .. dir)
      assert.are.same({42, nil}, {result, err})
      for _, name in ipairs({'async', 'async.time'}) do
         local _, e = work('return require(...)', {name})
         assert.are.equal("require '" .. name .. "': the async module is not available inside async.work", e)
      end
   end)

   it('refuses os.exit inside a job, which would end the process from a pool thread', function()
      local _, err = work('os.exit(3)')
      assert.are.equal('work:1: os.exit is not available inside async.work (return, and exit from the callback)', err)
      local n = work('return select("#", ...)', {n = 7000})
      assert.are.equal(7000, n)
   end)

   it('keeps queued work through async.stop: its callback runs at the next go()', function()
      local got
      async.setTimeout(0, function() async.stop() end)
      async.work('os.execute("sleep 0.05") return "done"', function(r) got = r end)
      async.go()
      assert.is_nil(got)
      async.go()
      assert.are.equal('done', got)
   end)

   it('has a fiber form that returns the result, or nil and the error', function()
      local a, b, c, d
      async.run(function()
         a, b = async.fiber.sync.work('return (...) + 1', {41})
         c, d = async.fiber.sync.work('error("inside", 0)')
      end)
      assert.are.same({42, nil}, {a, b})
      assert.are.same({nil, 'inside'}, {c, d})
   end)

   it('lets the program end while jobs run: those running finish, those not started are dropped', function()
      local dir = temporary_folder()
      -- Each job writes when it starts and when it ends, to its own file.
      local output = support.child(([[
         local async = require 'async'
         local code = [=[
            local path = ...
            local f = io.open(path, 'w') f:write('started\n') f:close()
            os.execute('sleep 0.3')
            f = io.open(path, 'a') f:write('ended\n') f:close()
         ]=]
         for i = 1, 20 do
            async.work(code, {'DIR/' .. i}, function() print('too late') end)
         end
         async.setTimeout(50, function() error('ending now', 0) end)
         local ok, err = pcall(async.go)
         print(err)
      ]]):gsub('DIR', dir), nil)
      local started, ended = 0, 0
      for i = 1, 20 do
         local f = io.open(dir .. '/' .. i)
         if f then
            local text = f:read('*a')
            f:close()
            started = started + 1
            if text == 'started\nended\n' then ended = ended + 1 end
         end
      end
      os.execute('rm -rf ' .. dir)
      assert.matches('^ending now\n.*exit=0\n$', output)
      assert.is_nil(output:find('too late'))
      assert.is_true(started >= 1 and started < 20, started .. ' jobs started')
      assert.are.equal(started, ended)
   end)
end)
