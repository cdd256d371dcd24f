-- Hostile programs: each case runs in a child luajit (an abort there must
-- not take the test runner down) and must end normally, printing 'ok'.
-- The child runs in a fresh temporary folder. With `stdin_bytes`, its
-- stdin is a file of that many zero bytes and its stdout and stderr a file
-- (as under a service manager), so `async.tty` reaches them through relay
-- threads.
local function child(source, stdin_bytes)
   local dir = os.tmpname()
   os.remove(dir)
   assert(os.execute('mkdir -p ' .. dir) == 0)
   local script = dir .. '/case.lua'
   local f = assert(io.open(script, 'w'))
   f:write(source)
   f:close()
   local run = 'timeout 60 luajit ' .. script .. ' 2>&1'
   if stdin_bytes then
      assert(os.execute('head -c ' .. stdin_bytes .. ' /dev/zero > ' .. dir .. '/in') == 0)
      run = '(timeout 60 luajit ' .. script .. ' < in > out 2>&1; status=$?; cat out; exit $status)'
   end
   local pipe = assert(io.popen('cd ' .. dir .. ' && ' .. run .. '; echo "exit=$?"'))
   local output = pipe:read('*a')
   pipe:close()
   os.execute('rm -rf ' .. dir)
   return output
end

local function assert_ok(source)
   local output = child(source)
   assert.matches('ok\nexit=0\n$', output)
end

