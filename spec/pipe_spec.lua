local async = require 'async'
local support = require 'spec.support'
local fiber = require 'async.fiber'
local pipe = async.pipe

local run = support.run

local linux = io.popen('uname -s'):read('*l') == 'Linux'
local has_python = os.execute('command -v python3 >/dev/null 2>&1') == 0

-- A fresh scratch directory per test, for the socket files.
local dir
before_each(function()
   dir = io.popen('mktemp -d /tmp/async-pipe-spec.XXXXXX'):read('*l')
end)
after_each(function()
   os.execute("rm -rf '" .. dir .. "'")
end)

local function exists(path)
   return os.execute("test -e '" .. path .. "'") == 0
end

-- An echo server at `path`; `on_client(client)` may add to it.
local function echo_server(path, on_client)
   return pipe.listen(path, function(client)
      client.ondata(function(chunk) client.write(chunk) end)
      if on_client then on_client(client) end
   end)
end

describe('pipe', function()
   it('echoes between listen and connect, with the path as the names, and removes its socket file at close', function()
      local path = dir .. '/echo.sock'
      local got, names, connected_with = {}, {}, nil
      run(5, function(done)
         local server = echo_server(path, function(client)
            names.server_side = {client.sockname, client.peername}
         end)
         assert.are.equal(path, server.sockname)
         assert.is_true(exists(path))
         local handle
         handle = pipe.connect(path, function(client)
            connected_with = client
            names.client_side = {client.sockname, client.peername}
            client.write('hello ')
            client.write('world')
         end)
         handle.ondata(function(chunk)
            got[#got + 1] = chunk
            if table.concat(got) == 'hello world' then
               handle.close(function() server.close(done) end)
            end
         end)
         assert.matches('^pipe: 0x', tostring(handle))
         assert.matches('^pipe%.server: 0x', tostring(server))
      end)
      assert.are.equal('hello world', table.concat(got))
      assert.is_table(connected_with)
      -- The server side is bound to the path; the client side is not bound.
      assert.are.same({path, nil}, names.server_side)
      assert.are.same({nil, path}, names.client_side)
      assert.are.equal(path, connected_with.peername)   -- still readable after the close
      assert.is_false(exists(path))
   end)

   it('queues writes made before the connect, and serves 100 concurrent clients read by fibers', function()
      local path = dir .. '/many.sock'
      local answers, n = {}, 100
      run(10, function(done)
         local server = pipe.listen(path, function(client)
            client.onsplitdata('\n', function(line) client.write('echo ' .. line .. '\n') end)
         end)
         local finished = 0
         for i = 1, n do
            local client = pipe.connect(path)
            client.write('client ' .. i .. '\n')   -- before the connect completes
            fiber(function()
               client.sync()
               answers[i] = client.readline()
               client.close()
               finished = finished + 1
               if finished == n then server.close(done) end
            end)
         end
      end)
      for i = 1, n do assert.are.equal('echo client ' .. i, answers[i]) end
   end)

   it('delivers all data then onend to a server whose client half-closed, and onend to the client when the server closes', function()
      local path = dir .. '/half.sock'
      local server_got, server_ended, client_ended = {}, false, false
      run(5, function(done)
         local server
         server = pipe.listen(path, function(client)
            client.ondata(function(chunk) server_got[#server_got + 1] = chunk end)
            client.onend(function() server_ended = true; server.close() end)
         end)
         pipe.connect(path, function(client)
            client.write(string.rep('x', 100000))
            client.write('end')
            client.close(done)
         end)
      end)
      local all = table.concat(server_got)
      assert.are.equal(100003, #all)
      assert.are.equal('end', all:sub(-3))
      assert.is_true(server_ended)

      run(5, function(done)
         local server
         server = pipe.listen(path, function(client)
            client.write('last words')
            client.close(function() server.close() end)
         end)
         local got = {}
         local client = pipe.connect(path)
         client.ondata(function(chunk) got[#got + 1] = chunk end)
         client.onend(function()
            client_ended = table.concat(got) == 'last words'
         end)
         client.onclose(done)
      end)
      assert.is_true(client_ended)
   end)

   it('holds writes to a paused reader (write gives false), then drains once it resumes', function()
      local path = dir .. '/pause.sock'
      local sent, total, drains, queued_when_refused = 0, 0, 0, 0
      run(10, function(done)
         local server
         server = pipe.listen(path, function(client)
            client.pause()
            client.ondata(function(chunk) total = total + #chunk end)
            async.setTimeout(50, client.resume)
            client.onend(function() server.close(done) end)
         end)
         local client = pipe.connect(path)
         client.ondrain(function()
            drains = drains + 1
            client.close()
         end)
         local piece = string.rep('p', 256 * 1024)
         repeat
            sent = sent + #piece
         until not client.write(piece) or sent >= 256 * 1024 * 1024
         queued_when_refused = client.writeQueueSize()
      end)
      assert.is_true(queued_when_refused > 0)
      assert.is_true(sent < 16 * 1024 * 1024, 'write never said to wait')
      assert.are.equal(1, drains)
      assert.are.equal(sent, total)
   end)

   it('sends what onend writes before closing, to a peer that half-closed (Python)', function()
      if not has_python then pending('python3 is not installed') return end
      local path = dir .. '/python.sock'
      local server = pipe.listen(path, function(client)
         local got = {}
         client.ondata(function(chunk) got[#got + 1] = chunk end)
         client.onend(function() client.write('got ' .. table.concat(got) .. ', bye\n') end)
      end)
      local connect = string.format('socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\ns.connect(%q)', path)
      local result = support.python_peer(server, support.python_half_close(connect),
         function(text) return text:find('\n') ~= nil end)
      assert.are.equal('got question, bye\n', result)
   end)

   it('reports a stale socket file at listen as EADDRINUSE and leaves the file alone', function()
      local path = dir .. '/stale.sock'
      -- A socket file whose server is gone: made by Python, which does not
      -- remove it when it exits (nor does a crashed server).
      if has_python then
         assert.is_true(os.execute(string.format(
            "python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(%q)'", path)) == 0)
      else
         assert(io.open(path, 'w')):close()
      end
      local message = support.error_of('pipe_spec.lua', function() pipe.listen(path, function() end) end)
      assert.are.equal('listen: EADDRINUSE: address already in use "' .. path .. '"', message)
      assert.is_true(exists(path))
      -- A path in use by a live server of ours is refused the same way.
      local live = dir .. '/live.sock'
      local server = pipe.listen(live, function() end)
      assert.has_error(function() pipe.listen(live, function() end) end,
         'listen: EADDRINUSE: address already in use "' .. live .. '"')
      run(5, function(done) server.close(done) end)
      -- A missing directory.
      assert.has_error(function() pipe.listen(dir .. '/no/such/dir.sock', function() end) end,
         'listen: EACCES: permission denied "' .. dir .. '/no/such/dir.sock"')
      async.go()   -- the refused servers finish closing
      assert.is_nil(next(async.handles()))
   end)

   it('reports a missing path or a dead socket to onerr, never to the connect callback', function()
      local results = {}
      local function try(path)
         local result = {connected = false}
         results[#results + 1] = result
         local client = pipe.connect(path, function() result.connected = true end)
         client.onerr(function(err) result.err = err end)
         client.onclose(function() result.closed = true end)
      end
      local stale = dir .. '/dead.sock'
      if has_python then
         os.execute(string.format("python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(%q)'", stale))
      end
      run(5, function(done)
         try(dir .. '/missing.sock')
         if has_python then try(stale) end
         async.setTimeout(50, done)
      end)
      assert.are.same({connected = false, closed = true,
         err = 'ENOENT: no such file or directory "' .. dir .. '/missing.sock"'}, results[1])
      if has_python then
         assert.are.same({connected = false, closed = true,
            err = 'ECONNREFUSED: connection refused "' .. stale .. '"'}, results[2])
      end
   end)

   it('uses the abstract namespace for a name starting with a zero byte (Linux)', function()
      if not linux then pending('abstract socket names are Linux only') return end
      local name = '\0async-pipe-spec-' .. os.time() .. '-' .. math.random(1e9)
      local server_name, client_peer, got
      run(5, function(done)
         local server
         server = echo_server(name, function(client) server_name = client.sockname end)
         assert.are.equal(name, server.sockname)
         pipe.connect(name, function(client)
            client_peer = client.peername
            client.ondata(function(chunk)
               got = chunk
               client.close(function() server.close(done) end)
            end)
            client.write('abstract')
         end)
      end)
      assert.are.equal('abstract', got)
      assert.are.equal(name, server_name)
      assert.are.equal(name, client_peer)
      -- Nothing was made in the file system, and the name is free again.
      assert.is_false(exists(name:sub(2)))
      local again = pipe.listen(name, function() end)
      run(5, function(done) again.close(done) end)
      -- Messages show the name with '@'.
      local err
      run(5, function(done)
         local client = pipe.connect(name)
         client.onerr(function(e) err = e end)
         client.onclose(done)
      end)
      assert.are.equal('ECONNREFUSED: connection refused "@' .. name:sub(2) .. '"', err)
   end)

   it('closes servers and clients once, cancels a connect, and never calls back a closed handle', function()
      local path = dir .. '/close.sock'
      local counts = {server_close = 0, onclose = 0, connection = 0, connect = 0, err = 0}
      local write_result, write_error
      run(5, function(done)
         local server = pipe.listen(path, function() counts.connection = counts.connection + 1 end)
         server.onclose(function() counts.onclose = counts.onclose + 1 end)
         -- Closed at once: neither connected nor failed, and the server
         -- never hears of it.
         local cancelled = pipe.connect(path, function() counts.connect = counts.connect + 1 end)
         cancelled.onerr(function() counts.err = counts.err + 1 end)
         cancelled.close()
         write_result = cancelled.write('late', function(e) write_error = e end)
         server.close(function() counts.server_close = counts.server_close + 1 end)
         server.close(function()
            counts.server_close = counts.server_close + 1
            -- Closed and gone: a new connect finds no file.
            local late = pipe.connect(path, function() counts.connect = counts.connect + 1 end)
            late.onerr(function() counts.err = counts.err + 1 end)
            late.onclose(done)
         end)
      end)
      assert.are.same({server_close = 2, onclose = 1, connection = 0, connect = 0, err = 1}, counts)
      assert.is_false(write_result)
      assert.matches('^EPIPE', write_error)
   end)

   it('raises an error of the connection callback from go()', function()
      local path = dir .. '/raise.sock'
      local accepted
      local server = pipe.listen(path, function(client)
         accepted = client
         error('boom in the callback')
      end)
      local client = pipe.connect(path)
      client.ondata(function() end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('boom in the callback', err)
      run(5, function(done)
         accepted.close()
         client.close()
         server.close(done)
      end)
   end)

   it('rejects bad arguments with clear errors', function()
      local noop = function() end
      local cases = {
         {'bad argument #1 to \'listen\' (string expected, got nil)', function() pipe.listen(nil, noop) end},
         {'bad argument #1 to \'listen\' (string expected, got table)', function() pipe.listen({}, noop) end},
         {'bad argument #2 to \'listen\' (function expected, got no value)', function() pipe.listen(dir .. '/x') end},
         {'bad argument #1 to \'connect\' (string expected, got boolean)', function() pipe.connect(true) end},
         {'bad argument #2 to \'connect\' (function expected, got number)', function() pipe.connect(dir .. '/x', 3) end},
         {'listen: the path is empty', function() pipe.listen('', noop) end},
         {'connect: the path is empty', function() pipe.connect('') end},
         {'listen: the path \'a\\0b\' holds a zero byte', function() pipe.listen('a\0b', noop) end},
         {'connect: the path \'' .. string.rep('p', 200) .. '\' is 200 bytes long, a socket path holds at most 107',
            function() pipe.connect(string.rep('p', 200)) end},
      }
      for _, case in ipairs(cases) do
         assert.are.equal(case[1], support.error_of('pipe_spec.lua', case[2]))
      end
      -- Nothing was left open or made by the refused calls.
      assert.is_nil(next(async.handles()))
      assert.is_false(exists(dir .. '/x'))
      -- A server's methods check theirs too.
      local server = pipe.listen(dir .. '/m.sock', noop)
      assert.are.equal('bad argument #1 to \'close\' (function expected, got number)',
         support.error_of('pipe_spec.lua', function() server.close(5) end))
      run(5, function(done) server.close(done) end)
   end)

   it('is require("async.pipe")', function()
      assert.are.equal(async.pipe, require 'async.pipe')
   end)
end)
