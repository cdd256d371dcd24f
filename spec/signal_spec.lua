-- async.signal: the callback gets the signal's name and number, a
-- handler alone does not keep the loop running (unless ref()), close()
-- gives the signal its default action back, and a server shuts down
-- gracefully on SIGTERM. What must kill or end a process runs in a child
-- luajit (started through async.process with this process's
-- environment, so it loads the same module); the rest runs here, where
-- the signals are sent to this process while a handler is in place.
local async = require 'async'
local support = require 'spec.support'
local run = support.run
local ffi = require 'ffi'

pcall(ffi.cdef, 'int kill(int pid, int sig); int getpid(void);')

local function raise_here(number)
   assert(ffi.C.kill(ffi.C.getpid(), number) == 0)
end

-- Starts `source` in a child luajit and calls `steps[line](proc, line)`
-- for each line it prints that has a step; `done(output, status,
-- signal)` once it has exited and its output ended.
local function child(source, steps, done)
   local output = {}
   local proc = assert(async.process.spawn('luajit', {'-e', source}, function(proc)
      proc.stdout.onsplitdata('\n', function(line)
         output[#output + 1] = line
         local step = steps[line]
         if step then step(proc, line) end
      end)
      proc.stderr.ondata(function(data) output[#output + 1] = data end)
   end))
   proc.onclose(function(status, signal) done(table.concat(output, '\n'), status, signal) end)
   return proc
end

-- The child's prelude: `say(text)` prints a line at once (stdout is a
-- pipe, which C buffers).
local PRELUDE = [[
local async = require 'async'
local function say(text) io.stdout:write(text, '\n'); io.stdout:flush() end
]]

describe('async.signal', function()
   it('is reachable as a submodule too', function()
      assert.are.equal(async.signal, require 'async.signal')
   end)

   it('calls back with the name and number of each signal that arrives', function()
      local got = {}
      run(5, function(done)
         local usr1, usr2
         usr1 = async.signal('SIGUSR1', function(name, number)
            got[#got + 1] = name .. '=' .. number
            if #got == 1 then raise_here(12) end
         end)
         usr2 = async.signal(12, function(name, number)
            got[#got + 1] = name .. '=' .. number
            usr1.close()
            usr2.close(done)
         end)
         usr1.ref()
         assert.are.equal(2, async.handles().signal)
         raise_here(10)
      end)
      assert.are.same({'SIGUSR1=10', 'SIGUSR2=12'}, got)
      assert.is_nil(async.handles().signal)
   end)

   it('takes names in any case, with or without SIG, and numbers', function()
      for _, name in ipairs({'sighup', 'HUP', 'SigWinch', 'INT', 'TERM', 'USR2', 1, 34}) do
         local h = async.signal(name, function() end)
         assert.are.equal('signal', tostring(h):match('^(%w+):'))
         h.close()
      end
      async.go()
      assert.is_nil(async.handles().signal)
   end)

   it('does not keep the loop running unless ref() is called', function()
      local h = async.signal('SIGUSR2', function() end)
      assert.is_false(h.hasRef())
      local started = async.hrtime()
      async.go() -- returns at once: nothing keeps the loop
      assert.is_true(async.hrtime() - started < 1000)
      h.ref()
      assert.is_true(h.hasRef())
      assert.is_true(async.loop.alive())
      h.unref()
      assert.is_false(h.hasRef())
      assert.is_false(async.loop.alive())
      h.close()
      assert.is_false(h.hasRef()) -- closed: harmless
      h.ref()
      h.unref()
      async.go()
      h.close() -- twice: harmless
      assert.is_nil(async.handles().signal)
   end)

   it('raises a failing callback from go(), then carries on', function()
      local calls = 0
      local h = async.signal('SIGUSR1', function()
         calls = calls + 1
         error('signal handler failed')
      end)
      h.ref()
      raise_here(10)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('signal handler failed', err)
      assert.are.equal(1, calls)
      h.close()
      async.go()
      assert.is_nil(async.handles().signal)
   end)

   it('never calls back a closed handle', function()
      local calls = 0
      local other = async.signal('SIGUSR1', function() end) -- keeps SIGUSR1 caught
      local h = async.signal('SIGUSR1', function() calls = calls + 1 end)
      h.ref()
      raise_here(10)
      h.close()
      async.setTimeout(20, function() other.close() end)
      async.go()
      assert.are.equal(0, calls)
   end)

   it('rejects bad arguments with the function and argument named', function()
      local function message(...)
         local args = {...}
         return support.error_of('signal_spec.lua', function() async.signal(unpack(args, 1, 2)) end)
      end
      assert.are.equal("signal: unknown signal 'SIGNOPE'", message('SIGNOPE', print))
      assert.are.equal("bad argument #1 to 'signal' (signal name or number (1 to 64) expected, got number)",
         message(0, print))
      assert.are.equal("bad argument #1 to 'signal' (signal name or number (1 to 64) expected, got number)",
         message(65, print))
      assert.are.equal("bad argument #1 to 'signal' (signal name or number (1 to 64) expected, got number)",
         message(2.5, print))
      assert.are.equal("bad argument #1 to 'signal' (signal name or number expected, got table)", message({}, print))
      assert.are.equal("bad argument #2 to 'signal' (function expected, got nil)", message('INT', nil))
      assert.are.equal('signal: EINVAL: invalid argument (SIGKILL)', message('KILL', print))
      assert.are.equal('signal: EINVAL: invalid argument (SIGSTOP)', message(19, print))
      async.go()
      assert.is_nil(async.handles().signal)
      -- A table dressed as a signal handle has no signal behind it.
      local h = async.signal('INT', print)
      local fake = setmetatable({}, getmetatable(h))
      assert.is_false(fake.hasRef())
      fake.ref()
      fake.close()
      h.close()
      async.go()
      assert.is_nil(async.handles().signal)
   end)

   it('leaves SIGPIPE ignored when its handle closes', function()
      local h = async.signal('SIGPIPE', function() end)
      h.close()
      async.go()
      -- Default SIGPIPE would kill this process here.
      raise_here(13)
      async.go()
   end)

   describe('in a child program', function()
      it('ends a program that has only a signal handler', function()
         run(30, function(done)
            child(PRELUDE .. [[
               async.signal('SIGINT', function() say('caught') end)
               async.go()
               say('ended')
            ]], {}, function(output, status, signal)
               done()
               assert.are.equal('ended', output)
               assert.are.equal(0, status)
               assert.are.equal(0, signal)
            end)
         end)
      end)

      it('restores the default action on close: the second signal kills', function()
         run(30, function(done)
            child(PRELUDE .. [[
               local keep = async.setInterval(1000, function() end)
               local h
               h = async.signal('SIGUSR1', function(name)
                  say('caught ' .. name)
                  h.close(function() say('closed') end)
               end)
               say('ready')
               async.go()
               say('not reached')
            ]], {
               ready = function(proc) assert(proc.kill('SIGUSR1')) end,
               closed = function(proc) assert(proc.kill('SIGUSR1')) end,
            }, function(output, status, signal)
               done()
               assert.are.equal('ready\ncaught SIGUSR1\nclosed', output)
               assert.are.equal(10, signal)
            end)
         end)
      end)

      it('shuts an HTTP server down gracefully on SIGTERM', function()
         run(30, function(done)
            local body = ('x'):rep(100000)
            local port, response, refused
            child(PRELUDE .. [[
               local pending
               local server
               server = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res)
                  pending = res
                  say('in flight')
               end)
               local term, finish
               term = async.signal('SIGTERM', function()
                  server.close(function() say('server closed') end)
                  term.close()
                  say('closing')
               end)
               finish = async.signal('SIGUSR2', function()
                  pending(('x'):rep(100000), {['Content-Type'] = 'text/plain'})
                  finish.close()
               end)
               say('port ' .. server.sockname.port)
               async.go()
               say('exiting')
            ]], setmetatable({
               ['in flight'] = function(proc) assert(proc.kill('SIGTERM')) end,
               closing = function(proc)
                  async.tcp.connect({host = '127.0.0.1', port = port}, function(client)
                     client.close()
                     refused = 'connected'
                     proc.kill('SIGUSR2')
                  end).onerr(function(err)
                     refused = err
                     proc.kill('SIGUSR2')
                  end)
               end,
            }, {__index = function(_, line)
               local p = line:match('^port (%d+)$')
               if not p then return nil end
               return function()
                  port = tonumber(p)
                  local received = {}
                  async.tcp.connect({host = '127.0.0.1', port = port}, function(client)
                     client.ondata(function(data) received[#received + 1] = data end)
                     client.onend(function() response = table.concat(received) end)
                     client.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n')
                  end)
               end
            end}), function(output, status, signal)
               done()
               assert.matches('^port %d+\nin flight\nclosing\n', output)
               assert.matches('server closed\nexiting$', output)
               assert.are.equal(0, status)
               assert.are.equal(0, signal)
               assert.matches('^ECONNREFUSED', refused)
               assert.matches('^HTTP/1.1 200 OK\r\n', response)
               assert.matches('\r\nContent%-Length: 100000\r\n', response)
               assert.are.equal(body, response:match('\r\n\r\n(.*)$'))
            end)
         end)
      end)
   end)
end)
