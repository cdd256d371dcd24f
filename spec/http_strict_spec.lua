-- How strictly the HTTP server reads requests (RFC 9112), seen from a raw
-- TCP client: each case sends bytes and checks the statuses that come
-- back, how many times the handler ran (a smuggled request must never
-- reach it) and whether the server closed the connection.
local async = require 'async'
local http = async.http
local tcp = async.tcp

local support = require 'spec.support'
local run = support.run

-- How long a connection must stay silent, neither sending nor closing,
-- to count as kept open.
local QUIET_MS = 200

-- Runs one case; `cb(outcome)` with the statuses of the response lines,
-- what the handler saw, whether the server closed, and how long the
-- first response byte took.
local function exchange(case, cb)
   local seen = {}
   local server = http.listen({host = '127.0.0.1', port = 0}, function(req, res)
      seen[#seen + 1] = req.method .. ' ' .. req.url.path .. (req.body ~= '' and ' ' .. req.body or '')
      res('ok')
   end)
   tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
      local got, first_byte_ms, quiet = {}, nil, nil
      local sent_at = async.hrtime()
      local finished = false
      local function finish(closed)
         if finished then return end
         finished = true
         if quiet then quiet.clear() end
         local reply = table.concat(got)
         local statuses = {}
         for status in reply:gmatch('HTTP/1%.1 (%d%d%d) ') do statuses[#statuses + 1] = tonumber(status) end
         if not closed then client.destroy() end
         server.close(function()
            cb({statuses = statuses, seen = seen, closed = closed, first_byte_ms = first_byte_ms, reply = reply})
         end)
      end
      local function wait_quietly()
         if quiet then quiet.clear() end
         quiet = async.setTimeout(QUIET_MS, function() finish(false) end)
      end
      client.ondata(function(chunk)
         first_byte_ms = first_byte_ms or async.hrtime() - sent_at
         got[#got + 1] = chunk
         wait_quietly()
      end)
      client.onclose(function() finish(true) end)
      client.onerr(function() end)
      client.write(case.send)
      if case.at_once then
         -- Nothing finishes the header block: only early detection can
         -- answer, well before the 60 s header timeout.
         quiet = async.setTimeout(1000, function() finish(false) end)
      else
         wait_quietly()
      end
   end)
end

local SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'

local function chunked(chunks)
   return 'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' .. chunks .. SMUGGLED
end

local function with_headers(lines)
   return 'POST /h HTTP/1.1\r\nHost: x\r\n' .. lines .. '\r\n\r\n' .. SMUGGLED
end

-- statuses: of every response line, in order; calls: handler runs;
-- seen: what the handler got (method, path, body), when it matters.
local cases = {
   -- What must keep working.
   {'a plain GET', 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', {200}, 1, false, {'GET /a'}},
   {'Connection: close', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {200}, 1, true},
   {'an extension method', 'PURGE /cache HTTP/1.1\r\nHost: x\r\n\r\n', {200}, 1, false, {'PURGE /cache'}},
   {'a WebDAV method', 'MKCALENDAR /cal/ HTTP/1.1\r\nHost: x\r\n\r\n', {200}, 1, false, {'MKCALENDAR /cal/'}},
   {'CONNECT to an authority', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', {200}, 1, true,
    {'CONNECT example.com:443'}},
   {'OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', {200}, 1, false, {'OPTIONS *'}},
   {'raw UTF-8 in the target', 'GET /caf\195\169/\240\159\152\128 HTTP/1.1\r\nHost: x\r\n\r\n', {200}, 1, false,
    {'GET /caf\195\169/\240\159\152\128'}},
   {'an absolute-form target', 'GET http://x/abs?q HTTP/1.1\r\nHost: x\r\n\r\n', {200}, 1, false, {'GET /abs'}},
   {'HTTP/1.0', 'GET /old HTTP/1.0\r\n\r\n', {200}, 1, true},
   {'HTTP/1.0 keep-alive', 'GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', {200}, 1, false},
   {'pipelined requests', 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    {200, 200}, 2, true, {'GET /1', 'GET /2'}},
   {'blank lines before and between requests', '\r\n\r\nGET /1 HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n',
    {200, 200}, 2, false},
   {'a body of known length', 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc', {200}, 1, false,
    {'POST /p abc'}},
   {'one length given twice', 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\ncontent-length: 3\r\n\r\nabc', {200}, 1,
    false, {'POST /p abc'}},
   {'a chunk extension', 'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;name=value\r\na\r\n0\r\n\r\n',
    {200}, 1, false, {'POST /c a'}},
   {'a quoted chunk extension',
    'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;name="quoted \\" value"\r\nb\r\n0\r\n\r\n',
    {200}, 1, false, {'POST /c b'}},
   {'whitespace around ; and =',
    'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1 ; a = b\r\nc\r\n0\r\n\r\n', {200}, 1, false,
    {'POST /c c'}},
   {'trailers', 'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n',
    {200}, 1, false, {'POST /c de'}},
   {'HTTP/1.0 without Host, and with one', 'GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\nHost: x\r\n\r\n',
    {200, 200}, 2, true, {'GET /1', 'GET /2'}},
   {'an empty Host', 'GET /e HTTP/1.1\r\nHost:\r\n\r\n', {200}, 1, false, {'GET /e'}},
   {'a Host with a port', 'GET /p HTTP/1.1\r\nhost: example.com:8080\r\n\r\n', {200}, 1, false, {'GET /p'}},
   {'an IPv6 Host', 'GET /6 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n', {200}, 1, false, {'GET /6'}},
   {'obs-text in a header value', 'GET / HTTP/1.1\r\nHost: x\r\nX: caf\195\169\t\255\r\n\r\n', {200}, 1, false},
   {'a bad request after a good one', 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\nHost: x\r\n\r\n', {200, 400}, 1, true,
    {'GET /1'}},

   -- Request smuggling: the request itself is refused, and what follows
   -- it never reaches the handler.
   {'a bare LF between header lines', with_headers('X: a\nContent-Length: 39'), {400}, 0, true},
   {'a bare LF after the request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n' .. SMUGGLED, {400}, 0, true},
   {'a bare LF as the blank line', 'GET / HTTP/1.1\r\nHost: x\r\n\n' .. SMUGGLED, {400}, 0, true},
   {'a bare LF in the trailers', chunked('0\r\nX: 1\n\r\n'), {400}, 0, true},
   {'a CR alone in a header value', with_headers('X: a\rContent-Length: 39'), {400}, 0, true},
   {'an empty chunk extension', chunked('2;\r\nab\r\n0\r\n\r\n'), {400}, 0, true},
   {'a space after a chunk size', chunked('2 \r\nab\r\n0\r\n\r\n'), {400}, 0, true},
   {'a tab after a chunk size', chunked('2\t\r\nab\r\n0\r\n\r\n'), {400}, 0, true},
   {'an unbalanced quote in a chunk extension', chunked('2;a="b\r\nab\r\n0\r\n\r\n'), {400}, 0, true},
   {'a chunk size with +', chunked('+2\r\nab\r\n0\r\n\r\n'), {400}, 0, true},
   {'a chunk size with 0x', chunked('0x2\r\nab\r\n0\r\n\r\n'), {400}, 0, true},
   {'an overflowing chunk size', chunked('10000000000000002\r\nab\r\n0\r\n\r\n'), {400}, 0, true},
   {'a chunk not followed by CRLF', chunked('2\r\nabc\r\n0\r\n\r\n'), {400}, 0, true},
   {'chunked not last', with_headers('Transfer-Encoding: chunked, gzip'), {400}, 0, true},
   {'chunked twice', with_headers('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked'), {400}, 0, true},
   {'Content-Length then Transfer-Encoding', with_headers('Content-Length: 3\r\nTransfer-Encoding: chunked'),
    {400}, 0, true},
   {'Transfer-Encoding then Content-Length', with_headers('Transfer-Encoding: chunked\r\nContent-Length: 3'),
    {400}, 0, true},
   {'Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' .. SMUGGLED,
    {400}, 0, true},
   {'a space before the colon', with_headers('Transfer-Encoding : chunked'), {400}, 0, true},
   {'obs-fold', with_headers('X: a\r\n folded'), {400}, 0, true},
   {'obs-fold hiding a coding', with_headers('Transfer-Encoding: chunked\r\n\t, gzip'), {400}, 0, true},
   {'NUL in a header name', with_headers('X\0Y: a'), {400}, 0, true},
   {'NUL in a header value', with_headers('X: a\0b'), {400}, 0, true},
   {'DEL in a header value', with_headers('X: a\127b'), {400}, 0, true},
   {'a signed Content-Length', with_headers('Content-Length: +39'), {400}, 0, true},
   {'a Content-Length with a space inside', with_headers('Content-Length: 3 9'), {400}, 0, true},
   {'differing Content-Length values', with_headers('Content-Length: 39, 0'), {400}, 0, true},
   {'HTTP/2.0', 'GET / HTTP/2.0\r\n\r\n', {505}, 0, true},
   {'HTTP/0.9', 'GET /\r\n\r\n', {400}, 0, true},

   -- RFC 9112 §3.2: one valid Host, which only HTTP/1.0 may leave out.
   {'HTTP/1.1 without Host', 'GET /a HTTP/1.1\r\n\r\n' .. SMUGGLED, {400}, 0, true},
   {'HTTP/1.1 without Host after a good request', 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\n\r\n' .. SMUGGLED,
    {200, 400}, 1, true, {'GET /1'}},
   {'two Host lines', 'GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' .. SMUGGLED, {400}, 0, true},
   {'two Host lines of one value', 'GET /a HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n' .. SMUGGLED, {400}, 0, true},
   {'two Host lines in HTTP/1.0', 'GET /a HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n', {400}, 0, true},
   {'a Host with a space', 'GET /a HTTP/1.1\r\nHost: a b\r\n\r\n' .. SMUGGLED, {400}, 0, true},
   {'a Host with userinfo', 'GET /a HTTP/1.1\r\nHost: user@example.com\r\n\r\n' .. SMUGGLED, {400}, 0, true},
   {'a Host with a path', 'GET /a HTTP/1.1\r\nHost: example.com/x\r\n\r\n' .. SMUGGLED, {400}, 0, true},
   {'a Host with a bad port', 'GET /a HTTP/1.1\r\nHost: example.com:80x\r\n\r\n' .. SMUGGLED, {400}, 0, true},

   -- RFC 9112 §6.1: chunked is the only transfer coding the server decodes.
   {'a coding before a final chunked', with_headers('Transfer-Encoding: gzip, chunked'), {501}, 0, true},
   {'gzip alone', with_headers('Transfer-Encoding: gzip'), {501}, 0, true},
   {'xchunked', with_headers('Transfer-Encoding: xchunked'), {501}, 0, true},
   {'a coding on a line of its own', with_headers('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked'), {501}, 0, true},
   {'a coding and a length', with_headers('Content-Length: 3\r\nTransfer-Encoding: gzip, chunked'), {400}, 0, true},
}

-- Heads that are never finished: the bytes so far prove them bad, and
-- the answer must come within a second.
local at_once = {
   {'an overflowing Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n', 400},
   {'differing Content-Length lines', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n', 400},
   {'bytes where CRLF is due', 'GET / HTTP/1.1xy', 400},
   {'CR without LF', 'GET / HTTP/1.1\r\nHost: x\ry', 400},
   {'a space after the request line', 'GET / HTTP/1.1 \r\n', 400},
   {'HTTP/5.6', 'GET / HTTP/5.6\r\n', 505},
   {'an HTTP/0.9 request line', 'GET /\r\n', 400},
   {'a bare LF', 'GET / HTTP/1.1\n', 400},
   {'two spaces after the method', 'GET  /', 400},
   {'obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n', 400},
   {'Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n',
    400},
   {'TLS on the HTTP port', '\22\3\1\2\0\1\0\1\252\3\3', 400},
   {'a coding other than chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n', 501},
}

describe('the HTTP server reads requests strictly', function()
   for _, case in ipairs(cases) do
      local name, send, statuses, calls, closed, seen = case[1], case[2], case[3], case[4], case[5], case[6]
      it(name, function()
         local outcome
         run(5, function(done)
            exchange({send = send}, function(o) outcome = o; done() end)
         end)
         assert.are.same(statuses, outcome.statuses, outcome.reply)
         assert.are.equal(calls, #outcome.seen)
         if seen then assert.are.same(seen, outcome.seen) end
         assert.are.equal(closed, outcome.closed)
      end)
   end

   for _, case in ipairs(at_once) do
      local name, send, status = case[1], case[2], case[3]
      it('answers ' .. status .. ' at once to ' .. name, function()
         local outcome
         run(5, function(done)
            exchange({send = send, at_once = true}, function(o) outcome = o; done() end)
         end)
         assert.are.same({status}, outcome.statuses, outcome.reply)
         assert.is_true(outcome.first_byte_ms < 1000)
         assert.are.equal(0, #outcome.seen)
         assert.is_true(outcome.closed)
      end)
   end
   it('stops reading after an upgrade request: what follows is not held in memory', function()
      local queued, handed
      run(10, function(done)
         local server
         server = http.listen({host = '127.0.0.1', port = 0}, function(req, res, client)
            handed = req.upgrade
            -- The handler keeps the request: the server must not read on.
            async.setTimeout(1500, function()
               client.destroy()
               server.close()
               done()
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            c.onerr(function() end)
            c.write('GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
            local megabyte = string.rep('w', 1024 * 1024)
            for _ = 1, 64 do c.write(megabyte) end
            async.setTimeout(1200, function() queued = c.writeQueueSize() end)
         end)
      end)
      assert.is_true(handed)
      -- Socket buffers take a few MiB at most; the rest waits in the client.
      assert.is_true(queued > 40 * 1024 * 1024, 'server read on: ' .. tostring(queued) .. ' bytes left queued')
   end)
   it('lets a handler that takes an upgraded connection over read it (client.ondata)', function()
      local reply = ''
      run(10, function(done)
         local server
         server = http.listen({host = '127.0.0.1', port = 0}, function(req, res, client)
            assert(req.upgrade)
            client.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
            client.ondata(function(data) client.write('echo:' .. data) end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            c.write('GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n')
            c.ondata(function(data)
               reply = reply .. data
               if reply:find('\r\n\r\n$') then c.write('ping') end
               if reply:find('echo:ping') then c.close(); server.close(); done() end
            end)
         end)
      end)
      assert.matches('^HTTP/1.1 101 Switching Protocols\r\n.*\r\n\r\necho:ping$', reply)
   end)
end)
