-- Writes spec/data/url_original.lua: generated inputs for every async.url
-- function with the answers the original async's url.lua (LuaSocket 2.0's
-- socket.url) gives to them, for spec/url_spec.lua to replay.
--
--   luajit spec/data/url_generate.lua ORIGINAL_URL_LUA > spec/data/url_original.lua
--
-- ORIGINAL_URL_LUA is a copy of the original's async/url.lua kept outside
-- this repository; it is loaded from there and nothing of it is copied
-- here. The inputs come from a fixed-seed generator, so the same file
-- comes out each time. Two more arguments, a seed and a scale (a factor
-- on the number of cases), make other and more cases, for comparing
-- beyond the committed ones.
--
-- Where the original's `absolute` makes one of the two mistakes that RFC
-- 3986 resolution (section 5.2) corrects (`mistake` below: the merged
-- path glued onto the host, or its root lost to `..`), async.url gives RFC
-- 3986's answer: such a case carries it as `rfc` next to the original's
-- answer, with `why` naming the mistake (docs/url.md, "Differs from the original", lists them).
-- This file computes the RFC answer itself (`rfc_absolute`) and writes the
-- URL with the original's `build`.

local original = dofile(assert(arg[1], 'usage: luajit url_generate.lua ORIGINAL_URL_LUA'))

