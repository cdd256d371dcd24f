-- Timers: a countdown with setInterval, a timeout that is cleared before
-- it fires, and a tally of how many timers libuv ran. Ends by itself.
local async = require 'async'

local t0 = async.hrtime()
local function stamp(what)
   print(('%7.1f ms  %s'):format(async.hrtime() - t0, what))
end

local count = 3
async.setInterval(100, function(timer)
   stamp('tick ' .. count)
   count = count - 1
   if count == 0 then
      timer.clear()
      stamp('lift-off')
   end
end)

local never = async.setTimeout(1000, function() stamp('this never prints') end)
async.setTimeout(50, function()
   never.clear()
   stamp('cleared the 1 s timeout')
end)

-- Many timers due together fire in the order they were set.
local order = {}
for i = 1, 5 do
   async.setTimeout(10, function() order[#order + 1] = i end)
end
async.setTimeout(20, function() stamp('same-deadline order: ' .. table.concat(order, ' ')) end)

async.go()
stamp('loop finished: nothing left to do')
