-- async.curl: requests made by the curl program against our own HTTP
-- server on 127.0.0.1. Every test ends by itself (a watchdog fails it
-- after a few seconds) and closes its server.
local async = require 'async'
local curl = async.curl
local json = async.json

local support = require 'spec.support'
local run = support.run

-- The path of `program` on PATH, or nil.
local function which(program)
   local found = io.popen('command -v ' .. program):read('*l')
   return found ~= '' and found or nil
end

if not which('curl') then
   describe('async.curl', function()
      it('needs the curl program', function() pending('curl is not installed') end)
   end)
   return
end

-- A server on a port the OS picks; `handler(req, res)` per request.
local function serve(handler)
   local server = async.http.listen({host = '127.0.0.1', port = 0}, handler)
   return server, 'http://127.0.0.1:' .. server.sockname.port
end

-- A server that keeps the last request in `seen.req` and answers with
-- what `answer(req)` returns.
local function recording(answer)
   local seen = {}
   local server, base = serve(function(req, res)
      seen.req = req
      res(answer(req))
   end)
   return server, base, seen
end

-- Every byte value, and the ones most often mangled, twice over.
local BINARY = (function()
   local bytes = {}
   for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
   return table.concat(bytes) .. '\0\r\n\n\r\0' .. table.concat(bytes) .. '\n404'
end)()

local function write_temp(content)
   local path = os.tmpname()
   local f = assert(io.open(path, 'wb')); f:write(content); f:close()
   return path
end

local function read_all(path)
   local f = io.open(path, 'rb')
   if not f then return nil end
   local content = f:read('*a'); f:close()
   return content
end

-- Calls `finish()` after `n` calls.
local function after(n, finish)
   return function()
      n = n - 1
      if n == 0 then finish() end
   end
end

