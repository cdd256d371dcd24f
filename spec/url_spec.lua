-- async.url: the original async's url.lua (LuaSocket 2.0's socket.url) in
-- Rust. Expected values are written out; the last block replays the
-- original's answers to thousands of generated inputs
-- (spec/data/url_original.lua).

local support = require 'spec.support'
local url = require('async').url

-- The message of the error `f` raises at a line of this file.
local function error_of(f)
   return support.error_of('url_spec.lua', f)
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

      it("keeps the original's quirks", function()
         -- The fragment is cut first; the authority runs to the next slash.
         assert.same({ scheme = 'http', authority = 'h?q', host = 'h?q', fragment = 'f' }, url.parse('http://h?q#f'))
         assert.same({ scheme = 'http', authority = 'host', host = 'host', fragment = 'frag@evil' },
            url.parse('http://host#frag@evil'))
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

      it('writes the path anew, escaped in lowercase', function()
         assert.equal('http://h/a%20b', url.build { scheme = 'http', host = 'h', path = '/a b' })
         assert.equal('/a/b%2f/A/', url.build { path = '//a//b%2F/%41/' })
         assert.equal('x;p?q', url.build { path = 'x', params = 'p', query = 'q' })
         -- Only a host with a colon is bracketed.
         assert.equal('//[::1]', url.build { host = '::1' })
         assert.equal('//[x]', url.build { host = '[x]' })
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

      -- RFC 3986 section 5.4, with the original's answers where they
      -- differ from the RFC's (the RFC's in the comment) but name the same
      -- resource, and the RFC's where the original's are wrong (marked).
      local cases = {
         { 'g:h', 'g:h' },
         { 'g', 'http://a/b/c/g' },
         { './g', 'http://a/b/c/g' },
         { 'g/', 'http://a/b/c/g/' },
         { '/g', 'http://a/g' },
         { '//g', 'http://g' },
         { '?y', 'http://a/b/c/d;p?y' },
         { 'g?y', 'http://a/b/c/g?y' },
         { '#s', 'http://a/b/c/d;p?q#s' },
         { 'g#s', 'http://a/b/c/g#s' },
         { 'g?y#s', 'http://a/b/c/g?y#s' },
         { ';x', 'http://a/b/c/d;x' }, -- http://a/b/c/;x (this is RFC 1808's answer: ;x is params)
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
         { '../../../g', 'http://a/g' }, -- the original: http://ag
         { '../../../../g', 'http://a/g' }, -- the original: http://a../g
         { '/./g', 'http://a/./g' }, -- http://a/g
         { '/../g', 'http://a/../g' }, -- http://a/g
         { 'g.', 'http://a/b/c/g.' },
         { '.g', 'http://a/b/c/.g' },
         { 'g..', 'http://a/b/c/g..' },
         { '..g', 'http://a/b/c/..g' },
         { './../g', 'http://a/b/g' },
         { './g/.', 'http://a/b/c/g/' },
         { 'g/./h', 'http://a/b/c/g/h' },
         { 'g/../h', 'http://a/b/c/h' },
         { 'g;x=1/./y', 'http://a/b/c/g;x=1/./y' }, -- http://a/b/c/g;x=1/y
         { 'g;x=1/../y', 'http://a/b/c/g;x=1/../y' }, -- http://a/b/c/y
         { 'g?y/./x', 'http://a/b/c/g?y/./x' },
         { 'g?y/../x', 'http://a/b/c/g?y/../x' },
         { 'g#s/./x', 'http://a/b/c/g#s/./x' },
         { 'g#s/../x', 'http://a/b/c/g#s/../x' },
         { 'http:g', 'http:g' },
      }

      it('resolves the RFC 3986 examples as the original does, where it is right', function()
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

      it('answers with the other side, as it is, when one is missing', function()
         assert.equal('a/./b', url.absolute('', 'a/./b'))
         assert.equal('a/../b', url.absolute(nil, 'a/../b'))
         assert.equal('http://a/b/../c', url.absolute('http://a/b/../c', nil))
         assert.equal('http://a/b c#f', url.absolute('http://a/b c#f', ''))
         assert.equal('http://h/a%20b', url.absolute({ scheme = 'http', host = 'h', path = '/a b' }, ''))
         assert.equal(5, url.absolute(nil, 5))
         assert.equal(false, url.absolute('', false))
         assert.is_nil(url.absolute())
         assert.equal('x:/a/../b', url.absolute('http://h/', 'x:/a/../b'))
      end)

      it('writes the answer anew, path escaped', function()
         assert.equal('http://h/a/c%20d', url.absolute('http://h/a/b', 'c d'))
         assert.equal('http://a/d', url.absolute('http://a//b/c', '../d'))
      end)

      it('merges onto a base without an authority as the original', function()
         assert.equal('b', url.absolute('a', 'b'))
         assert.equal('mailto:y', url.absolute('mailto:x', 'y'))
         assert.equal('../c', url.absolute('a/b', '../../c'))
      end)

      it('keeps the root and the host where the original lost them (RFC 3986)', function()
         -- The original glued the reference onto the host: http://ab.
         assert.equal('http://a/b', url.absolute('http://a', 'b'))
         assert.equal('http://a/', url.absolute('http://a', '.'))
         -- The original took the root away: http://ag, g.
         assert.equal('http://a/g', url.absolute('http://a/b', '../../g'))
         assert.equal('/g', url.absolute('/a/b', '../../g'))
         assert.equal('http://a/', url.absolute('http://a/b/', '../..'))
      end)

      it('checks its arguments', function()
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
      it('joins segments, escaping in lowercase what a segment may not hold', function()
         assert.equal('/a%20b/c%2fd/', url.build_path { 'a b', 'c/d', is_absolute = 1, is_directory = 1 })
         assert.equal("-_.!~*'():@&=+$,/%25%3f%23", url.build_path { "-_.!~*'():@&=+$,", '%?#' })
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

   describe('compared with the original', function()
      -- Generated inputs and the original's answers to them; its header
      -- says how they were made.
      local here = debug.getinfo(1, 'S').source:match('^@(.-)[^/]*$')
      local cases = assert(loadfile(here .. 'data/url_original.lua'))()
      -- The kinds of `absolute` answers where async.url gives RFC 3986's
      -- instead of the original's (docs/url.md, "Differs from the original").
      local corrections = {
         ['a base with an authority and an empty path'] = true,
         ['.. above the root'] = true,
      }
      local deepcompare = require('luassert.util').deepcompare

      local function pack(...) return { n = select('#', ...), ... } end

      local function show(v)
         if type(v) == 'string' then return ('%q'):format(v) end
         if type(v) ~= 'table' then return tostring(v) end
         local keys = {}
         for k in pairs(v) do keys[#keys + 1] = k end
         table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
         local parts = {}
         for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. show(v[k]) end
         return '{' .. table.concat(parts, ', ') .. '}'
      end

      -- How the results differ from the expected ones, or nil.
      local function difference(got, want)
         local n = want.n or #want
         if got.n ~= n then return ('%d results, want %d'):format(got.n, n) end
         for i = 1, n do
            if not deepcompare(got[i], want[i], true) then return ('got %s, want %s'):format(show(got[i]), show(want[i])) end
         end
      end

      it('gives the original\'s answers to ' .. #cases .. ' generated inputs, or RFC 3986\'s where it is wrong', function()
         assert.is_true(#cases > 3000)
         local wrong, corrected, seen = {}, 0, {}
         for i, case in ipairs(cases) do
            local name, args = case[1], case[2]
            seen[name] = true
            local ok, got = pcall(function() return pack(url[name](unpack(args, 1, args.n or #args))) end)
            local problem
            if case.error then
               if ok then problem = 'no error; the original raised' .. case.error end
            elseif not ok then
               problem = 'error: ' .. tostring(got)
            elseif case.rfc then
               corrected = corrected + 1
               if not corrections[case.why] then problem = 'an unlisted kind of correction: ' .. tostring(case.why) end
               problem = problem or difference(got, { case.rfc, n = 1 })
            else
               problem = difference(got, case[3])
            end
            if problem then wrong[#wrong + 1] = ('case %d, %s%s: %s'):format(i, name, show(args), problem) end
         end
         for _, name in ipairs { 'escape', 'unescape', 'parse', 'build', 'absolute', 'parse_path', 'build_path' } do
            assert.is_true(seen[name], name)
         end
         assert.is_true(corrected > 0)
         assert.equal(0, #wrong, table.concat(wrong, '\n', 1, math.min(#wrong, 20)))
      end)
   end)
end)
