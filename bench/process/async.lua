-- 2,000 exec('true'), 16 in flight, on the `async` module.
local measure = dofile((arg[0]:match('^(.*/)') or './') .. 'measure.lua')
local async = require 'async'
local exec = async.process.exec
local N, IN_FLIGHT = measure.N, measure.IN_FLIGHT

local started, count, finished, t_end = 0, 0, 0, nil
local function one()
  started = started + 1
  exec('true', {}, function(out, status, signal)
    if out == '' and status == 0 and signal == 0 then count = count + 1 end
    finished = finished + 1
    if finished == N then t_end = async.hrtime() end
    if started < N then one() end
  end)
end

local t0 = async.hrtime()
for _ = 1, math.min(IN_FLIGHT, N) do one() end
async.go()
measure.report('async', t0, t_end, count)
