local async = require 'async'
local support = require 'spec.support'
local tcp = async.tcp

local run = support.run

-- An echo server on a port the OS picks; `on_client(client)` may add to it.
local function echo_server(on_client)
   return tcp.listen({host = '127.0.0.1', port = 0}, function(client)
      client.ondata(function(chunk) client.write(chunk) end)
      if on_client then on_client(client) end
   end)
end

-- A split function: fixed-size records of 3 bytes, and the leftover.
local function records(data)
   local out, at = {}, 1
   while at + 2 <= #data do out[#out + 1] = data:sub(at, at + 2); at = at + 3 end
   return out, data:sub(at)
end

describe('tcp', function()
   it('echoes between listen and connect, with names on both sides', function()
      local got, names = {}, {}
      run(5, function(done)
         local server = echo_server(function(client) names.server_peer = client.peername end)
         assert.are.equal(2, server.sockname.family)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            names.client = client.sockname
            names.client_peer = client.peername
            client.ondata(function(chunk)
               got[#got + 1] = chunk
               if table.concat(got) == 'hello world' then
                  client.close(function() server.close(done) end)
               end
            end)
            client.write('hello ')
            client.write('world')
         end)
      end)
      assert.are.equal('hello world', table.concat(got))
      assert.are.equal(names.client.port, names.server_peer.port)
      assert.are.equal('127.0.0.1', names.client_peer.address)
      assert.are.equal(2, names.client_peer.family)
   end)

   it('accepts a URL domain, a port as a numeric string, and a host name', function()
      local replies = {}
      run(5, function(done)
         local server = echo_server()
         local port = server.sockname.port
         local pending = 2
         local function ask(domain)
            tcp.connect(domain, function(client)
               client.ondata(function(chunk)
                  replies[#replies + 1] = chunk
                  client.close()
                  pending = pending - 1
                  if pending == 0 then server.close(done) end
               end)
               client.write('ping')
            end)
         end
         ask('tcp://127.0.0.1:' .. port .. '/')
         ask({host = 'localhost', port = tostring(port)})
      end)
      assert.are.same({'ping', 'ping'}, replies)
   end)

   it('works over IPv6', function()
      local probe = io.open('/proc/net/if_inet6')
      if not probe or not probe:read('*l') then pending('no IPv6 on this machine') return end
      probe:close()
      local got, family, port, names = nil, nil, nil, {}
      run(5, function(done)
         local server; server = tcp.listen({host = '::1', port = 0}, function(client)
            names.server_peer = client.peername
            client.ondata(function(chunk) client.write(chunk) end)
         end)
         family, port = server.sockname.family, server.sockname.port
         tcp.connect('tcp://[::1]:' .. server.sockname.port .. '/', function(client)
            client.ondata(function(chunk)
               got = chunk
               -- The names, first read once the socket is closed.
               client.close(function()
                  names.client, names.client_peer = client.sockname, client.peername
                  server.close(done)
               end)
            end)
            client.write('six')
         end)
      end)
      assert.are.equal('six', got)
      assert.are.equal(10, family)
      assert.are.same({address = '::1', port = port, family = 10}, names.client_peer)
      assert.are.same({address = '::1', port = names.client.port, family = 10}, names.server_peer)
      assert.are.equal(10, names.client.family)
   end)

   it('sends 64 MiB and gets it back byte-exact', function()
      local block = {}
      for i = 1, 1024 * 1024 / 16 do block[i] = string.format('%015x\n', (i * 2654435761) % 4294967296) end
      block = table.concat(block)
      local blocks, total = 64, 64 * #block
      -- The byte stream is block i = 8-digit index .. block minus 8 bytes.
      local function expected(from, length)
         local parts, at = {}, from
         while at < from + length do
            local i, offset = math.floor(at / #block), at % #block
            local whole = string.format('%08d', i) .. block:sub(9)
            local n = math.min(#block - offset, from + length - at)
            parts[#parts + 1] = whole:sub(offset + 1, offset + n)
            at = at + n
         end
         return table.concat(parts)
      end
      local received, mismatch = 0, nil
      run(60, function(done)
         local server = echo_server()
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            local sent = 0
            local function pump()
               while sent < blocks do
                  local ok = client.write(string.format('%08d', sent) .. block:sub(9))
                  sent = sent + 1
                  if not ok then return end
               end
            end
            client.ondrain(pump)
            client.ondata(function(chunk)
               if not mismatch and chunk ~= expected(received, #chunk) then mismatch = received end
               received = received + #chunk
               if received == total then client.close(function() server.close(done) end) end
            end)
            pump()
         end)
      end)
      assert.is_nil(mismatch)
      assert.are.equal(total, received)
   end)

   it('serves 1,000 concurrent clients', function()
      local answered, n = 0, 1000
      run(20, function(done)
         local server = echo_server()
         for i = 1, n do
            tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
               client.ondata(function(chunk)
                  assert.are.equal('client ' .. i, chunk)
                  answered = answered + 1
                  client.close()
                  if answered == n then server.close(done) end
               end)
               client.write('client ' .. i)
            end)
         end
      end)
      assert.are.equal(n, answered)
   end)

   it('reads and drops data for ondata(), onrawdata() and onsplitdata(sep) without a callback', function()
      for _, start in ipairs({
         function(c) c.ondata() end,
         function(c) c.onrawdata() end,
         function(c) c.onsplitdata('\n') end,
      }) do
         local ended = false
         run(5, function(done)
            local server
            server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
               start(client)
               client.onend(function() ended = true; server.close(done) end)
            end)
            tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
               client.write(string.rep('dropped\n', 10000), function() client.close() end)
            end)
         end)
         assert.is_true(ended)
      end
   end)

   it('parseUrl splits a URL as the original did and gives a table back as it is', function()
      local parsed = tcp.parseUrl('http://user@example.com/a/b?x=1#top')
      assert.are.same({schema = 'http', host = 'example.com', port = 80, path = '/a/b', query = 'x=1',
         fragment = 'top', userinfo = 'user'}, parsed)
      assert.are.same({schema = 'tcp', host = '::1', port = 9000, path = ''}, tcp.parseUrl('tcp://[::1]:9000'))
      local domain = {host = 'h', port = 1}
      assert.are.equal(domain, tcp.parseUrl(domain))
      assert.has_error(function() tcp.parseUrl('no scheme') end, "parseUrl: cannot read 'no scheme' as scheme://host:port/")
   end)

   it('splits incoming data on a separator cut across chunks', function()
      local pieces = {}
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.onsplitdata('\r\n', function(piece) pieces[#pieces + 1] = piece end)
            client.onclose(function() server.close(done) end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            local parts, i = {'ab\r', '\ncd', '\r', '\n\r\nef\r\n', 'tail'}, 0
            local function next_part()
               i = i + 1
               if i > #parts then return client.close() end
               client.write(parts[i])
               async.setTimeout(5, next_part)
            end
            next_part()
         end)
      end)
      assert.are.same({'ab', 'cd', '', 'ef', 'tail'}, pieces)
   end)

   it('splits with a function returning pieces and leftover', function()
      local pieces = {}
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.onsplitdata(records, function(piece) pieces[#pieces + 1] = piece end)
            client.onclose(function() server.close(done) end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write('abcd')
            async.setTimeout(5, function() client.write('efgh'); client.close() end)
         end)
      end)
      assert.are.same({'abc', 'def', 'gh'}, pieces)
   end)

   it('gives fiber readsplit(fn) the pieces a split function cuts, as the original did', function()
      local pieces = {}
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.sync()
            async.fiber(function()
               while true do
                  local piece = client.readsplit(records)
                  if not piece then break end
                  pieces[#pieces + 1] = piece
               end
               server.close(done)
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write('abcdefg')
            async.setTimeout(5, function() client.write('hij\nk'); client.close() end)
         end)
      end)
      -- The leftover at the end of the stream is the last piece.
      assert.are.same({'abc', 'def', 'ghi', 'j\nk'}, pieces)
   end)

   it('gives fiber reads data that arrived before and after the fiber waits #novalgrind', function()
      local reads, lines, last = {}, {}, 'unset'
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.sync()
            -- Data arrives before anybody reads.
            async.setTimeout(30, function()
               async.fiber(function()
                  reads[1] = client.read()
                  reads[2] = client.read()
                  lines[1] = client.readline()
                  lines[2] = client.readsplit('--')
                  lines[3] = client.readline()
                  last = client.read()
                  server.close(done)
               end)
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write('early')
            async.setTimeout(60, function() client.write('late') end)
            async.setTimeout(90, function() client.write('one\ntw') end)
            async.setTimeout(120, function() client.write('o--three\n') end)
            async.setTimeout(150, function() client.close() end)
         end)
      end)
      assert.are.same({'early', 'late'}, reads)
      assert.are.same({'one', 'two', 'three'}, lines)
      assert.is_nil(last)
   end)

   it('raises a clear error for fiber reads outside a fiber', function()
      local message
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.sync()
            message = select(2, pcall(function() local data = client.read(); return data end))
            client.close()
            server.close(done)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client) client.close() end)
      end)
      assert.matches("'read' must be called inside a fiber", message, 1, true)
      assert.matches('tcp_spec.lua', message, 1, true)
   end)

   it('raises fiber-read misuse as plain errors at the reader\'s line', function()
      local messages = {}
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.sync()
            async.fiber(function() client.read() end)
            async.fiber(function()
               messages[1] = support.error_of('tcp_spec.lua', function() local data = client.read(); return data end)
               messages[2] = support.error_of('tcp_spec.lua', function() local line = client.readsplit(''); return line end)
               client.close()
               server.close(done)
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function() end)
         end)
      end)
      assert.are.same({'read: another fiber is already reading this stream',
                       'readsplit: the separator must not be empty'}, messages)
   end)

   it('hands raw data as buffers valid during the callback', function()
      local length, text, kept, late_error, pointer_type
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            local seen
            client.onrawdata(function(buf)
               length, text, kept, seen = #buf, buf:toString(), buf:clone(), buf
               pointer_type = type(buf:pointer())
               client.write(buf)
               client.close()
               server.close()
            end)
            client.onclose(function()
               late_error = select(2, pcall(function() return seen:toString() end))
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function(echo) text = text .. '|' .. echo; client.close(done) end)
            client.write({'raw ', 'bytes ', '\0\255'})
         end)
      end)
      assert.are.equal(12, length)
      assert.are.equal('raw bytes \0\255|raw bytes \0\255', text)
      assert.are.equal('raw bytes \0\255', kept:toString())
      assert.are.equal('userdata', pointer_type)
      assert.matches('buffer used after its callback returned', late_error, 1, true)
   end)

   it('reports a refused connect to onerr and never calls the connect callback', function()
      local err, connected, closed
      run(5, function(done)
         -- Take a free port, then close the server so nothing listens.
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function() end)
         local port = server.sockname.port
         server.close(function()
            local client = tcp.connect({host = '127.0.0.1', port = port}, function() connected = true end)
            client.onerr(function(e) err = e end)
            client.onclose(function() closed = true; done() end)
         end)
      end)
      assert.is_nil(connected)
      assert.is_true(closed)
      assert.matches('^ECONNREFUSED: connection refused "127.0.0.1:%d+"$', err)
   end)

   it('reports a host name that does not resolve to onerr', function()
      local err
      run(10, function(done)
         local client = tcp.connect({host = 'no-such-host.invalid', port = 80}, function() error('connected?') end)
         client.onerr(function(e) err = e; done() end)
      end)
      assert.matches('no%-such%-host.invalid', err)
   end)

   it('survives a peer reset, and writes to the reset socket (no SIGPIPE)', function()
      local err, write_results, write_errors = nil, {}, {}
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            -- Closing with unread data makes the kernel send a reset.
            async.setTimeout(30, function() client.destroy(); server.close() end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function() end)
            client.onerr(function(e) err = e end)
            client.write('unread data')
            async.setTimeout(80, function()
               for i = 1, 5 do
                  write_results[i] = client.write(string.rep('x', 65536), function(e) write_errors[#write_errors + 1] = e end)
               end
               async.setTimeout(20, done)
            end)
         end)
      end)
      assert.matches('^ECONNRESET', err)
      assert.are.same({false, false, false, false, false}, write_results)
      assert.are.equal(5, #write_errors)
      assert.matches('^EPIPE', write_errors[1])
   end)

   it('tells a writer to a paused reader to wait, then drains', function()
      local refused_at, drained, received = nil, false, 0
      run(10, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function(chunk) received = received + #chunk end)
            client.pause()
            async.setTimeout(100, function() client.resume() end)
            client.onclose(function() server.close(done) end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            local chunk, written = string.rep('z', 1024 * 1024), 0
            client.ondrain(function()
               drained = true
               assert.are.equal(0, client.writeQueueSize())
               client.close()
            end)
            while true do
               written = written + #chunk
               if not client.write(chunk) then refused_at = written; break end
               if written > 512 * 1024 * 1024 then break end
            end
            assert.is_true(client.writeQueueSize() > 0)
         end)
      end)
      assert.is_number(refused_at)
      assert.is_true(drained)
      assert.are.equal(refused_at, received)
   end)

   it('calls the idle timeout after a quiet spell, and not while busy', function()
      local fired_at, t0
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            t0 = async.hrtime()
            client.ondata(function() end)
            client.setTimeout(60, function(h)
               fired_at = async.hrtime() - t0
               assert.are.equal(client, h)
               h.close()
               server.close(done)
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            local n = 0
            local ticker
            ticker = async.setInterval(20, function()
               n = n + 1
               client.write('tick')
               if n == 5 then ticker.clear() end
            end)
            client.ondata(function() end)
            client.onend(function() client.close() end)
         end)
      end)
      assert.is_true(fired_at >= 150, 'fired after ' .. fired_at .. ' ms')
   end)

   it('makes close() idempotent, safe inside ondata, and writes after it fail softly', function()
      local calls, write_result, write_error, closes, plain_result = {}, nil, nil, 0, nil
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function(chunk)
               calls[#calls + 1] = chunk
               client.close(function() closes = closes + 1 end)
               client.close(function() closes = closes + 1 end)
               write_result = client.write('late', function(e) write_error = e end)
               plain_result = client.write('late too')
            end)
            client.onclose(function()
               client.close(function() closes = closes + 1; server.close(done) end)
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write('one')
            client.close()
         end)
      end)
      assert.are.same({'one'}, calls)
      assert.is_false(write_result)
      assert.is_false(plain_result)
      assert.matches('^EPIPE', write_error)
      assert.are.equal(3, closes)
   end)

   it('lets go of closed sockets whose handlers hold them', function()
      -- The accepted sockets: a connecting one is also held by mlua's
      -- registry key of its connect until mlua next frees the keys dropped.
      local weak = setmetatable({}, {__mode = 'v'})
      run(5, function(done)
         local closed, server = 0, nil
         local function one_closed()
            closed = closed + 1
            if closed == 2 then server.close(done) end
         end
         server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            weak[#weak + 1] = client
            client.ondata(function(chunk) client.write(chunk) end)
            client.ondrain(function() client.resume() end)
            client.onclose(one_closed)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            c.ondrain(function() c.resume() end)
            c.ondata(function() c.close(one_closed) end)
            c.write('x')
         end)
      end)
      collectgarbage('collect'); collectgarbage('collect')
      assert.is_nil(next(weak))
   end)

   it('lets the loop end once the server is closed', function()
      local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function() end)
      local closed = false
      async.setTimeout(10, function() server.close(function() closed = true end) end)
      local t0 = async.hrtime()
      async.go()
      assert.is_true(closed)
      assert.is_true(async.hrtime() - t0 < 1000)
      assert.is_nil(next(async.handles()))
   end)

   it('reports a busy port as a Lua error at the listen call', function()
      local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function() end)
      local ok, message = pcall(tcp.listen, {host = '127.0.0.1', port = server.sockname.port}, function() end)
      server.close()
      async.go()
      assert.is_false(ok)
      assert.matches('EADDRINUSE: address already in use "127.0.0.1:%d+"', message)
   end)

   it('rejects bad arguments with clear errors', function()
      assert.has_error(function() tcp.listen(nil, function() end) end,
         "bad argument #1 to 'listen' (table or string expected, got nil)")
      assert.has_error(function() tcp.listen({host = '127.0.0.1', port = 0}) end,
         "bad argument #2 to 'listen' (function expected, got no value)")
      assert.has_error(function() tcp.connect({host = '127.0.0.1', port = 70000}) end,
         'connect: port must be a whole number from 0 to 65535, got 70000')
      assert.has_error(function() tcp.connect('127.0.0.1:80') end,
         "connect: cannot read '127.0.0.1:80' as scheme://host:port/")
      local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
         assert.has_error(function() client.write(42 == 42) end,
            "bad argument #1 to 'write' (string, buffer or array of strings expected, got boolean)")
         assert.has_error(function() client.onsplitdata('', print) end, 'onsplitdata: the separator must not be empty')
         client.close()
      end)
      tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c) c.close(); server.close() end)
      async.go()
   end)

   it('sets socket options, with TCP_NODELAY on by default', function()
      local results
      run(5, function(done)
         local server = echo_server()
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            results = {client.setNoDelay(false), client.setKeepAlive(true, 10), client.setNoDelay()}
            client.close(); server.close(done)
         end)
      end)
      assert.are.same({true, true, true}, results)
   end)

   -- Runs `source` (Python, `%d` standing for the server's port) against
   -- the server (see support.python_peer).
   local function python_peer(server, source, finished)
      return support.python_peer(server, string.format(source, server.sockname.port), finished)
   end

   it('talks to a client written without this library (Python)', function()
      if os.execute('command -v python3 >/dev/null 2>&1') ~= 0 then pending('python3 is not installed') return end
      local server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
         client.onsplitdata('\n', function(line) client.write(line:upper() .. '\n') end)
      end)
      local result = python_peer(server, [[
import socket
s = socket.create_connection(('127.0.0.1', %d))
s.sendall(b'hello\nfrom python\n')
data = b''
while data.count(b'\n') < 2:
    data += s.recv(100)
s.close()
print(data.decode(), end='')
]], function(text) return text ~= '' end)
      assert.are.equal('HELLO\nFROM PYTHON\n', result)
   end)

   it('sends what onend writes before closing, to a peer that half-closed (Python)', function()
      if os.execute('command -v python3 >/dev/null 2>&1') ~= 0 then pending('python3 is not installed') return end
      local server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
         local got = {}
         client.ondata(function(chunk) got[#got + 1] = chunk end)
         client.onend(function() client.write('got ' .. table.concat(got) .. ', bye\n') end)
      end)
      local result = python_peer(server, support.python_half_close("socket.create_connection(('127.0.0.1', %d))"),
         function(text) return text:find('\n') ~= nil end)
      assert.are.equal('got question, bye\n', result)
   end)

   it('leaves memory flat and nothing open after 10,000 connect/close cycles #novalgrind', function()
      local server = echo_server()
      local port = server.sockname.port
      -- n connections, 50 at a time; each echoes one byte, then closes.
      local function cycles(n, done)
         local started, finished = 0, 0
         local function one()
            started = started + 1
            tcp.connect({host = '127.0.0.1', port = port}, function(client)
               client.ondata(function()
                  client.close(function()
                     finished = finished + 1
                     if finished == n then done() elseif started < n then one() end
                  end)
               end)
               client.write('x')
            end)
         end
         for _ = 1, math.min(50, n) do one() end
      end
      -- Warm up, then measure.
      run(30, function(done) cycles(2000, function() done(); async.stop() end) end)
      -- A leak of 100 bytes a connection in C or Rust would show as 1 MiB
      -- of malloc; RSS also counts the allocators' retained pages, which
      -- move with the garbage collector's timing, so its bound is looser.
      local heap0, c0, rss0 = support.heap_kib(), support.malloc_kib(), support.rss_kib()
      run(60, function(done) cycles(10000, function() done(); async.stop() end) end)
      local heap1, c1, rss1 = support.heap_kib(), support.malloc_kib(), support.rss_kib()
      server.close()
      async.go()
      assert.is_nil(next(async.handles()))
      assert.is_true(heap1 - heap0 < 256, 'Lua heap grew ' .. (heap1 - heap0) .. ' KiB')
      assert.is_true(c1 - c0 < 512, 'malloc in use grew ' .. (c1 - c0) .. ' KiB')
      assert.is_true(rss1 - rss0 < 8192, 'RSS grew ' .. (rss1 - rss0) .. ' KiB')
   end)
end)

