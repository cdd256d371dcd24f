-- Running out of memory where a program or a peer decides how much Rust
-- allocates (queued writes, buffers, JSON text, file data, a line or a
-- body being read): an `ENOMEM: not enough memory` error for that call,
-- stream or request, never an abort of the process. Each case runs in a
-- child luajit whose address space `ulimit -v` holds to about 390 MiB
-- (LuaJIT and the module start in far less), and must end normally,
-- printing 'ok'.
local support = require 'spec.support'

local LIMIT_KIB = 400000

-- What every child runs first: `s`, 64 MiB of text, and `enomem(e)`,
-- which checks that `e` is the error of memory running out.
local prelude = [[
local async = require 'async'
local s = string.rep('x', 64 * 2^20)
local function enomem(e)
   assert(tostring(e):match('ENOMEM: not enough memory$'), tostring(e))
end
]]

local function assert_ok(source)
   assert.matches('ok\nexit=0\n$', support.child(prelude .. source, LIMIT_KIB))
end

describe('memory running out', function()
   it('makes a write that cannot be queued, and file data that cannot be copied, ENOMEM errors', function()
      assert_ok [[
         local writes, err, written, peer, client
         -- Once both ends are there: the peer reads nothing, so that every
         -- write is queued.
         local server
         local function fill()
            if not (peer and client) then return end
            writes = 0
            while true do
               local ok, e = pcall(client.write, s)
               if not ok then err = e; break end
               writes = writes + 1
            end
            -- A callback makes `write` take the general path.
            local ok, e = pcall(client.write, s, function() end)
            enomem(e)
            -- The queue holds the memory: file data cannot be copied either.
            ok, e = pcall(async.fs.writeFile, '/dev/null', s, function() end)
            enomem(e)
            written = client.write('small')
            client.destroy()
            peer.destroy()
            server.close()
         end
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            c.pause()
            peer = c
            fill()
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            client = c
            fill()
         end)
         async.go()
         enomem(err)
         assert(writes >= 1 and written == false, writes)
         print('ok')
      ]]
   end)

   it('makes buffers that cannot be made (.., clone, toString) ENOMEM errors', function()
      assert_ok [[
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            c.onrawdata(function(buf)
               local b = buf:clone()
               local kept = {}
               local ok, e = pcall(function()
                  for i = 1, 20 do kept[i] = b .. s end
               end)
               enomem(e)
               ok, e = pcall(function()
                  for i = 1, 20 do kept[#kept + 1] = kept[1]:clone() end
               end)
               enomem(e)
               ok, e = pcall(function()
                  for i = 1, 20 do kept[#kept + 1] = kept[1]:toString() end
               end)
               assert(not ok)
               kept = nil
               c.close()
               server.close()
            end)
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write('abc', function() client.close() end)
         end)
         async.go()
         print('ok')
      ]]
   end)

   it('makes a JSON text too large for memory an ENOMEM error of json.encode', function()
      assert_ok [[
         local ok, e = pcall(async.json.encode, {s, s, s, s, s})
         assert(not ok)
         assert(e == 'json.encode: ENOMEM: not enough memory', e)
         -- Bytes that are not UTF-8 are copied on their own.
         local raw = string.rep('\255', 64 * 2^20)
         ok, e = pcall(async.json.encode, {raw, raw, raw, raw, raw})
         assert(not ok and e:match('ENOMEM'), e)
         print('ok')
      ]]
   end)

   it("fails only the stream whose peer sends a line too long for memory, and exec's output", function()
      assert_ok [[
         local proc = async.process.spawn('head', {'-c', '2000000000', '/dev/zero'})
         local err
         proc.stdout.setMaxLineSize(2^40)
         proc.stdout.onsplitdata('\n', function() end)
         proc.stdout.onerr(function(e) err = e; proc.kill() end)
         async.go()
         enomem(err)
         local out, failure
         async.process.exec('head', {'-c', '600000000', '/dev/zero'}, function(o, e) out, failure = o, e end)
         async.go()
         assert(out == nil)
         enomem(failure)
         print('ok')
      ]]
   end)

   it('answers a request whose body memory cannot hold with 503, and goes on serving', function()
      assert_ok [[
         local server = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res)
            res('served')
         end, {maxBodySize = 2^31 - 512})
         local answer, body = '', nil
         local function next_request()
            async.http.get('http://127.0.0.1:' .. server.sockname.port .. '/', function(res, err)
               body = res and res.body or err
               server.close()
            end)
         end
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            local chunk, sent, over = string.rep('z', 2^20), 0, false
            local function finish()
               if over then return end
               over = true
               c.destroy()
               next_request()
            end
            c.onerr(finish)
            c.onend(finish)
            c.ondata(function(data) answer = answer .. data end)
            local function pump()
               while sent < 1900 and not over do
                  sent = sent + 1
                  if not c.write(chunk) then return end
               end
            end
            c.ondrain(pump)
            c.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ' .. 1900 * 2^20 .. '\r\n\r\n')
            pump()
         end)
         async.go()
         -- The answer is lost if the reset overtakes it.
         assert(answer == '' or answer:match('^HTTP/1.1 503 '), answer)
         assert(body == 'served', body)
         print('ok')
      ]]
   end)

   -- Not under valgrind: its own address-space manager runs out inside
   -- the ulimit first (a 500 MiB request in a worker thread), and the
   -- child dies in valgrind, not in the module (seen once in CI).
   it('makes a job that runs out of memory, or whose result memory cannot hold, fail alone #novalgrind', function()
      assert_ok [[
         local outcomes = {}
         local function record(r, e)
            outcomes[#outcomes + 1] = e or #r
         end
         -- Too much for the worker itself.
         async.work('return string.rep("y", 500 * 2^20)', record)
         async.go()
         assert(outcomes[1] == 'not enough memory', outcomes[1])
         -- Copied in, and made again in the worker; then too much to copy
         -- back, with another 32 MiB held here: the copy out of the worker
         -- (ENOMEM) or into this state (LuaJIT's own wording) fails.
         local pad = string.rep('p', 32 * 2^20)
         async.work('return (...)', {s}, record)
         async.go()
         assert(tostring(outcomes[2]):match('^work: .*not enough memory$'), outcomes[2])
         -- And the pool still works.
         async.work('return ("z"):rep(3)', function(r, e) outcomes[3] = r end)
         async.go()
         assert(outcomes[3] == 'zzz', tostring(outcomes[3]))
         print('ok')
      ]]
   end)
end)
