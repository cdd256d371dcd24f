-- 1,000,000 timers (timeout i % 2 ms) on the `async` module; with
-- TIMERS_API=setImmediate, 1,000,000 immediates; with
-- TIMERS_API=setInterval, 10,000 intervals of 1 ms ticking 1,000,000 times
-- in all, then cleared.
local measure = dofile((arg[0]:match('^(.*/)') or './') .. 'measure.lua')
local async = require 'async'
local N = measure.N

local count, t_end = 0, nil
local function cb()
  count = count + 1
  if count == N then t_end = async.hrtime() end
end

local intervals = {}
local function tick()
  if count == N then return end
  count = count + 1
  if count == N then
    t_end = async.hrtime()
    for _, interval in ipairs(intervals) do interval.clear() end
  end
end

local t0 = async.hrtime()
if os.getenv('TIMERS_API') == 'setInterval' then
  for i = 1, measure.INTERVALS do
    intervals[i] = async.setInterval(1, tick)
  end
elseif os.getenv('TIMERS_API') == 'setImmediate' then
  for _ = 1, N do
    async.setImmediate(cb)
  end
else
  for i = 1, N do
    async.setTimeout(i % 2, cb)
  end
end
async.go()
measure.report('async', t0, t_end, count)
