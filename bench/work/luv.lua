-- luv: the same two phases with uv.new_work (one work context per phase,
-- queued WORK_N and WORK_CPU_N times) and uv.run().
local uv = require 'luv'
local N = tonumber(os.getenv('WORK_N')) or 20000
local CPU_N = tonumber(os.getenv('WORK_CPU_N')) or 8
local ITERATIONS = tonumber(os.getenv('WORK_CPU_ITERATIONS')) or 20000000

local function now() return uv.hrtime() / 1e6 end

local t0, count, sum = now(), 0, 0
local tiny = uv.new_work(function(a, b) return a + b end, function(r)
   count = count + 1
   sum = sum + r
end)
for i = 1, N do tiny:queue(i, 1) end
uv.run()
assert(sum == N * (N + 1) / 2 + N, 'wrong sum')
print(('result impl=luv phase=tiny ms=%.1f count=%d'):format(now() - t0, count))

t0, count = now(), 0
local cpu = uv.new_work(function(n)
   local x = 0
   for i = 1, n do x = (x + i * 7) % 1000003 end
   return x
end, function() count = count + 1 end)
for _ = 1, CPU_N do cpu:queue(ITERATIONS) end
uv.run()
print(('result impl=luv phase=cpu ms=%.1f count=%d'):format(now() - t0, count))
