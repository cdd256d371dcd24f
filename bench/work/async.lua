-- async.work: WORK_N tiny jobs (`return a + b`) queued at once, then
-- WORK_CPU_N CPU-bound jobs (a loop of WORK_CPU_ITERATIONS); wall time of
-- each phase until the last callback. Prints one result line per phase.
local async = require 'async'
local N = tonumber(os.getenv('WORK_N')) or 20000
local CPU_N = tonumber(os.getenv('WORK_CPU_N')) or 8
local ITERATIONS = tonumber(os.getenv('WORK_CPU_ITERATIONS')) or 20000000

local t0, count, sum = async.hrtime(), 0, 0
for i = 1, N do
   async.work('local a, b = ... return a + b', {i, 1}, function(r)
      count = count + 1
      sum = sum + r
   end)
end
async.go()
assert(sum == N * (N + 1) / 2 + N, 'wrong sum')
print(('result impl=async phase=tiny ms=%.1f count=%d'):format(async.hrtime() - t0, count))

local cpu = [[
   local n = ...
   local x = 0
   for i = 1, n do x = (x + i * 7) % 1000003 end
   return x
]]
t0, count = async.hrtime(), 0
for _ = 1, CPU_N do
   async.work(cpu, {ITERATIONS}, function(r) count = count + 1 end)
end
async.go()
print(('result impl=async phase=cpu ms=%.1f count=%d'):format(async.hrtime() - t0, count))
