-- JSON benchmark for one implementation: `luajit bench.lua async|cjson`.
-- Times encode and decode of a ~1 MiB document (REPEAT times each) and of
-- SMALL_N small documents (each once), in CPU seconds (os.clock), after a
-- full garbage collection; the collector's work during a case counts.
-- Prints one line per case: result impl=NAME case=CASE ms=CPU_MS bytes=TEXT_BYTES
local impl = arg[1]
local json
if impl == 'async' then
  json = require('async').json or error('this build of async has no async.json: ' .. package.searchpath('async', package.cpath))
elseif impl == 'cjson' then
  json = require 'cjson'
else
  error('usage: luajit bench.lua async|cjson')
end

local REPEAT = tonumber(os.getenv('BIG_REPEAT')) or 20
local SMALL_N = tonumber(os.getenv('SMALL_N')) or 100000
local null = json.null

-- One record of the big document: strings with escapes and non-ASCII
-- text, integers, decimals, booleans, null, a nested object and arrays.
local function record(i)
  return {
    id = i,
    name = 'user' .. i,
    email = ('user%d@example.com'):format(i),
    active = i % 3 ~= 0,
    score = (i * 7919 % 100000) / 1000,
    tags = { 'alpha', 'beta', 'tag' .. i % 17 },
    address = { street = i .. ' Main Street', city = 'Zürich', zip = ('%05d'):format(i * 37 % 100000) },
    history = { i, i * 2, i * 3, i + 0.5 },
    note = 'line one\nline "two"\t\\ end',
    parent = i % 5 == 0 and null or i - 1,
  }
end

local big = { kind = 'bench', version = 1, records = {} }
for i = 1, 3780 do big.records[i] = record(i) end

-- A small document, as a JSON-RPC-like message.
local function message(i)
  return { id = i, method = i % 2 == 0 and 'update' or 'notify', params = { name = 'item' .. i, value = i * 0.25, ok = i % 7 ~= 0, list = { i, i + 1 } } }
end
local small = {}
for i = 1, SMALL_N do small[i] = message(i) end

-- Deep equality, for the check that each implementation round-trips.
local function same(a, b)
  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function time(case, bytes, f)
  collectgarbage('collect')
  collectgarbage('collect')
  local t0 = os.clock()
  f()
  local ms = (os.clock() - t0) * 1000
  io.write(('result impl=%s case=%s ms=%.1f bytes=%d\n'):format(impl, case, ms, bytes))
end

local encode, decode = json.encode, json.decode
local big_text = encode(big)
assert(same(big, decode(big_text)), impl .. ': the big document does not round-trip')
local small_texts, small_bytes = {}, 0
for i = 1, SMALL_N do
  small_texts[i] = encode(small[i])
  small_bytes = small_bytes + #small_texts[i]
end
assert(same(small[SMALL_N], decode(small_texts[SMALL_N])), impl .. ': a small document does not round-trip')

time('encode_1MiB', #big_text, function()
  for _ = 1, REPEAT do encode(big) end
end)
time('decode_1MiB', #big_text, function()
  for _ = 1, REPEAT do decode(big_text) end
end)
time('encode_small', small_bytes, function()
  for i = 1, SMALL_N do encode(small[i]) end
end)
time('decode_small', small_bytes, function()
  for i = 1, SMALL_N do decode(small_texts[i]) end
end)
