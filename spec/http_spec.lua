local async = require 'async'
local http = async.http
local tcp = async.tcp
local json = async.json

local support = require 'spec.support'
local run = support.run

local function have(program)
   return os.execute('command -v ' .. program .. ' >/dev/null 2>&1') == 0
end

-- Runs a shell command in the background while the loop goes on;
-- `cb(stdout, exit_code)` once it has finished.
local function shell(command, cb)
   local base = os.tmpname()
   os.execute('((' .. command .. ') > ' .. base .. '.out 2>' .. base .. '.err; echo $? > ' .. base .. '.rc.tmp; mv ' .. base .. '.rc.tmp ' .. base .. '.rc) &')
   local poll
   poll = async.setInterval(10, function()
      local r = io.open(base .. '.rc')
      if not r then return end
      local code = tonumber(r:read('*a')); r:close()
      local o = io.open(base .. '.out'); local out = o:read('*a'); o:close()
      for _, suffix in ipairs({'', '.out', '.err', '.rc'}) do os.remove(base .. suffix) end
      poll.clear()
      cb(out, code)
   end)
end

local function write_file(text)
   local path = os.tmpname()
   local f = assert(io.open(path, 'wb')); f:write(text); f:close()
   return path
end

-- A server on a port the OS picks that counts its connections.
local function serve(handler, options)
   local counts = setmetatable({connections = 0}, {__mode = 'k'})
   local server = http.listen({host = '127.0.0.1', port = 0}, function(req, res, client)
      if not counts[client] then
         counts[client] = true
         counts.connections = counts.connections + 1
      end
      handler(req, res, client)
   end, options)
   return server, 'http://127.0.0.1:' .. server.sockname.port, counts
end