describe('getAddrInfo', function()
   it('resolves localhost', function()
      local results, err
      async.getAddrInfo({path = 'localhost', port = 8080, {socktype = 'STREAM', family = 'INET'}}, function(r, e)
         results, err = r, e
      end)
      async.go()
      assert.is_nil(err)
      assert.is_true(#results >= 1)
      assert.are.same({'127.0.0.1', 8080, 'IPv4', 'STREAM'},
         {results[1].addr, results[1].port, results[1].family, results[1].socktype})
   end)

   it('answers for the loopback host when there is no path, as the original did', function()
      local results, err
      async.getAddrInfo({port = 80}, function(r, e) results, err = r, e end)
      async.go()
      assert.is_nil(err)
      assert.is_true(#results >= 1)
      for _, r in ipairs(results) do
         assert.is_truthy(r.addr == '127.0.0.1' or r.addr == '::1', r.addr)
         assert.are.equal(80, r.port)
      end
      assert.has_error(function() async.getAddrInfo({}, print) end,
         "getAddrInfo: the options need a host name in 'path', or a port")
   end)

   it('reports a failure as an empty list and the reason', function()
      local results, err
      async.getAddrInfo({path = 'no-such-host.invalid'}, function(r, e) results, err = r, e end)
      async.go()
      assert.are.same({}, results)
      assert.matches('^EAI_[A-Z]+: .*"no%-such%-host.invalid"$', err)
   end)

   it('takes the IP version as the family, and ports as tcp.connect does', function()
      local results
      async.getAddrInfo({path = '127.0.0.1', port = ' 80 ', {family = 4}}, function(r) results = r end)
      async.go()
      assert.are.same({'127.0.0.1', 80, 'IPv4'}, {results[1].addr, results[1].port, results[1].family})
      -- The same port words, the same errors, in both.
      for _, port in ipairs({'eighty', 70000, true}) do
         local _, from_getaddrinfo = pcall(async.getAddrInfo, {path = 'x', port = port}, print)
         local _, from_connect = pcall(tcp.connect, {host = 'x', port = port})
         assert.are.equal(from_connect:gsub('^.-connect: ', ''), (from_getaddrinfo:gsub('^.-getAddrInfo: ', '')))
      end
   end)

   it('rejects bad options', function()
      assert.has_error(function() async.getAddrInfo({path = 'x', {socktype = 'PIGEON'}}, print) end,
         "getAddrInfo: unknown socktype 'PIGEON' (STREAM or DGRAM)")
      assert.has_error(function() async.getAddrInfo('x', print) end,
         "bad argument #1 to 'getAddrInfo' (table expected, got string)")
   end)
end)