-- ---------------------------------------------------------------------------
-- Deterministic choices (Park and Miller's generator: exact in doubles)

local state = tonumber(arg[2]) or 20240607
local scale = tonumber(arg[3]) or 1
local function random(n)
   state = state * 16807 % 2147483647
   return state % n
end
local function pick(list) return list[random(#list) + 1] end
local function chance(k) return random(k) == 0 end

-- `n` draws from `make`, concatenated.
local function repeated(n, make)
   local out = {}
   for i = 1, n do out[i] = make() end
   return table.concat(out)
end

-- ---------------------------------------------------------------------------
-- Pieces of URLs

local schemes = { 'http', 'https', 'ftp', 'mailto', 'file', 'urn', 'HTTP', 'a+b-c.d', '1x', 'x', '+bad', '-x', 'sc heme', 'g' }
local userinfos = { 'u', 'u:p', 'a:b:c', '', ':', 'user:', ':pw', 'u%40x:p%3a', 'a@b', 'u p', 'u]', '[u:1]' }
local hosts = {
   'h', 'example.com', 'a', '1.2.3.4', '[::1]', '[fe80::1%25eth0]', '[]', '[x]', '[[::1]]', '', 'a:b', 'h]', '[h',
   'H-1.x', '%41', 'h?q', 'h;p', '[::1]:', 'a b', '\1', '[a:1]',
}
local ports = { '80', '', '8080', 'x', '0', '65536', ':', ']' }
local segments = {
   '', '.', '..', '...', 'a', 'b', 'g', 'b c', '%2F', '%2f', '%2e', '%2E%2E', '%', '%4', '%41', '%zz', 'x;y', 'g?',
   'a=b', "-_.!~*'()", ':', '@', '&+$,', '\0', '\1', '\255', '\195\169', '~u', '[', ']', '%20', 'x.', '.x', '..x',
   'x..', 'a:b', '%3B', '%3F', '%23', '%25', 'c', 'd', '"', '<>', '{}', '|', '^', '`', '\\',
}
local text_bytes = {
   'a', 'b', '=', '&', '/', '/', '.', '..', '?', '#', '@', ';', ':', '%', '%2F', '%41', ' ', '+', '[', ']', 'x', '\1',
   '\255', '../', './', '/../', '/./',
}
-- Bytes for URLs made of anything.
local odd_bytes = { '/', '/', '.', '.', 'a', 'b', ':', '@', '?', '#', ';', '[', ']', '%', '2', 'f', 'h', '\1', 'p', '+', ' ', '\0', '\255', 'A', '4', '1' }

local function text(max) return repeated(random(max + 1), function() return pick(text_bytes) end) end
local function odd_text(max) return repeated(random(max + 1), function() return pick(odd_bytes) end) end

local function path(absolute)
   local parts = {}
   for i = 1, random(5) do parts[i] = pick(segments) end
   local p = table.concat(parts, '/')
   if absolute then p = '/' .. p end
   if chance(4) then p = p .. '/' end
   return p
end

-- A URL, most often a well-formed one, sometimes odd bytes.
local function url()
   if chance(5) then return odd_text(24) end
   local out = {}
   if not chance(4) then out[#out + 1] = pick(schemes) .. ':' end
   local authority = not chance(3)
   if authority then
      out[#out + 1] = '//'
      if chance(3) then out[#out + 1] = pick(userinfos) .. '@' end
      out[#out + 1] = pick(hosts)
      if chance(3) then out[#out + 1] = ':' .. pick(ports) end
   end
   if not (authority and chance(4)) then out[#out + 1] = path(authority or chance(2)) end
   if chance(4) then out[#out + 1] = ';' .. text(6) end
   if chance(3) then out[#out + 1] = '?' .. text(8) end
   if chance(3) then out[#out + 1] = '#' .. text(8) end
   return table.concat(out)
end

-- The reference examples of RFC 3986 section 5.4, and others.
local fixed_relatives = {
   'g:h', 'g', './g', 'g/', '/g', '//g', '?y', 'g?y', '#s', 'g#s', 'g?y#s', ';x', 'g;x', 'g;x?y#s', '', '.', './',
   '..', '../', '../g', '../..', '../../', '../../g', '../../../g', '../../../../g', '/./g', '/../g', 'g.', '.g', 'g..',
   '..g', './../g', './g/.', 'g/./h', 'g/../h', 'g;x=1/./y', 'g;x=1/../y', 'g?y/./x', 'g?y/../x', 'g#s/./x',
   'g#s/../x', 'http:g', 'a b', '%2e%2e/g', '../../a/../../b', '.././../g', 'g//../h', '//h/../x', ';x?y', ';x#f',
   '?', '#', ';', '/', '//', './/g', 'a:b', './a:b', '../a/./b/../c/', 'b c/../d e',
}
local relative_segments = { '.', '..', '..', 'g', 'h', '', 'a b', '%2e', '%2E%2E', ';x', 'x;p', '...', 'g.', '%2F' }

-- A reference to resolve against a base.
local function relative()
   local roll = random(10)
   if roll < 3 then return pick(fixed_relatives) end
   if roll == 3 then return url() end
   if roll == 4 then return odd_text(12) end
   local parts = {}
   for i = 1, random(6) do parts[i] = pick(relative_segments) end
   local r = table.concat(parts, '/')
   if chance(4) then r = '/' .. r end
   if chance(5) then r = r .. '/' end
   if chance(6) then r = r .. ';' .. text(4) end
   if chance(4) then r = r .. '?' .. text(5) end
   if chance(4) then r = r .. '#' .. text(5) end
   if chance(12) then r = '//' .. pick(hosts) .. r end
   return r
end

local fixed_bases = {
   'http://a/b/c/d;p?q', 'http://a', 'http://a/', 'http://a?q', 'http://a#f', 'a', 'a/b', 'a/b/c', '/a/b', '/', 'mailto:x',
   'mailto:a/b', '//h', '//h/x/y', 'file:///x/y', 'http://a/b;x/c', 'x:', 'x:;p', 'http://u@[::1]:8/a/b/', 'http://a/b/c/',
   'http://a//b/c', 'urn:a:b', 'g;x', '?q', '#f', '.', '..',
}

local function base() return chance(3) and pick(fixed_bases) or url() end

local fields = { 'scheme', 'authority', 'userinfo', 'user', 'password', 'host', 'port', 'path', 'params', 'query', 'fragment' }

-- A table for `build`: some fields, each a piece, odd text or a number.
local function parts_table()
   local t = {}
   for _, name in ipairs(fields) do
      if chance(3) then
         local roll = random(8)
         if roll == 0 then
            t[name] = random(100)
         elseif roll == 1 then
            t[name] = odd_text(8)
         elseif name == 'path' then
            t[name] = path(chance(2))
         elseif name == 'host' then
            t[name] = pick(hosts)
         elseif name == 'port' then
            t[name] = pick(ports)
         elseif name == 'scheme' then
            t[name] = pick(schemes)
         elseif name == 'userinfo' or name == 'user' or name == 'password' then
            t[name] = pick(userinfos)
         else
            t[name] = text(6)
         end
      end
   end
   return t
end

-- A parsed URL as the original makes it, sometimes with a field changed.
local function parsed_table()
   local t = original.parse(url()) or {}
   if chance(3) then
      local name = pick(fields)
      t[name] = chance(2) and text(5) or nil
   end
   return t
end

-- Segments for `build_path`, with its flags.
local function segment_table()
   local t = {}
   for i = 1, random(5) do
      local roll = random(6)
      if roll == 0 then
         t[i] = random(1000)
      elseif roll == 1 then
         t[i] = odd_text(6)
      else
         t[i] = pick(segments)
      end
   end
   local flags = { 1, true, false, nil, 'yes' }
   t.is_absolute = flags[random(5) + 1]
   t.is_directory = flags[random(5) + 1]
   return t
end

local function bytes(max)
   return repeated(random(max + 1), function()
      return chance(2) and pick(odd_bytes) or string.char(random(256))
   end)
end

-- ---------------------------------------------------------------------------
-- RFC 3986 resolution, over the parts of the original's parse (its
-- `;params` stay a part of their own, as the original has them)

-- Section 5.2.4.
local function remove_dot_segments(input)
   local out = {}
   while input ~= '' do
      if input:sub(1, 3) == '../' then
         input = input:sub(4)
      elseif input:sub(1, 2) == './' or input:sub(1, 3) == '/./' then
         input = input:sub(3)
      elseif input == '/.' then
         input = '/'
      elseif input:sub(1, 4) == '/../' or input == '/..' then
         input = '/' .. input:sub(5)
         out[#out] = nil
      elseif input == '.' or input == '..' then
         input = ''
      else
         local segment = input:match('^/?[^/]*')
         out[#out + 1] = segment
         input = input:sub(#segment + 1)
      end
   end
   return table.concat(out)
end

-- Sections 5.2.2 and 5.2.3 for a reference with a relative path (no
-- scheme, no authority), written with the original's `build`.
local function rfc_absolute(b, r)
   local t = {}
   for k, v in pairs(r) do t[k] = v end
   t.scheme, t.authority = b.scheme, b.authority
   local directory = (b.path or ''):match('^.*/') or ''
   if b.authority and (b.path or '') == '' then directory = '/' end
   t.path = remove_dot_segments(directory .. r.path)
   return original.build(t)
end

-- The kind of mistake the original makes in `absolute(b, r)`, if it makes
-- one RFC 3986 corrects: the path it merges from a relative reference
-- path loses the root, so that `build` glues it onto the host, or leaves
-- it relative where the base's was absolute. That happens with a base
-- that has an authority and an empty path, whose directory it takes to be
-- empty, and with `..` segments above the root. (With a base that has a
-- relative path and no authority there is no root to keep, and the
-- original's answers stand.)
local function mistake(b, r)
   if r.scheme or r.authority or not r.path or r.path:sub(1, 1) == '/' then return nil end
   local base_path = b.path or ''
   local empty = b.authority and base_path == ''
   if not (empty or base_path:sub(1, 1) == '/') then return nil end
   -- The original's merged path alone, as `build` writes it.
   if original.absolute({ path = base_path }, r.path):sub(1, 1) == '/' then return nil end
   return empty and 'a base with an authority and an empty path' or '.. above the root'
end

-- ---------------------------------------------------------------------------
-- The cases

local cases = {}

-- Runs the original on the arguments (`n` of them) and records the case.
local function record(name, n, ...)
   local args = { n = n, ... }
   local function pack(...) return { n = select('#', ...), ... } end
   local ok, results = pcall(function() return pack(original[name](unpack(args, 1, n))) end)
   local case = { name, args, results }
   if not ok then case = { name, args, error = tostring(results):match('[^:]*$') } end
   if ok and name == 'absolute' and type(args[2]) == 'string' and args[2] ~= '' and type(results[1]) == 'string' then
      local b = type(args[1]) == 'table' and args[1] or original.parse(args[1])
      local r = original.parse(args[2])
      local kind = b and r and mistake(b, r)
      if kind then
         case.rfc, case.why = rfc_absolute(b, r), kind
         assert(case.rfc ~= results[1], 'not a mistake')
      end
   end
   cases[#cases + 1] = case
end

for _ = 1, 150 * scale do record('escape', 1, bytes(12)) end
record('escape', 1, 12.5)
for _ = 1, 150 * scale do
   local s = bytes(8)
   if chance(2) then s = s .. '%' .. pick { '41', '4a', 'Ff', 'g1', '2', '', '%41', '00', 'FF' } .. bytes(4) end
   record('unescape', 1, s)
end
for _ = 1, 600 * scale do record('parse', 1, url()) end
for _ = 1, 150 * scale do
   local defaults = parts_table()
   if chance(3) then defaults.extra = 'kept' end
   record('parse', 2, url(), defaults)
end
record('parse', 1, '')
record('parse', 1, nil)
record('parse', 1, 80)
for _ = 1, 150 * scale do record('parse_path', 1, chance(3) and odd_text(16) or path(chance(2))) end
for _ = 1, 200 * scale do
   local t = segment_table()
   local roll = random(3)
   if roll == 0 then
      record('build_path', 1, t)
   else
      record('build_path', 2, t, roll == 1)
   end
end
for _ = 1, 400 * scale do record('build', 1, chance(3) and parsed_table() or parts_table()) end
for _ = 1, 1300 * scale do record('absolute', 2, base(), relative()) end
for _ = 1, 200 * scale do record('absolute', 2, parsed_table(), relative()) end
for _, r in ipairs { '', false } do
   record('absolute', 2, 'http://a/b#f', r)
   record('absolute', 2, { scheme = 'http', host = 'h', path = '/a b' }, r)
end
record('absolute', 1, 'http://a/b')
record('absolute', 2, nil, 'a/./b')
record('absolute', 2, '', 5)
record('absolute', 2, nil, nil)
-- Arguments the original refuses.
record('escape', 1, nil)
record('unescape', 1, true)
record('parse', 1, {})
record('parse', 2, 'x', 'y')
record('parse_path', 1, {})
record('build', 1, { host = {} })
record('build_path', 1, { 'a', {} })
record('build_path', 2, { 'a', false }, true)
record('absolute', 2, 'x', {})
record('absolute', 2, true, 'x')

-- ---------------------------------------------------------------------------
-- Writing them out

local function quote(s)
   return '"' .. s:gsub('.', function(c)
      local b = c:byte()
      if b < 32 or b > 126 or c == '"' or c == '\\' then return ('\\%03d'):format(b) end
   end) .. '"'
end

local function value(v)
   local kind = type(v)
   if kind == 'string' then return quote(v) end
   if kind == 'number' then return ('%.17g'):format(v) end
   if kind == 'table' then
      local out, n = {}, v.n or #v
      local holes = false
      for i = 1, n do
         out[#out + 1] = value(v[i])
         holes = holes or v[i] == nil
      end
      local keys = {}
      for k in pairs(v) do
         local listed = type(k) == 'number' and k >= 1 and k <= n and k % 1 == 0
         if not listed and not (k == 'n' and not holes) then keys[#keys + 1] = k end
      end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      for _, k in ipairs(keys) do
         local name = type(k) == 'string' and k:match('^[%a_][%w_]*$') and k or '[' .. value(k) .. ']'
         out[#out + 1] = name .. '=' .. value(v[k])
      end
      return '{' .. table.concat(out, ',') .. '}'
   end
   return tostring(v)
end

local counts, order, differ = {}, {}, 0
for _, case in ipairs(cases) do
   if not counts[case[1]] then order[#order + 1] = case[1] end
   counts[case[1]] = (counts[case[1]] or 0) + 1
   if case.rfc then differ = differ + 1 end
end
local summary = {}
for _, name in ipairs(order) do summary[#summary + 1] = name .. ' ' .. counts[name] end

io.write([[
-- Inputs for every async.url function and the answers of the original
-- async's url.lua (LuaSocket 2.0's socket.url), made by
-- spec/data/url_generate.lua (a fixed-seed generator; it runs a copy of the
-- original kept outside this repository, none of whose code is here):
--   luajit spec/data/url_generate.lua ORIGINAL_URL_LUA > spec/data/url_original.lua
-- ]], #cases, ' cases: ', table.concat(summary, ', '), '.\n', [[
-- A case is { function, arguments (with n), results (with n) }, or
-- error = the original's message when it raised. ]], differ, [[ `absolute`
-- cases also carry `rfc`, the RFC 3986 answer async.url gives instead of
-- the original's, and `why` (docs/url.md, "Differs from the original").
return {
]])
for _, case in ipairs(cases) do io.write(value(case), ',\n') end
io.write('}\n')
