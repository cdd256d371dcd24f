-- 1,000,000 timers (timeout i % 2 ms) on luv (Debian package lua-luv).
-- One uv_timer_t per timeout, closed in its callback.
-- Prints: result impl=luv ms=<wall> rss_kib=<VmHWM> count=<callbacks>
local uv = require 'luv'

local N = tonumber(os.getenv('TIMERS_N')) or 1000000

local function peak_rss_kib()
  local f = assert(io.open('/proc/self/status', 'r'))
  local s = f:read('*a')
  f:close()
  return tonumber(s:match('VmHWM:%s*(%d+)%s*kB')) or -1
end

local count, t_end = 0, nil
local function now_ms() return uv.hrtime() / 1e6 end -- uv.hrtime() is in ns

local t0 = now_ms()
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

local ms = t_end and (t_end - t0) or -1
io.write(string.format('result impl=luv ms=%.1f rss_kib=%d count=%d\n',
  ms, peak_rss_kib(), count))
