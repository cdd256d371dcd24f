-- async.json: encode, decode and null, with lua-cjson's mapping between Lua
-- values and JSON. Object keys come out in no set order, so objects with
-- more than one key are checked by decoding them again.

local async = require 'async'
local json = async.json
local ffi = require 'ffi'
local support = require 'spec.support'

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
end)
