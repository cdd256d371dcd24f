-- async.work: CPU-bound Lua on the thread pool. Counts the primes in four
-- ranges at once, in worker states, while a timer on the loop keeps
-- ticking; then shows an error coming back and the fiber form. Ends by
-- itself.
local async = require 'async'

local count_primes = [[
   local from, to = ...
   local count = 0
   for n = math.max(from, 2), to do
      local prime = true
      for d = 2, math.floor(math.sqrt(n)) do
         if n % d == 0 then prime = false break end
      end
      if prime then count = count + 1 end
   end
   return {from = from, to = to, count = count}
]]

local t0 = async.hrtime()
local ticks, done, total = 0, 0, 0
local ticker = async.setInterval(10, function() ticks = ticks + 1 end)

local ranges = {{1, 250000}, {250001, 500000}, {500001, 750000}, {750001, 1000000}}
for _, range in ipairs(ranges) do
   async.work(count_primes, range, function(result, err)
      assert(err == nil, err)
      print(('%7.1f ms  %d primes from %d to %d'):format(async.hrtime() - t0, result.count, result.from, result.to))
      total = total + result.count
      done = done + 1
      if done == #ranges then
         ticker.clear()
         print(('%d primes below a million; the loop ticked %d times meanwhile'):format(total, ticks))
      end
   end)
end

-- An error inside a job comes back to its callback.
async.work('local t = ... return t.missing.field', {{}}, function(result, err)
   print('error from a job:', err)
end)

-- Arguments that cannot be copied are refused at the call.
print('refused:', select(2, pcall(async.work, 'return 1', {print}, function() end)))

async.go()

-- In a fiber, the job reads like a function call.
async.run(function()
   local squares = async.fiber.sync.work([[
      local out = {}
      for i = 1, select('#', ...) do out[i] = select(i, ...) ^ 2 end
      return out
   ]], {1, 2, 3, 4})
   print('squares:', table.concat(squares, ' '))
end)
