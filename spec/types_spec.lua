-- The LuaCATS annotations in types/ (for lua-language-server) against the
-- module itself: every public function and handle method has an
-- annotation, and every annotated one exists. The module's functions are
-- found by walking `require 'async'`; the methods of each kind of handle,
-- which are bound on first read and cannot be listed from Lua, are read
-- from the Rust tables that define them (`static ...: &[(&str, Method)]`
-- and each `Class { kind: ... }`), and the annotated ones are looked up on
-- live objects. lua-language-server itself is not packaged for this
-- machine (no Debian or npm package), so the files are only checked to
-- load as Lua.
local async = require 'async'
local support = require 'spec.support'
local run = support.run

local LIBRARY = 'types/library/'


-- Tables of the module that are not walked: `fiber.sync` makes its
-- functions on first use, `fiber.fibers` holds the live fibers.
local NOT_WALKED = {['async.fiber.sync'] = true, ['async.fiber.fibers'] = true}

-- The annotation class of each kind of handle (what `tostring` names).
local CLASS_OF_KIND = {
   timer = 'async.Timer',
   tcp = 'async.TcpSocket',
   ['tcp.server'] = 'async.TcpServer',
   ['pipe.server'] = 'async.PipeServer',
   udp = 'async.UdpSocket',
   pipe = 'async.Pipe',
   file = 'async.File',
   tty = 'async.Tty',
   process = 'async.Process',
   signal = 'async.Signal',
   immediate = 'async.Immediate',
   ['fs.watcher'] = 'async.fs.Watcher',
}

local read_file = support.read_file

