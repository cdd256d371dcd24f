-- async.url: LuaSocket's socket.url (RFC 2396) in Rust. Expected values
-- are written out; the last block also compares with LuaSocket itself,
-- when it is installed, over many generated inputs.

local support = require 'spec.support'
local url = require('async').url

-- The message of the error `f` raises at a line of this file.
local function error_of(f)
   return support.error_of('url_spec.lua', f)
end

-- A table's keys and values, sorted, as one string (for comparing tables).
local function dump(t)
   if type(t) ~= 'table' then return tostring(t) end
   local keys = {}
   for k in pairs(t) do keys[#keys + 1] = k end
   table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
   local parts = {}
   for _, k in ipairs(keys) do
      parts[#parts + 1] = ('%s=%q'):format(tostring(k), tostring(t[k]))
   end
   return '{' .. table.concat(parts, ', ') .. '}'
end

describe('async.url', function()
   it('is reachable as a submodule too', function()
      assert.equal(url, require('async.url'))
      for _, name in ipairs { 'escape', 'unescape', 'parse', 'build', 'absolute', 'parse_path', 'build_path' } do
         assert.is_function(url[name], name)
      end
   end)

   describe('escape', function()
      it('keeps letters, digits and _ and hex-escapes the rest in lowercase', function()
         assert.equal('abc_XYZ_019', url.escape('abc_XYZ_019'))
         assert.equal('a%20b%2fc%3fd%3de%26f%2e%2d%7e', url.escape('a b/c?d=e&f.-~'))
         assert.equal('%00%01%ff%e9', url.escape('\0\1\255\233'))
         assert.equal('', url.escape(''))
      end)

      it('converts numbers as Lua does', function()
         assert.equal('12%2e5', url.escape(12.5))
         assert.equal('42', url.escape(42))
      end)

      it('round-trips every byte through unescape', function()
         local bytes = {}
         for b = 0, 255 do bytes[#bytes + 1] = string.char(b) end
         local all = table.concat(bytes)
         local escaped = url.escape(all)
         assert.is_nil(escaped:find('[^%w_%%]'))
         assert.equal(all, url.unescape(escaped))
         for b = 0, 255 do
            assert.equal(string.char(b), url.unescape(url.escape(string.char(b))))
         end
      end)

      it('checks its argument', function()
         assert.equal("bad argument #1 to 'escape' (string expected, got no value)", error_of(function() url.escape() end))
         assert.equal("bad argument #1 to 'escape' (string expected, got nil)", error_of(function() url.escape(nil) end))
         assert.equal("bad argument #1 to 'escape' (string expected, got table)", error_of(function() url.escape({}) end))
      end)
   end)

   describe('unescape', function()
      it('decodes %xx in either case', function()
         assert.equal('a b/c', url.unescape('a%20b%2Fc'))
         assert.equal('AJJ', url.unescape('%41%4a%4A'))
         assert.equal('\0\255', url.unescape('%00%ff'))
      end)

      it('keeps malformed escapes and decodes only once', function()
         assert.equal('%A%4%g1%', url.unescape('%%41%4%g1%'))
         assert.equal('%41', url.unescape('%2541'))
         assert.equal('+', url.unescape('+'))
      end)

      it('checks its argument', function()
         assert.equal("bad argument #1 to 'unescape' (string expected, got boolean)", error_of(function() url.unescape(true) end))
      end)
   end)

   describe('parse', function()
      it('splits a full URL', function()
         assert.same({
            scheme = 'http', authority = 'user:pw@host:8080', userinfo = 'user:pw', user = 'user', password = 'pw',
            host = 'host', port = '8080', path = '/a/b', params = 'p', query = 'q=1', fragment = 'f',
         }, url.parse('http://user:pw@host:8080/a/b;p?q=1#f'))
      end)

      it('unbrackets IPv6 hosts and keeps their colons out of the port', function()
         assert.same({ scheme = 'http', authority = '[::1]:80', host = '::1', port = '80', path = '/x' },
            url.parse('http://[::1]:80/x'))
         assert.same({ authority = '[fe80::1]', host = 'fe80::1' }, url.parse('//[fe80::1]'))
      end)

      it('parses partial URLs', function()
         assert.same({ path = '/just/a/path', query = 'x' }, url.parse('/just/a/path?x'))
         assert.same({ scheme = 'mailto', path = 'someone@example.com' }, url.parse('mailto:someone@example.com'))
         assert.same({ scheme = 'file', authority = '', path = '/etc/hosts' }, url.parse('file:///etc/hosts'))
         assert.same({ fragment = 'top' }, url.parse('#top'))
         assert.same({ path = '80' }, url.parse(80))
      end)

      it('keeps LuaSocket quirks', function()
         -- The authority runs to the next slash.
         assert.same({ scheme = 'http', authority = 'h?q#f', host = 'h?q#f' }, url.parse('http://h?q#f'))
         -- Present but empty parts are empty strings; the port stays a string.
         assert.same({ scheme = 'http', authority = 'h:', host = 'h', port = '', path = '/p', params = '', query = '', fragment = '' },
            url.parse('http://h:/p;?#'))
         -- The password follows the last colon of the userinfo.
         local parsed = url.parse('//a:b:c@h')
         assert.equal('a:b', parsed.user)
         assert.equal('c', parsed.password)
         assert.equal('1a+b-c.d', url.parse('1a+b-c.d:x').scheme)
         assert.is_nil(url.parse('+a:x').scheme)
      end)

      it('returns nil and a message for a missing or empty url', function()
         for _, input in ipairs { '', false } do
            local parsed, message = url.parse(input)
            assert.is_nil(parsed)
            assert.equal('invalid url', message)
         end
         assert.equal(2, select('#', url.parse(nil)))
         assert.equal(1, select('#', url.parse('x')))
      end)

      it('lays the parts over a copy of the defaults', function()
         local defaults = { scheme = 'ftp', port = 21, path = '/', extra = { 1 } }
         local parsed = url.parse('//host', defaults)
         assert.same({ scheme = 'ftp', authority = 'host', host = 'host', port = 21, path = '/', extra = { 1 } }, parsed)
         assert.equal(defaults.extra, parsed.extra)
         assert.are_not.equal(defaults, parsed)
         assert.is_nil(defaults.host)
         assert.equal('8080', url.parse('http://h:8080', { port = 80 }).port)
      end)

      it('splits a default authority or userinfo when the url has none', function()
         assert.same({ authority = 'u:p@h:1', userinfo = 'u:p', user = 'u', password = 'p', host = 'h', port = '1', path = '/x' },
            url.parse('/x', { authority = 'u:p@h:1' }))
         local parsed = url.parse('//h/x', { userinfo = 'a:b' })
         assert.equal('a', parsed.user)
         assert.equal('b', parsed.password)
         -- An empty host leaves the default one.
         assert.equal('d', url.parse('file:///x', { host = 'd' }).host)
      end)

      it('checks its arguments', function()
         assert.equal("bad argument #1 to 'parse' (string expected, got table)", error_of(function() url.parse({}) end))
         assert.equal("bad argument #2 to 'parse' (table expected, got string)", error_of(function() url.parse('x', 'y') end))
         assert.equal("bad argument #2 to 'parse' (field 'authority' must be a string, got table)",
            error_of(function() url.parse('/x', { authority = {} }) end))
      end)
   end)

   describe('build', function()
      it('inverts parse', function()
         for _, text in ipairs {
            'http://user:pw@host:8080/a/b;p?q=1#f', 'http://[::1]:80/x', 'ftp://u@h/', 'mailto:someone@example.com',
            '/just/a/path?x', '//host', 'http://h:/p;?#', 'g;x?y#s', '#only', 'urn:isbn:0451450523', 'file:///etc/hosts',
         } do
            assert.equal(text, url.build(url.parse(text)))
         end
      end)

      it('prefers host, port, user and password to authority and userinfo', function()
         assert.equal('http://ui@h/p', url.build { scheme = 'http', host = 'h', authority = 'ignored', userinfo = 'ui', path = '/p' })
         assert.equal('//u:p@[::1]:9', url.build { host = '::1', user = 'u', password = 'p', port = 9, userinfo = 'ignored' })
         assert.equal('//a@b', url.build { authority = 'a@b', port = 1, user = 'x' })
         assert.equal('', url.build {})
      end)

      it('reads fields through __index', function()
         assert.equal('http://h', url.build(setmetatable({}, { __index = { scheme = 'http', host = 'h' } })))
      end)

      it('checks its argument', function()
         assert.equal("bad argument #1 to 'build' (table expected, got no value)", error_of(function() url.build() end))
         assert.equal("bad argument #1 to 'build' (field 'host' must be a string, got table)",
            error_of(function() url.build { host = {} } end))
      end)
   end)

   describe('absolute', function()
      local base = 'http://a/b/c/d;p?q'

      -- RFC 2396 appendix C, with LuaSocket's answers where they differ
      -- from the RFC's (the RFC's in the comment).
      local cases = {
         { 'g:h', 'g:h' },
         { 'g', 'http://a/b/c/g' },
         { './g', 'http://a/b/c/g' },
         { 'g/', 'http://a/b/c/g/' },
         { '/g', 'http://a/g' },
         { '//g', 'http://g' },
         { '?y', 'http://a/b/c/d;p?y' }, -- http://a/b/c/?y
         { 'g?y', 'http://a/b/c/g?y' },
         { '#s', 'http://a/b/c/d;p?q#s' },
         { 'g#s', 'http://a/b/c/g#s' },
         { 'g?y#s', 'http://a/b/c/g?y#s' },
         { ';x', 'http://a/b/c/d;x' }, -- http://a/b/c/;x
         { 'g;x', 'http://a/b/c/g;x' },
         { 'g;x?y#s', 'http://a/b/c/g;x?y#s' },
         { '.', 'http://a/b/c/' },
         { './', 'http://a/b/c/' },
         { '..', 'http://a/b/' },
         { '../', 'http://a/b/' },
         { '../g', 'http://a/b/g' },
         { '../..', 'http://a/' },
         { '../../', 'http://a/' },
         { '../../g', 'http://a/g' },
         { '', 'http://a/b/c/d;p?q' },
         { '../../../g', 'http://a/g' }, -- http://a/../g
         { '../../../../g', 'http://a/g' }, -- http://a/../../g
         { '/./g', 'http://a/g' }, -- http://a/./g
         { '/../g', 'http://a/g' }, -- http://a/../g
         { 'g.', 'http://a/b/c/g.' },
         { '.g', 'http://a/b/c/.g' },
         { 'g..', 'http://a/b/c/g..' },
         { '..g', 'http://a/b/c/..g' },
         { './../g', 'http://a/b/g' },
         { './g/.', 'http://a/b/c/g/' },
         { 'g/./h', 'http://a/b/c/g/h' },
         { 'g/../h', 'http://a/b/c/h' },
         { 'g;x=1/./y', 'http://a/b/c/g;x=1/y' },
         { 'g;x=1/../y', 'http://a/b/c/y' },
         { 'g?y/./x', 'http://a/b/c/g?y/x' }, -- http://a/b/c/g?y/./x
         { 'g?y/../x', 'http://a/b/c/x' }, -- http://a/b/c/g?y/../x
         { 'g#s/./x', 'http://a/b/c/g#s/x' }, -- http://a/b/c/g#s/./x
         { 'g#s/../x', 'http://a/b/c/x' }, -- http://a/b/c/g#s/../x
         { 'http:g', 'http:g' },
      }

      it('resolves the RFC 2396 examples as LuaSocket does', function()
         for _, case in ipairs(cases) do
            assert.equal(case[2], url.absolute(base, case[1]), case[1])
         end
      end)

      it('takes a parsed base', function()
         assert.equal('http://a/b/c/g', url.absolute(url.parse(base), 'g'))
         assert.equal('http://a/b/c/d;p?q', url.absolute(url.parse(base), ''))
         -- Only the base's authority field is inherited, not its host.
         assert.equal('http:/b/g', url.absolute({ scheme = 'http', host = 'a', path = '/b/c' }, 'g'))
      end)

      it('removes dot segments when a side is missing', function()
         assert.equal('a/b', url.absolute('', 'a/./b'))
         assert.equal('b', url.absolute(nil, 'a/../b'))
         assert.equal('http://a/c', url.absolute('http://a/b/../c', nil))
         assert.equal('http://a/b', url.absolute('http://a', 'b'))
         assert.equal('http://a//d', url.absolute('http://a//b/c', '../d'))
      end)

      it('checks its arguments', function()
         assert.equal("bad argument #2 to 'absolute' (string expected, got no value)", error_of(function() url.absolute() end))
         assert.equal("bad argument #2 to 'absolute' (string expected, got nil)", error_of(function() url.absolute('', nil) end))
         assert.equal("bad argument #1 to 'absolute' (string or table expected, got boolean)",
            error_of(function() url.absolute(true, 'x') end))
         assert.equal("bad argument #2 to 'absolute' (string expected, got table)", error_of(function() url.absolute('x', {}) end))
         assert.equal("bad argument #1 to 'absolute' (field 'path' must be a string, got table)",
            error_of(function() url.absolute({ path = {} }, 'x') end))
      end)
   end)

   describe('parse_path', function()
      it('splits into unescaped segments', function()
         assert.same({ 'a b', 'c/d', is_absolute = 1, is_directory = 1 }, url.parse_path('/a%20b//c%2Fd/'))
         assert.same({ 'a', 'b' }, url.parse_path('a/b'))
         assert.same({ is_absolute = 1, is_directory = 1 }, url.parse_path('/'))
         assert.same({}, url.parse_path(''))
         assert.same({}, url.parse_path(nil))
         assert.same({ '12' }, url.parse_path(12))
      end)

      it('checks its argument', function()
         assert.equal("bad argument #1 to 'parse_path' (string expected, got table)", error_of(function() url.parse_path({}) end))
      end)
   end)

   describe('build_path', function()
      it('joins segments, escaping what a segment may not hold', function()
         assert.equal('/a%20b/c%2Fd/', url.build_path { 'a b', 'c/d', is_absolute = 1, is_directory = 1 })
         assert.equal("-_.!~*'():@&=+$,/%25%3F%23", url.build_path { "-_.!~*'():@&=+$,", '%?#' })
         assert.equal('a/5', url.build_path { 'a', 5 })
      end)

      it('leaves segments alone when unsafe', function()
         assert.equal('/a b/c/d', url.build_path({ 'a b', 'c/d', is_absolute = true }, true))
      end)

      it('writes a directory slash only after a segment', function()
         assert.equal('/', url.build_path { is_absolute = 1, is_directory = 1 })
         assert.equal('', url.build_path { is_directory = 1 })
      end)

      it('inverts parse_path for canonical paths', function()
         for _, path in ipairs { '/a/b/', 'a', '/x%20y/z', '/' } do
            assert.equal(path, url.build_path(url.parse_path(path)))
         end
      end)

      it('checks its arguments', function()
         assert.equal("bad argument #1 to 'build_path' (table expected, got no value)", error_of(function() url.build_path() end))
         assert.equal("bad argument #1 to 'build_path' (element 2 must be a string, got boolean)",
            error_of(function() url.build_path({ 'a', false }, true) end))
      end)
   end)

   describe('compared with LuaSocket', function()
      local has_socket, socket_url = pcall(require, 'socket.url')

      -- Deterministic pseudo-random strings over the characters that
      -- matter to URLs.
      local seed = 12345
      local function random(n)
         seed = (seed * 1103515245 + 12345) % 2147483648
         return seed % n
      end
      local alphabet = { '/', '/', '.', '.', 'a', 'b', ':', '@', '?', '#', ';', '[', ']', '%', '2', 'f', 'h', '\1', 'p', '+', ' ' }
      local function random_text(max)
         local chars = {}
         for i = 1, random(max + 1) do chars[i] = alphabet[random(#alphabet) + 1] end
         return table.concat(chars)
      end

      it('gives the same answers on generated inputs', function()
         if not has_socket then
            pending('LuaSocket is not installed')
            return
         end
         for _ = 1, 5000 do
            local a, b = random_text(24), random_text(16)
            if random(3) == 0 then a = 'http://' .. a end
            local context = ('%q %q'):format(a, b)
            assert.equal(socket_url.escape(a), url.escape(a), context)
            assert.equal(socket_url.unescape(a), url.unescape(a), context)
            assert.equal(dump(socket_url.parse(a)), dump(url.parse(a)), context)
            assert.equal(dump(socket_url.parse_path(a)), dump(url.parse_path(a)), context)
            assert.equal(socket_url.absolute(a, b), url.absolute(a, b), context)
            assert.equal(socket_url.absolute('', a), url.absolute('', a), context)
            local parsed = socket_url.parse(a)
            if parsed then
               local defaults = socket_url.parse(b) or {}
               assert.equal(dump(socket_url.parse(a, defaults)), dump(url.parse(a, defaults)), context)
               assert.equal(socket_url.build(parsed), url.build(parsed), context)
               assert.equal(socket_url.absolute(parsed, b), url.absolute(parsed, b), context)
            end
            local segments = socket_url.parse_path(a)
            assert.equal(socket_url.build_path(segments), url.build_path(segments), context)
            assert.equal(socket_url.build_path(segments, true), url.build_path(segments, true), context)
         end
      end)
   end)
end)
