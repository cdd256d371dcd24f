-- Lua errors raised inside the module (out of memory above all) and the
-- form of the module's own errors. The out-of-memory cases run in a child
-- luajit each (an abort there must not take the test runner down), with
-- spec/oom.c loaded to exhaust Lua's memory on demand; each must end
-- normally, printing 'ok'.
local async = require 'async'

local here = debug.getinfo(1, 'S').short_src
local spec_dir = here:match('^(.*)/') or '.'

-- A folder holding oom.so, built once.
local oom_dir
local function oom_module()
   if oom_dir then return oom_dir end
   local dir = os.tmpname()
   os.remove(dir)
   assert(os.execute('mkdir -p ' .. dir) == 0)
   local build = ('cc -shared -fPIC -O2 -Wl,-z,nodelete -o %s/oom.so %s/oom.c 2>&1'):format(dir, spec_dir)
   local pipe = assert(io.popen(build))
   local output = pipe:read('*a')
   pipe:close()
   local f = io.open(dir .. '/oom.so')
   assert(f, 'could not build spec/oom.c: ' .. output)
   f:close()
   oom_dir = dir
   return dir
end

teardown(function()
   if oom_dir then os.execute('rm -rf ' .. oom_dir) end
end)

-- What every child runs first: `oom`, and `out_of_memory(budget, f, ...)`,
-- which calls `f(...)` with `budget` bytes of Lua memory left (after a
-- full collection: what an earlier failure left is garbage, which would
-- count as room) and checks that it fails for want of memory.
local prelude = [[
oom = require 'oom'
function out_of_memory(budget, f, ...)
   collectgarbage(); collectgarbage()
   oom.cap(budget)
   local ok, e = pcall(f, ...)
   oom.lift()
   assert(not ok and e == 'not enough memory', tostring(e))
end
]]

-- Runs `source` in a child luajit that finds `oom` and returns what it
-- printed, with its exit status.
local function child(source)
   local dir = oom_module()
   local script = dir .. '/case.lua'
   local f = assert(io.open(script, 'w'))
   f:write("package.cpath = '" .. dir .. "/?.so;' .. package.cpath\n", prelude, source)
   f:close()
   local pipe = assert(io.popen('cd ' .. dir .. ' && timeout 60 luajit case.lua 2>&1; echo "exit=$?"'))
   local output = pipe:read('*a')
   pipe:close()
   return output
end

local function assert_ok(source)
   assert.matches('ok\nexit=0\n$', child(source))
end

-- The error `f` raises: a string positioned at a line of this file.
local function error_at_caller(f)
   local ok, e = pcall(f)
   assert.is_false(ok)
   assert.are.equal('string', type(e))
   local position = '^' .. here:gsub('%p', '%%%0') .. ':%d+: '
   assert.matches(position, e)
   return (e:gsub(position, ''))
end

