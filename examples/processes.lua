-- Processes: exec a program and get its output, talk to a child through
-- its pipes, kill one, run Lua code in a new LuaJIT, and do the same
-- from a fiber. Ends by itself.
local async = require 'async'
local process = async.process

-- exec: the output once the child has exited and its stdout has ended.
process.exec('uname', {'-s'}, function(out, status, signal)
   print(('uname -s -> %s, status %d, signal %d'):format(out:gsub('\n$', ''), status, signal))
end)

-- A program that cannot start: exec gives nil and the error.
process.exec('no-such-program', {}, function(out, err) print('missing program ->', out, err) end)

-- spawn: stdin, stdout and stderr are streams.
process.spawn('tr', {'a-z', 'A-Z'}, function(proc)
   proc.stdout.ondata(function(chunk) io.write('tr says: ', chunk) end)
   proc.onclose(function(status) print('tr done, status ' .. status) end)
   proc.stdin.write('hello from a pipe\n')
   proc.stdin.close()
end)

-- kill: the exit reports the signal.
local sleeper = process.spawn('sleep', {'60'})
sleeper.onexit(function(status, signal) print(('sleep killed: status %d, signal %d'):format(status, signal)) end)
sleeper.kill('SIGTERM')

-- dispatch: Lua source, with ${name} filled in, run by a new LuaJIT.
process.dispatch('print(("${who}"):rep(${n}, " "))', {who = 'echo', n = 3}, function(proc)
   proc.stdout.ondata(function(chunk) io.write('dispatched LuaJIT says: ', chunk) end)
end)

-- In a fiber, sync.exec waits without a callback; cwd= and env= are named.
async.fiber(function()
   local out = async.fiber.sync.exec('sh', {'-c', 'echo "$GREETING from $(pwd)"', cwd = '/', env = {GREETING = 'hi'}})
   io.write('fiber got: ', out)
end)

async.go()