describe('async.curl', function()
   it('is also require "async.curl"', function()
      assert.are.equal(curl, require 'async.curl')
      for _, name in ipairs({'get', 'post', 'put', 'delete', 'getn', 'postn', 'postLargeFile'}) do
         assert.is_function(curl[name], name)
      end
   end)

   it('gets a URL with an encoded query, and the body and code arrive', function()
      local seen
      run(5, function(done)
         local server, base
         server, base, seen = recording(function(req) return 'hello ' .. req.url.path end)
         curl.get({url = base .. '/where', query = {q = 'a b&c=d', n = 42, yes = true}}, function(body, code, err)
            assert.are.equal('hello /where', body)
            assert.are.equal(200, code)
            assert.is_nil(err)
            server.close(done)
         end)
      end)
      assert.are.equal('GET', seen.req.method)
      assert.are.equal('n=42&q=a%20b%26c%3dd&yes=true', seen.req.url.query)
   end)

   it('takes a plain URL string, and host + path', function()
      local paths = {}
      run(5, function(done)
         local server, base = serve(function(req, res) paths[#paths + 1] = req.url.path; res('ok') end)
         local finish = after(2, function() server.close(done) end)
         curl.get(base .. '/plain', function(body, code)
            assert.are.equal('ok', body); assert.are.equal(200, code); finish()
         end)
         curl.get({host = base, path = '/hosted'}, function(body, code)
            assert.are.equal('ok', body); assert.are.equal(200, code); finish()
         end)
      end)
      table.sort(paths)
      assert.are.same({'/hosted', '/plain'}, paths)
   end)

   it("decodes a JSON body with format = 'json'", function()
      run(5, function(done)
         local server, base = serve(function(req, res)
            res(json.encode({name = 'x', list = {1, 2, 3}, nested = {ok = true}}), {['Content-Type'] = 'application/json'})
         end)
         curl.get({url = base .. '/data', format = 'json'}, function(value, code)
            assert.are.same({name = 'x', list = {1, 2, 3}, nested = {ok = true}}, value)
            assert.are.equal(200, code)
            -- A body that is not JSON: nil, the code, and why.
            curl.get({url = base .. '/data', query = {}, format = 'json', method = 'HEAD'}, function(nothing, code2, err)
               assert.is_nil(nothing)
               assert.are.equal(200, code2)
               assert.matches('json.decode', err)
               server.close(done)
            end)
         end)
      end)
   end)

   it('sends headers, basic auth and a cookie', function()
      local seen
      run(5, function(done)
         local server, base
         server, base, seen = recording(function() return '' end)
         curl.get({
            url = base .. '/h',
            headers = {['X-Test'] = 'yes', ['X-Number'] = 42, ['X-Empty'] = ''},
            auth = {user = 'bob', password = 's3:cret'},
            cookie = 'a=1; b=2',
         }, function(_, code)
            assert.are.equal(200, code)
            server.close(done)
         end)
      end)
      local headers = seen.req.headers
      assert.are.equal('yes', headers['x-test'])
      assert.are.equal('42', headers['x-number'])
      assert.are.equal('', headers['x-empty'])
      -- base64('bob:s3:cret')
      assert.are.equal('Basic Ym9iOnMzOmNyZXQ=', headers.authorization)
      assert.are.equal('a=1; b=2', headers.cookie)
   end)

   it('refuses headers that would break the request', function()
      local message = support.error_of('curl_spec.lua', function()
         curl.get({url = 'http://127.0.0.1:1/', headers = {['X-A'] = 'one\r\nX-B: two'}})
      end)
      assert.matches("get: bad header 'X%-A'", message)
   end)

   it('posts a form with fields and an @file upload', function()
      local upload = write_temp(BINARY)
      local form
      run(5, function(done)
         local server, base = serve(function(req, res) form = req.body; res('got it') end)
         curl.post({url = base .. '/form', form = {name = 'value', semi = 'a;type=text/x', upload = '@' .. upload}},
            function(body, code)
               assert.are.equal('got it', body)
               assert.are.equal(200, code)
               server.close(done)
            end)
      end)
      os.remove(upload)
      assert.is_table(form)
      assert.are.equal('value', form.name.data)
      -- Only '@' values keep curl's -F syntax: this one is sent as it is.
      assert.are.equal('a;type=text/x', form.semi.data)
      assert.are.equal(BINARY, form.upload.data)
      assert.are.equal(upload:match('[^/]+$'), form.upload.filename)
   end)

   it('posts JSON (encoded, sent as application/json) and does not hang', function()
      local seen
      run(5, function(done)
         local server, base
         server, base, seen = recording(function(req) return json.encode({echo = req.body}) end)
         curl.post({url = base .. '/json', json = {k = {true, 'x'}, n = 1.5}, format = 'json'}, function(value, code)
            assert.are.equal(200, code)
            assert.are.same({echo = {k = {true, 'x'}, n = 1.5}}, value)
            server.close(done)
         end)
      end)
      assert.are.equal('POST', seen.req.method)
      assert.are.equal('application/json', seen.req.headers['content-type'])
   end)

   it('round-trips binary bytes: raw and file bodies, and the response', function()
      local path = write_temp(BINARY)
      local got = {}
      run(5, function(done)
         local server, base = serve(function(req, res)
            got[req.url.path] = req.body
            res(req.body, {['Content-Type'] = 'application/octet-stream'})
         end)
         local finish = after(2, function() server.close(done) end)
         local headers = {['Content-Type'] = 'application/octet-stream'}
         curl.post({url = base .. '/raw', raw = BINARY, headers = headers}, function(body, code)
            assert.are.equal(200, code)
            assert.are.equal(#BINARY, #body)
            assert.are.equal(BINARY, body)
            finish()
         end)
         curl.post({url = base .. '/file', file = path, headers = headers}, function(body, code)
            assert.are.equal(200, code)
            assert.are.equal(BINARY, body)
            finish()
         end)
      end)
      os.remove(path)
      assert.are.equal(BINARY, got['/raw'])
      assert.are.equal(BINARY, got['/file'])
   end)

   it('sets the method for put and delete, and get takes opts.method', function()
      local seen = {}
      run(5, function(done)
         local server, base = serve(function(req, res)
            seen[req.method] = req.body
            res(req.method)
         end)
         local finish = after(3, function() server.close(done) end)
         curl.put({url = base .. '/thing', raw = 'new content'}, function(body, code)
            assert.are.equal('PUT', body); assert.are.equal(200, code); finish()
         end)
         local options = {url = base .. '/thing'}
         curl.delete(options, function(body, code)
            assert.are.equal('DELETE', body); assert.are.equal(200, code); finish()
         end)
         -- The options table is not changed.
         assert.is_nil(options.method)
         curl.get({url = base .. '/thing', method = 'patch'}, function(body)
            assert.are.equal('PATCH', body); finish()
         end)
      end)
      assert.are.equal('new content', seen.PUT)
      assert.are.equal('', seen.DELETE)
   end)

   it('getn keeps at most opts.max in flight and calls back per URL', function()
      local in_flight, most, served = 0, 0, 0
      local answered = {}
      run(10, function(done)
         local server, base = serve(function(req, res)
            in_flight = in_flight + 1
            most = math.max(most, in_flight)
            async.setTimeout(60, function()
               in_flight = in_flight - 1
               served = served + 1
               res('page ' .. req.url.path)
            end)
         end)
         local urls = {}
         for i = 1, 8 do urls[i] = base .. '/' .. i end
         urls[9] = {url = base .. '/table'}
         local opts = {max = 3, headers = {['X-From'] = 'getn'}}
         local finish = after(#urls, function() server.close(done) end)
         curl.getn(urls, opts, function(body, url, code)
            assert.are.equal(200, code)
            answered[type(url) == 'table' and url.url or url] = body
            finish()
         end)
         assert.are.equal(3, opts.max)
      end)
      assert.are.equal(9, served)
      assert.is_true(most <= 3, 'at most 3 at once, saw ' .. most)
      assert.are.equal(3, most)
      local n = 0
      for url, body in pairs(answered) do
         n = n + 1
         assert.are.equal('page ' .. url:match('/[^/]*$'), body)
      end
      assert.are.equal(9, n)
   end)

   it('postn posts each URL with the shared options', function()
      local bodies = {}
      run(10, function(done)
         local server, base = serve(function(req, res) bodies[#bodies + 1] = req.body.field.data; res('posted') end)
         local urls = {base .. '/a', base .. '/b', base .. '/c'}
         local finish = after(#urls, function() server.close(done) end)
         curl.postn(urls, {max = 1, form = {field = 'same'}}, function(body, url, code)
            assert.are.equal('posted', body)
            assert.are.equal(200, code)
            assert.is_string(url)
            finish()
         end)
      end)
      assert.are.same({'same', 'same', 'same'}, bodies)
   end)

   it("includes the response head with output = 'full'", function()
      run(5, function(done)
         local server, base = serve(function(req, res) res('the body', {['X-Mine'] = 'here'}, 201) end)
         curl.post({url = base .. '/full', output = 'full', raw = 'x'}, function(body, code)
            assert.are.equal(201, code)
            assert.matches('^HTTP/1%.1 201 Created\r\n', body)
            assert.matches('\r\nX%-Mine: here\r\n', body)
            assert.matches('\r\n\r\nthe body$', body)
            server.close(done)
         end)
      end)
   end)

   it('gives the HTTP code of an error answer', function()
      run(5, function(done)
         local server, base = serve(function(req, res) res('not here', nil, 404) end)
         curl.get(base .. '/missing', function(body, code, err)
            assert.are.equal('not here', body)
            assert.are.equal(404, code)
            assert.is_nil(err)
            server.close(done)
         end)
      end)
   end)

   it('ends a request to a server that never answers after maxTime', function()
      local started = async.hrtime()
      run(5, function(done)
         local server, base = serve(function() end)
         curl.get({url = base .. '/never', maxTime = 0.3, maxConnectTime = 1}, function(body, code, err)
            assert.are.equal('', body)
            assert.are.equal(0, code)
            assert.matches('curl: %(28%)', err)
            server.close(done)
         end)
      end)
      assert.is_true(async.hrtime() - started < 3000)
   end)

   it('reports a refused connection, quietly, even with a body curl never read', function()
      local port
      run(5, function(done)
         local server = async.http.listen({host = '127.0.0.1', port = 0}, function() end)
         port = server.sockname.port
         server.close(function()
            curl.post({url = 'http://127.0.0.1:' .. port .. '/', raw = string.rep('x', 4 * 1024 * 1024)}, function(body, code, err)
               assert.are.equal(0, code)
               assert.matches('curl: %(7%)', err)
               done()
            end)
         end)
      end)
   end)

   it('gives a clear error when there is no curl program', function()
      local luajit = assert(which('luajit'))
      local empty = os.tmpname()
      os.remove(empty)
      assert.is_true(os.execute('mkdir ' .. empty) == 0)
      local code = [[
         local async = require 'async'
         async.curl.get('http://127.0.0.1:1/', function(body, code, err)
            io.write(tostring(body), '|', tostring(code), '|', tostring(err))
         end)
         async.go()
      ]]
      local output, status
      run(10, function(done)
         async.process.exec(luajit, {'-e', code, env = {PATH = empty, LUA_CPATH = os.getenv('LUA_CPATH'), LUA_PATH = os.getenv('LUA_PATH')}},
            function(out, st)
               output, status = out, st
               done()
            end)
      end)
      os.remove(empty)
      assert.are.equal(0, status)
      assert.matches('^nil|0|ENOENT: no such file or directory "curl"', output)
      assert.matches('curl program', output)
   end)

   it('saves cookies with saveCookie and sends them back from the file', function()
      local jar = os.tmpname()
      local cookie
      run(5, function(done)
         local server, base = serve(function(req, res)
            cookie = req.headers.cookie
            res('set', {['Set-Cookie'] = 'sid=abc123; Path=/'})
         end)
         curl.post({url = base .. '/login', form = {user = 'me'}, saveCookie = jar}, function(_, code)
            assert.are.equal(200, code)
            curl.get({url = base .. '/again', cookie = jar}, function()
               server.close(done)
            end)
         end)
      end)
      assert.matches('sid\tabc123', read_all(jar))
      os.remove(jar)
      assert.are.equal('sid=abc123', cookie)
   end)

   it('uploads a large file in chunks with postLargeFile', function()
      local content = BINARY:rep(10) -- 5,220 bytes: 3 chunks of 2,000
      local path = write_temp(content)
      local received, ranges, result = {}, {}, nil
      run(10, function(done)
         local server, base
         server, base = serve(function(req, res)
            local q = req.url.query
            if q == 'resumable=true' then
               assert.are.equal(tostring(#content), req.headers['x-ton-content-length'])
               res('', {Location = base .. '/upload?resumable=true&resumeId=77'}, 200)
            elseif q == 'resumable=true&resumeId=77' then
               received[#received + 1] = req.body
               ranges[#ranges + 1] = req.headers['content-range']
               res('', nil, #table.concat(received) < #content and 308 or 201)
            else
               res('bad query ' .. tostring(q), nil, 400)
            end
         end)
         curl.postLargeFile({url = base .. '/upload', filename = path, chunkSize = 2000}, function(ok, reason)
            result = {ok, reason}
            server.close(done)
         end)
      end)
      os.remove(path)
      assert.are.same({true}, result)
      assert.are.equal(content, table.concat(received))
      assert.are.same({'bytes 0-1999/5220', 'bytes 2000-3999/5220', 'bytes 4000-5219/5220'}, ranges)
   end)

   it('postLargeFile reports a refused upload and a missing file', function()
      local results = {}
      run(5, function(done)
         local server, base = serve(function(req, res) res('no', nil, 500) end)
         local path = write_temp('abc')
         local finish = after(2, function() os.remove(path); server.close(done) end)
         curl.postLargeFile({url = base .. '/upload', filename = path}, function(ok, reason, code)
            results.refused = {ok, reason, code}; finish()
         end)
         curl.postLargeFile({url = base .. '/upload', filename = '/nonexistent/file'}, function(ok, reason)
            results.missing = {ok, reason}; finish()
         end)
      end)
      assert.are.same({nil, 'Internal Server Error', 500}, results.refused)
      assert.are.same({nil, 'ENOENT: no such file or directory "/nonexistent/file"'}, results.missing)
   end)

   it('works with fiber.sync', function()
      run(5, function(done)
         local server, base = serve(function(req, res) res(req.method .. ' ' .. req.url.path) end)
         async.fiber(function()
            local body, code = async.fiber.sync.get(base .. '/one')
            assert.are.equal('GET /one', body)
            assert.are.equal(200, code)
            body, code = async.fiber.sync.post({url = base .. '/two', json = {1}})
            assert.are.equal('POST /two', body)
            assert.are.equal(200, code)
            server.close(done)
         end)
      end)
   end)

   it('prints the command with verbose', function()
      local lines = {}
      local print = _G.print
      run(5, function(done)
         local server, base = serve(function(req, res) res('') end)
         _G.print = function(line) lines[#lines + 1] = line end
         curl.get({url = base .. '/v', verbose = true}, function()
            _G.print = print
            server.close(done)
         end)
         _G.print = print
      end)
      assert.are.equal(1, #lines)
      assert.matches("^curl %-q %-s %-S %-g %-k %-%-write%-out %$'%%{stderr}\\nasync.curl http_code=%%{http_code}\\n' %-%-url http://127%.0%.0%.1:%d+/v$", lines[1])
   end)

   it('raises argument errors at the caller', function()
      assert.are.equal("bad argument #1 to 'get' (string or table expected, got no value)",
         support.error_of('curl_spec.lua', function() curl.get() end))
      assert.are.equal("bad argument #2 to 'post' (function expected, got number)",
         support.error_of('curl_spec.lua', function() curl.post({url = 'http://x/'}, 5) end))
      assert.are.equal('get: opts.url (or opts.host) is required',
         support.error_of('curl_spec.lua', function() curl.get({}) end))
      assert.are.equal("get: opts.format must be 'raw' or 'json', got 'xml'",
         support.error_of('curl_spec.lua', function() curl.get({url = 'http://x/', format = 'xml'}) end))
      assert.matches('^post: opts.json: json.encode: cannot encode a function',
         support.error_of('curl_spec.lua', function() curl.post({url = 'http://x/', json = {f = print}}) end))
      assert.are.equal('getn: urls[2] must be a string or a table (got boolean)',
         support.error_of('curl_spec.lua', function() curl.getn({'http://x/', true}, {}, function() end) end))
      assert.are.equal('postLargeFile: opts.filename is required',
         support.error_of('curl_spec.lua', function() curl.postLargeFile({url = 'http://x/'}) end))
   end)

   it("stops go() with an error raised in the user's callback", function()
      local server, base = serve(function(req, res) res('x') end)
      curl.get(base .. '/', function() error('boom in callback') end)
      local ok, err = pcall(async.go)
      assert.is_false(ok)
      assert.matches('boom in callback', err)
      server.close()
      async.go()
   end)

   it('creates no global variable', function()
      local before = {}
      for k in pairs(_G) do before[k] = true end
      run(5, function(done)
         local server, base = serve(function(req, res) res('{}') end)
         local finish = after(4, function() server.close(done) end)
         curl.get({url = base .. '/', format = 'json'}, finish)
         curl.post({url = base .. '/', form = {a = 'b'}}, finish)
         curl.post({url = base .. '/', json = {a = 'b'}}, finish)
         curl.post({url = base .. '/', raw = 'r'}, finish)
      end)
      local added = {}
      for k in pairs(_G) do if not before[k] then added[#added + 1] = tostring(k) end end
      assert.are.same({}, added)
   end)
end)