-- Sends raw bytes (a string, or an array of strings written one per loop
-- turn), collects what comes back until the server closes; `cb(reply)`.
local function raw(port, chunks, cb, on_client)
   tcp.connect({host = '127.0.0.1', port = port}, function(client)
      local got = {}
      client.ondata(function(chunk) got[#got + 1] = chunk end)
      client.onclose(function() cb(table.concat(got)) end)
      client.onerr(function() end)
      if type(chunks) == 'string' then
         client.write(chunks)
      else
         local i = 0
         local function next_chunk()
            i = i + 1
            if chunks[i] then client.write(chunks[i]); async.setTimeout(1, next_chunk) end
         end
         next_chunk()
      end
      if on_client then on_client(client) end
   end)
end

-- Sends each request of `requests` (name -> bytes) on a connection of
-- its own; `cb(replies)` (name -> what came back) once all are closed.
local function raw_each(port, requests, cb)
   local replies, left = {}, 0
   for name, request in pairs(requests) do
      left = left + 1
      raw(port, request, function(r)
         replies[name] = r
         left = left - 1
         if left == 0 then cb(replies) end
      end)
   end
end

-- The end of a client test: let go of pooled connections, close the server.
local function finish(server, done)
   http.closeIdleConnections()
   server.close(done)
end

local function count(text, pattern)
   local n = 0
   for _ in text:gmatch(pattern) do n = n + 1 end
   return n
end

describe('http server', function()
   it('answers with the default headers, the reason from http.codes, and res called later', function()
      local reply
      run(5, function(done)
         local server; server = serve(function(req, res)
            async.setTimeout(20, function() res('made ' .. req.url.path .. ' ' .. req.url.query, nil, 201) end)
         end)
         raw(server.sockname.port, 'GET /x/y%20z?a=1&b=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', function(r)
            reply = r; server.close(done)
         end)
      end)
      assert.matches('^HTTP/1.1 201 Created\r\n', reply)
      assert.matches('\r\nContent%-Type: text/plain\r\n', reply)
      assert.matches('\r\nServer: ASyNC\r\n', reply)
      assert.matches('\r\nDate: %a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT\r\n', reply)
      assert.matches('\r\nContent%-Length: 21\r\n', reply)
      assert.matches('\r\n\r\nmade /x/y%%20z a=1&b=2$', reply)
      assert.are.equal('Not Found', http.codes[404])
      assert.are.equal('OK', http.codes[200])
   end)

   it('gives the request table of the contract', function()
      local seen
      run(5, function(done)
         local server; server = serve(function(req, res)
            seen = req
            res('ok', {['X-One'] = 1, ['Set-Cookie'] = {'a=1', 'b=2'}})
         end)
         raw(server.sockname.port, 'PUT /p HTTP/1.0\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\nContent-Length: 3\r\n\r\nabc', function(r)
            seen.reply = r; server.close(done)
         end)
      end)
      assert.are.equal('PUT', seen.method)
      assert.are.same({path = '/p'}, seen.url)
      assert.are.equal('2', seen.headers['x-dup'])
      assert.are.equal('h', seen.headers.host)
      assert.are.equal('abc', seen.body)
      assert.are.equal(1, seen.version_major)
      assert.are.equal(0, seen.version_minor)
      assert.is_false(seen.should_keep_alive)
      assert.is_false(seen.upgrade)
      assert.matches('\r\nX%-One: 1\r\n', seen.reply)
      assert.matches('\r\nSet%-Cookie: a=1\r\nSet%-Cookie: b=2\r\n', seen.reply)
      assert.matches('\r\nConnection: close\r\n', seen.reply)
   end)

   it('raises on a bad header value, a bad status and a second res; listens on an http:// URL', function()
      local errors, replies = {}, nil
      run(5, function(done)
         local server; server = http.listen('http://127.0.0.1:0/', function(req, res)
            local case = req.url.path:sub(2)
            if case == 'value' then
               errors.value = select(2, pcall(res, 'x', {['X-Bad'] = 'a\r\nInjected: yes'}))
            elseif case == 'status' then
               errors.status = select(2, pcall(res, 'x', nil, 42))
            elseif case == 'headers' then
               errors.headers = select(2, pcall(res, 'x', 'not a table'))
            else
               res('fine')
               errors.again = select(2, pcall(res, 'again'))
            end
         end)
         -- Keep-alive requests: only the 500 closes their connections.
         local requests = {fine = 'GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'}
         for _, case in ipairs({'value', 'status', 'headers'}) do requests[case] = 'GET /' .. case .. ' HTTP/1.1\r\nHost: x\r\n\r\n' end
         raw_each(server.sockname.port, requests, function(r) replies = r; server.close(done) end)
      end)
      assert.matches('^res: invalid value for header "X%-Bad"$', errors.value)
      assert.matches('status code', errors.status)
      assert.matches('bad argument #2', errors.headers)
      assert.matches('already answered', errors.again)
      -- A res that raised answered 500 and closed the connection.
      for _, case in ipairs({'value', 'status', 'headers'}) do
         assert.matches('^HTTP/1.1 500 Internal Server Error\r\n.*Connection: close\r\n\r\nInternal Server Error\n$', replies[case])
      end
      assert.is_nil(replies.value:find('Injected'))
      assert.matches('^HTTP/1.1 200 OK\r\n.*fine$', replies.fine)
      assert.are.equal(http, require('async.http'))
   end)

   it('refuses a 1xx status as the final response: a clear error, 500, and the connection closes', function()
      local errors, replies = {}, nil
      run(5, function(done)
         local server; server = serve(function(req, res)
            local status = tonumber(req.url.path:sub(2))
            errors[status] = select(2, pcall(res, 'early', {['Link'] = '</style.css>; rel=preload'}, status))
         end)
         -- Keep-alive requests: left waiting for a final response, the
         -- client would hang, so the 500 must come and close.
         local requests = {}
         for _, status in ipairs({100, 101, 103, 199}) do
            requests[status] = 'GET /' .. status .. ' HTTP/1.1\r\nHost: x\r\n\r\nGET /200 HTTP/1.1\r\nHost: x\r\n\r\n'
         end
         raw_each(server.sockname.port, requests, function(r) replies = r; server.close(done) end)
      end)
      for _, status in ipairs({100, 101, 103, 199}) do
         assert.are.equal('res: status 1xx is not a final response', errors[status])
         assert.matches('^HTTP/1.1 500 Internal Server Error\r\n.*Connection: close\r\n\r\nInternal Server Error\n$', replies[status])
         assert.are.equal(1, count(replies[status], 'HTTP/1.1'), status)
      end
   end)

   it('keeps HTTP/1.0 connections alive when asked, and answers HEAD without a body', function()
      local reply
      run(5, function(done)
         local server; server = serve(function(req, res) res('twelve bytes') end)
         raw(server.sockname.port, {
            'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
            'HEAD / HTTP/1.1\r\nHost: h\r\n\r\n',
            'GET / HTTP/1.0\r\n\r\n',
         }, function(r) reply = r; server.close(done) end)
      end)
      assert.are.equal(3, count(reply, 'HTTP/1.1 200 OK'))
      assert.are.equal(3, count(reply, 'Content%-Length: 12\r\n'))
      assert.are.equal(2, count(reply, 'twelve bytes'))
      assert.are.equal(2, count(reply, 'Connection: keep%-alive'))
      assert.matches('Connection: close\r\n\r\ntwelve bytes$', reply)
   end)

   it('answers pipelined requests in order, whatever order res is called in', function()
      local reply
      run(5, function(done)
         local server; server = serve(function(req, res)
            local delay = tonumber(req.url.path:sub(2))
            async.setTimeout(delay, function() res(req.url.path) end)
         end)
         local requests = {}
         for i, delay in ipairs({60, 1, 30, 0, 10}) do
            requests[i] = 'GET /' .. delay .. ' HTTP/1.1\r\nHost: h\r\n' .. (i == 5 and 'Connection: close\r\n' or '') .. '\r\n'
         end
         raw(server.sockname.port, table.concat(requests), function(r) reply = r; server.close(done) end)
      end)
      local order = {}
      for path in reply:gmatch('\r\n\r\n(/%d+)') do order[#order + 1] = path end
      assert.are.same({'/60', '/1', '/30', '/0', '/10'}, order)
   end)

   it('answers 5,000 pipelined requests sent in one write and answered at once', function()
      local reply, called = nil, 0
      run(10, function(done)
         local server; server = serve(function(req, res) called = called + 1; res('r') end)
         local one = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n'
         raw(server.sockname.port, string.rep(one, 4999) .. 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', function(r)
            reply = r; server.close(done)
         end)
      end)
      assert.are.equal(5000, called)
      assert.are.equal(5000, count(reply, 'HTTP/1.1 200 OK'))
   end)

   it('stops taking requests from a peer that does not read its responses', function()
      local called_while_stalled, total, called = nil, 0, 0
      run(20, function(done)
         local big = string.rep('y', 64 * 1024)
         local server; server = serve(function(req, res) called = called + 1; res(big) end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write(string.rep('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 999) .. 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
            async.setTimeout(300, function()
               called_while_stalled = called
               client.ondata(function(chunk) total = total + #chunk end)
               client.onclose(function() server.close(done) end)
            end)
         end)
      end)
      assert.is_true(called_while_stalled < 200, called_while_stalled .. ' requests handled while stalled')
      assert.are.equal(1000, called)
      assert.is_true(total > 1000 * 64 * 1024)
   end)

   it('reads a request sent one byte at a time, chunked body included', function()
      local seen, reply
      run(10, function(done)
         local server; server = serve(function(req, res) seen = req.body; res('got it') end)
         local request = 'POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'
         local bytes = {}
         for i = 1, #request do bytes[i] = request:sub(i, i) end
         raw(server.sockname.port, bytes, function(r) reply = r; server.close(done) end)
      end)
      assert.are.equal('hello world', seen)
      assert.matches('got it$', reply)
   end)

   it('decodes JSON and multipart POST bodies; a bad JSON body gets 400', function()
      local bodies, replies = {}, {}
      run(5, function(done)
         local server; server = serve(function(req, res) bodies[#bodies + 1] = req.body; res('ok') end)
         local port = server.sockname.port
         local multipart = table.concat({
            '--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n',
            '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nfile data\r\n',
            '--XyZ--\r\n'})
         local requests = {
            'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 13\r\n\r\n{"a":[1,2,3]}',
            'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: ' .. #multipart .. '\r\n\r\n' .. multipart,
            'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{bad}',
         }
         raw(port, table.concat(requests), function(r) replies[1] = r; server.close(done) end)
      end)
      assert.are.same({a = {1, 2, 3}}, bodies[1])
      assert.are.same({field = {data = 'value'}, file = {data = 'file data', filename = 'a.txt', ['content-type'] = 'text/plain'}}, bodies[2])
      assert.are.equal(2, #bodies)
      assert.matches('HTTP/1.1 400 Bad Request\r\n.*Connection: close', replies[1])
   end)

   it('answers Expect: 100-continue before the body', function()
      local reply, body
      run(5, function(done)
         local server; server = serve(function(req, res) body = req.body; res('thanks') end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            local got = ''
            client.ondata(function(chunk)
               got = got .. chunk
               if got == 'HTTP/1.1 100 Continue\r\n\r\n' then client.write('12345') end
               if got:match('thanks$') then reply = got; client.close(function() server.close(done) end) end
            end)
            client.write('POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n')
         end)
      end)
      assert.are.equal('12345', body)
      assert.matches('^HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n', reply)
   end)

   it('refuses with 431, 413 and 400, then closes; the server goes on', function()
      local replies = {}
      local called = 0
      run(5, function(done)
         local server; server = serve(function(req, res) called = called + 1; res('fine') end, {maxBodySize = 1000})
         local port = server.sockname.port
         local cases = {
            big_head = 'GET / HTTP/1.1\r\nHost: x\r\nX-Big: ' .. string.rep('a', 70 * 1024) .. '\r\n\r\n',
            big_body = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n' .. string.rep('b', 1001),
            big_chunks = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n' .. string.rep('c', 1000) .. '\r\n1\r\nd\r\n0\r\n\r\n',
            garbage = '\1\2\3 garbage \255\254\r\n\r\n',
            bad_length = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n',
            fine = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
         }
         local left = 0
         for name, request in pairs(cases) do
            left = left + 1
            raw(port, request, function(r)
               replies[name] = r
               left = left - 1
               if left == 0 then server.close(done) end
            end)
         end
      end)
      assert.matches('^HTTP/1.1 431 Request Header Fields Too Large\r\n', replies.big_head)
      assert.matches('^HTTP/1.1 413 Request Entity Too Large\r\n', replies.big_body)
      assert.matches('^HTTP/1.1 413 Request Entity Too Large\r\n', replies.big_chunks)
      assert.matches('^HTTP/1.1 400 Bad Request\r\n', replies.garbage)
      assert.matches('^HTTP/1.1 400 Bad Request\r\n', replies.bad_length)
      assert.matches('fine$', replies.fine)
      assert.are.equal(1, called)
   end)

   it('times out a slow header block and an idle keep-alive connection, and only them', function()
      local replies, elapsed = {}, {}
      run(5, function(done)
         local server; server = serve(function(req, res) res('fine') end, {headersTimeout = 300, keepAliveTimeout = 150})
         local port = server.sockname.port
         local start = async.hrtime and async.hrtime() or os.clock()
         local left = 3
         local function finished()
            left = left - 1
            if left == 0 then server.close(done) end
         end
         -- Slowloris: a byte every 50 ms keeps the socket busy, not the request.
         local slow = {}
         local text = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' .. string.rep('z', 100)
         for i = 1, #text do slow[i] = text:sub(i, i) end
         tcp.connect({host = '127.0.0.1', port = port}, function(client)
            local got, i = {}, 0
            local t0 = os.time()
            client.ondata(function(chunk) got[#got + 1] = chunk end)
            client.onerr(function() end)
            local ticker; ticker = async.setInterval(50, function()
               i = i + 1
               if slow[i] then client.write(slow[i]) end
            end)
            client.onclose(function() ticker.clear(); replies.slow = table.concat(got); elapsed.slow = i * 50; finished() end)
            local _ = t0
         end)
         -- Idle after one request: closed after keepAliveTimeout.
         raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', function(r) replies.idle = r; finished() end)
         -- Silent from the start: closed as idle too.
         raw(port, '', function(r) replies.silent = r; finished() end)
         local _ = start
      end)
      assert.matches('^HTTP/1.1 408 Request Time%-out\r\n', replies.slow)
      assert.is_true(elapsed.slow >= 250 and elapsed.slow < 1000, 'closed after ' .. elapsed.slow .. ' ms')
      assert.matches('^HTTP/1.1 200 OK\r\n.*fine$', replies.idle)
      assert.are.equal('', replies.silent)
   end)

   it('survives a client that disconnects mid-request, and one that never reads', function()
      local reply
      run(5, function(done)
         local server; server = serve(function(req, res) async.setTimeout(30, function() res(string.rep('x', 1e6)) end) end)
         local port = server.sockname.port
         tcp.connect({host = '127.0.0.1', port = port}, function(client)
            client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part', function() client.destroy() end)
         end)
         tcp.connect({host = '127.0.0.1', port = port}, function(client)
            client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n', function() client.destroy() end)
         end)
         async.setTimeout(100, function()
            raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', function(r) reply = r; server.close(done) end)
         end)
      end)
      assert.are.equal(1e6, #reply:match('\r\n\r\n(.*)$'))
   end)

   it('serves 1,000 concurrent keep-alive connections', function()
      local shell_limit = io.popen('ulimit -n'); local limit = shell_limit:read('*l'); shell_limit:close()
      if tonumber(limit) and tonumber(limit) < 2100 then pending('needs ulimit -n of 2100 or more, not ' .. limit) return end
      local answers, connections = 0, 0
      run(30, function(done)
         local server, _, counts = serve(function(req, res) res('n') end)
         local port = server.sockname.port
         local n = 1000
         local closed = 0
         for _ = 1, n do
            tcp.connect({host = '127.0.0.1', port = port}, function(client)
               local got = ''
               local sent = 1
               client.ondata(function(chunk)
                  got = got .. chunk
                  local _, k = got:gsub('\r\n\r\nn', '')
                  if k == sent and sent < 3 then
                     sent = sent + 1
                     client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
                  elseif k == 3 then
                     answers = answers + k
                     client.close(function()
                        closed = closed + 1
                        if closed == n then connections = counts.connections; server.close(done) end
                     end)
                  end
               end)
               client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            end)
         end
      end)
      assert.are.equal(3000, answers)
      assert.are.equal(1000, connections)
   end)

   it('closes idle connections with the server, and close() lets the loop end', function()
      local closed_client = false
      run(5, function(done)
         local server; server = serve(function(req, res) res('x') end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function()
               server.close(done)
            end)
            client.onclose(function() closed_client = true end)
            client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
         end)
      end)
      assert.is_true(closed_client)
   end)

   it('answers the curl program: keep-alive, POST JSON, multipart upload, chunked upload', function()
      if not have('curl') then pending('curl is not installed') return end
      local got, outputs, counts = {}, {}, nil
      local upload = write_file(string.rep('0123456789', 10000))
      run(20, function(done)
         local server, base
         server, base, counts = serve(function(req, res)
            got[req.url.path] = req.body
            res('path ' .. req.url.path .. '\n')
         end)
         local commands = {
            keepalive = 'curl -s ' .. base .. '/a ' .. base .. '/b ' .. base .. '/c',
            json = "curl -s -H 'Content-Type: application/json' -d '{\"k\":[true,null]}' " .. base .. '/json',
            multipart = 'curl -s -F name=value -F file=@' .. upload .. ' ' .. base .. '/multipart',
            chunked = "curl -s -H 'Transfer-Encoding: chunked' --data-binary @" .. upload .. ' ' .. base .. '/chunked',
         }
         local left = 0
         for name, command in pairs(commands) do
            left = left + 1
            shell(command, function(out, code)
               outputs[name] = {out, code}
               left = left - 1
               if left == 0 then server.close(done) end
            end)
         end
      end)
      os.remove(upload)
      assert.are.same({'path /a\npath /b\npath /c\n', 0}, outputs.keepalive)
      assert.are.same({'path /json\n', 0}, outputs.json)
      assert.are.same({k = {true, json.null}}, got['/json'])
      assert.are.same({'path /multipart\n', 0}, outputs.multipart)
      assert.are.equal('value', got['/multipart'].name.data)
      assert.are.equal(100000, #got['/multipart'].file.data)
      assert.is_string(got['/multipart'].file.filename)
      assert.are.equal(string.rep('0123456789', 10000), got['/chunked'])
      -- Three requests of one curl on one connection, one each for the rest.
      assert.are.equal(4, counts.connections)
   end)

   it("answers Python's http.client, several requests on one connection", function()
      if not have('python3') then pending('python3 is not installed') return end
      local output, connections
      run(20, function(done)
         local server, _, counts = serve(function(req, res)
            res(req.method .. ' ' .. req.url.path .. ' ' .. #req.body, {['Content-Type'] = 'text/plain', ['X-Test'] = 'yes'})
         end)
         local script = write_file(string.format([[
import http.client
c = http.client.HTTPConnection('127.0.0.1', %d)
out = []
for i in range(3):
    c.request('POST', '/n%%d' %% i, body=b'x' * (i * 1000))
    r = c.getresponse()
    out.append('%%d %%s %%s' %% (r.status, r.getheader('X-Test'), r.read().decode()))
c.request('HEAD', '/h')
r = c.getresponse()
out.append('%%d %%s %%r' %% (r.status, r.getheader('Content-Length'), r.read()))
print('|'.join(out))
]], server.sockname.port))
         shell('python3 ' .. script, function(out)
            os.remove(script)
            output = out
            connections = counts.connections
            server.close(done)
         end)
      end)
      assert.are.equal("200 yes POST /n0 0|200 yes POST /n1 1000|200 yes POST /n2 2000|200 9 b''\n", output)
      assert.are.equal(1, connections)
   end)
end)

describe("http res as the original async had it", function()
   -- One chunk of a chunked body, framed by hand as a handler does.
   local function chunk(text) return string.format('%x\r\n%s\r\n', #text, text) end

   -- Writes `chunks` on `client` one every 10 ms (long after `res`), then
   -- calls `after()`; `results` gets what each write returned.
   local function trickle(client, chunks, after, results)
      local i = 0
      local timer; timer = async.setInterval(10, function()
         i = i + 1
         if chunks[i] then
            local under = client.write(chunks[i])
            if results then results[i] = under end
         else
            timer.clear()
            if after then after() end
         end
      end)
   end

   -- The bytes a server with `handler` sends back to one request.
   local function reply_to(handler)
      local reply
      run(5, function(done)
         local server; server = serve(handler)
         raw(server.sockname.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', function(r) reply = r; server.close(done) end)
      end)
      return reply
   end

   local events = {chunk('data: one\n\n'), chunk('data: two\n\n'), chunk('data: three\n\n'), '0\r\n\r\n'}

   it('sends the head and the body as given under Transfer-Encoding: chunked; the handler writes the rest (server-sent events)', function()
      local reply, calls = nil, 0
      run(5, function(done)
         local server; server = serve(function(req, res, client)
            calls = calls + 1
            res(chunk('retry: 100\n\n'), {['Content-Type'] = 'text/event-stream', ['transfer-ENCODING'] = 'chunked', ['Content-Length'] = 5})
            trickle(client, events, function() client.close() end)
         end)
         -- Keep-alive, with a second request pipelined behind: it is not
         -- answered, as the response said Connection: close.
         raw(server.sockname.port, 'GET /events HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n', function(r)
            reply = r; server.close(done)
         end)
      end)
      local head, body = reply:match('^(.-\r\n\r\n)(.*)$')
      assert.matches('^HTTP/1.1 200 OK\r\n', head)
      assert.matches('\r\ntransfer%-ENCODING: chunked\r\n', head)
      assert.matches('\r\nConnection: close\r\n', head)
      assert.is_nil(head:find('Content%-Length'))
      assert.are.equal(chunk('retry: 100\n\n') .. table.concat(events), body)
      assert.are.equal(1, calls)
   end)

   it('lets async.http.request read a body the handler frames, on a connection it does not reuse', function()
      local got, connections = {}, nil
      run(5, function(done)
         local server, base, counts = serve(function(req, res, client)
            if req.url.path == '/events' then
               res('', {['Transfer-Encoding'] = 'chunked', ['Connection'] = 'keep-alive'})
               trickle(client, events)
            else
               res('plain')
            end
         end)
         http.request({url = base .. '/events', timeout = 2000}, function(r, err)
            got[1] = r or err
            http.get(base .. '/after', function(r2)
               got[2] = r2.body
               connections = counts.connections
               finish(server, done)
            end)
         end)
      end)
      assert.are.equal(200, got[1].status)
      assert.are.equal('data: one\n\ndata: two\n\ndata: three\n\n', got[1].body)
      assert.are.equal('close', got[1].headers.connection)
      assert.are.equal('plain', got[2])
      assert.are.equal(2, connections)
   end)

   it('takes raw header lines in the headers of http.request too', function()
      local seen
      run(5, function(done)
         local server, base = serve(function(req, res) seen = req.headers; res('ok') end)
         http.request({url = base .. '/', headers = {'X-Raw:  from the client ', ['X-Named'] = 'n'}}, function()
            finish(server, done)
         end)
      end)
      assert.are.equal('from the client', seen['x-raw'])
      assert.are.equal('n', seen['x-named'])
   end)

   it('hands a pipelined request to the handler only once the response before it is written', function()
      local reply, order = nil, {}
      run(5, function(done)
         local server; server = serve(function(req, res, client)
            order[#order + 1] = 'handler ' .. req.url.path
            if req.url.path == '/slow' then
               async.setTimeout(50, function() order[#order + 1] = 'res /slow'; res('slow') end)
            else
               res('', {['Transfer-Encoding'] = 'chunked'})
               client.write(chunk('at once'))
               trickle(client, {chunk('later'), '0\r\n\r\n'}, function() client.close() end)
            end
         end)
         raw(server.sockname.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\n', function(r)
            reply = r; server.close(done)
         end)
      end)
      assert.are.same({'handler /slow', 'res /slow', 'handler /stream'}, order)
      local first, second = reply:match('^(HTTP/1.1 200 OK\r\n.-\r\n\r\nslow)(HTTP/1.1 200 OK\r\n.*)$')
      assert.matches('Content%-Length: 4\r\nConnection: keep%-alive\r\n', first)
      assert.matches('\r\nConnection: close\r\n\r\n' .. chunk('at once'):gsub('%p', '%%%0') .. chunk('later') .. '0\r\n\r\n$', second)
   end)

   it('keeps a handed-over connection through server.close() and past the timeouts, and drops it quietly when the peer leaves', function()
      local reply, server_closed, writes = nil, false, {}
      run(5, function(done)
         local server; server = serve(function(req, res, client)
            res('', {['Transfer-Encoding'] = 'chunked'})
            if req.url.path == '/kept' then
               server.close(function() server_closed = true end)
               -- Silent for longer than either timeout of this server.
               async.setTimeout(150, function() trickle(client, events, function() client.close() end) end)
            else
               trickle(client, events, nil, writes)
            end
         end, {keepAliveTimeout = 40, headersTimeout = 40})
         local port = server.sockname.port
         tcp.connect({host = '127.0.0.1', port = port}, function(client)
            client.ondata(function() client.close() end)
            client.onclose(function()
               raw(port, 'GET /kept HTTP/1.1\r\nHost: x\r\n\r\n', function(r) reply = r; async.setTimeout(60, done) end)
            end)
            client.write('GET /leaves HTTP/1.1\r\nHost: x\r\n\r\n')
         end)
      end)
      assert.is_true(server_closed)
      assert.are.equal(table.concat(events), reply:match('\r\n\r\n(.*)$'))
      -- The peer that left: writes after its close are refused, not raised.
      assert.is_false(writes[#writes])
   end)

   it('replaces a given Content-Length by the real one, but for HEAD, 304 and 204', function()
      local reply, fetched
      run(5, function(done)
         local server, base = serve(function(req, res)
            local path = req.url.path
            if path == '/wrong' then res('abc', {['Content-Length'] = 10})
            elseif path == '/raw' then res('abcd', {'Content-Length: 1', ['content-length'] = '2'})
            elseif path == '/head' then res('', {['Content-Length'] = 1234})
            elseif path == '/304' then res('', {['Content-Length'] = 99}, 304)
            else res('', {['Content-Length'] = 99}, 204) end
         end)
         http.request({url = base .. '/wrong', timeout = 1000}, function(r, err)
            fetched = r and r.body or err
            raw(server.sockname.port, table.concat({
               'GET /wrong HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /raw HTTP/1.1\r\nHost: x\r\n\r\n', 'HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n',
               'GET /304 HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'}), function(text)
               reply = text
               finish(server, done)
            end)
         end)
      end)
      assert.are.equal('abc', fetched)
      local responses = {}
      for response in (reply .. 'HTTP/1.1 '):gmatch('(.-)HTTP/1%.1 ') do
         if response ~= '' then responses[#responses + 1] = response end
      end
      assert.are.equal(5, #responses)
      assert.matches('\r\nContent%-Length: 3\r\nConnection: keep%-alive\r\n\r\nabc$', responses[1])
      assert.matches('\r\nContent%-Length: 4\r\nConnection: keep%-alive\r\n\r\nabcd$', responses[2])
      assert.matches('\r\nContent%-Length: 1234\r\n', responses[3])
      assert.matches('^304 Not Modified\r\n.-Content%-Length: 99\r\n', responses[4])
      assert.matches('^204 No Content\r\n', responses[5])
      for i, response in ipairs(responses) do
         assert.are.equal(i == 5 and 0 or 1, count(response, 'Content%-Length'), response)
      end
   end)

   it('writes header entries at number keys as raw lines, and keeps a given Server and Date', function()
      local reply = reply_to(function(req, res)
         res('x', {'X-Raw: yes', ['Content-Type'] = 'text/plain', 'X-Second:\ttwo  ', Server = 'mine', Date = 'Thu, 01 Jan 1970 00:00:00 GMT'})
      end)
      assert.are.equal('HTTP/1.1 200 OK\r\n', reply:sub(1, 17))
      for _, line in ipairs({'X-Raw: yes', 'X-Second: two', 'Content-Type: text/plain', 'Server: mine', 'Date: Thu, 01 Jan 1970 00:00:00 GMT'}) do
         assert.truthy(reply:find('\r\n' .. line .. '\r\n', 1, true), line)
      end
      assert.are.equal(1, count(reply, 'Server:'))
      assert.are.equal(1, count(reply, 'Date:'))
      assert.are.equal('\r\n\r\nx', reply:sub(-5))
   end)

   it('refuses invalid header lines with a clear error, answers 500 and closes: no response splitting, no hang', function()
      local cases = {
         raw_crlf = {{'X-Raw: a\r\nInjected: yes'}, '^res: raw header line "X%-Raw: a\\r\\nInjected: yes" holds CR or LF'},
         raw_lf = {{'X-Raw: a\nInjected: yes'}, 'holds CR or LF'},
         raw_cr = {{'X-Raw: a\rInjected: yes'}, 'holds CR or LF'},
         raw_no_colon = {{'Injected yes'}, "^res: raw header line \"Injected yes\" is not 'Name: value'"},
         raw_space = {{'X-Raw : yes'}, '^res: invalid header name "X%-Raw "'},
         raw_type = {{true}, '^res: a raw header line must be a string, got boolean'},
         name_space = {{['Bad Name'] = 'v'}, '^res: invalid header name "Bad Name"'},
         name_crlf = {{['X\r\nInjected'] = 'yes'}, '^res: invalid header name "X\\r\\nInjected"'},
         value_lf = {{X = 'a\nInjected: yes'}, '^res: invalid value for header "X"'},
         value_nul = {{X = 'a\0b'}, '^res: invalid value for header "X"'},
         value_del = {{X = 'a\127b'}, '^res: invalid value for header "X"'},
         key_type = {{[true] = 'v'}, '^res: header names must be strings %(or raw lines at number keys%)'},
      }
      local errors, replies = {}, nil
      run(5, function(done)
         local server; server = serve(function(req, res)
            local name = req.url.path:sub(2)
            errors[name] = select(2, pcall(res, 'body', cases[name][1]))
            -- The request is answered: a second res does nothing.
            res('again')
         end)
         -- Keep-alive requests, a second one pipelined: only the 500
         -- closes their connections.
         local requests = {}
         for name in pairs(cases) do requests[name] = 'GET /' .. name .. ' HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n' end
         raw_each(server.sockname.port, requests, function(r) replies = r; server.close(done) end)
      end)
      for name, case in pairs(cases) do
         assert.matches(case[2], errors[name], nil, name)
         assert.matches('^HTTP/1.1 500 Internal Server Error\r\n.*\r\nConnection: close\r\n\r\nInternal Server Error\n$', replies[name], nil, name)
         assert.are.equal(1, count(replies[name], 'HTTP/1.1'), name)
         assert.is_nil(replies[name]:find('Injected'), name)
      end
   end)

   it('answers 500 and closes also when the handler lets the error of res go', function()
      local reply
      local ok, err = pcall(run, 5, function(done)
         local server; server = serve(function(req, res) res('x', {'X: a\r\nInjected: yes'}) end)
         raw(server.sockname.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', function(r) reply = r; server.close(done) end)
      end)
      assert.is_false(ok)
      assert.matches('holds CR or LF', err)
      async.go()
      assert.matches('^HTTP/1.1 500 Internal Server Error\r\n', reply)
      assert.is_nil(reply:find('Injected'))
   end)

   it("has the original's http.codes, phrase for phrase, in the status line too", function()
      local reply = reply_to(function(req, res) res('tea', nil, 418) end)
      assert.matches("^HTTP/1.1 418 I'm a teapot\r\n", reply)
      local expected = {
         [302] = 'Moved Temporarily', [408] = 'Request Time-out', [413] = 'Request Entity Too Large',
         [414] = 'Request-URI Too Large', [416] = 'Requested Range Not Satisfiable', [418] = "I'm a teapot",
         [425] = 'Unordered Collection', [504] = 'Gateway Time-out', [505] = 'HTTP Version not supported',
         [200] = 'OK', [509] = 'Bandwidth Limit Exceeded', [429] = 'Too Many Requests',
      }
      for code, phrase in pairs(expected) do assert.are.equal(phrase, http.codes[code], code) end
      local n = 0
      for _ in pairs(http.codes) do n = n + 1 end
      assert.are.equal(63, n)
   end)
end)

describe('http client', function()
   it('gets, posts and requests from our server, reusing one connection', function()
      local results, connections = {}, nil
      run(5, function(done)
         local server, base, counts = serve(function(req, res)
            res(req.method .. ' ' .. req.url.path .. ' ' .. (type(req.body) == 'table' and json.encode(req.body) or req.body) ..
               ' ' .. tostring(req.headers['x-h']))
         end)
         http.get(base .. '/one', function(res, err)
            results[1] = {res.status, res.body, err}
            http.post(base .. '/two', 'body', function(res2)
               results[2] = res2.body
               http.request({url = base .. '/three?q', method = 'PUT', headers = {['X-H'] = 'v'}, body = 'b3', timeout = 1000}, function(res3)
                  results[3] = res3.body
                  results[4] = res3.headers['content-type']
                  http.request({url = base .. '/four', method = 'HEAD'}, function(res4)
                     results[5] = {res4.status, res4.headers['content-length'], res4.body}
                     connections = counts.connections
                     finish(server, done)
                  end)
               end)
            end)
         end)
      end)
      assert.are.same({200, 'GET /one  nil'}, results[1])
      assert.are.equal('POST /two body nil', results[2])
      assert.are.equal('PUT /three b3 v', results[3])
      assert.are.equal('text/plain', results[4])
      assert.are.same({200, '15', ''}, results[5])
      assert.are.equal(1, connections)
   end)

   it('reads chunked and close-delimited bodies', function()
      local chunked, delimited
      run(5, function(done)
         local server, base = serve(function(req, res)
            -- The handler frames the chunks (see http_res_spec.lua).
            res({'b\r\nchunk one, \r\n', '9\r\nchunk two\r\n0\r\n\r\n'}, {['Transfer-Encoding'] = 'chunked'})
         end)
         local plain = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.ondata(function()
               client.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end')
               client.close()
            end)
         end)
         http.get(base .. '/', function(res)
            chunked = res
            http.get('http://127.0.0.1:' .. plain.sockname.port .. '/', function(res2, err)
               delimited = res2 or err
               http.closeIdleConnections()
               plain.close()
               server.close(done)
            end)
         end)
      end)
      assert.are.equal('chunk one, chunk two', chunked.body)
      assert.are.equal('chunked', chunked.headers['transfer-encoding'])
      assert.are.equal('until the end', delimited.body)
      assert.are.equal(200, delimited.status)
   end)

   it("sends the body's real length in place of a given Content-Length", function()
      -- What a raw server received for each request, once its body came.
      local received = {}
      local cases = {
         long = {method = 'POST', headers = {['Content-Length'] = 100}, body = 'hello'},
         short = {method = 'POST', headers = {['content-length'] = '2'}, body = 'hello'},
         raw = {method = 'PUT', headers = {'Content-Length: 0'}, body = 'abc'},
         get_given = {method = 'GET', headers = {['Content-Length'] = 10}},
         get = {method = 'GET'},
         chunked = {method = 'POST', headers = {['Content-Length'] = 9, ['Transfer-Encoding'] = 'chunked'}, body = 'abc'},
      }
      run(5, function(done)
         local left = 0
         local server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            local got = ''
            client.ondata(function(chunk)
               got = got .. chunk
               local name = got:match('^%u+ /(%S+) ')
               local head_end = got:find('\r\n\r\n', 1, true)
               local case = name and cases[name]
               if not (case and head_end) then return end
               local body = case.body or ''
               if case.headers and case.headers['Transfer-Encoding'] then body = string.format('%x\r\n%s\r\n0\r\n\r\n', #body, body) end
               if #got < head_end + 3 + #body then return end
               received[name] = got
               client.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
            end)
         end)
         local finished
         for name, case in pairs(cases) do
            left = left + 1
            local options = {url = 'http://127.0.0.1:' .. server.sockname.port .. '/' .. name, timeout = 2000}
            for key, value in pairs(case) do options[key] = value end
            http.request(options, function()
               left = left - 1
               if left == 0 then finished() end
            end)
         end
         finished = function() http.closeIdleConnections(); server.close(done) end
      end)
      for name, length in pairs({long = '5', short = '5', raw = '3', get_given = '0'}) do
         local head = received[name]:lower():match('^(.-\r\n\r\n)')
         assert.are.equal(1, count(head, 'content%-length'), name)
         assert.are.equal(length, head:match('\r\ncontent%-length: (%d+)\r\n'), name)
      end
      assert.matches('\r\n\r\nhello$', received.long)
      assert.matches('\r\n\r\nhello$', received.short)
      assert.is_nil(received.get:lower():find('content-length', 1, true))
      assert.is_nil(received.chunked:lower():find('content-length', 1, true))
      assert.matches('\r\n\r\n3\r\nabc\r\n0\r\n\r\n$', received.chunked)
   end)

   it("fetches from Python's http.server", function()
      if not have('python3') then pending('python3 is not installed') return end
      local dir = os.tmpname()
      os.remove(dir)
      os.execute('mkdir -p ' .. dir)
      local f = io.open(dir .. '/file.txt', 'w'); f:write(string.rep('python ', 1000)); f:close()
      -- A free port: ask the OS through a server of ours, then let it go.
      local port
      run(5, function(done)
         local probe = tcp.listen({host = '127.0.0.1', port = 0}, function() end)
         port = probe.sockname.port
         probe.close(done)
      end)
      os.execute('cd ' .. dir .. ' && (python3 -m http.server ' .. port .. ' --bind 127.0.0.1 >/dev/null 2>&1 & echo $! > ' .. dir .. '/pid)')
      local result, missing
      run(15, function(done)
         local function try()
            http.get('http://127.0.0.1:' .. port .. '/file.txt', function(res, err)
               if not res then return async.setTimeout(100, try) end
               result = res
               http.get('http://127.0.0.1:' .. port .. '/nothing-here', function(res2)
                  missing = res2.status
                  http.closeIdleConnections()
                  done()
               end)
            end)
         end
         try()
      end)
      os.execute('kill $(cat ' .. dir .. '/pid); rm -rf ' .. dir)
      assert.are.equal(200, result.status)
      assert.are.equal(7000, #result.body)
      assert.are.equal(404, missing)
   end)

   it('reports connection errors and timeouts, and does not reuse a timed-out connection', function()
      local refused, timed_out, after, accepts = nil, nil, nil, 0
      run(5, function(done)
         local probe = tcp.listen({host = '127.0.0.1', port = 0}, function() end)
         local dead_port = probe.sockname.port
         probe.close(function()
            http.get('http://127.0.0.1:' .. dead_port .. '/', function(res, err)
               refused = {res, err}
               local mute = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
                  accepts = accepts + 1
                  client.onsplitdata('\r\n\r\n', function()
                     if accepts > 1 then client.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok') end
                  end)
               end)
               local url = 'http://127.0.0.1:' .. mute.sockname.port .. '/'
               http.request({url = url, timeout = 100}, function(res2, err2)
                  timed_out = {res2, err2}
                  http.get(url, function(res3)
                     after = res3.body
                     http.closeIdleConnections()
                     mute.close(done)
                  end)
               end)
            end)
         end)
      end)
      assert.is_nil(refused[1])
      assert.matches('^ECONNREFUSED', refused[2])
      assert.is_nil(timed_out[1])
      assert.matches('^ETIMEDOUT', timed_out[2])
      assert.are.equal('ok', after)
      assert.are.equal(2, accepts)
   end)

   it('opens a connection per concurrent request, and reuses them afterwards', function()
      local statuses, first, second = 0, nil, nil
      run(10, function(done)
         local server, base, counts = serve(function(req, res) async.setTimeout(10, function() res('ok') end) end)
         local function batch(n, after)
            local left = n
            for _ = 1, n do
               http.get(base .. '/', function(res)
                  if res.status == 200 then statuses = statuses + 1 end
                  left = left - 1
                  if left == 0 then after() end
               end)
            end
         end
         batch(10, function()
            first = counts.connections
            batch(10, function()
               second = counts.connections
               finish(server, done)
            end)
         end)
      end)
      assert.are.equal(20, statuses)
      assert.are.equal(10, first)
      assert.are.equal(10, second)
   end)

   it('gets past a pooled connection that the server closed meanwhile', function()
      local bodies = {}
      run(5, function(done)
         local server, base, counts = serve(function(req, res) res('n' .. #bodies) end, {keepAliveTimeout = 30})
         http.get(base .. '/', function(res)
            bodies[1] = res.body
            async.setTimeout(150, function()
               http.get(base .. '/', function(res2, err)
                  bodies[2] = res2 and res2.body or err
                  bodies[3] = counts.connections
                  finish(server, done)
               end)
            end)
         end)
      end)
      assert.are.same({'n0', 'n1', 2}, bodies)
   end)

   it('leaves the Lua heap flat over many requests and connections', function()
      local function cycles(n, fresh, done)
         local server, base = serve(function(req, res) res(req.url.path) end)
         local left = n
         local function one()
            local headers = fresh and {Connection = 'close'} or nil
            http.request({url = base .. '/x', headers = headers}, function(res)
               assert(res.body == '/x')
               left = left - 1
               if left == 0 then http.closeIdleConnections(); server.close(done) else one() end
            end)
         end
         one()
      end
      run(20, function(done) cycles(200, true, function() cycles(200, false, done) end) end)
      local before = support.heap_kib()
      run(60, function(done) cycles(2000, true, function() cycles(2000, false, done) end) end)
      local after = support.heap_kib()
      assert.is_true(after - before < 200, ('Lua heap grew by %.0f KiB'):format(after - before))
   end)

   it('refuses other schemes and bad arguments', function()
      assert.has_error(function() http.get('https://example.com/', function() end) end)
      assert.has_error(function() http.request({}, function() end) end)
      assert.has_error(function() http.request({url = 'http://x/', method = 'BAD METHOD'}, function() end) end)
   end)

   it('works with fiber.sync', function()
      local got
      run(5, function(done)
         local server, base = serve(function(req, res) res('synced') end)
         async.fiber(function()
            local res = async.fiber.sync.request({url = base .. '/'})
            got = res.body
            finish(server, done)
         end)
      end)
      assert.are.equal('synced', got)
   end)
end)
