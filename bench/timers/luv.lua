-- 1,000,000 timers (timeout i % 2 ms) on luv (Debian package lua-luv).
-- One uv_timer_t per timeout, closed in its callback. With
-- TIMERS_API=setInterval, 10,000 repeating timers of 1 ms ticking
-- 1,000,000 times in all, then closed.
local measure = dofile((arg[0]:match('^(.*/)') or './') .. 'measure.lua')
local uv = require 'luv'
local N = measure.N

local count, t_end = 0, nil
local function now_ms() return uv.hrtime() / 1e6 end -- uv.hrtime() is in ns

local t0 = now_ms()
if os.getenv('TIMERS_API') == 'setInterval' then
  local timers = {}
  local function tick()
    if count == N then return end
    count = count + 1
    if count == N then
      t_end = now_ms()
      for _, timer in ipairs(timers) do timer:close() end
    end
  end
  for i = 1, measure.INTERVALS do
    timers[i] = uv.new_timer()
    timers[i]:start(1, 1, tick)
  end
  uv.run()
  measure.report('luv', t0, t_end, count)
  return
end
for i = 1, N do
  local timer = uv.new_timer()
  -- luv does not pass the handle to the callback, so each needs a closure.
  timer:start(i % 2, 0, function()
    timer:close()
    count = count + 1
    if count == N then t_end = now_ms() end
  end)
end
uv.run()
measure.report('luv', t0, t_end, count)
