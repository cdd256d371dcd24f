-- File streams (fs.createReadStream, fs.createWriteStream) and
-- stream.pipe, through the public API: the stream interface on files,
-- ranges, backpressure both ways, errors, use after close, and a large
-- file piped to a TCP client in flat memory.
local async = require 'async'
local support = require 'spec.support'
local fs = async.fs
local run = support.run

local dir
before_each(function() dir = support.temp_folder('fs-stream-spec') end)
after_each(function() support.remove_folder(dir) end)

local function put(name, content) return support.put(dir, name, content) end
local get = support.read_file

-- 200,000 bytes that differ from chunk to chunk.
local function sample()
   local parts = {}
   for i = 1, 20000 do parts[i] = string.format('%09d\n', i) end
   return table.concat(parts)
end

describe('fs.createReadStream', function()
   it('reads the whole file in chunks of at most 64 KiB, then onend, then onclose', function()
      local content = sample()
      local path = put('in.txt', content)
      local chunks, events = {}, {}
      run(5, function(done)
         local r = fs.createReadStream(path)
         assert.matches('^file: ', tostring(r))
         r.ondata(function(data)
            assert.is_true(#data <= 65536)
            chunks[#chunks + 1] = data
         end)
         r.onend(function() events[#events + 1] = 'end' end)
         r.onclose(function()
            events[#events + 1] = 'close'
            done()
         end)
      end)
      assert.are.equal(content, table.concat(chunks))
      assert.is_true(#chunks >= 4)
      assert.are.same({'end', 'close'}, events)
   end)

   it('reads from start to end inclusive, highWaterMark bytes at a time', function()
      local content = sample()
      local path = put('in.txt', content)
      local ranged, sizes, past, empty = {}, {}, {}, {}
      run(5, function(done)
         local left = 3
         local function finished() left = left - 1; if left == 0 then done() end end
         local r = fs.createReadStream(path, {start = 10, ['end'] = 1009, highWaterMark = 300})
         r.ondata(function(data) ranged[#ranged + 1] = data; sizes[#sizes + 1] = #data end)
         r.onclose(finished)
         local tail = fs.createReadStream(path, {start = #content - 5, ['end'] = #content + 100})
         tail.ondata(function(data) past[#past + 1] = data end)
         tail.onclose(finished)
         local beyond = fs.createReadStream(path, {start = #content + 10})
         beyond.ondata(function(data) empty[#empty + 1] = data end)
         beyond.onend(function() empty.ended = true end)
         beyond.onclose(finished)
      end)
      assert.are.equal(content:sub(11, 1010), table.concat(ranged))
      assert.are.same({300, 300, 300, 100}, sizes)
      assert.are.equal(content:sub(-5), table.concat(past))
      assert.are.same({ended = true}, empty)
   end)

   it('reports a missing file to onerr as the fs functions word it, then closes', function()
      local path = dir .. '/missing.txt'
      local got = {}
      run(5, function(done)
         local r = fs.createReadStream(path)
         r.ondata(function() got[#got + 1] = 'data' end)
         r.onend(function() got[#got + 1] = 'end' end)
         r.onerr(function(err) got[#got + 1] = err end)
         r.onclose(function()
            got[#got + 1] = 'close'
            done()
         end)
      end)
      assert.are.same({'ENOENT: no such file or directory "' .. path .. '"', 'close'}, got)
   end)

   it('offers the other reading modes: onrawdata, onsplitdata and fiber reads', function()
      local path = put('lines.txt', 'one\ntwo\nthree')
      local raw, pieces, lines = {}, {}, {}
      run(5, function(done)
         local left = 3
         local function finished() left = left - 1; if left == 0 then done() end end
         local a = fs.createReadStream(path)
         a.onrawdata(function(buf) raw[#raw + 1] = buf:toString() end)
         a.onclose(finished)
         local b = fs.createReadStream(path, {highWaterMark = 2})
         b.onsplitdata('\n', function(piece) pieces[#pieces + 1] = piece end)
         b.onclose(finished)
         async.fiber(function()
            local c = fs.createReadStream(path)
            while true do
               local line = c.readline()
               if line == nil then break end
               lines[#lines + 1] = line
            end
            c.close(finished)
         end)
      end)
      assert.are.equal('one\ntwo\nthree', table.concat(raw))
      assert.are.same({'one', 'two', 'three'}, pieces)
      assert.are.same({'one', 'two', 'three'}, lines)
   end)

   it('delivers nothing while paused, and the rest after resume', function()
      local content = sample()
      local path = put('in.txt', content)
      local chunks, while_paused = {}, nil
      run(5, function(done)
         local r = fs.createReadStream(path, {highWaterMark = 1000})
         r.ondata(function(data)
            chunks[#chunks + 1] = data
            if #chunks == 1 then
               r.pause()
               async.setTimeout(60, function()
                  while_paused = #chunks
                  r.resume()
               end)
            end
         end)
         r.onclose(done)
      end)
      assert.are.equal(1, while_paused)
      assert.are.equal(content, table.concat(chunks))
   end)

   it('is never called back once destroyed, and its methods are harmless after the close', function()
      local path = put('in.txt', sample())
      local after, write_error = 0, nil
      run(5, function(done)
         local r = fs.createReadStream(path, {highWaterMark = 100})
         local destroyed = false
         r.ondata(function()
            if destroyed then after = after + 1 end
            destroyed = true
            r.destroy()
         end)
         r.onend(function() after = after + 1 end)
         r.onclose(function()
            r.pause(); r.resume(); r.destroy(); r.close()
            assert.are.equal(0, r.writeQueueSize())
            assert.is_false(r.write('x', function(err) write_error = err; done() end))
         end)
      end)
      assert.are.equal(0, after)
      assert.matches('^EPIPE', write_error)
   end)

   it('raises for wrong arguments, naming the function', function()
      local e = support.error_of('fs_stream_spec.lua', function() fs.createReadStream({}) end)
      assert.matches("bad argument #1 to 'createReadStream' %(string expected, got table%)", e)
      e = support.error_of('fs_stream_spec.lua', function() fs.createReadStream('x', {start = -1}) end)
      assert.are.equal('createReadStream: start must be a non-negative number, got -1', e)
      e = support.error_of('fs_stream_spec.lua', function() fs.createReadStream('x', {start = 5, ['end'] = 4}) end)
      assert.are.equal('createReadStream: end must not be before start', e)
      e = support.error_of('fs_stream_spec.lua', function() fs.createReadStream('x', {highWaterMark = 0}) end)
      assert.are.equal('createReadStream: highWaterMark must be a positive number, got 0', e)
      e = support.error_of('fs_stream_spec.lua', function() fs.createReadStream('x', {highWaterMark = 1.5}) end)
      assert.are.equal('createReadStream: highWaterMark must be a whole number of bytes, got number', e)
      e = support.error_of('fs_stream_spec.lua', function() fs.createReadStream('x', 'r') end)
      assert.matches("bad argument #2 to 'createReadStream' %(table expected, got string%)", e)
   end)

   it('refuses writes with a clear error, and stays open', function()
      local path = put('in.txt', 'abc')
      local got = {}
      run(5, function(done)
         local r = fs.createReadStream(path)
         local e = support.error_of('fs_stream_spec.lua', function() r.write('x') end)
         assert.are.equal('write: a read stream (fs.createReadStream) cannot be written', e)
         r.ondata(function(data) got[#got + 1] = data end)
         r.onclose(done)
      end)
      assert.are.same({'abc'}, got)
   end)
end)

describe('fs.createWriteStream', function()
   it('queues writes (false past 64 KiB, then ondrain) and writes them all, in order, before the close', function()
      local path = dir .. '/out.txt'
      local refused, drained, callbacks, closed_size = 0, 0, 0, nil
      local expected = {}
      run(5, function(done)
         local w = fs.createWriteStream(path)
         w.ondrain(function()
            drained = drained + 1
            assert.are.equal(0, w.writeQueueSize())
            w.write('end')
            w.close(function()
               closed_size = #get(path)
               done()
            end)
         end)
         for i = 1, 100 do
            local piece = string.format('%04d', i) .. string.rep('.', 996)
            expected[i] = piece
            if not w.write(piece, i % 10 == 0 and function(err)
               assert.is_nil(err)
               callbacks = callbacks + 1
            end or nil) then
               refused = refused + 1
            end
         end
         assert.is_true(w.writeQueueSize() >= 65536)
      end)
      assert.are.equal(1, drained)
      assert.are.equal(100 - 65, refused)
      assert.are.equal(10, callbacks)
      assert.are.equal(100000 + 3, closed_size)
      assert.are.equal(table.concat(expected) .. 'end', get(path))
   end)

   it('flushes what was written before the file was open when closed at once; appends with flags a', function()
      local path = put('log.txt', 'first\n')
      run(5, function(done)
         local w = fs.createWriteStream(path, {flags = 'a'})
         w.write('second\n')
         w.write({'thi', 'rd\n'})
         w.close(done)
      end)
      assert.are.equal('first\nsecond\nthird\n', get(path))
   end)

   it('reports a file it cannot open to onerr, and cancels the writes queued for it', function()
      local path = dir .. '/no/such/dir/out.txt'
      local got = {}
      run(5, function(done)
         local w = fs.createWriteStream(path)
         w.write('x', function(err) got[#got + 1] = 'cb ' .. err end)
         w.onerr(function(err) got[#got + 1] = err end)
         w.onclose(function() async.setTimeout(10, done) end)
      end)
      assert.are.same({'ENOENT: no such file or directory "' .. path .. '"', 'cb ECANCELED: operation canceled'}, got)
   end)

   it('raises for flags that do not write, or are unknown', function()
      local e = support.error_of('fs_stream_spec.lua', function() fs.createWriteStream(dir .. '/x', {flags = 'r'}) end)
      assert.are.equal("createWriteStream: flags must be 'r+', 'w', 'w+', 'wx', 'wx+', 'a', 'a+', 'ax' or 'ax+', got 'r'", e)
      e = support.error_of('fs_stream_spec.lua', function() fs.createWriteStream(dir .. '/x', {flags = true}) end)
      assert.are.equal('createWriteStream: flags must be a string, got boolean', e)
      run(5, function(done)
         local w = fs.createWriteStream(dir .. '/x')
         e = support.error_of('fs_stream_spec.lua', function() w.write(true) end)
         assert.are.equal("bad argument #1 to 'write' (string, buffer or array of strings expected, got boolean)", e)
         w.close(done)
      end)
   end)
end)

describe('stream.pipe', function()
   it('copies a file into a write stream, closes it at the end, and returns dest', function()
      local content = sample()
      local from, to = put('from.txt', content), dir .. '/to.txt'
      run(5, function(done)
         local w = fs.createWriteStream(to)
         local returned = fs.createReadStream(from, {highWaterMark = 4096}).pipe(w)
         assert.are.equal(w, returned)
         w.onclose(done)
      end)
      assert.are.equal(content, get(to))
   end)

   it('pauses the source while dest is past its mark, and resumes it on dest.ondrain', function()
      local content = sample()
      local path = put('in.txt', content)
      local written, trace, drain = {}, {}, nil
      local dest = {}
      function dest.write(data)
         written[#written + 1] = data
         trace[#trace + 1] = 'w'
         return #written % 3 ~= 0
      end
      function dest.ondrain(cb) drain = cb end
      function dest.close() trace[#trace + 1] = 'close' end
      run(5, function(done)
         local r = fs.createReadStream(path, {highWaterMark = 20000})
         r.pipe(dest)
         local closed = false
         r.onclose(function()
            closed = true
            done()
         end)
         -- A drain every 20 ms: nothing is written between a false and it.
         local function drain_later()
            async.setTimeout(20, function()
               if closed then return end
               trace[#trace + 1] = 'drain'
               drain()
               drain_later()
            end)
         end
         drain_later()
      end)
      assert.are.equal(content, table.concat(written))
      local text = table.concat(trace, ' ')
      assert.is_nil(text:find('w w w w'))
      assert.matches('close$', text)
   end)

   it('keeps dest open with end = false', function()
      local path = put('in.txt', 'body')
      local received
      run(5, function(done)
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            local r = fs.createReadStream(path)
            r.pipe(client, {['end'] = false})
            r.onclose(function()
               client.write(' and more')
               client.close()
            end)
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            local got = {}
            client.ondata(function(data) got[#got + 1] = data end)
            client.onend(function()
               received = table.concat(got)
               server.close()
               done()
            end)
         end)
      end)
      assert.are.equal('body and more', received)
   end)

   it('pipes a socket into a file', function()
      local path = dir .. '/upload.txt'
      local content = sample()
      run(5, function(done)
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            local w = fs.createWriteStream(path)
            client.pipe(w)
            w.onclose(function()
               server.close()
               done()
            end)
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write(content)
            client.close()
         end)
      end)
      assert.are.equal(content, get(path))
   end)

   it('destroys the source when a dest stream closes first', function()
      local path = put('in.txt', sample())
      local source_closed, source_ended = false, false
      run(5, function(done)
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            local r = fs.createReadStream(path, {highWaterMark = 100})
            r.onend(function() source_ended = true end)
            r.onclose(function()
               source_closed = true
               server.close()
               done()
            end)
            r.pipe(client)
            client.destroy()
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function() end)
         end)
      end)
      assert.is_true(source_closed)
      assert.is_false(source_ended)
   end)

   it('sends a file as an HTTP response body, through a dest that frames the chunks', function()
      local content = sample()
      local path = put('page.txt', content)
      local response
      run(5, function(done)
         local server
         server = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res, client)
            -- The body is the handler's with a chunked response: each
            -- chunk framed, the last one sent at the end.
            res('', {['Content-Type'] = 'text/plain', ['Transfer-Encoding'] = 'chunked'})
            local body = {
               write = function(data) return client.write({string.format('%x\r\n', #data), data, '\r\n'}) end,
               ondrain = client.ondrain,
               close = function()
                  client.write('0\r\n\r\n')
                  client.close()
               end,
            }
            fs.createReadStream(path, {highWaterMark = 8192}).pipe(body)
         end)
         async.http.get('http://127.0.0.1:' .. server.sockname.port .. '/', function(r, err)
            assert(r, err)
            response = r
            server.close()
            done()
         end)
      end)
      assert.are.equal(200, response.status)
      assert.are.equal('chunked', response.headers['transfer-encoding'])
      assert.are.equal(content, response.body)
   end)

   it('raises for a dest that cannot be written', function()
      local path = put('in.txt', 'x')
      run(5, function(done)
         local r = fs.createReadStream(path)
         local e = support.error_of('fs_stream_spec.lua', function() r.pipe(42) end)
         assert.are.equal("bad argument #1 to 'pipe' (stream (a table with a write method) expected, got number)", e)
         e = support.error_of('fs_stream_spec.lua', function() r.pipe({}) end)
         assert.are.equal("bad argument #1 to 'pipe' (stream (a table with a write method) expected, got table)", e)
         e = support.error_of('fs_stream_spec.lua', function() r.pipe({write = print}, {['end'] = 1}) end)
         assert.are.equal('pipe: end must be a boolean, got number', e)
         r.close(done)
      end)
   end)

   it('sends a 256 MiB file to a TCP client in flat memory #novalgrind', function()
      local path = dir .. '/big.bin'
      local size = 256 * 1024 * 1024
      assert(os.execute("truncate -s " .. size .. " '" .. path .. "'") == 0)
      local received, peak = 0, 0
      local before = support.rss_kib()
      run(30, function(done)
         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            fs.createReadStream(path).pipe(client)
         end)
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            local chunks = 0
            local function sample_rss()
               local f = io.open('/proc/self/statm')
               f:read('*n')
               peak = math.max(peak, f:read('*n') * 4)
               f:close()
            end
            client.onrawdata(function(buf)
               received = received + #buf
               chunks = chunks + 1
               if chunks == 1 then
                  -- A slow client: without backpressure the whole file
                  -- would be read into the socket's queue meanwhile.
                  client.pause()
                  async.setTimeout(300, function()
                     sample_rss()
                     client.resume()
                  end)
               elseif chunks % 256 == 0 then
                  sample_rss()
               end
            end)
            client.onend(function()
               server.close()
               done()
            end)
         end)
      end)
      assert.are.equal(size, received)
      -- The file is 262144 KiB; what it may add is a few buffers.
      assert.is_true(peak - before < 32 * 1024, 'peak RSS grew by ' .. (peak - before) .. ' KiB')
   end)
end)
