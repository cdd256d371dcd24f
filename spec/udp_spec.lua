local async = require 'async'
local support = require 'spec.support'
local udp = async.udp

local run = support.run

local function error_of(f)
   return support.error_of('udp_spec.lua', f)
end

-- A socket on 127.0.0.1 (or `host`) at a port the OS picks.
local function bound(host)
   return udp.bind({host = host or '127.0.0.1', port = 0})
end

-- Closes every socket given, then calls `done`.
local function close_all(done, ...)
   local sockets, left = {...}, select('#', ...)
   for _, sock in ipairs(sockets) do
      sock.close(function()
         left = left - 1
         if left == 0 then done() end
      end)
   end
end

describe('udp', function()
   it('sends datagrams both ways on IPv4, with the sender in onmessage', function()
      local got = {}
      run(5, function(done)
         local server, client = bound(), bound()
         assert.are.same({'127.0.0.1', 2}, {server.sockname.address, server.sockname.family})
         assert.is_true(server.sockname.port > 0)
         server.onmessage(function(data, from)
            got.request, got.from = data, from
            server.send('re:' .. data, from, function(err) got.reply_err = err or 'none' end)
         end)
         client.onmessage(function(data, from)
            got.reply, got.replier = data, from
            close_all(done, server, client)
         end)
         got.client_port, got.server_port = client.sockname.port, server.sockname.port
         assert.is_true(client.send({'hel', 'lo'}, {host = '127.0.0.1', port = server.sockname.port}))
      end)
      assert.are.equal('hello', got.request)
      assert.are.equal('re:hello', got.reply)
      assert.are.equal('none', got.reply_err)
      assert.are.same({'127.0.0.1', 2}, {got.from.address, got.from.family})
      assert.are.equal(got.client_port, got.from.port)
      assert.are.equal(got.server_port, got.replier.port)
   end)

   it('sends on IPv6 (::1), an empty datagram included', function()
      local got = {}
      run(5, function(done)
         local server, client = bound('::1'), bound('[::1]')
         assert.are.same({'::1', 10}, {server.sockname.address, server.sockname.family})
         server.onmessage(function(data, from)
            got[#got + 1] = data
            got.from = from
            if #got == 2 then close_all(done, server, client) end
         end)
         client.send('six', {host = '::1', port = server.sockname.port})
         client.send('', 'udp://[::1]:' .. server.sockname.port, function(err) got.err = err or 'none' end)
      end)
      assert.are.same({'six', ''}, {got[1], got[2]})
      assert.are.same({'::1', 10}, {got.from.address, got.from.family})
      assert.are.equal('none', got.err)
   end)

   it('resolves host names for bind and send; sends made before the bind wait for it', function()
      local got, names = {}, {}
      run(5, function(done)
         local server = bound()
         local client = udp.bind({host = 'localhost', port = 0})
         names.early = client.sockname
         server.onmessage(function(data)
            got[#got + 1] = data
            if #got == 2 then close_all(done, server, client) end
         end)
         client.send('first', {host = '127.0.0.1', port = server.sockname.port})
         client.send('second', {host = 'localhost', port = tostring(server.sockname.port)})
         client.onmessage(function() end)
         names.client = function() return client.sockname end
      end)
      assert.is_nil(names.early)
      assert.are.same({'first', 'second'}, got)
      assert.are.equal('127.0.0.1', names.client().address)
   end)

   it('reads every form of destination the same way', function()
      local got = {}
      run(5, function(done)
         local server, client = bound(), bound()
         local port = server.sockname.port
         local forms = {
            {address = '127.0.0.1', port = port},                          -- an onmessage `from`
            {host = '127.0.0.1', address = '10.255.255.1', port = port},   -- host comes first
            {host = '127.0.0.1', port = tostring(port)},                   -- a numeric string
            setmetatable({}, {__index = {host = '127.0.0.1', port = port}}), -- fields from __index
            {port = port},                                                 -- 127.0.0.1 by default
         }
         server.onmessage(function(data)
            got[#got + 1] = data
            if #got == #forms then close_all(done, server, client) end
         end)
         for i, to in ipairs(forms) do assert.is_true(client.send(tostring(i), to)) end
      end)
      table.sort(got)
      assert.are.same({'1', '2', '3', '4', '5'}, got)
   end)

   it('reports a datagram too large to its callback, else to onerr', function()
      local errs = {}
      run(5, function(done)
         local sock = bound()
         local to = {host = '127.0.0.1', port = sock.sockname.port}
         local sync = true
         sock.send(string.rep('x', 70000), to, function(err)
            errs.callback, errs.sync = err, sync
            sock.onerr(function(e)
               errs.onerr = e
               sock.close(done)
            end)
            sock.send({string.rep('y', 40000), string.rep('z', 30000)}, to)
         end)
         sync = false
      end)
      assert.is_false(errs.sync)
      assert.matches('^EMSGSIZE: message too long "127.0.0.1:%d+"$', errs.callback)
      assert.matches('^EMSGSIZE: ', errs.onerr)
   end)

   it('never calls a closed socket back; send after close is an error', function()
      local events = {}
      run(5, function(done)
         local receiver, sender = bound(), bound()
         receiver.onmessage(function() events[#events + 1] = 'message' end)
         receiver.onerr(function() events[#events + 1] = 'onerr' end)
         receiver.onclose(function() events[#events + 1] = 'onclose' end)
         sender.send('lost', {host = '127.0.0.1', port = receiver.sockname.port})
         receiver.close(function() events[#events + 1] = 'close cb' end)
         receiver.close()
         events.raised = error_of(function() receiver.send('x', {port = 9}) end)
         events.option = error_of(function() receiver.setTTL(5) end)
         local sync = true
         assert.is_false(receiver.send('x', {port = 9}, function(err)
            events.send_err, events.sync = err, sync
            -- Long enough for the datagram to have arrived.
            async.setTimeout(20, function() sender.close(done) end)
         end))
         sync = false
      end)
      assert.are.same({'close cb', 'onclose'}, {events[1], events[2]})
      assert.are.equal(2, #events)
      assert.are.equal('send: EBADF: bad file descriptor (the socket is closed)', events.raised)
      assert.are.equal('setTTL: EBADF: bad file descriptor (the socket is closed)', events.option)
      assert.are.equal('EBADF: bad file descriptor (the socket is closed)', events.send_err)
      assert.is_false(events.sync)
   end)

   it('stops receiving with onmessage(nil) and keeps user fields', function()
      local got = {}
      run(5, function(done)
         local server, client = bound(), bound()
         server.name = 'mine'
         server.onmessage(function(data)
            got[#got + 1] = data
            server.onmessage(nil)
            client.send('second', {host = '127.0.0.1', port = server.sockname.port})
            async.setTimeout(20, function() close_all(done, server, client) end)
         end)
         client.send('first', {host = '127.0.0.1', port = server.sockname.port})
         got.name = server.name
         got.text = tostring(server)
      end)
      assert.are.same({'first'}, {got[1], got[2]})
      assert.are.equal('mine', got.name)
      assert.matches('^udp: 0x', got.text)
   end)

   it('fails a bind to a busy port, and one whose name does not resolve', function()
      local events = {}
      local first = bound()
      local port = first.sockname.port
      events.busy = error_of(function() udp.bind({host = '127.0.0.1', port = port}) end)
      run(5, function(done)
         local sock = udp.bind({host = 'no-such-host.invalid', port = 0})
         sock.onerr(function(err) events.onerr = err end)
         sock.send('x', {port = port}, function(err) events.waiting = err end)
         sock.onclose(function() first.close(done) end)
      end)
      assert.are.equal('bind: EADDRINUSE: address already in use "127.0.0.1:' .. port .. '"', events.busy)
      assert.matches('^bind: EAI_NONAME: .*"no%-such%-host%.invalid"$', events.onerr)
      assert.are.equal(events.onerr, events.waiting)
   end)

   it('reports a name that does not resolve to the send callback', function()
      local got
      run(5, function(done)
         local sock = bound()
         sock.send('x', {host = 'no-such-host.invalid', port = 9}, function(err)
            got = err
            sock.close(done)
         end)
      end)
      assert.matches('^EAI_NONAME: ', got)
   end)

   it('sets broadcast and TTLs; broadcasts only once allowed', function()
      local errs = {}
      run(5, function(done)
         local sock = bound()
         assert.is_true(sock.setTTL(64))
         assert.is_true(sock.setMulticastTTL(0))
         assert.is_true(sock.setMulticastLoopback(false))
         local to = {host = '127.255.255.255', port = 9}
         sock.send('b', to, function(err)
            errs.before = err
            assert.is_true(sock.setBroadcast(true))
            sock.send('b', to, function(e)
               errs.after = e or 'none'
               sock.close(done)
            end)
         end)
      end)
      assert.are.equal('EACCES: permission denied "127.255.255.255:9"', errs.before)
      assert.are.equal('none', errs.after)
   end)

   it('joins and leaves a multicast group on the loopback interface', function()
      local got = {}
      local group = '239.255.77.7'
      run(5, function(done)
         local member = udp.bind({host = '0.0.0.0', port = 0, reuseAddr = true})
         local sender = bound()
         assert.is_true(member.addMembership(group, '127.0.0.1'))
         assert.is_true(sender.setMulticastInterface('127.0.0.1'))
         assert.is_true(sender.setMulticastLoopback(true))
         member.onmessage(function(data, from)
            got.data, got.from = data, from.address
            assert.is_true(member.dropMembership(group, '127.0.0.1'))
            close_all(done, member, sender)
         end)
         sender.send('to all', {host = group, port = member.sockname.port})
      end)
      assert.are.same({'to all', '127.0.0.1'}, {got.data, got.from})
   end)

   it('words bad arguments as Lua does, naming the function', function()
      local sock = bound()
      local to = {host = '127.0.0.1', port = 9}
      local errs = {
         error_of(function() udp.bind() end),
         error_of(function() udp.bind(5) end),
         error_of(function() udp.bind({host = '127.0.0.1'}) end),
         error_of(function() udp.bind({host = '127.0.0.1', port = 70000}) end),
         error_of(function() udp.bind({host = '127.0.0.1', port = 0, reuseAddr = 'yes'}) end),
         error_of(function() sock.send(nil, to) end),
         error_of(function() sock.send({'a', {}}, to) end),
         error_of(function() sock.send('x') end),
         error_of(function() sock.send('x', {host = '127.0.0.1'}) end),
         error_of(function() sock.send('x', to, 'cb') end),
         error_of(function() sock.setTTL(0) end),
         error_of(function() sock.setMulticastTTL(256) end),
         error_of(function() sock.setBroadcast('yes') end),
         error_of(function() sock.addMembership() end),
         error_of(function() sock.addMembership('not an address') end),
         error_of(function() sock.onmessage(5) end),
         error_of(function() async.fiber.sync(5) end),
      }
      sock.close()
      async.go()
      assert.are.same({
         "bad argument #1 to 'bind' (table or string expected, got nil)",
         "bad argument #1 to 'bind' (table or string expected, got number)",
         'bind: the domain needs a port',
         'bind: port must be a whole number from 0 to 65535, got 70000',
         'bind: reuseAddr must be a boolean, got string',
         "bad argument #1 to 'send' (string, buffer or array of strings expected, got nil)",
         "bad argument #1 to 'send' (item 2: string or buffer expected, got table)",
         "bad argument #2 to 'send' (table or string expected, got no value)",
         'send: the destination needs a port',
         "bad argument #3 to 'send' (function expected, got string)",
         "bad argument #1 to 'setTTL' (whole number from 1 to 255 expected, got number)",
         "bad argument #1 to 'setMulticastTTL' (whole number from 0 to 255 expected, got number)",
         "bad argument #1 to 'setBroadcast' (boolean expected, got string)",
         "bad argument #1 to 'addMembership' (string expected, got no value)",
         'addMembership: EINVAL: invalid argument',
         "bad argument #1 to 'onmessage' (function expected, got number)",
         "bad argument #1 to 'sync' (function expected, got number)",
      }, errs)
   end)

   it('raises an onmessage error from go(); the next datagram waits for the next go()', function()
      local server, client = bound(), bound()
      local got = {}
      server.onmessage(function(data)
         got[#got + 1] = data
         error('handler failed')
      end)
      client.send('a', {host = '127.0.0.1', port = server.sockname.port})
      client.send('b', {host = '127.0.0.1', port = server.sockname.port})
      local watchdog = async.setTimeout(5000, function() error('test timed out') end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('handler failed', err)
      assert.are.same({'a'}, got)
      server.onmessage(function(data)
         got[#got + 1] = data
         watchdog.clear()
         server.close()
         client.close()
      end)
      async.go()
      assert.are.same({'a', 'b'}, got)
   end)

   it('drops a datagram that waited for the next go() if the socket closed meanwhile', function()
      local server, client = bound(), bound()
      local calls = 0
      server.onmessage(function()
         calls = calls + 1
         error('handler failed')
      end)
      client.send('a', {host = '127.0.0.1', port = server.sockname.port})
      client.send('b', {host = '127.0.0.1', port = server.sockname.port})
      local watchdog = async.setTimeout(5000, function() error('test timed out') end)
      assert.is_false(pcall(async.go))
      watchdog.clear()
      server.close()
      client.close()
      async.go()
      assert.are.equal(1, calls)
   end)

   it('has a fiber form of send: fiber.sync(sock.send)', function()
      local got = {}
      run(5, function(done)
         local server, client = bound(), bound()
         server.onmessage(function(data) got.data = data end)
         async.fiber(function()
            local send = async.fiber.sync(client.send)
            local to = {host = '127.0.0.1', port = server.sockname.port}
            got.big = send(string.rep('x', 70000), to)
            got.ok = send('from a fiber', to)
            async.fiber.wait(async.setTimeout, {20})
            close_all(done, server, client)
         end)
      end)
      assert.is_nil(got.ok)
      assert.matches('^EMSGSIZE', got.big)
      assert.are.equal('from a fiber', got.data)
   end)
end)
