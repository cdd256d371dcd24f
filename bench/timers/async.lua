-- 1,000,000 timers (timeout i % 2 ms) on the `async` module.
-- Prints: result impl=async ms=<wall> rss_kib=<VmHWM> count=<callbacks>
local async = require 'async'

local N = tonumber(os.getenv('TIMERS_N')) or 1000000

local function peak_rss_kib()
  local f = assert(io.open('/proc/self/status', 'r'))
  local s = f:read('*a')
  f:close()
  return tonumber(s:match('VmHWM:%s*(%d+)%s*kB')) or -1
end

local count, t_end = 0, nil
local function cb()
  count = count + 1
  if count == N then t_end = async.hrtime() end
end

local t0 = async.hrtime()
for i = 1, N do
  async.setTimeout(i % 2, cb)
end
async.go()

local ms = t_end and (t_end - t0) or -1
io.write(string.format('result impl=async ms=%.1f rss_kib=%d count=%d\n',
  ms, peak_rss_kib(), count))