describe('out of memory', function()
   it('in json.decode of a large document is an error, and frees what the parser held', function()
      assert_ok [[
         local async = require 'async'
         local ffi = require 'ffi'
         ffi.cdef 'struct mallinfo2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; }; struct mallinfo2 mallinfo2(void);'
         local function malloc_kib()
            local info = ffi.C.mallinfo2()
            return tonumber(info.uordblks + info.hblkhd) / 1024
         end
         local records = {}
         for i = 1, 20000 do records[i] = {name = 'record ' .. i, tags = {'a', 'b'}, n = i / 4} end
         local text = async.json.encode({records = records, title = ('x'):rep(100000)})
         records = nil
         collectgarbage(); collectgarbage()
         for _, budget in ipairs({0, 1000, 100000, 400000}) do out_of_memory(budget, async.json.decode, text) end
         local before = malloc_kib()
         for i = 1, 100 do out_of_memory(200000, async.json.decode, text) end
         assert(malloc_kib() - before < 1024, 'the parser leaks: ' .. (malloc_kib() - before) .. ' KiB')
         assert(oom.refused() >= 104)
         local back = async.json.decode(text)
         assert(#back.records == 20000 and back.records[20000].name == 'record 20000')
         print('ok')
      ]]
   end)

   it('in json.encode, when its text cannot be made, is an error', function()
      assert_ok [[
         local list = {}
         for i = 1, 20000 do list[i] = {i, 'item ' .. i} end
         local async = require 'async'
         for _, budget in ipairs({0, 1000, 100000}) do out_of_memory(budget, async.json.encode, list) end
         assert(#async.json.encode(list) > 200000)
         print('ok')
      ]]
   end)

   it('in module calls inside a callback is an error each, at every point it can strike', function()
      assert_ok [[
         local async = require 'async'
         local noop = function() end
         local options = {host = '127.0.0.1', port = 0}
         local doc = {1, 2, {x = 'text made once'}, y = {z = true}}
         local text = '[1,2,3,{"a":"b","c":[true,false,null]}]'
         local timer = async.setTimeout(60000, noop)
         local clear = timer.clear
         local calls = {
            {async.handles},
            {async.json.decode, text},
            {async.json.encode, doc},
            {async.setTimeout, 1, noop},
            {async.setInterval, 5, noop},
            {async.tcp.listen, options, noop},
            {async.url.parse, 'http://user@example.com:8080/a/b?c=d#e'},
            {clear},
         }
         -- Results go into tables made beforehand: the callback itself
         -- must not need memory while the cap is on.
         local results = {}
         for i = 1, #calls do results[i] = {true, false} end
         local failures, others = 0, {}
         local budget = 0
         async.setInterval(1, function(interval)
            oom.cap(budget)
            for i = 1, #calls do
               local call, result = calls[i], results[i]
               result[1], result[2] = pcall(call[1], call[2], call[3])
            end
            oom.lift()
            for i = 1, #calls do
               local ok, value = results[i][1], results[i][2]
               if not ok then
                  failures = failures + 1
                  if not tostring(value):find('not enough memory', 1, true) then others[#others + 1] = tostring(value) end
               elseif type(value) == 'table' and value.close then
                  value.close()
               elseif type(value) == 'table' and value.clear then
                  value.clear()
               end
            end
            budget = budget + 24
            if budget > 6000 then interval.clear() end
         end)
         async.go()
         timer.clear()
         async.go()
         assert(#others == 0, others[1])
         assert(failures > 100, failures)
         assert(next(async.handles()) == nil, 'a handle was left open')
         print('ok')
      ]]
   end)

   -- `setup` makes peers that hand Lua 60,000 bytes as one new string
   -- (sent in two halves: a string already interned would take no memory),
   -- sets `called` if the Lua code meant to get them runs, and defines
   -- `close_all()`. That string is the only allocation this large, and it
   -- is refused: go() must raise "not enough memory" instead.
   local function refused_during_go(setup)
      assert_ok(setup .. [[
         oom.refuse_over(16384)
         local ok, e = pcall(async.go)
         oom.lift()
         assert(not ok and e == 'not enough memory', tostring(e))
         assert(not called)
         close_all()
         async.go()
         print('ok')
      ]])
   end

   it("while a stream's data is handed to ondata is an error raised by go()", function()
      refused_during_go [[
         local async = require 'async'
         local half = ('d'):rep(30000)
         local called, client = false, nil
         local server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(c)
            client = c
            c.write({half, half})
         end)
         local peer = async.tcp.connect({host = '127.0.0.1', port = server.sockname.port})
         peer.ondata(function() called = true end)
         function close_all() peer.close(); client.close(); server.close() end
      ]]
   end)

   it('while a request is handed to the HTTP handler is an error raised by go()', function()
      refused_during_go [[
         local async = require 'async'
         local half = ('b'):rep(30000)
         local called = false
         local server = async.http.listen({host = '127.0.0.1', port = 0}, function() called = true end)
         local peer = async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(c)
            c.write({'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n', half, half})
         end)
         peer.ondata(function() end)
         function close_all() peer.close(); server.close() end
      ]]
   end)
end)

describe('module errors', function()
   it('from buffer methods are plain strings at the caller', function()
      local kept, port
      local server; server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
         client.onrawdata(function(buf)
            kept = buf
            client.close()
            server.close()
         end)
      end)
      port = server.sockname.port
      async.tcp.connect({host = '127.0.0.1', port = port}, function(c) c.write('bytes'); c.close() end)
      async.go()
      local late = 'buffer used after its callback returned (use buf:clone() to keep it)'
      assert.are.equal(late, error_at_caller(function() local n = #kept; return n end))
      assert.are.equal(late, error_at_caller(function() local s = kept:toString(); return s end))
      assert.are.equal(late, error_at_caller(function() local b = kept:clone(); return b end))
      assert.are.equal(late, error_at_caller(function() local p = kept:pointer(); return p end))
      assert.are.equal("bad argument #1 to 'toString' (buffer expected, got number)",
         error_at_caller(function() local s = kept.toString(42); return s end))
   end)

   it("from async.pcall's handler failing are the handler's plain string", function()
      local wrapped = async.pcall(function() error('first') end, function() error('handler broke') end)
      assert.matches('^handler broke', error_at_caller(function() wrapped() end))
   end)

   it("from a rate limiter's done are the wrapped callback's plain string", function()
      local message
      local limit = async.flow.ratelimiter(100)
      limit(function(done)
         message = select(2, pcall(done))
      end, {function() error('callback broke') end})
      async.go()
      assert.are.equal('string', type(message))
      assert.matches('^' .. here:gsub('%p', '%%%0') .. ':%d+: callback broke', message)
   end)
   it('from option tables of the wrong shape name the option, not a conversion', function()
      assert.are.equal('spawn: env must be a table, got string',
         error_at_caller(function() async.process.spawn('true', {env = 'PATH=/bin'}) end))
      assert.are.equal('getAddrInfo: domain[1] (the hints) must be a table, got string',
         error_at_caller(function() async.getAddrInfo({path = 'localhost', 'STREAM'}, function() end) end))
      local raising = setmetatable({}, {__index = function() error({}) end})
      assert.matches('^listen: reading option host failed: table: ',
         error_at_caller(function() async.tcp.listen(raising, function() end) end))
      local proc = async.process.spawn('sleep', {'5'})
      assert.are.equal("bad argument #1 to 'kill' (signal name or number (0 to 64) expected, got number)",
         error_at_caller(function() proc.kill(1.5) end))
      proc.kill('KILL')
      async.go()
   end)
   it('name a number argument or field "number", as Lua does', function()
      assert.are.equal("bad argument #1 to 'listen' (table or string expected, got number)",
         error_at_caller(function() async.tcp.listen(5, function() end) end))
      assert.are.equal('getAddrInfo: domain[1] (the hints) must be a table, got number',
         error_at_caller(function() async.getAddrInfo({path = 'localhost', 4}, function() end) end))
   end)

   it('of a host name that cannot be looked up come on a later turn, as a failed lookup would', function()
      local order = {}
      async.getAddrInfo({path = 'a\0b', port = 80}, function(_, err) order[#order + 1] = 'callback: ' .. err end)
      order[#order + 1] = 'returned'
      local client = async.tcp.connect({host = 'a\0b', port = 80}, function() order[#order + 1] = 'connected' end)
      client.onerr(function(err) order[#order + 1] = 'onerr: ' .. err end)
      async.go()
      assert.are.same({'returned', 'callback: EINVAL: invalid host name "a\\0b"', 'onerr: EINVAL: invalid host name "a\\0b"'}, order)
   end)
end)
