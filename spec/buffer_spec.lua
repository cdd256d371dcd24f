-- Buffers as the original's programs use them: `write` of the `buffer`
-- rock's objects (a table with an FFI `ctype` pointer and a `length`), and
-- the Buffer interface of what `onrawdata` and `syncraw` reads hand over.
local async = require 'async'
local ffi = require 'ffi'
local support = require 'spec.support'
local tcp = async.tcp

local run = support.run

local function error_of(f)
   return support.error_of('buffer_spec.lua', f)
end

-- A buffer object shaped as the `buffer` rock makes them from a string:
-- `ctype` points at the string's bytes, `ref` keeps the string alive, and a
-- metatable with an `__index` function stands for the rock's class.
local RockBuffer = {}
local rock_meta = {__index = function(_, key) return RockBuffer[key] end}
local function rock(text)
   return setmetatable({ctype = ffi.cast('unsigned char *', text), length = #text, ref = text}, rock_meta)
end

-- Opens a connection to a server that collects every byte it receives,
-- runs `early(client)` (if given) while it is still connecting and
-- `send(client)` once connected, then closes the client. Returns the bytes
-- the server received.
local function received(send, early)
   local got = {}
   run(10, function(done)
      local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
         client.ondata(function(chunk) got[#got + 1] = chunk end)
         client.onend(function() server.close(done) end)
      end)
      local client = tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
         send(client)
         client.close()
      end)
      if early then early(client) end
   end)
   return table.concat(got)
end

-- Sends `payload` (one small write: one read on the loopback) and calls
-- `inspect(buf)` in the server's onrawdata callback. Returns what
-- `inspect` returned and the buffer, which is released by then.
local function raw_chunk(payload, inspect)
   local ok, result, kept
   run(5, function(done)
      local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
         client.onrawdata(function(buf)
            kept = buf
            ok, result = pcall(inspect, buf)
            client.close()
            server.close(done)
         end)
      end)
      tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
         client.write(payload)
         client.close()
      end)
   end)
   assert(ok, result)
   return result, kept
end

