-- Programs in the style of the original library's own test scripts
-- (tests/test-*.lua: fibers, file I/O, a synchronous TCP client, a TCP
-- server with a REPL, a process read from a fiber, JSON and HTTP servers,
-- DNS, buffers), written for this suite: no torch, no internet, ports
-- picked by the OS, files in a temporary folder. Each runs in a child
-- luajit, as a user runs a script, and its output is checked.

local function write_file(path, text)
   local f = assert(io.open(path, 'wb'))
   f:write(text)
   f:close()
end

local support = require 'spec.support'

-- Runs `program` (source) in a temporary folder, its stdin fed by
-- `steps` (see support.converse); returns everything it printed followed
-- by its exit status.
local function run(program, steps)
   local dir = os.tmpname()
   os.remove(dir)
   assert(os.execute('mkdir ' .. dir) == 0)
   write_file(dir .. '/program.lua', program)
   local out = support.converse('timeout 60 luajit program.lua', steps or {}, dir)
   os.execute('rm -rf ' .. dir)
   return out
end

describe('programs written for the original', function()
   -- Not under valgrind: there glibc's posix_spawn (a vfork) runs as a
   -- fork whose child flushes a copy of the parent's stdout buffer, so the
   -- lines printed before the exec show twice. Outside valgrind the child
   -- execs at once and nothing is duplicated, which this test checks.
   it('fibers: wait on one function, on several, and on exec with its default callback #novalgrind', function()
      local out = run([[
         local async = require 'async'
         local setTimeout = require 'async'.setTimeout
         local fiber = require 'async.fiber'
         local wait = require 'async.fiber'.wait
         local exec = require 'async.process'.exec
         fiber(function()
            local result, aux = wait(setTimeout, {20}, function(timer)
               return 'something produced asynchronously', 'test'
            end)
            print(result, aux)
            local results = wait({setTimeout, setTimeout}, {{10}, {20}}, function(timer)
               return 'some result', timer
            end)
            print(#results, results[1][1], results[2][1])
            local res = wait(exec, {'echo', {'from', 'a', 'child'}})
            io.write(res)
         end)
         async.go()
      ]])
      assert.are.equal('something produced asynchronously\ttest\n2\tsome result\tsome result\nfrom a child\nexit=0\n', out)
   end)

   it('file I/O: readFile, writeFile a copy, stat', function()
      local out = run([[
         local async = require 'async'
         async.fs.readFile('program.lua', function(file)
            print(#file > 0, file:match('readFile') ~= nil)
            async.fs.writeFile('program.lua.backup', file, function(err)
               print('wrote', err)
               async.fs.readFile('program.lua.backup', function(copy) print('same', copy == file) end)
            end)
         end)
         async.fs.stat('program.lua', function(stats)
            print('stat', type(stats), stats.size > 0)
         end)
         async.go()
      ]])
      assert.matches('true\ttrue\n', out)
      assert.matches('wrote\tnil\n', out)
      assert.matches('same\ttrue\n', out)
      assert.matches('stat\ttable\ttrue\n', out)
      assert.matches('exit=0\n$', out)
   end)

   it('a synchronous TCP client: read, a large write read back, readsplit', function()
      local out = run([[
         local async = require 'async'
         local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function(data) client.write(data) end)
         end)
         local test = ''
         for i = 1, 10000 do test = test .. 'something\n' end
         async.tcp.connect('tcp://127.0.0.1:' .. server.sockname.port .. '/', function(client)
            async.fiber(function()
               client.write('test')
               print('received, sync: ', client.read())
               client.write(test, function() print('wrote ' .. #test .. ' bytes') end)
               local read = ''
               while #read < #test do read = read .. client.read() end
               print('read==wrote:', read == test)
               client.write('line1\nline2\nsomething long\n')
               for i = 1, 3 do print('read one line: ' .. client.readsplit('\n')) end
               client.close()
               server.close()
            end)
         end)
         async.go()
      ]])
      assert.are.equal(table.concat({
         'received, sync: \ttest', 'wrote 100000 bytes', 'read==wrote:\ttrue',
         'read one line: line1', 'read one line: line2', 'read one line: something long', 'exit=0', '',
      }, '\n'), out)
   end)

   it('a TCP server with a REPL: lines typed at the prompt talk to it', function()
      local out = run([[
         async = require 'async' -- globals: the REPL's lines use them
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function(data) client.write('echo:' .. data) end)
            client.onend(function() print('client ended') end)
            client.onclose(function() print('closed.') end)
         end)
         async.repl()
         async.go()
      ]], {
         {send = [[async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c) c.ondata(function(d) print(d) c.close() end) c.write('hi') end)
]]},
         -- The end of the input ends the program: keep it open until the
         -- server has seen its client go.
         {wait = 'closed%.\n'},
      })
      assert.matches('^> tcp: 0x%x+\n> echo:hi\n', out)
      assert.matches('closed%.\n', out)
      assert.matches('exit=0\n$', out)
   end)

   it('a process read line by line from a fiber', function()
      local out = run([[
         local async = require 'async'
         async.process.spawn('luajit', {'-e', 'local a = io.read("*line") print(a) io.flush() for i = 1, 3 do print(i * 10) io.flush() end'}, function(process)
            async.fiber(function()
               process.stdin.write('go\n')
               while true do
                  local line = process.stdout.readsplit('\n')
                  if not line then break end
                  io.write('child: ' .. line .. '\n')
               end
               print('done')
            end)
         end)
         async.go()
      ]])
      assert.are.equal('child: go\nchild: 10\nchild: 20\nchild: 30\ndone\nexit=0\n', out)
   end)

   it('a JSON server and client', function()
      local out = run([[
         local async = require 'async'
         local server = async.json.listen({host = '127.0.0.1', port = 0}, function(req, res)
            res({msg = 'my answer:', attached = req.question})
         end)
         async.json.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.receive(function(res)
               print(res.msg, res.attached)
               client.close()
               server.close()
            end)
            client.send({question = 'pretty good?'})
         end)
         async.go()
      ]])
      assert.are.equal('my answer:\tpretty good?\nexit=0\n', out)
   end)

   it('an HTTP server on a URL domain, with routes', function()
      local out = run([[
         local async = require 'async'
         local server = async.http.listen('http://127.0.0.1:0/', function(req, res)
            if req.url.path == '/test' then
               res('<p>You requested route /test</p>', {['Content-Type'] = 'text/html'})
            else
               res('<h1>From my server</h1>', {['Content-Type'] = 'text/html'})
            end
         end)
         local base = 'http://127.0.0.1:' .. server.sockname.port
         async.http.get(base .. '/test', function(res)
            print(res.status, res.headers['content-type'], res.body)
            async.http.get(base .. '/', function(res)
               print(res.status, res.body)
               server.close()
               async.http.closeIdleConnections()
            end)
         end)
         async.go()
      ]])
      assert.are.equal('200\ttext/html\t<p>You requested route /test</p>\n200\t<h1>From my server</h1>\nexit=0\n', out)
   end)
end)
