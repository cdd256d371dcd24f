-- async.json: encode, decode and null, with lua-cjson's mapping between Lua
-- values and JSON. Object keys come out in no set order, so objects with
-- more than one key are checked by decoding them again.

local async = require 'async'
local json = async.json
local ffi = require 'ffi'
local support = require 'spec.support'
local tcp = async.tcp
local run = support.run

-- The message of the error `f` raises at a line of this file.
local function error_of(f)
   return support.error_of('json_spec.lua', f)
end

local function encode_error(value)
   return error_of(function() json.encode(value) end)
end

local function decode_error(text)
   return error_of(function() json.decode(text) end)
end

-- `depth` arrays, one inside the other.
local function nested(depth)
   local t = {}
   for _ = 2, depth do t = { t } end
   return t
end

-- The bits of a double, to tell -0 from 0 and check exact round trips.
local bits = ffi.new('union { double d; uint64_t u; }')
local function bits_of(x)
   bits.d = x
   return bits.u
end

describe('async.json', function()
   it('is reachable as a submodule too', function()
      assert.equal(json, require('async.json'))
      assert.is_function(json.encode)
      assert.is_function(json.decode)
      assert.equal('userdata', type(json.null))
   end)

   it('has the same null as lua-cjson, when that is installed', function()
      local ok, cjson = pcall(require, 'cjson')
      if not ok then return pending('lua-cjson is not installed') end
      assert.equal(cjson.null, json.null)
   end)

   describe('encode', function()
      it('writes scalars', function()
         assert.equal('true', json.encode(true))
         assert.equal('false', json.encode(false))
         assert.equal('null', json.encode(nil))
         assert.equal('null', json.encode(json.null))
         assert.equal('"hi"', json.encode('hi'))
         assert.equal('""', json.encode(''))
      end)

      it('writes a table with keys 1..n as an array', function()
         assert.equal('[1,2,3]', json.encode({ 1, 2, 3 }))
         assert.equal('[[1,[2]],["a",true,null]]', json.encode({ { 1, { 2 } }, { 'a', true, json.null } }))
         assert.equal('[{}]', json.encode({ {} }))
      end)

      it('writes {} as an empty object', function()
         assert.equal('{}', json.encode({}))
         assert.equal('{"a":{}}', json.encode({ a = {} }))
      end)

      it('fills holes with null unless the array is too sparse, as cjson does', function()
         assert.equal('[1,null,3]', json.encode({ [1] = 1, [3] = 3 }))
         assert.equal('[null,null,3]', json.encode({ nil, nil, 3 }))
         assert.equal('[null,null,null,null,null,null,null,null,null,10]', json.encode({ [10] = 10 }))
         -- Largest key over 10 and over twice the key count: an object.
         assert.equal('{"11":11}', json.encode({ [11] = 11 }))
         assert.equal('{"1000":"x"}', json.encode({ [1000] = 'x' }))
      end)

      it('writes any other table as an object, number keys as strings', function()
         assert.equal('{"a":1}', json.encode({ a = 1 }))
         assert.equal('{"0":"z"}', json.encode({ [0] = 'z' }))
         assert.equal('{"-1":1}', json.encode({ [-1] = 1 }))
         assert.equal('{"1.5":true}', json.encode({ [1.5] = true }))
         assert.same({ ['1'] = 'a', ['2'] = 'b', x = 3 }, json.decode(json.encode({ 'a', 'b', x = 3 })))
         assert.same({ a = { b = { c = { 1, 2 } } }, d = false }, json.decode(json.encode({ a = { b = { c = { 1, 2 } } }, d = false })))
      end)

      it('reads tables raw, ignoring metatables', function()
         local loud = setmetatable({}, { __index = function() error('no') end, __len = function() return 5 end })
         assert.equal('{}', json.encode(loud))
         assert.equal('[1]', json.encode(setmetatable({ 1 }, { __newindex = error })))
      end)

      it('writes a table met twice, but not inside itself, twice', function()
         local shared = { 1 }
         assert.equal('[[1],[1]]', json.encode({ shared, shared }))
      end)

      it('writes whole numbers as integers', function()
         assert.equal('1', json.encode(1))
         assert.equal('0', json.encode(0))
         assert.equal('-42', json.encode(-42))
         assert.equal('1000000000000000', json.encode(1e15))
         assert.equal('9007199254740992', json.encode(2 ^ 53))
         assert.equal('4611686018427387904', json.encode(2 ^ 62))
         assert.equal('-9223372036854775808', json.encode(-2 ^ 63))
         assert.equal('[1,2.5]', json.encode({ 1.0, 2.5 }))
      end)

      it('writes other numbers in their shortest exact form', function()
         assert.equal('0.1', json.encode(0.1))
         assert.equal('1.5', json.encode(1.5))
         assert.equal('-0.0', json.encode(-0.0))
         assert.equal('1e+300', json.encode(1e300))
         assert.equal('9.223372036854776e+18', json.encode(2 ^ 63))
         assert.equal('5e-324', json.encode(5e-324))
         assert.equal('0.30000000000000004', json.encode(0.1 + 0.2))
      end)

      it('writes strings that are not UTF-8 byte for byte, as lua-cjson does', function()
         assert.equal('"\255"', json.encode('\255'))
         assert.equal('{"name":["ab\195("]}', json.encode({ name = { 'ab\195(' } }))
         assert.equal('{"t":{"x\128":1}}', json.encode({ t = { ['x\128'] = 1 } }))
         -- Escapes as in any string; the bytes around them as they are.
         assert.equal('"\233\\"\\n\\u0001\\\\\128"', json.encode('\233"\n\1\\\128'))
         assert.equal('["caf\233","ok","\255\254"]', json.encode({ 'caf\233', 'ok', '\255\254' }))
         -- decode stays strict.
         local ok, err = pcall(json.decode, '"\255"')
         assert.is_false(ok)
         assert.matches('json.decode', err)
      end)

      it('escapes what JSON needs and writes UTF-8 as it is', function()
         assert.equal([["\"\\\n\r\t\b\f\u0000\u0001\u001f/"]], json.encode('"\\\n\r\t\b\f\0\1\31/'))
         assert.equal('"é😀\127"', json.encode('é😀\127'))
         assert.equal('{"a\\"b":"\\u0000"}', json.encode({ ['a"b'] = '\0' }))
      end)

      describe('fails clearly', function()
         it('on NaN and infinities', function()
            assert.equal('json.encode: cannot encode NaN', encode_error(0 / 0))
            assert.equal('json.encode: cannot encode inf', encode_error(math.huge))
            assert.equal('json.encode: cannot encode -inf at .a[2]', encode_error({ a = { 1, -math.huge } }))
            assert.equal('json.encode: cannot encode inf as a key', encode_error({ [math.huge] = 1 }))
         end)

         it('on values JSON has no place for, naming their type and where they are', function()
            assert.equal('json.encode: cannot encode a function value', encode_error(print))
            assert.equal('json.encode: cannot encode a function value at .list[2].f', encode_error({ list = { 1, { f = print } } }))
            assert.equal('json.encode: cannot encode a thread value at [1]', encode_error({ coroutine.create(print) }))
            assert.equal('json.encode: cannot encode a userdata value at ["a b"]', encode_error({ ['a b'] = io.stdout }))
            assert.equal('json.encode: cannot encode a cdata value at [1.5]', encode_error({ [1.5] = ffi.new('int', 1) }))
         end)

         it('on keys that are not strings or numbers', function()
            assert.equal('json.encode: cannot encode a boolean key (keys must be strings or numbers)', encode_error({ [true] = 1 }))
            assert.equal('json.encode: cannot encode a table key (keys must be strings or numbers) at .a',
               encode_error({ a = { [{}] = 1 } }))
         end)

         it('on tables that contain themselves', function()
            local t = {}
            t.self = t
            assert.equal('json.encode: cannot encode a table that contains itself', encode_error(t))
            local a, b = {}, {}
            a[1], b.back = b, a
            assert.equal('json.encode: cannot encode a table that contains itself', encode_error({ x = a }))
         end)

         it('on nesting deeper than 1000', function()
            assert.equal(2000, #json.encode(nested(1000)))
            assert.equal('json.encode: nesting deeper than 1000', encode_error(nested(1001)))
            assert.equal('json.encode: nesting deeper than 1000', encode_error(nested(100000)))
         end)

         it('on a missing argument', function()
            assert.equal("bad argument #1 to 'encode' (value expected, got no value)", error_of(function() json.encode() end))
         end)
      end)
   end)

   describe('decode', function()
      it('reads scalars, around whitespace', function()
         assert.equal(true, json.decode('true'))
         assert.equal(false, json.decode(' false '))
         assert.equal('x', json.decode('"x"'))
         assert.equal(12, json.decode('\n\t 12 \r\n'))
      end)

      it('reads null as json.null', function()
         assert.equal(json.null, json.decode('null'))
         assert.equal(json.null, json.decode('[null]')[1])
         local t = json.decode('{"a":null,"b":1}')
         assert.equal(json.null, t.a)
         assert.equal(1, t.b)
         assert.equal('{"a":null}', json.encode(json.decode('{"a":null}')))
      end)

      it('reads arrays and objects into tables', function()
         assert.same({ 1, 2, 3 }, json.decode('[1,2,3]'))
         assert.same({}, json.decode('[]'))
         assert.same({}, json.decode('{}'))
         assert.same({ a = { 1, { b = 'c' } }, [''] = {} }, json.decode('{"a":[1,{"b":"c"}],"":[]}'))
         assert.same({ ['1'] = 'one' }, json.decode('{"1":"one"}'))
      end)

      it('keeps the last of repeated keys', function()
         assert.same({ a = 2 }, json.decode('{"a":1,"a":2}'))
      end)

      it('reads integers as numbers that print as integers', function()
         assert.equal('3', tostring(json.decode('3')))
         assert.equal('-7', tostring(json.decode('-7')))
         assert.equal(3, json.decode('3.0'))
         assert.equal(1000, json.decode('1E3'))
         assert.equal(2 ^ 53, json.decode('9007199254740992'))
         assert.equal(2 ^ 64, json.decode('18446744073709551615'))
         assert.equal(1.2345678901234568e29, json.decode('123456789012345678901234567890'))
         assert.equal(-2 ^ 63, json.decode('-9223372036854775808'))
      end)

      it('keeps the sign of negative zero', function()
         assert.equal(-math.huge, 1 / json.decode('-0'))
         assert.equal(-math.huge, 1 / json.decode('-0.0'))
         assert.equal(math.huge, 1 / json.decode('0'))
      end)

      it('reads escapes and UTF-8', function()
         assert.equal('é😀\n/"\\\b\f\r\t\0', json.decode([["\u00e9\ud83d\ude00\n\/\"\\\b\f\r\t\u0000"]]))
         assert.equal('日本', json.decode('"日本"'))
      end)

      it('converts a number argument to a string, as Lua does', function()
         assert.equal(42, json.decode(42))
      end)

      describe('fails with the position', function()
         it('on malformed JSON', function()
            assert.equal('json.decode: EOF while parsing a value at line 1 column 0', decode_error(''))
            assert.equal('json.decode: expected ident at line 1 column 10', decode_error('{"a": tru}'))
            assert.equal('json.decode: expected value at line 1 column 5', decode_error('[1, x]'))
            assert.equal('json.decode: trailing comma at line 1 column 4', decode_error('[1,]'))
            assert.equal('json.decode: EOF while parsing a list at line 1 column 4', decode_error('[1,2'))
            assert.equal('json.decode: trailing characters at line 1 column 9', decode_error('{"a":1} x'))
            assert.equal('json.decode: expected `,` or `]` at line 4 column 3', decode_error('[\n1,\n\n2 x]'))
            assert.equal('json.decode: key must be a string at line 1 column 2', decode_error('{1:2}'))
            assert.equal('json.decode: expected `:` at line 1 column 6', decode_error('{"a" 1}'))
            assert.equal('json.decode: expected value at line 1 column 1', decode_error('NaN'))
         end)

         it('on bad strings', function()
            assert.equal('json.decode: invalid escape at line 1 column 3', decode_error([["\x"]]))
            assert.equal('json.decode: unexpected end of hex escape at line 1 column 8', decode_error([["\ud800"]]))
            assert.equal('json.decode: invalid unicode code point at line 1 column 2', decode_error('"\255"'))
            assert.equal('json.decode: control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3',
               decode_error('"a\1"'))
         end)

         it('on numbers out of range', function()
            assert.equal('json.decode: number out of range at line 1 column 5', decode_error('1e400'))
         end)

         it('on nesting deeper than 1000', function()
            assert.equal(1000, #json.encode(json.decode(('['):rep(1000) .. (']'):rep(1000))) / 2)
            local objects = ('{"a":'):rep(1000) .. '1' .. ('}'):rep(1000)
            assert.equal(objects, json.encode(json.decode(objects)))
            assert.equal('json.decode: nesting deeper than 1000 at line 1 column 1002',
               decode_error(('['):rep(1001) .. (']'):rep(1001)))
            assert.equal('json.decode: nesting deeper than 1000 at line 1 column 5001',
               decode_error(('{"a":'):rep(1001) .. '1' .. ('}'):rep(1001)))
            assert.matches('^json.decode: nesting deeper than 1000 ', decode_error(('['):rep(1000000)))
         end)

         it('on a bad argument', function()
            assert.equal("bad argument #1 to 'decode' (string expected, got nil)", error_of(function() json.decode(nil) end))
            assert.equal("bad argument #1 to 'decode' (string expected, got no value)", error_of(function() json.decode() end))
            assert.equal("bad argument #1 to 'decode' (string expected, got table)", error_of(function() json.decode({}) end))
            assert.equal("bad argument #1 to 'decode' (string expected, got boolean)", error_of(function() json.decode(true) end))
         end)
      end)
   end)

   describe('round trips', function()
      it('keep nested values', function()
         local value = {
            name = 'async', version = 1, ratio = 0.75, tags = { 'a', 'b', { 'c' } },
            nested = { deeper = { deepest = { true, false, json.null, -1.5e-7 } } },
            empty = {}, unicode = 'ünïcødé ✓ 😀', escapes = '\t"quoted"\\ \0 \31',
         }
         assert.same(value, json.decode(json.encode(value)))
      end)

      it('keep every byte of ASCII and UTF-8 text', function()
         local ascii = {}
         for b = 0, 127 do ascii[#ascii + 1] = string.char(b) end
         ascii = table.concat(ascii)
         assert.equal(ascii, json.decode(json.encode(ascii)))
         local text = 'Ω≈ç√∫˜µ≤≥÷ 田中さん 𝕳𝖊𝖑𝖑𝖔 ﷽'
         assert.equal(text, json.decode(json.encode({ text }))[1])
      end)

      it('keep integers and 2^53 exact', function()
         for _, x in ipairs({ 0, 1, -1, 2 ^ 31, 2 ^ 32 + 1, 2 ^ 53, -2 ^ 53, 2 ^ 53 + 2, 2 ^ 62, 2 ^ 63, 1e15, 123456789012 }) do
            assert.equal(x, json.decode(json.encode(x)))
         end
      end)

      it('keep every double exactly', function()
         local values = { 0.1, 1 / 3, 2 / 3, math.pi, 1e-300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e23, 8.41e21, -0.0 }
         -- and random bit patterns, most of them far from round decimals
         local seed = 12345
         local u = ffi.new('union { double d; uint32_t w[2]; }')
         for _ = 1, 20000 do
            seed = (seed * 1103515245 + 12345) % 2147483648
            u.w[0] = seed * 2
            seed = (seed * 1103515245 + 12345) % 2147483648
            u.w[1] = seed * 2 % 2146435072 -- exponent below all ones: finite
            values[#values + 1] = seed % 3 == 0 and -u.d or u.d
         end
         local text = json.encode(values)
         local back = json.decode(text)
         assert.equal(#values, #back)
         for i, x in ipairs(values) do
            if bits_of(back[i]) ~= bits_of(x) then
               error(('%.17g came back as %.17g'):format(x, back[i]))
            end
         end
      end)
   end)

   -- The original module's `json` was lua-cjson's table, so programs call
   -- its configuration functions. Expected texts are what lua-cjson 2.1.0
   -- (Debian's lua-cjson) returns for the same calls. Most tests change a
   -- table from json.new(), so that async.json keeps its settings for the
   -- other specs.
   describe('lua-cjson configuration', function()
      local names = {
         'encode_sparse_array', 'encode_max_depth', 'decode_max_depth', 'encode_number_precision',
         'encode_invalid_numbers', 'decode_invalid_numbers', 'encode_keep_buffer',
      }

      -- Every setting of async.json, to check that a test left them as
      -- they were.
      local function settings_of(t)
         local all = {}
         for _, name in ipairs(names) do all[name] = { t[name]() } end
         return all
      end

      it("has lua-cjson 2.1's functions, _NAME and _VERSION, on async.json and on json.new() tables", function()
         for _, t in ipairs({ json, json.new(), json.new().new() }) do
            for _, name in ipairs(names) do assert.is_function(t[name], name) end
            assert.is_function(t.new)
            assert.is_function(t.encode)
            assert.is_function(t.decode)
            assert.equal(json.null, t.null)
            assert.equal('cjson', t._NAME)
            assert.equal('2.1.0', t._VERSION)
         end
         assert.is_nil(json.new().listen)
      end)

      it('returns the defaults: cjson\'s, but for the differences the README lists', function()
         local j = json.new()
         -- cjson: false, 2, 10 (a too sparse array is an error there).
         assert.same({ true, 2, 10 }, { j.encode_sparse_array() })
         assert.equal(1000, j.encode_max_depth())
         assert.equal(1000, j.decode_max_depth())
         -- cjson: 14. 17 is our shortest exact form.
         assert.equal(17, j.encode_number_precision())
         assert.equal(false, j.encode_invalid_numbers())
         -- cjson: true.
         assert.equal(false, j.decode_invalid_numbers())
         assert.equal(true, j.encode_keep_buffer())
         assert.same(settings_of(j), settings_of(json))
      end)

      it('encode_sparse_array: convert, ratio and safe as cjson applies them', function()
         local j = json.new()
         assert.same({ false, 2, 10 }, { j.encode_sparse_array(false) })
         assert.equal('json.encode: excessively sparse array', error_of(function() j.encode({ [11] = 1 }) end))
         assert.equal('json.encode: excessively sparse array at .a', error_of(function() j.encode({ a = { [11] = 1 } }) end))
         assert.equal('[null,null,null,null,null,null,null,null,null,1]', j.encode({ [10] = 1 }))
         assert.equal('[1,null,3]', j.encode({ [1] = 1, [3] = 3 }))
         -- nil leaves a setting as it is; each call returns all three.
         assert.same({ true, 3, 5 }, { j.encode_sparse_array(true, 3, 5) })
         assert.same({ true, 3, 5 }, { j.encode_sparse_array(nil, nil, nil) })
         assert.equal('{"6":1}', j.encode({ [6] = 1 }))
         assert.equal('[null,null,null,null,1]', j.encode({ [5] = 1 }))
         assert.equal('[1,2,null,null,null,null,7]', j.encode({ [1] = 1, [2] = 2, [7] = 7 }))
         assert.same({ ['1'] = 1, ['7'] = 7 }, j.decode(j.encode({ [1] = 1, [7] = 7 })))
         -- Ratio 0: never too sparse.
         assert.same({ true, 0, 5 }, { j.encode_sparse_array('on', 0) })
         assert.equal('[' .. ('null,'):rep(19) .. '1]', j.encode({ [20] = 1 }))
         assert.same({ false, 0, 5 }, { j.encode_sparse_array('off') })
         -- Unless the holes alone would be longer than a Lua string.
         assert.equal('json.encode: an array with 1073741822 holes would be longer than the longest string LuaJIT can hold',
            error_of(function() j.encode({ [2 ^ 30 - 1] = 1 }) end))
      end)

      it('encode_max_depth and decode_max_depth limit nesting', function()
         local j = json.new()
         assert.equal(2, j.encode_max_depth(2))
         assert.equal('[[1]]', j.encode({ { 1 } }))
         assert.equal('json.encode: nesting deeper than 2', error_of(function() j.encode({ { { 1 } } }) end))
         local t = {}
         t[1] = t
         assert.equal('json.encode: cannot encode a table that contains itself', error_of(function() j.encode(t) end))
         assert.equal(2, j.decode_max_depth(2))
         assert.same({ { 1 } }, j.decode('[[1]]'))
         assert.equal('json.decode: nesting deeper than 2 at line 1 column 3', error_of(function() j.decode('[[[1]]]') end))
         assert.equal('json.decode: nesting deeper than 2 at line 1 column 12', error_of(function() j.decode('{"a":{"b":{}}}') end))
         assert.equal(3000, j.encode_max_depth(3000))
         assert.equal(6000, #j.encode(nested(3000)))
         assert.equal('json.encode: nesting deeper than 3000', error_of(function() j.encode(nested(3001)) end))
         -- async.json's own limit is untouched.
         assert.equal('json.encode: nesting deeper than 1000', encode_error(nested(1001)))
      end)

      it('stops nesting at the cap of 5000 whatever the setting, within a 2 MiB C stack', function()
         local j = json.new()
         assert.equal(2147483647, j.encode_max_depth(2 ^ 31 - 1))
         assert.equal(2147483647, j.decode_max_depth(2 ^ 31 - 1))
         assert.equal(10000, #j.encode(nested(5000)))
         assert.equal('json.encode: nesting deeper than 5000', error_of(function() j.encode(nested(5001)) end))
         assert.equal(5000, #j.encode(j.decode(('['):rep(5000) .. (']'):rep(5000))) / 2)
         assert.equal('json.decode: nesting deeper than 5000 at line 1 column 5002',
            error_of(function() j.decode(('['):rep(5001) .. (']'):rep(5001)) end))
         -- Objects run out of Lua stack first, as in cjson.
         assert.matches('^json.decode: nesting too deep for the Lua stack',
            error_of(function() j.decode(('{"a":'):rep(5000) .. '1' .. ('}'):rep(5000)) end))
         -- The deepest each can go, in a child whose C stack is 2 MiB.
         local program = os.tmpname()
         local file = assert(io.open(program, 'w'))
         file:write([[
            local json = require('async').json
            json.encode_max_depth(2 ^ 31 - 1)
            json.decode_max_depth(2 ^ 31 - 1)
            local t = {}
            for _ = 2, 5000 do t = { t } end
            local text = json.encode(t)
            json.decode(text)
            pcall(json.decode, ('{"a":'):rep(5000) .. '1' .. ('}'):rep(5000))
            print('deep ' .. #text)
         ]])
         file:close()
         local child = io.popen('ulimit -s 2048 && luajit ' .. program .. ' 2>&1; echo exit=$?')
         local out = child:read('*a')
         child:close()
         os.remove(program)
         assert.equal('deep 10000\nexit=0\n', out)
      end)

      it('encode_number_precision writes numbers as %.<n>g, as cjson does', function()
         local j = json.new()
         assert.equal(3, j.encode_number_precision(3))
         assert.equal('[0.1,0.333,1.23e+05,9.01e+15,-0,1e+20,1.5e-07,100,1.23e+03,-0.667,0.000123]',
            j.encode({ 0.1, 1 / 3, 123456, 2 ^ 53, -0.0, 1e20, 1.5e-7, 100, 1234.5, -2 / 3, 0.000123456 }))
         assert.equal('{"0.333":1}', j.encode({ [1 / 3] = 1 }))
         assert.equal('{"1.23e+05":true}', j.encode({ [123456] = true }))
         assert.equal(1, j.encode_number_precision(1))
         assert.equal('[2,4,0.05,2e+01,1e+02,0.1]', j.encode({ 2.5, 3.5, 0.05, 15, 95, 0.125 }))
         assert.equal(14, j.encode_number_precision(14))
         assert.equal('[9.007199254741e+15,0.1,0.33333333333333,9.2233720368548e+18,1e+15,1e+14,1.2345678901234e+14,4.9406564584125e-324,1e+300]',
            j.encode({ 2 ^ 53, 0.1, 1 / 3, 2 ^ 63, 1e15, 1e14, 123456789012345, 5e-324, 1e300 }))
         assert.equal(10, j.encode_number_precision(10))
         assert.equal('[3.141592654,2147483648,-1e-05]', j.encode({ math.pi, 2 ^ 31, -1e-5 }))
         -- 17, the default, is our shortest exact form again.
         assert.equal(17, j.encode_number_precision(17))
         assert.equal('[9007199254740992,0.1,0.30000000000000004,-0.0]', j.encode({ 2 ^ 53, 0.1, 0.1 + 0.2, -0.0 }))
         assert.equal('0.1', json.encode(0.1))
      end)

      it('encode_invalid_numbers writes NaN and infinities as cjson does, or null', function()
         local j = json.new()
         assert.equal('null', j.encode_invalid_numbers('null'))
         assert.equal('[null,null,null,1]', j.encode({ 0 / 0, math.huge, -math.huge, 1 }))
         assert.equal('{"null":1}', j.encode({ [math.huge] = 1 }))
         assert.equal(true, j.encode_invalid_numbers(true))
         assert.equal('[nan,inf,-inf,1]', j.encode({ 0 / 0, math.huge, -math.huge, 1 }))
         assert.equal('{"-inf":1}', j.encode({ [-math.huge] = 1 }))
         assert.equal('nan', j.encode(-(0 / 0)))
         assert.equal(false, j.encode_invalid_numbers('off'))
         assert.equal('json.encode: cannot encode inf at [1]', error_of(function() j.encode({ math.huge }) end))
         assert.equal(true, j.encode_invalid_numbers('on'))
         assert.equal(false, j.encode_invalid_numbers(false))
      end)

      it('decode_invalid_numbers reads what strtod reads, as cjson does', function()
         local j = json.new()
         assert.equal('json.decode: expected value at line 1 column 2', error_of(function() j.decode('[NaN]') end))
         assert.equal(true, j.decode_invalid_numbers(true))
         local cases = {
            ['[Infinity]'] = math.huge, ['[-Infinity]'] = -math.huge, ['[inf]'] = math.huge, ['[-inf]'] = -math.huge,
            ['[INF]'] = math.huge, ['[+Infinity]'] = math.huge, ['[1e400]'] = math.huge, ['[-1e400]'] = -math.huge,
            ['[0x10]'] = 16, ['[-0x10]'] = -16, ['[0x1p4]'] = 16, ['[0x1.8]'] = 1.5, ['[0x1P-2]'] = 0.25,
            ['[+1]'] = 1, ['[01]'] = 1, ['[007]'] = 7, ['[-01]'] = -1, ['[1.]'] = 1, ['[1e-400]'] = 0, ['[1.5e3]'] = 1500,
         }
         for text, value in pairs(cases) do assert.same({ value }, j.decode(text), text) end
         for _, text in ipairs({ '[NaN]', '[nan]', '[-nan]', '[Nan(1)]' }) do
            local x = j.decode(text)[1]
            assert.is_true(x ~= x, text)
         end
         assert.same({ a = 5 }, j.decode('{"a":+5}'))
         assert.same({ math.huge, 1 }, j.decode('[ inf , 1]'))
         assert.same({ 1, 'inf 0x1', 2 }, j.decode('[1,"inf 0x1",2]'))
         -- Still errors, where cjson fails too; positions are the text's own.
         for _, text in ipairs({ '[.5]', '[1e]', '[nanx]', '[0xg]', '[1x]', '[NULL]', '[+]', '[-]', '[1 inf]', '[--1]' }) do
            local err = error_of(function() j.decode(text) end)
            assert.is_truthy(err:match('^json.decode: .* at line 1 column %d+$'), text .. ': ' .. err)
         end
         assert.equal('json.decode: expected `,` or `]` at line 1 column 8', error_of(function() j.decode('[ inf  x]') end))
         -- What encode_invalid_numbers(true) writes reads back.
         j.encode_invalid_numbers(true)
         assert.same({ math.huge, -math.huge }, j.decode(j.encode({ math.huge, -math.huge })))
         assert.equal(false, j.decode_invalid_numbers('off'))
         assert.equal('json.decode: number out of range at line 1 column 5', error_of(function() j.decode('1e400') end))
      end)

      it('encode_keep_buffer keeps its setting, which changes nothing else', function()
         local j = json.new()
         assert.equal(false, j.encode_keep_buffer(false))
         assert.equal(false, j.encode_keep_buffer())
         assert.equal('[1,"a"]', j.encode({ 1, 'a' }))
         assert.equal(true, j.encode_keep_buffer('on'))
      end)

      it('refuses bad arguments, naming them', function()
         local j = json.new()
         local function bad(name, ...)
            local args = { n = select('#', ...), ... }
            return error_of(function() j[name](unpack(args, 1, args.n)) end)
         end
         assert.equal("bad argument #1 to 'encode_max_depth' (integer between 1 and 2147483647 expected, got number)", bad('encode_max_depth', 0))
         assert.equal("bad argument #1 to 'encode_max_depth' (integer between 1 and 2147483647 expected, got number)", bad('encode_max_depth', 2 ^ 31))
         assert.equal("bad argument #1 to 'decode_max_depth' (integer between 1 and 2147483647 expected, got number)", bad('decode_max_depth', 1.5))
         assert.equal("bad argument #1 to 'decode_max_depth' (integer between 1 and 2147483647 expected, got table)", bad('decode_max_depth', {}))
         assert.equal("bad argument #1 to 'encode_number_precision' (integer between 1 and 17 expected, got number)", bad('encode_number_precision', 0))
         assert.equal("bad argument #1 to 'encode_number_precision' (integer between 1 and 17 expected, got number)", bad('encode_number_precision', 18))
         assert.equal("bad argument #2 to 'encode_sparse_array' (integer between 0 and 2147483647 expected, got number)", bad('encode_sparse_array', true, -1))
         assert.equal("bad argument #3 to 'encode_sparse_array' (integer between 0 and 2147483647 expected, got string)", bad('encode_sparse_array', nil, nil, 'x'))
         assert.equal("bad argument #1 to 'encode_sparse_array' (boolean, 'on' or 'off' expected, got 'yes')", bad('encode_sparse_array', 'yes'))
         assert.equal("bad argument #1 to 'encode_invalid_numbers' (boolean, 'on', 'off' or 'null' expected, got number)", bad('encode_invalid_numbers', 1))
         assert.equal("bad argument #1 to 'decode_invalid_numbers' (boolean, 'on' or 'off' expected, got 'null')", bad('decode_invalid_numbers', 'null'))
         assert.equal("bad argument #1 to 'encode_keep_buffer' (boolean, 'on' or 'off' expected, got table)", bad('encode_keep_buffer', {}))
         -- A refused call changes nothing, not even the arguments before the bad one.
         assert.same({ true, 2, 10 }, { j.encode_sparse_array() })
         -- Numeric strings are numbers, as in cjson.
         assert.equal(5, j.encode_max_depth('5'))
      end)

      it('keeps each table\'s settings apart', function()
         local a, b = json.new(), json.new()
         a.encode_number_precision(3)
         b.encode_invalid_numbers('null')
         assert.equal('[0.333]', a.encode({ 1 / 3 }))
         assert.equal('[0.3333333333333333,null]', b.encode({ 1 / 3, 0 / 0 }))
         assert.equal('json.encode: cannot encode NaN at [2]', error_of(function() a.encode({ 1 / 3, 0 / 0 }) end))
         assert.equal(17, json.encode_number_precision())
         assert.equal('0.3333333333333333', json.encode(1 / 3))
         -- A table from new() of a changed table starts from the defaults.
         assert.equal(17, a.new().encode_number_precision())
         -- Functions keep their settings when taken off their table.
         local encode = a.encode
         a = nil
         collectgarbage()
         assert.equal('0.333', encode(1 / 3))
      end)

      it('fails cleanly when the debug library replaces the settings of encode and decode', function()
         local j = json.new()
         local function raw_of(f)
            for i = 1, 10 do
               local name, value = debug.getupvalue(f, i)
               if name == 'raw' then return value end
            end
         end
         debug.setupvalue(raw_of(j.encode), 1, io.stdout)
         debug.setupvalue(raw_of(j.decode), 1, newproxy(false))
         assert.equal('json.encode: its settings upvalue was replaced', error_of(function() j.encode({ 1 }) end))
         assert.equal('json.decode: its settings upvalue was replaced', error_of(function() j.decode('[1]') end))
         assert.equal('[1]', json.encode({ 1 }))
      end)

      it("async.json's settings apply to its encode and decode and to json.listen/connect messages", function()
         local before = settings_of(json)
         finally(function()
            json.encode_number_precision(17)
            json.encode_invalid_numbers(false)
            json.decode_invalid_numbers(false)
            assert.same(before, settings_of(json))
         end)
         assert.equal(3, json.encode_number_precision(3))
         assert.equal('[0.333]', json.encode({ 1 / 3 }))
         json.encode_invalid_numbers(true)
         json.decode_invalid_numbers(true)
         assert.equal(math.huge, json.decode('Infinity'))
         local line, answer
         run(5, function(done)
            -- The client's send is seen raw; the server's reply comes
            -- back through the client's decode.
            local raw = tcp.listen({ host = '127.0.0.1', port = 0 }, function(peer)
               peer.ondata(function(chunk)
                  line = chunk
                  peer.write('{"x": Infinity}\n')
                  peer.close()
               end)
            end)
            json.connect({ host = '127.0.0.1', port = raw.sockname.port }, function(client)
               client.receive(function(message)
                  answer = message.x
                  client.close(function() raw.close(done) end)
               end)
               client.send({ 2 / 3, -math.huge })
            end)
         end)
         assert.equal('[0.667,-inf]\n', line)
         assert.equal(math.huge, answer)
      end)

      it('writes what lua-cjson writes for the same settings, when that is installed', function()
         local ok, cjson = pcall(require, 'cjson')
         if not ok then return pending('lua-cjson is not installed') end
         local theirs, ours = cjson.new(), json.new()
         local values = {
            1, -1, 0.1, 1 / 3, -2 / 3, 2 ^ 53, 2 ^ 63, -2 ^ 63, 1e15, 1e16, 1e-5, 1e-4, 123.456, 5e-324, 1.7976931348623157e308,
            2.5, 0.125, 1e21, 123456789012345, 0.000123456, -0.0, 100, 1234.5,
         }
         for _, settings in ipairs({
            { 14, true }, { 3, 'null' }, { 1, true }, { 6, 'null' }, { 10, true },
         }) do
            for _, t in ipairs({ theirs, ours }) do
               t.encode_number_precision(settings[1])
               t.encode_invalid_numbers(settings[2])
               t.encode_sparse_array(true, 3, 4)
            end
            local special = { 0 / 0, math.huge, -math.huge, { [1] = 1, [3] = 3 }, { [5] = 5 }, { [1] = 1, [4] = 4 } }
            for _, value in ipairs(values) do
               assert.equal(theirs.encode(value), ours.encode(value), tostring(value))
               assert.equal(theirs.encode({ [value] = 1 }), ours.encode({ [value] = 1 }), tostring(value))
            end
            assert.equal(theirs.encode(special), ours.encode(special))
         end
      end)
   end)
end)