describe('soundness', function()
   it('closes or times out connects whose host name is still being looked up (no abort)', function()
      assert_ok [[
         local async = require 'async'
         local failures = 0
         for i = 1, 200 do
            async.http.request({url = 'http://localhost:9/', timeout = 1}, function(res, err)
               if err then failures = failures + 1 end
            end)
         end
         for i = 1, 200 do
            local c = async.tcp.connect('tcp://localhost:9/')
            c.onerr(function() end)
            if i % 2 == 0 then c.close() else c.destroy() end
         end
         async.go()
         assert(failures == 200, failures)
         print('ok')
      ]]
   end)

   it('closes a server whose host name is still being looked up (no abort)', function()
      assert_ok [[
         local async = require 'async'
         for i = 1, 50 do
            local s = async.tcp.listen({host = 'localhost', port = 0}, function() end)
            s.close()
         end
         async.go()
         assert(next(async.handles()) == nil)
         print('ok')
      ]]
   end)

   it('gives Lua no way to forge or reuse what a handle points at', function()
      assert_ok [[
         local async = require 'async'
         -- What the private keys of an object hold that is not a Lua
         -- function or a table: what could lead into Rust (a handle's
         -- number names its state).
         local function private(object)
            local found = {}
            for k, v in pairs(object) do
               if type(k) == 'userdata' and (type(v) == 'userdata' or type(v) == 'number') then found[k] = v end
            end
            return found
         end
         local function put(object, values)
            for k, v in pairs(values) do rawset(object, k, v) end
         end
         local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function() end)
         end)
         local port = server.sockname.port
         local saved
         local c = async.tcp.connect({host = '127.0.0.1', port = port}, function(c)
            saved = private(c)
            assert(next(saved), 'a socket keeps something under a private key')
            c.close()
         end)
         c.onclose(function()
            -- The closed socket's own old values put back.
            put(c, saved)
            assert(c.writeQueueSize() == 0)
            c.pause(); c.resume(); c.sync()
            assert(c.write('x') == false)
            -- A server's values copied onto a socket.
            local d = async.tcp.connect({host = '127.0.0.1', port = port}, function(d)
               local own = private(d)
               put(d, private(server))
               d.sync(); d.pause(); d.writeQueueSize()
               -- Any other userdata under every private key.
               for k in pairs(private(d)) do rawset(d, k, io.stdout) end
               d.sync(); d.writeQueueSize(); d.write('x')
               for k in pairs(saved) do rawset(d, k, io.stdout) end
               d.pause(); d.writeQueueSize(); d.write('y')
               put(d, own)
               d.destroy()
               server.close()
            end)
         end)
         async.go()
         print('ok')
      ]]
   end)

   it('finds no handle by a made-up number, or one kept from a closed handle', function()
      assert_ok [[
         local async = require 'async'
         -- The private key under which an object keeps its number.
         local function number_of(object)
            for k, v in pairs(object) do
               if type(k) == 'userdata' and type(v) == 'number' then return k, v end
            end
            error('no number under a private key')
         end
         local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function() end)
         end)
         local port = server.sockname.port
         local _, server_number = number_of(server)
         local udp = async.udp.bind({host = '127.0.0.1', port = 0})
         local _, udp_number = number_of(udp)
         local old
         local c = async.tcp.connect({host = '127.0.0.1', port = port}, function(c)
            local _, n = number_of(c)
            old = n
            c.close()
         end)
         c.onclose(function()
            async.tcp.connect({host = '127.0.0.1', port = port}, function(d)
               local key, own = number_of(d)
               local made_up = {
                  old, -- the closed socket's (its slot may be reused by now)
                  0, 1, 2, 3, 100, -1, -0.0, 0.5, own + 0.5, 1 / 0, -1 / 0, 0 / 0,
                  2 ^ 26, 2 ^ 52, 2 ^ 53, 2 ^ 60, -own,
                  own + 2 ^ 26, own - 2 ^ 26, -- its slot, another generation
                  server_number, udp_number, -- open handles of other kinds
               }
               for _, n in ipairs(made_up) do
                  rawset(d, key, n)
                  -- As on a closed socket: nothing reaches a state.
                  assert(d.writeQueueSize() == 0)
                  assert(d.write('x') == false, n)
                  d.pause(); d.resume(); d.sync()
                  if n ~= udp_number then
                     rawset(udp, key, n)
                     assert(not pcall(udp.send, 'x', {address = '127.0.0.1', port = port}), n)
                  end
               end
               rawset(udp, key, udp_number)
               assert(udp.send('x', {address = '127.0.0.1', port = 9}) == true)
               rawset(d, key, own)
               d.destroy()
               udp.close()
               server.close()
            end)
         end)
         async.go()
         assert(next(async.handles()) == nil)
         print('ok')
      ]]
   end)

   it("gives Lua no way to forge what an HTTP server's res finds its server by", function()
      -- `res` is a Lua closure over the server's raw res (a C closure whose
      -- second upvalue holds the server): with `debug`, a program can swap
      -- that upvalue for any value, or run its finalizer early and twice.
      assert_ok [[
         local async = require 'async'
         local answers = {}
         local raw_res
         local server = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res)
            local _, raw = debug.getupvalue(res, 2)
            raw_res = raw_res or raw
            assert(type(raw) == 'function', 'the raw res is the closure upvalue')
            local name, holder = debug.getupvalue(raw, 2)
            assert(type(holder) == 'userdata', 'the server holder is a userdata')
            local step = req.url.path
            if step == '/other' then
               debug.setupvalue(raw, 2, io.stdout)
            elseif step == '/number' then
               debug.setupvalue(raw, 2, 42)
            elseif step == '/finalized' then
               local gc = debug.getmetatable(holder).__gc
               gc(holder); gc(holder)
               -- The finalizer given another userdata leaves it alone.
               gc(io.stdout)
               assert(io.type(io.stdout) == 'file' and io.stdout:write(''))
            end
            res('answer to ' .. step, {['Content-Type'] = 'text/plain'})
            debug.setupvalue(raw, 2, holder)
            -- Still refused as before: a second answer.
            local ok, err = pcall(res, 'again', {})
            assert(not ok and err:find('already answered'), tostring(err))
         end)
         local port = server.sockname.port
         local paths = {'/plain', '/other', '/number', '/finalized', '/after'}
         local function ask(i)
            if i > #paths then server.close(); return end
            async.http.get('http://127.0.0.1:' .. port .. paths[i], function(res)
               answers[#answers + 1] = res.body
               ask(i + 1)
            end)
         end
         ask(1)
         async.go()
         assert(#answers == 5, #answers)
         for i, path in ipairs(paths) do
            assert(answers[i] == 'answer to ' .. path, answers[i])
         end
         print('ok')
      ]]
   end)

   it('writes an array of 100,000 pieces, to a socket and as an HTTP body', function()
      assert_ok [[
         local async = require 'async'
         local pieces = {}
         for i = 1, 100000 do pieces[i] = tostring(i % 10) end
         local expected = table.concat(pieces)
         local got = {}
         local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function(d) got[#got + 1] = d end)
            client.onend(function()
               assert(table.concat(got) == expected)
               local web
               web = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res) res(pieces) end)
               async.http.get('http://127.0.0.1:' .. web.sockname.port .. '/', function(r, err)
                  assert(r, err)
                  assert(r.body == expected)
                  web.close()
                  print('ok')
               end)
            end)
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            assert(c.write(pieces) ~= nil)
            c.close(function() server.close() end)
         end)
         async.go()
      ]]
   end)

   it('holds more connections than mlua has slots (HTTP, JSON, client requests in flight) #novalgrind', function()
      -- As many as the descriptor limit lets one process hold both ends of.
      local limit = tonumber(io.popen('sh -c "ulimit -Hn"'):read('*l')) or 1024
      local n = math.min(10000, math.floor((limit - 200) / 2))
      assert.is_true(n >= 9000, 'the descriptor limit (' .. limit .. ') is too low for this test')
      assert_ok(([[
         local async = require 'async'
         local n = %d
         -- Connections are opened 500 at a time (a listen backlog would
         -- otherwise overflow), and every one is held until all are open.
         local function in_batches(start)
            local i = 0
            local function step()
               for _ = 1, 500 do
                  i = i + 1
                  if i > n then return end
                  start(i)
               end
               async.setTimeout(10, step)
            end
            step()
         end
         local owed, answered = {}, 0
         local web = async.http.listen({host = '127.0.0.1', port = 0, backlog = 1024}, function(req, res)
            owed[#owed + 1] = res
            if #owed == n then
               for _, r in ipairs(owed) do r('hi') end
            end
         end)
         local url = 'http://127.0.0.1:' .. web.sockname.port .. '/'
         local json_got, clients = 0, {}
         local function json_phase()
            local js
            js = async.json.listen({host = '127.0.0.1', port = 0, backlog = 1024}, function(msg, reply)
               reply({echo = msg.i})
            end)
            in_batches(function(j)
               async.json.connect({host = '127.0.0.1', port = js.sockname.port}, function(c)
                  clients[#clients + 1] = c
                  c.receive(function(m)
                     assert(m.echo == j)
                     json_got = json_got + 1
                     if json_got == n then
                        for _, cc in ipairs(clients) do cc.close() end
                        js.close()
                     end
                  end)
                  c.send({i = j})
               end)
            end)
         end
         in_batches(function()
            async.http.request({url = url, headers = {Connection = 'close'}}, function(r, err)
               assert(r, err)
               answered = answered + 1
               if answered == n then
                  web.close()
                  json_phase()
               end
            end)
         end)
         async.go()
         assert(answered == n and json_got == n, answered .. ' ' .. json_got)
         print('ok')
      ]]):format(n))
   end)

   it('refuses JSON text and HTTP bodies longer than a Lua string can be, with an error #novalgrind', function()
      assert_ok [[
         local async = require 'async'
         local mib = string.rep('x', 2^20)
         local big = {}
         for i = 1, 2100 do big[i] = mib end -- 2.1 GiB of JSON text
         local ok, err = pcall(async.json.encode, big)
         assert(not ok and err:find('longest string LuaJIT can hold', 1, true), err)
         ok, err = pcall(async.http.listen, {host = '127.0.0.1', port = 0}, function() end, {maxBodySize = 3 * 2^30})
         assert(not ok and err:find('maxBodySize must be at most', 1, true), err)
         print('ok')
      ]]
   end)

   it('runs every close callback and onclose even when one of them fails', function()
      local async = require 'async'
      local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function() end)
      local ran = {}
      server.onclose(function() ran[#ran + 1] = 'onclose' end)
      server.close(function() ran[#ran + 1] = 1; error('first fails') end)
      server.close(function() ran[#ran + 1] = 2 end)
      server.close(function() ran[#ran + 1] = 3; error('third fails') end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('first fails', err)
      assert.same({1}, ran)
      ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('third fails', err)
      assert.same({1, 2, 3}, ran)
      async.go()
      assert.same({1, 2, 3, 'onclose'}, ran)
   end)

   local function drain_errors(async)
      local errors = {}
      for _ = 1, 100 do
         local ok, err = pcall(async.go)
         if ok then break end
         errors[#errors + 1] = err:match('boom (%d+)')
      end
      return errors
   end

   it('stops at the first failing callback; the others run, one per go(), none lost', function()
      local async = require 'async'
      local ran = 0
      for i = 1, 5 do
         async.fs.stat('/', function() ran = ran + 1; error('boom ' .. i) end)
      end
      local errors = drain_errors(async)
      assert.equal(5, ran)
      table.sort(errors)
      assert.same({'1', '2', '3', '4', '5'}, errors)
   end)

   it('reports every failing onexit, one per go()', function()
      local async = require 'async'
      for i = 1, 25 do
         local proc = async.process.spawn('true', {})
         proc.onexit(function() error('boom ' .. i) end)
      end
      local errors = drain_errors(async)
      assert.equal(25, #errors)
   end)

   it('counts a ratelimiter done called twice once (no stall)', function()
      local async = require 'async'
      local limit = async.flow.ratelimiter(1)
      local ran = 0
      limit(function(done) ran = ran + 1; done(); done() end, {})
      limit(function(done) ran = ran + 1; done() end, {})
      local watchdog = async.setTimeout(3000, function() error('stalled') end)
      limit(function(done) ran = ran + 1; done(); watchdog.clear() end, {})
      async.go()
      assert.equal(3, ran)
   end)

   it('neither fires at once nor spins on delays of 2^64 ms and more', function()
      local async = require 'async'
      local fired = 0
      local huge = {async.setTimeout(2^64, function() fired = fired + 1 end),
                    async.setTimeout(1e300, function() fired = fired + 1 end),
                    async.setInterval(1e300, function() fired = fired + 1 end),
                    async.setInterval(math.huge, function() fired = fired + 1 end)}
      local t0 = os.clock()
      async.setTimeout(200, function()
         for _, t in ipairs(huge) do t.clear() end
      end)
      async.go()
      assert.equal(0, fired)
      -- Waiting 200 ms must not have burnt the CPU.
      assert.is_true(os.clock() - t0 < 0.1, 'CPU seconds: ' .. (os.clock() - t0))
   end)

   it('refuses to close, read or write descriptors of the loop and its handles', function()
      assert_ok [[
         local async = require 'async'
         local fs = async.fs
         local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            c.ondata(function(d) c.write(d) end)
         end)
         local path = os.tmpname()
         fs.open(path, 'w', function(mine)
            local refused, closed_mine = 0, false
            local pending = 0
            for fd = 3, 100 do
               pending = pending + 1
               local function done(err)
                  if err and err:find('belongs to the event loop', 1, true) then refused = refused + 1 end
                  if fd == mine then closed_mine = (err == nil) end
                  pending = pending - 1
                  if pending == 0 then
                     assert(refused >= 3, refused) -- epoll, signal pipe, server, ...
                     assert(closed_mine, 'our own file could not be closed')
                     -- The loop still works: an echo through the server.
                     async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
                        c.ondata(function(d)
                           assert(d == 'ping')
                           c.close(); server.close(); os.remove(path)
                           print('ok')
                        end)
                        c.write('ping')
                     end)
                  end
               end
               if fd ~= mine then
                  fs.write(fd, 'x', function() end)
                  fs.ftruncate(fd, 0, function() end)
               end
               fs.close(fd, done)
            end
         end)
         async.go()
      ]]
   end)
   it('refuses every descriptor call on what the module holds: relay pipes, readFile and writeFile files', function()
      local output = child([[
         local async = require 'async'
         local fs = async.fs
         assert(async.tty.guess(0) == 'file' and async.tty.guess(1) == 'file')
         local stdin, stdout = async.tty.open(0), async.tty.open(1)
         local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            c.ondata(function(d) c.write(d) end)
         end)
         local cat = async.process.spawn('/bin/cat')
         assert(os.execute('mkfifo from_us && mkfifo to_us') == 0)
         -- Each job holds its FIFO open until we have written (read) all.
         local read_back, written
         fs.readFile('from_us', function(data, err) read_back = data or err end)
         local big = ('y'):rep(200000)
         fs.writeFile('to_us', big, function(err) written = err or 'written' end)
         local mine, refused = {}, nil
         local function closing_spree(done)
            fs.readdir('/proc/self/fd', function(names)
               local refused = {fstat = 0, fsync = 0, close = 0}
               local pending = 0
               local function count(op)
                  pending = pending + 1
                  return function(a, b)
                     local err = a
                     if op == 'fstat' then err = b end
                     if err and err:find('belongs to the event loop', 1, true) then refused[op] = refused[op] + 1 end
                     pending = pending - 1
                     if pending == 0 then done(refused) end
                  end
               end
               for _, name in ipairs(names) do
                  local fd = tonumber(name)
                  if fd > 2 and not mine[fd] then
                     fs.fstat(fd, count('fstat'))
                     fs.fsync(fd, count('fsync'))
                     fs.close(fd, count('close'))
                  end
               end
            end)
         end
         local function read_all(fd, got, done)
            fs.read(fd, 65536, function(data, err)
               assert(not err, err)
               if data == '' then return done(got) end
               read_all(fd, got .. data, done)
            end)
         end
         fs.open('from_us', 'w', function(writer)
            fs.open('to_us', 'r', function(reader)
               mine[writer], mine[reader] = true, true
               -- Time for the jobs to have their files open.
               async.setTimeout(50, function()
                  closing_spree(function(counts)
                     refused = counts
                     fs.write(writer, 'through the fifo', function(err)
                        assert(not err, err)
                        fs.close(writer, function(err) assert(not err, err) end)
                     end)
                     read_all(reader, '', function(got)
                        assert(got == big, #got)
                        fs.close(reader, function(err) assert(not err, err) end)
                     end)
                     local received = 0
                     stdin.ondata(function(d) received = received + #d end)
                     stdin.onend(function() assert(received == 1000000, received) end)
                     stdout.write('relayed\n')
                     cat.stdout.ondata(function(d) assert(d == 'meow'); cat.stdin.close() end)
                     cat.stdin.write('meow')
                     async.setTimeout(10, function()
                        async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
                           c.ondata(function(d)
                              assert(d == 'ping')
                              c.close(); server.close()
                           end)
                           c.write('ping')
                        end)
                     end)
                  end)
               end)
            end)
         end)
         -- A failure leaves the jobs blocked on their FIFOs, and libuv
         -- waits for its pool at exit: leave at once instead.
         local ok, err = pcall(async.go)
         if not ok then
            io.stderr:write(tostring(err), '\n')
            local ffi = require 'ffi'
            ffi.cdef 'void _exit(int status);'
            ffi.C._exit(1)
         end
         assert(read_back == 'through the fifo', read_back)
         -- two relay ends, two job files, epoll, the server, ...
         assert(refused.close >= 5, refused.close)
         assert(refused.fstat == refused.close and refused.fsync == refused.close,
            refused.fstat .. ' ' .. refused.fsync .. ' ' .. refused.close)
         assert(written == 'written', written)
         fs.readFile('in', function(data, err) assert(#data == 1000000, err) end)
         async.go()
         print('ok')
      ]], 1000000)
      assert.matches('exit=0\n$', output)
      assert.matches('relayed\n', output)
      assert.matches('ok\n', output)
   end)

   it('opens, writes, reads and closes a file right after the module is loaded (no EBADF)', function()
      assert_ok [[
         local async = require 'async'
         local fs = async.fs
         fs.open('file', 'w+', function(fd, err)
            assert(fd, err)
            fs.write(fd, 'hello', 0, function(err)
               assert(not err, err)
               fs.read(fd, 5, 0, function(data, err)
                  assert(data == 'hello', err)
                  fs.fstat(fd, function(stats, err)
                     assert(stats and stats.size == 5, err)
                     fs.close(fd, function(err)
                        assert(not err, err)
                        print('ok')
                     end)
                  end)
               end)
            end)
         end)
         async.go()
      ]]
   end)

   it('lets user fields on a connection shadow none of the methods the module itself calls #novalgrind', function()
      assert_ok [[
         local async = require 'async'
         local trap = function() error('the module called a user field') end
         local function shadow(object)
            for _, name in ipairs(async.handle.methods) do object[name] = trap end
         end
         local big = string.rep('b', 4 * 1024 * 1024)
         local server = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res, client)
            shadow(client)
            if req.url.path == '/big' then res(big, {}) else res('ok', {}) end
         end, {keepAliveTimeout = 200})
         local json = async.json.listen({host = '127.0.0.1', port = 0}, function(message, reply, client)
            shadow(client)
            reply({n = message.n})
         end)
         local answers, received, replies = 0, 0, 0
         local conn = async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            c.ondata(function(chunk)
               received = received + #chunk
               local _, n = chunk:gsub('HTTP/1.1 200', '')
               answers = answers + n
            end)
            -- Pipelined, the second's response is big: the server pauses
            -- reading and waits for the drain.
            c.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n')
            for i = 1, 30 do c.write('GET /c HTTP/1.1\r\nHost: x\r\n\r\n') end
            -- The keep-alive timeout then closes the connection: onend.
            c.onend(function() server.close() end)
         end)
         local client; client = async.json.connect({host = '127.0.0.1', port = json.sockname.port}, function()
            client.receive(function(m)
               replies = replies + 1
               if m.n == 3 then client.close(); json.close() end
            end)
            for n = 1, 3 do client.send({n = n}) end
         end)
         async.go()
         assert(answers == 32, answers)
         assert(received > #big, received)
         assert(replies == 3, replies)
         print('ok')
      ]]
   end)
end)
