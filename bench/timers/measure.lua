-- What the Lua timer benchmarks share: the timer count and the result line.
local measure = {}

measure.N = tonumber(os.getenv('TIMERS_N')) or 1000000
-- TIMERS_API=setInterval: how many intervals share the N ticks.
measure.INTERVALS = tonumber(os.getenv('TIMERS_INTERVALS')) or 10000

-- Peak resident set size of this process, in KiB.
local function peak_rss_kib()
  local f = assert(io.open('/proc/self/status', 'r'))
  local s = f:read('*a')
  f:close()
  return tonumber(s:match('VmHWM:%s*(%d+)%s*kB')) or -1
end

-- Prints: result impl=<name> ms=<wall> rss_kib=<VmHWM> count=<callbacks>
function measure.report(impl, t0, t_end, count)
  local ms = t_end and (t_end - t0) or -1
  io.write(string.format('result impl=%s ms=%.1f rss_kib=%d count=%d\n', impl, ms, peak_rss_kib(), count))
end

return measure