local function list(command)
   local names = {}
   local p = assert(io.popen(command))
   for line in p:lines() do names[#names + 1] = line end
   p:close()
   table.sort(names)
   return names
end

local sorted_keys = support.sorted_keys

-- The names in `a` that are not in `b` (nor in `except`).
local function missing(a, b, except)
   local out = {}
   for name in pairs(a) do
      if not b[name] and not (except and except[name]) then out[#out + 1] = name end
   end
   table.sort(out)
   return out
end

-- Every `function async.x.y(` and every class of the annotation files:
-- `classes[name] = {parent =, methods = {name = true}, callable =}`.
local function annotations()
   local functions, classes, files = {}, {}, {}
   for _, file in ipairs(list('ls ' .. LIBRARY)) do
      if file:match('%.lua$') then
         local path = LIBRARY .. file
         files[#files + 1] = path
         local current
         for line in (read_file(path) .. '\n'):gmatch('(.-)\r?\n') do
            local name = line:match('^function (async[%w_%.]*)%(')
            if name then functions[name] = path end
            local class, parent = line:match('^%-%-%-@class ([%w_%.]+)%s*:?%s*([%w_%.]*)')
            if class then
               current = {parent = parent ~= '' and parent or nil, methods = {}, file = path}
               classes[class] = current
            elseif current and line:match('^%-%-%-') then
               local method = line:match('^%-%-%-@field ([%w_]+) fun%(')
               if method then current.methods[method] = true end
               if line:match('^%-%-%-@overload ') then current.callable = true end
            else
               current = nil
            end
         end
      end
   end
   return functions, classes, files
end

-- The methods of `class` and of the classes it derives from.
local function methods_of(classes, class)
   local all = {}
   while class do
      local c = assert(classes[class], 'no annotation class ' .. class)
      for name in pairs(c.methods) do all[name] = true end
      class = c.parent
   end
   return all
end

-- The functions of the module, by their full names, and the tables that
-- can be called (`async.repl(...)`, `async.fiber(fn)`).
local function module_functions()
   local functions, callables, seen = {}, {}, {}
   local function walk(t, prefix)
      seen[t] = true
      local mt = getmetatable(t)
      if type(mt) == 'table' and rawget(mt, '__call') then callables[prefix] = true end
      for key, value in pairs(t) do
         if type(key) == 'string' then
            local name = prefix .. '.' .. key
            if type(value) == 'function' then
               functions[name] = true
            elseif type(value) == 'table' and not seen[value] and not NOT_WALKED[name] then
               walk(value, name)
            end
         end
      end
   end
   walk(async, 'async')
   return functions, callables
end

-- The methods of each kind of handle, from the Rust sources: the groups
-- (`static NAME: &[(&str, Method)] = &[("name", f), ...]`) and the
-- classes (`Class { kind: "k", methods: &[GROUP, ...], lua_methods: ... }`);
-- a class with the stream's Lua methods has all of the stream's
-- (`async.handle.methods`).
local function rust_kinds()
   local sources = {}
   for _, path in ipairs(list('find src -name "*.rs"')) do sources[#sources + 1] = read_file(path) end
   local groups = {}
   for _, text in ipairs(sources) do
      for name, body in text:gmatch('static ([%u%d_]+): &%[%(&str, Method%)%] =%s*&(%b[])') do
         local names = {}
         for method in body:gmatch('%("([%w_]+)",') do names[#names + 1] = method end
         groups[name] = names
      end
   end
   local kinds = {}
   for _, text in ipairs(sources) do
      for body in text:gmatch('Class (%b{})') do
         local kind = body:match('kind: "([%w_%.]+)"')
         local methods = body:match('methods: &(%b[])')
         if kind and methods then
            local set = kinds[kind] or {}
            for method in methods:gmatch('%("([%w_]+)",') do set[method] = true end
            for group in methods:gmatch('([%u%d_]+)') do
               for _, method in ipairs(groups[group] or {}) do set[method] = true end
            end
            if body:match('lua_methods: Some%(stream::lua_methods%)') then
               for _, method in ipairs(async.handle.methods) do set[method] = true end
            end
            kinds[kind] = set
         end
      end
   end
   return kinds
end

-- The method names of buffers, from src/buffer.rs.
local function rust_buffer_methods()
   local text = read_file('src/buffer.rs')
   local set = {}
   for name in text:gmatch('methods%.raw_set%(%s*"([%w_]+)"') do set[name] = true end
   for name in text:gmatch('%("(read[%w]+)", %d') do set[name] = true end
   return set
end

-- The string keys with function values a plain object holds itself.
local function own_functions(object)
   local set = {}
   for key, value in pairs(object) do
      if type(key) == 'string' and type(value) == 'function' then set[key] = true end
   end
   return set
end

describe('the type annotations in types/', function()
   local annotated, classes, files = annotations()

   it('are laid out as a lua-language-server addon, and load as Lua', function()
      local config = async.json.decode(read_file('types/config.json'))
      assert.are.equal('async', config.name)
      assert.is_true(#config.words >= 1)
      for _, word in ipairs(config.words) do
         assert.is_truthy(("local async = require 'async'"):find(word), word)
         assert.is_truthy(('require("async.http")'):find(word), word)
      end
      assert.are.equal('LuaJIT', config.settings['Lua.runtime.version'])
      assert.is_true(#files >= 10)
      for _, path in ipairs(files) do
         local chunk, err = loadfile(path)
         assert(chunk, err)
         assert.is_truthy(read_file(path):match('^%-%-%-@meta '), path .. ' is not a ---@meta file')
      end
   end)

   it('cover every function of the module, and name none it lacks', function()
      local functions, callables = module_functions()
      assert.is_true(functions['async.http.listen'] and functions['async.repl.colorize.red'] and true)
      assert.are.same({}, missing(functions, annotated))
      assert.are.same({}, missing(annotated, functions, {}))
      -- Callable tables are annotated with an @overload of their class.
      for name in pairs(callables) do
         assert(classes[name] and classes[name].callable, name .. ' can be called: its class needs an ---@overload')
      end
   end)

   it('cover every method of every kind of handle, and name none it lacks', function()
      local kinds = rust_kinds()
      assert.is_truthy(kinds.tcp and kinds.tcp.write and kinds.timer and kinds.timer.clear)
      for _, kind in ipairs(sorted_keys(kinds)) do
         local class = CLASS_OF_KIND[kind]
         assert(class, 'a new kind of handle, ' .. kind .. ': map it to its annotation class in this spec')
         local annotated_methods = methods_of(classes, class)
         assert.are.same({}, missing(kinds[kind], annotated_methods))
         assert.are.same({}, missing(annotated_methods, kinds[kind]))
      end
      local buffer = rust_buffer_methods()
      assert.is_truthy(buffer.toString and buffer.readInt32BE)
      assert.are.same({}, missing(buffer, methods_of(classes, 'async.Buffer')))
      assert.are.same({}, missing(methods_of(classes, 'async.Buffer'), buffer))
   end)

   it('name methods that live handles, buffers, fibers and JSON clients have', function()
      local absent = {}
      local function check(object, class, own_only)
         local names = own_only and classes[class].methods or methods_of(classes, class)
         for name in pairs(names) do
            if object[name] == nil then absent[#absent + 1] = class .. '.' .. name end
         end
      end
      local seen = {}
      run(5, function(done)
         local timer = async.setTimeout(1, function() end)
         seen.timer = tostring(timer):match('^([%w.]+):')
         check(timer, 'async.Timer')
         timer.clear()

         local immediate = async.setImmediate(function() end)
         check(immediate, 'async.Immediate')
         immediate.clear()
         local signal = async.signal('SIGUSR2', function() end)
         check(signal, 'async.Signal')
         signal.close()

         local fiber = async.fiber(function() async.fiber.context().yield() end)
         check(fiber, 'async.Fiber')
         assert.are.same(classes['async.Fiber'].methods, own_functions(fiber))
         fiber.resume()

         local proc = assert(async.process.spawn('true', {}, function() end))
         check(proc, 'async.Process')
         check(proc.stdout, 'async.Pipe')
         seen.pipe = tostring(proc.stdout):match('^([%w.]+):')

         local server
         server = async.tcp.listen({host = '127.0.0.1', port = 0}, function(client)
            check(client, 'async.TcpSocket')
            client.onrawdata(function(buf)
               check(buf, 'async.Buffer')
               client.close()
               server.close()
            end)
         end)
         check(server, 'async.TcpServer')
         local datagrams = async.udp.bind({host = '127.0.0.1', port = 0})
         check(datagrams, 'async.UdpSocket')
         seen.udp = tostring(datagrams):match('^([%w.]+):')
         datagrams.close()
         async.tcp.connect({host = '127.0.0.1', port = server.sockname.port}, function(client)
            check(client, 'async.TcpSocket')
            client.write('x')
            client.close()
         end)

         local pipe_path = os.tmpname()
         os.remove(pipe_path)
         local pipe_server
         pipe_server = async.pipe.listen(pipe_path, function(client)
            check(client, 'async.Pipe')
            client.close()
            pipe_server.close()
         end)
         check(pipe_server, 'async.PipeServer')
         async.pipe.connect(pipe_path, function(client)
            check(client, 'async.Pipe')
            client.close()
         end)

         local json_server = async.json.listen({host = '127.0.0.1', port = 0}, function() end)
         local json_client = async.json.connect({host = '127.0.0.1', port = json_server.sockname.port}, function(client)
            client.close()
            json_server.close()
         end)
         -- Before any method is read (and cached), the client holds only
         -- its own functions: `send` and `receive`.
         assert.are.same(classes['async.JsonClient'].methods, own_functions(json_client))
         check(json_client, 'async.JsonClient')

         local left = 1
         proc.onclose(function()
            left = left - 1
            if left == 0 then done() end
         end)
      end)
      assert.are.same({}, absent)
      assert.are.equal('timer', seen.timer)
      assert.are.equal('pipe', seen.pipe)
      assert.are.equal('udp', seen.udp)
   end)
end)

-- The reference manual names every public function and handle method: a
-- function `async.x.y` appears as `y(` on some page of docs/, and so does
-- every method of every kind of handle. (What each says is for a reader
-- to judge; that nothing public is left out is checked here.)
describe('the reference manual in docs/', function()
   local text = {}
   for _, path in ipairs(list('ls docs/*.md')) do text[#text + 1] = read_file(path) end
   text = table.concat(text, '\n')
   local function documented(name)
      return text:find('%f[%w_]' .. name .. '%(') ~= nil
   end
   -- Families of functions documented by one pattern: the colour
   -- functions, one per name of `repl.colors`, as `repl.colorize.NAME(`.
   local FAMILIES = {['async.repl.colorize'] = 'repl.colorize.NAME('}

   it('names every function of the module with its arguments', function()
      local functions = module_functions()
      local undocumented, count = {}, 0
      for name in pairs(functions) do
         count = count + 1
         local family = FAMILIES[name:match('^(.*)%.[%w_]+$')]
         local by_family = family and text:find(family, 1, true) and async.repl.colors[name:match('([%w_]+)$')]
         if not (by_family or documented(name:match('([%w_]+)$'))) then undocumented[#undocumented + 1] = name end
      end
      table.sort(undocumented)
      assert.is_true(count > 100, count)
      assert.are.same({}, undocumented)
   end)

   it('names every method of every kind of handle with its arguments', function()
      local undocumented, count = {}, 0
      for kind, methods in pairs(rust_kinds()) do
         for method in pairs(methods) do
            count = count + 1
            if not documented(method) then undocumented[#undocumented + 1] = kind .. '.' .. method end
         end
      end
      table.sort(undocumented)
      assert.is_true(count > 100, count)
      assert.are.same({}, undocumented)
   end)
end)
