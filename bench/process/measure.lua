-- What the Lua process benchmarks share: the counts and the result line.
local measure = {}

measure.N = tonumber(os.getenv('EXEC_N')) or 2000
measure.IN_FLIGHT = tonumber(os.getenv('EXEC_IN_FLIGHT')) or 16

-- Peak resident set size of this process, in KiB.
local function peak_rss_kib()
  local f = assert(io.open('/proc/self/status', 'r'))
  local s = f:read('*a')
  f:close()
  return tonumber(s:match('VmHWM:%s*(%d+)%s*kB')) or -1
end

-- Prints: result impl=<name> ms=<wall> rss_kib=<VmHWM> count=<clean exits>
function measure.report(impl, t0, t_end, count)
  local ms = t_end and (t_end - t0) or -1
  io.write(string.format('result impl=%s ms=%.1f rss_kib=%d count=%d\n', impl, ms, peak_rss_kib(), count))
end

return measure
