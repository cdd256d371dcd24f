local async = require 'async'

-- Every public function, called with wrong or odd arguments, either works
-- or raises a plain string error: never a crash, never an error object
-- that is not a string. The values are chosen so that nothing harmful can
-- succeed (paths that cannot exist, no valid port).
local values = {
   {}, {nil}, {'/nonexistent/async-spec'}, {-1}, {{}}, {function() end}, {true},
   {'/nonexistent/async-spec', -1}, {{}, function() end}, {-1, '/nonexistent/async-spec', function() end},
   {0 / 0}, {math.huge}, {'\0'}, {{host = '\0', port = -5}},
}
local skip = {go = true, run = true, stop = true, handles = true}

-- Lets whatever the calls started finish (failed lookups, a child that
-- exits), for at most 5 seconds.
local function settle()
   local watchdog = async.setTimeout(5000, function() async.stop() end)
   async.setTimeout(1000, function() watchdog.clear() end)
   async.go()
end

-- Calls `f` with each of `values`; records in `bad` each call that raised
-- something other than a string. Returns the number of calls.
local function try_all(name, f, bad)
   for _, args in ipairs(values) do
      local ok, err = pcall(f, unpack(args, 1, table.maxn(args)))
      if not ok and type(err) ~= 'string' then
         bad[#bad + 1] = name .. ': error object is a ' .. type(err)
      end
      -- A number as a path names a real file here: a file stream or a
      -- watcher made of it is closed, as its owner would.
      local made = ok and type(err) == 'table' and tostring(err) or ''
      if made:match('^file: ') or made:match('^fs%.watcher: ') then err.close() end
   end
   return #values
end

local function functions()
   local found = {}
   local function scan(t, prefix, depth)
      for name, value in pairs(t) do
         if type(value) == 'function' and not skip[name] then
            found[#found + 1] = {prefix .. name, value}
         elseif type(value) == 'table' and depth < 2 and name ~= 'codes' and name ~= 'protocols' then
            scan(value, prefix .. name .. '.', depth + 1)
         end
      end
   end
   scan(async, 'async.', 0)
   table.sort(found, function(a, b) return a[1] < b[1] end)
   return found
end

describe('every function given wrong arguments', function()
   -- Some calls succeed with a number as a path (writeFile(-1, ...) writes
   -- a file named "-1"): they run in a temporary folder, never the checkout.
   local ffi = require 'ffi'
   pcall(ffi.cdef, 'int chdir(const char *path); char *getcwd(char *buf, size_t size);')
   local home, scratch
   setup(function()
      local buf = ffi.new('char[4096]')
      home = ffi.string(ffi.C.getcwd(buf, 4096))
      scratch = os.tmpname()
      os.remove(scratch)
      assert(os.execute('mkdir ' .. scratch) == 0)
      assert(ffi.C.chdir(scratch) == 0)
   end)
   teardown(function()
      assert(ffi.C.chdir(home) == 0)
      os.execute('rm -rf ' .. scratch)
   end)

   it('works or raises a plain string error', function()
      -- The calls change async.json's lua-cjson settings (a `true` turns
      -- encode_invalid_numbers on): they are put back for the other specs.
      local settings = {}
      for name, f in pairs(async.json) do
         if name:match('^encode_') or name:match('^decode_') then settings[name] = { f() } end
      end
      finally(function()
         for name, values in pairs(settings) do async.json[name](unpack(values)) end
      end)
      local bad, calls = {}, 0
      for _, entry in ipairs(functions()) do
         calls = calls + try_all(entry[1], entry[2], bad)
      end
      settle()
      assert.is_true(calls > 500, calls .. ' calls')
      assert.are.same({}, bad)
   end)

   it('including the methods of sockets, servers, timers, immediates, signals, processes, file streams and watchers', function()
      local bad, calls = {}, 0
      local function fuzz(kind, handle)
         local names = {}
         for _, name in ipairs(async.handle.methods) do names[#names + 1] = name end
         for _, name in ipairs({'setNoDelay', 'setKeepAlive', 'clear', 'kill', 'onexit', 'ref', 'unref', 'hasRef'}) do
            names[#names + 1] = name
         end
         for _, name in ipairs(names) do
            local ok_index, method = pcall(function() return handle[name] end)
            if ok_index and type(method) == 'function' then
               calls = calls + try_all(kind .. '.' .. name, method, bad)
            end
         end
      end
      local server
      server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(peer)
         fuzz('accepted socket', peer)
         peer.destroy()
         fuzz('server', server)
         server.close()
      end)
      async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
         fuzz('socket', client)
         client.destroy()
      end)
      fuzz('timer', async.setTimeout(10, function() end))
      fuzz('immediate', async.setImmediate(function() end))
      local signal = async.signal('SIGUSR2', function() end)
      fuzz('signal', signal)
      signal.close()
      local proc = async.process.spawn('sleep', {'5'}, function() end)
      fuzz('process', proc)
      fuzz('pipe', proc.stdout)
      proc.kill('SIGKILL')
      local file_stream = async.fs.createReadStream(scratch .. '/missing')
      fuzz('file stream', file_stream)
      file_stream.destroy()
      local watcher = async.fs.watch(scratch, function() end)
      fuzz('watcher', watcher)
      watcher.close()
      settle()
      assert.is_true(calls > 800, calls .. ' calls')
      assert.are.same({}, bad)
   end)
   it('including the closures the API returns: wrappers, done, res, reply, bound methods', function()
      local bad, calls = {}, 0
      local function fuzz(name, f) calls = calls + try_all(name, f, bad) end
      -- async.pcall's wrapper, with a handler that fails in turn.
      fuzz('pcall wrapper', async.pcall(function(x) return x.field end, function() error({}) end))
      fuzz('pcall wrapper without handler', async.pcall(function(...) return ... end))
      -- flow.ratelimiter: the limiter itself and the done it hands out.
      local limit = async.flow.ratelimiter(1000)
      fuzz('ratelimiter', limit)
      limit(function(done) fuzz('ratelimiter done', done) end)
      -- A bound method kept apart from its handle, after the close.
      local timer = async.setTimeout(10000, function() end)
      local clear = timer.clear
      timer.clear()
      fuzz('timer.clear after clear', clear)
      -- The HTTP server's req and res, the client's callback values.
      local http = async.http.listen({host = '127.0.0.1', port = 0}, function(req, res, client)
         fuzz('http res', res)
         pcall(res, 'ok', {}) -- a fuzzed call may have answered already
         fuzz('http res after the response', res)
         fuzz('bound client.write', client.write)
      end)
      async.http.request({url = 'http://127.0.0.1:' .. http.sockname.port .. '/'}, function(res)
         http.close()
      end)
      -- JSON-lines: the server's reply and the client's send and receive.
      local json
      json = async.json.listen({host = '127.0.0.1', port = 0}, function(message, reply, client)
         fuzz('json reply', reply)
         client.close()
         json.close()
      end)
      local peer
      peer = async.json.connect({host = '127.0.0.1', port = json.sockname.port}, function()
         fuzz('json receive', peer.receive)
         peer.send({hello = true})
      end)
      settle()
      if peer then peer.close() end
      settle()
      assert.is_true(calls > 100, calls .. ' calls')
      assert.are.same({}, bad)
   end)
end)