describe('write of a buffer object', function()
   it('sends the length bytes its ctype points at', function()
      local array = ffi.new('char[?]', 8)
      ffi.copy(array, 'abcdefgh', 8)
      local got = received(function(client)
         -- A `char[?]` array, a pointer into a string (as the rock's
         -- Buffer('...') makes), a pointer past its start (a rock slice),
         -- and a length shorter than the memory.
         assert.is_true(client.write({ctype = array, length = 8}))
         client.write(rock('|rock|'))
         client.write({ctype = ffi.cast('unsigned char *', array) + 2, length = 3})
         client.write({ctype = ffi.cast('const char *', 'xyz'), length = 1})
      end)
      assert.are.equal('abcdefgh|rock|cdex', got)
   end)

   it('sends nothing for a zero length, whatever the pointer', function()
      local got = received(function(client)
         client.write({ctype = ffi.cast('unsigned char *', nil), length = 0})
         client.write('end')
      end)
      assert.are.equal('end', got)
   end)

   it('copies what it queues: the memory is borrowed for the call only', function()
      local size = 4 * 1024 * 1024
      local memory = ffi.new('unsigned char[?]', size)
      for i = 0, size - 1 do memory[i] = i % 251 end
      local expected = ffi.string(memory, size)
      local early = ffi.new('char[?]', 5)
      ffi.copy(early, 'first', 5)
      local called
      local text = received(function(client)
         -- More than the socket takes at once; and one with a callback,
         -- which is always queued.
         client.write({ctype = memory, length = size})
         client.write({ctype = early, length = 5}, function(err) called = err or 'ok' end)
         ffi.fill(memory, size, 0)
         ffi.fill(early, 5, 0)
      end, function(client)
         -- Written while still connecting: queued before the socket is up.
         client.write({ctype = early, length = 5})
         ffi.fill(early, 5, 0)
         ffi.copy(early, 'again', 5)
      end)
      assert.are.equal('ok', called)
      assert.are.equal(5 + size + 5, #text)
      assert.is_true(text:sub(1, 5) == 'first' and text:sub(-5) == 'again')
      assert.is_true(text:sub(6, 5 + size) == expected)
   end)

   it('mixes strings, buffer objects and buffers in one array', function()
      local got = received(function(client)
         client.write({'<', rock('rock'), {ctype = ffi.new('char[3]', 'ffi'), length = 3}, 7, '>'})
      end)
      assert.are.equal('<rockffi7>', got)
   end)

   it('writes buffers of raw reads, and their ctype as a buffer object', function()
      local echoed = {}
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.onrawdata(function(buf)
               local kept = buf:clone()
               client.write({buf, '|', {ctype = buf.ctype + 1, length = 2}, '|', kept:slice(4, 5)})
               client.write(kept)
               client.close()
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.ondata(function(chunk) echoed[#echoed + 1] = chunk end)
            client.onclose(function() server.close(done) end)
            client.write('hello')
         end)
      end)
      assert.are.equal('hello|el|lohello', table.concat(echoed))
   end)

   it('raises for a table that is neither a buffer object nor an array', function()
      local messages = {}
      local got = received(function(client)
         local function try(data)
            messages[#messages + 1] = error_of(function() client.write(data) end)
         end
         try({foo = 'bar'})
         try({length = 3})
         try({ctype = 42, length = 1})
         try({ctype = ffi.new('int', 5), length = 1})
         try({ctype = ffi.cast('char *', nil), length = 1})
         try({ctype = ffi.new('char[2]'), length = -1})
         try({ctype = ffi.new('char[2]'), length = 1.5})
         try({ctype = ffi.new('char[2]'), length = 'two'})
         try({'a', {foo = 1}})
         try({'a', true})
         try(true)
         client.write('still open')
      end)
      assert.are.equal('still open', got)
      local prefix = "bad argument #1 to 'write' ("
      local expected = {
         'string, buffer or array of strings expected, got a table that is neither a buffer object (ctype, length) nor an array)',
         'string, buffer or array of strings expected, got a table that is neither a buffer object (ctype, length) nor an array)',
         "a buffer's ctype must be an FFI pointer or array, got number)",
         "a buffer's ctype must be an FFI pointer or array, got cdata<int>)",
         "a buffer's ctype is a NULL pointer)",
         "a buffer's length must be a whole number of bytes, got -1)",
         "a buffer's length must be a whole number of bytes, got 1.5)",
         "a buffer's length must be a whole number of bytes, got string)",
         'item 2: string or buffer expected, got table)',
         'item 2: string or buffer expected, got boolean)',
         'string, buffer or array of strings expected, got boolean)',
      }
      for i, message in ipairs(expected) do
         assert.are.equal(prefix .. message, messages[i])
      end
      assert.are.equal(#expected, #messages)
   end)

   it('still takes an empty array and writes nothing', function()
      assert.are.equal('x', received(function(client) client.write({}); client.write('x') end))
   end)
end)

describe('the buffer of onrawdata', function()
   it('has length, #, ctype and 1-based bytes (nil outside)', function()
      local seen = raw_chunk('hello', function(buf)
         assert(buf.ctype ~= nil and buf.length ~= nil, 'no ctype or length')
         return {
            length = buf.length, len = #buf,
            through_ctype = ffi.string(buf.ctype, buf.length),
            ctype_type = tostring(ffi.typeof(buf.ctype)),
            first = buf[1], last = buf[5], zero = buf[0], past = buf[6], half = buf[1.5], negative = buf[-1],
            unknown = buf.nothing,
         }
      end)
      assert.are.same({
         length = 5, len = 5, through_ctype = 'hello', ctype_type = 'ctype<unsigned char *>',
         first = 104, last = 111,
      }, seen)
   end)

   it('converts with toString honoring i and j, as string.sub counts', function()
      local seen = raw_chunk('abcdef', function(buf)
         return {buf:toString(), buf:toString(2), buf:toString(2, 4), buf:toString(-2), buf:toString(4, 2),
                 buf:toString(0, 100), buf:toString(3, 3)}
      end)
      assert.are.same({'abcdef', 'bcdef', 'bcd', 'ef', '', 'abcdef', 'c'}, seen)
   end)

   it('prints as the original does', function()
      local seen, kept = raw_chunk('AZ\0', function(buf)
         local clone = buf:clone()
         return {tostring(buf), tostring(clone), tostring(clone:slice(2, 3)), tostring(buf:slice(1, 0))}
      end)
      assert.are.same({
         '<Buffer [created:0,managed:0,safe:0] 41 5a 00>',
         '<Buffer [created:1,managed:1,safe:1] 41 5a 00>',
         '<Buffer [created:0,managed:0,safe:1] 5a 00>',
         '<Buffer [created:0,managed:0,safe:0] >',
      }, seen)
      assert.are.equal('<Buffer [released]>', tostring(kept))
   end)

   it('slices with a colon into views that share its bytes', function()
      local seen = raw_chunk('testing', function(buf)
         local clone = buf:clone()
         local first = clone:slice(1, 4)
         first:copy('sing')
         local by_key = clone[{5, 7}]
         clone[{1, 2}] = 'SI'
         clone[7] = 71
         return {first:toString(), clone:toString(), by_key:toString(), buf:slice(5):toString(),
                 buf:slice():toString(), #buf:slice(3, 2), buf:toString()}
      end)
      assert.are.same({'SIng', 'SInginG', 'inG', 'ing', 'testing', 0, 'testing'}, seen)
   end)

   it('copies from strings and buffers of the same length, returning itself', function()
      local seen = raw_chunk('abcdef', function(buf)
         local clone = buf:clone()
         local same = clone:slice(1, 3):copy(buf:slice(4, 6))
         clone:slice(4, 6):copy(rock('XYZ'))
         -- Overlapping: a slice copied into another slice of the same bytes.
         local overlap = buf:clone()
         overlap:slice(2, 5):copy(overlap:slice(1, 4))
         buf:slice(1, 1):copy('!')
         return {clone:toString(), same:toString(), overlap:toString(), buf:toString()}
      end)
      assert.are.same({'defXYZ', 'def', 'aabcdf', '!bcdef'}, seen)
   end)

   it('clones into a buffer that owns its bytes and outlives the callback', function()
      local clone, kept = raw_chunk('keep me', function(buf)
         local clone = buf:clone()
         clone[1] = 75
         return clone
      end)
      assert.are.equal('Keep me', clone:toString())
      assert.are.equal(7, clone.length)
      assert.matches('buffer used after its callback returned', select(2, pcall(function() return kept:toString() end)), 1, true)
   end)

   it('finds strings and buffers from an index, as string.find counts', function()
      local seen = raw_chunk('abcabc', function(buf)
         return {buf:find('bc'), buf:find('bc', 3), buf:find(buf:slice(1, 2), 2), buf:find('c', -1),
                 buf:find('zz') or 'none', buf:find('a', 7) or 'none', buf:find(rock('ca'))}
      end)
      assert.are.same({2, 5, 4, 6, 'none', 'none', 3}, seen)
   end)

   it('concatenates with strings, numbers and buffers on either side into a new buffer', function()
      local seen = raw_chunk('mid', function(buf)
         local joined = '<' .. buf .. '>'
         local twice = buf .. buf
         local numbered = 1 .. buf .. 2
         return {tostring(joined):sub(1, 37), joined:toString(), twice:toString(), numbered:toString(),
                 (buf .. rock('!')):toString()}
      end)
      assert.are.same({'<Buffer [created:1,managed:1,safe:1] ', '<mid>', 'midmid', '1mid2', 'mid!'}, seen)
   end)

   it('splits and reads integers as the original', function()
      local seen = raw_chunk('\1\2\255\254 a  b ', function(buf)
         local pieces = {}
         for i, piece in ipairs(buf:split()) do pieces[i] = piece:toString() end
         return {pieces = pieces,
                 ints = {buf:readUInt8(3), buf:readInt8(3), buf:readUInt16LE(1), buf:readUInt16BE(1),
                         buf:readInt16BE(3), buf:readUInt32BE(1), buf:readInt32LE(1), buf:readInt32BE(1)}}
      end)
      assert.are.same({'\1\2\255\254', 'a', 'b'}, seen.pieces)
      assert.are.same({255, -1, 0x0201, 0x0102, -2, 0x0102fffe, -16842239, 0x0102fffe}, seen.ints)
   end)

   it('raises plain errors at the caller for misuse, and after the callback', function()
      local messages, kept = raw_chunk('abc', function(buf)
         return {
            error_of(function() local s = buf:slice(0, 2); return s end),
            error_of(function() local s = buf:slice(2, 4); return s end),
            error_of(function() local s = buf.slice(1, 2); return s end),
            error_of(function() local s = buf:copy('toolong'); return s end),
            error_of(function() local s = buf:copy(true); return s end),
            error_of(function() local s = buf:toString(1.5); return s end),
            error_of(function() local n = buf:readUInt16LE(3); return n end),
            error_of(function() buf[4] = 1 end),
            error_of(function() buf.name = 'x' end),
            error_of(function() local s = buf .. true; return s end),
         }
      end)
      assert.are.same({
         'slice(0, 2) is outside the buffer (1 to 3)',
         'slice(2, 4) is outside the buffer (1 to 3)',
         "bad argument #1 to 'slice' (buffer expected, got number)",
         'copy: the source has 7 bytes and the buffer 3: they must be the same length',
         "bad argument #1 to 'copy' (string or buffer expected, got boolean)",
         "bad argument #1 to 'toString' (number has no integer representation)",
         'readUInt16LE: offset 3 is outside the buffer (3 bytes)',
         'index 4 is outside the buffer (1 to 3)',
         "cannot set 'name' on a buffer: it holds bytes only (buf[i] = n)",
         'attempt to concatenate a buffer: string or buffer expected, got boolean',
      }, messages)
      local late = 'buffer used after its callback returned (use buf:clone() to keep it)'
      assert.are.equal(late, error_of(function() local n = kept.length; return n end))
      assert.are.equal(late, error_of(function() local p = kept.ctype; return p end))
      assert.are.equal(late, error_of(function() local b = kept[1]; return b end))
      assert.are.equal(late, error_of(function() local s = kept:slice(1, 1); return s end))
      assert.are.equal(late, error_of(function() local s = kept .. 'x'; return s end))
   end)

   it('releases its slices with it', function()
      local slice = raw_chunk('abc', function(buf) return buf:slice(1, 2) end)
      assert.matches('buffer used after its callback returned', select(2, pcall(function() return slice:toString() end)), 1, true)
   end)

   it("keeps a clone's bytes alive while its ctype pointer is referenced", function()
      local pointer = raw_chunk('pinned', function(buf) return assert(buf:clone().ctype, 'no ctype') end)
      collectgarbage('collect'); collectgarbage('collect')
      local filler = {}
      for i = 1, 1000 do filler[i] = ('x'):rep(6) .. i end
      assert.are.equal('pinned', ffi.string(pointer, 6))
   end)
end)

describe('syncraw reads', function()
   it('give buffers with the same interface, owning their bytes', function()
      local seen
      run(5, function(done)
         local server; server = tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            client.syncraw()
            async.fiber(function()
               local buf = client.read()
               assert(buf.ctype ~= nil, 'no ctype')
               seen = {tostring(buf), buf.length, buf[2], buf:slice(2, 3):toString(), (buf .. '!'):toString(),
                       ffi.string(buf.ctype, #buf)}
               client.close()
               server.close(done)
            end)
         end)
         tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            client.write('raw')
            client.close()
         end)
      end)
      assert.are.same({'<Buffer [created:1,managed:1,safe:1] 72 61 77>', 3, 97, 'aw', 'raw!', 'raw'}, seen)
   end)
end)
