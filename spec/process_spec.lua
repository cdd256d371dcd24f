local async = require 'async'
local lfs = require 'lfs'
local support = require 'spec.support'
local process = async.process

local run = support.run

local function own_pid()
   local f = assert(io.open('/proc/self/stat'))
   local pid = f:read('*l'):match('^(%d+)')
   f:close()
   return pid
end

-- Our children that still exist (a reaped child is gone; a zombie is not).
local function children()
   local pid = own_pid()
   local f = assert(io.open('/proc/' .. pid .. '/task/' .. pid .. '/children'))
   local list = f:read('*a')
   f:close()
   local found = {}
   for child in list:gmatch('%d+') do found[#found + 1] = child end
   return found
end

local function open_fds()
   local n = 0
   for entry in lfs.dir('/proc/self/fd') do
      if entry:match('^%d+$') then n = n + 1 end
   end
   return n
end

describe('process', function()
   it('execs ls and collects its output', function()
      local out, status, signal
      run(10, function(done)
         process.exec('ls', {'spec'}, function(...)
            out, status, signal = ...
            done()
         end)
      end)
      assert.truthy(out:find('process_spec.lua', 1, true))
      assert.are.equal(0, status)
      assert.are.equal(0, signal)
   end)

   it("reports the exit code of sh -c 'exit 3'", function()
      local result
      run(10, function(done)
         process.exec('sh', {'-c', 'exit 3'}, function(...)
            result = {...}
            done()
         end)
      end)
      assert.are.same({'', 3, 0}, result)
   end)

   it('reports a child killed by a signal as status 0 and the signal', function()
      local result
      run(10, function(done)
         process.exec('sh', {'-c', 'echo before; kill -9 $$'}, function(...)
            result = {...}
            done()
         end)
      end)
      assert.are.same({'before\n', 0, 9}, result)
   end)

   it('reports a program that cannot be started', function()
      local result, called
      run(10, function(done)
         local proc, err = process.spawn('no-such-program-here', {}, function() called = true end)
         assert.is_nil(proc)
         assert.truthy(err:find('ENOENT', 1, true))
         process.exec('no-such-program-here', {'x'}, function(...)
            result = {n = select('#', ...), ...}
            done()
         end)
      end)
      assert.is_nil(called)
      assert.is_nil(result[1])
      assert.truthy(result[2]:find('^ENOENT'))
      assert.truthy(result[2]:find('no-such-program-here', 1, true))
   end)

   it('spawns cat, feeds it 10 MiB on stdin and reads it all back', function()
      local size = 10 * 1024 * 1024
      local sent = string.rep('0123456789abcdef', size / 16)
      local got, exited, closed = {}, nil, nil
      run(30, function(done)
         process.spawn('cat', {}, function(proc)
            assert.is_number(proc.pid)
            proc.stdout.ondata(function(chunk) got[#got + 1] = chunk end)
            proc.onexit(function(status, signal) exited = {status, signal} end)
            proc.onclose(function(status, signal)
               closed = {status, signal}
               done()
            end)
            proc.stdin.write(sent)
            proc.stdin.close()
         end)
      end)
      assert.are.same({0, 0}, exited)
      assert.are.same({0, 0}, closed)
      local all = table.concat(got)
      assert.are.equal(#sent, #all)
      assert.is_true(all == sent)
   end)

   it('kills a sleeping child by name, by number, and with the default', function()
      local reports = {}
      run(10, function(done)
         local pending = 3
         for i, signal in ipairs({'SIGKILL', 2, false}) do
            local proc = process.spawn('sleep', {'30'})
            proc.onclose(function(status, sig)
               reports[i] = {status, sig}
               assert.is_nil(proc.kill())
               pending = pending - 1
               if pending == 0 then done() end
            end)
            assert.is_true(proc.kill(signal or nil))
         end
      end)
      assert.are.same({{0, 9}, {0, 2}, {0, 15}}, reports)
   end)

   it('rejects an unknown signal name and a number that is not a signal', function()
      run(10, function(done)
         local proc = process.spawn('sleep', {'30'})
         assert.has_error(function() proc.kill('SIGNOPE') end, "kill: unknown signal 'SIGNOPE'")
         for _, bad in ipairs({1.5, 0/0, -1, 65, 1/0}) do
            assert.has_error(function() proc.kill(bad) end,
               "bad argument #1 to 'kill' (signal name or number (0 to 64) expected, got number)")
         end
         assert.is_true(proc.kill(0)) -- only asks whether it is there
         proc.onclose(done)
         proc.kill('kill')
      end)
   end)

   it('exec waits for the end of stdout, not only for the exit', function()
      local out, order = nil, {}
      run(10, function(done)
         -- sh exits at once; a background child writes later to the same pipe.
         local proc = process.exec('sh', {'-c', '(sleep 0.3; echo late) & echo early'}, function(o)
            out = o
            order[#order + 1] = 'exec'
            done()
         end)
         proc.onexit(function() order[#order + 1] = 'exit' end)
      end)
      assert.are.equal('early\nlate\n', out)
      assert.are.same({'exit', 'exec'}, order)
   end)

   it('passes cwd= and env=, and looks the program up in PATH', function()
      local dir, env
      run(10, function(done)
         process.exec('pwd', {cwd = '/tmp'}, function(o)
            dir = o
            process.exec('sh', {'-c', 'echo "$GREETING:$N"', env = {GREETING = 'hi', N = 7}}, function(e)
               env = e
               done()
            end)
         end)
      end)
      assert.are.equal('/tmp\n', dir)
      local proc, err = process.spawn('pwd', {cwd = '/no/such/dir'})
      assert.is_nil(proc)
      assert.are.equal('ENOENT: no such file or directory "cwd /no/such/dir"', err)
      assert.are.equal('hi:7\n', env)
   end)

   it('looks programs up in the PATH of env=, and runs a path as it is', function()
      local dir = os.tmpname()
      os.remove(dir)
      assert(lfs.mkdir(dir))
      local function script(name, mode)
         local f = assert(io.open(dir .. '/' .. name, 'w'))
         f:write('#!/bin/sh\necho "' .. name .. ' $1"\n')
         f:close()
         os.execute('chmod ' .. mode .. ' ' .. dir .. '/' .. name)
      end
      script('greet', '755')
      script('locked', '644')
      local results = {}
      run(10, function(done)
         local path = dir .. ':/usr/bin:/bin'
         process.exec('greet', {'you', env = {PATH = path}}, function(...)
            results.found = {...}
            process.exec(dir .. '/greet', {'there'}, function(...)
               results.direct = {...}
               process.exec('locked', {env = {PATH = path}}, function(...)
                  results.locked = {...}
                  process.exec('', {}, function(...)
                     results.empty = {...}
                     done()
                  end)
               end)
            end)
         end)
      end)
      os.remove(dir .. '/greet'); os.remove(dir .. '/locked'); lfs.rmdir(dir)
      assert.are.same({'greet you\n', 0, 0}, results.found)
      assert.are.same({'greet there\n', 0, 0}, results.direct)
      assert.is_nil(results.locked[1])
      assert.truthy(results.locked[2]:find('^EACCES'))
      assert.is_nil(results.empty[1])
      assert.truthy(results.empty[2]:find('^ENOENT'))
   end)

   it('closes the pipes of a child whose output nobody reads', function()
      local closed
      run(10, function(done)
         process.spawn('sh', {'-c', 'echo out; echo err >&2; cat'}, function(proc)
            proc.onclose(function(status) closed = status; done() end)
            proc.stdin.write('ignored\n')
            proc.stdin.close()
         end)
      end)
      assert.are.equal(0, closed)
   end)

   it('reads a child with fiber reads', function()
      local lines = {}
      run(10, function(done)
         async.fiber(function()
            local proc = process.spawn('printf', {'a\\nb\\n'})
            proc.stdout.sync()
            while true do
               local line = proc.stdout.readline()
               if not line then break end
               lines[#lines + 1] = line
            end
            proc.onclose(done)
         end)
      end)
      assert.are.same({'a', 'b'}, lines)
   end)

   it('runs sync.exec in a fiber', function()
      local out, status
      run(10, function(done)
         async.fiber(function()
            out, status = async.fiber.sync.exec('echo', {'from a fiber'})
            done()
         end)
      end)
      assert.are.equal('from a fiber\n', out)
      assert.are.equal(0, status)
   end)

   it('dispatches Lua source with ${vars} to a new LuaJIT process', function()
      local out, status
      run(10, function(done)
         local proc = process.dispatch('io.write(("${word}"):upper(), ${n} * 2, " ${missing}") os.exit(${code})',
            {word = 'hello', n = 21, code = 4},
            function(proc)
               local got = {}
               proc.stdout.ondata(function(chunk) got[#got + 1] = chunk end)
               proc.onclose(function(s)
                  out, status = table.concat(got), s
                  done()
               end)
            end)
         assert.is_table(proc)
      end)
      assert.are.equal('HELLO42 ${missing}', out)
      assert.are.equal(4, status)
   end)

   it('completes 2,000 execs through fiber.wait, leaving no zombie and no fd', function()
      local fds = open_fds()
      local results
      run(120, function(done)
         async.fiber(function()
            local funcs, args = {}, {}
            for i = 1, 2000 do funcs[i], args[i] = process.exec, {'true'} end
            results = async.fiber.wait(funcs, args, 64)
            done()
         end)
      end)
      assert.are.equal(2000, #results)
      for i = 1, 2000 do assert.are.same({'', 0, 0}, results[i]) end
      assert.are.same({}, children())
      assert.are.equal(fds, open_fds())
   end)

   it('keeps memory flat over 10,000 spawn/exit cycles #novalgrind', function()
      local total, in_flight = 10000, 32
      local started, finished = 0, 0
      local kib, rss
      run(300, function(done)
         local function next_one()
            if started == total then return end
            started = started + 1
            process.spawn('true', {}, function(proc)
               proc.onclose(function()
                  finished = finished + 1
                  if finished == 1000 then kib, rss = support.heap_kib(), support.rss_kib() end
                  if finished == total then done() else next_one() end
               end)
            end)
         end
         for _ = 1, in_flight do next_one() end
      end)
      assert.are.equal(total, finished)
      local kib_growth, rss_growth = support.heap_kib() - kib, support.rss_kib() - rss
      assert.is_true(kib_growth < 512, 'Lua heap grew by ' .. kib_growth .. ' KiB')
      assert.is_true(rss_growth < 4096, 'RSS grew by ' .. rss_growth .. ' KiB')
      assert.are.same({}, children())
   end)
end)
