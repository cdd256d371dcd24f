-- Fibers: asynchronous code that reads top to bottom. Ends by itself.
local async = require 'async'
local fiber = async.fiber

-- An asynchronous function in the callback style: cb(result) after ms.
local function slowDouble(n, ms, cb)
   async.setTimeout(ms, function() cb(n * 2) end)
end

async.run(function()
   local t0 = async.hrtime()
   print('sleeping 50 ms inside a fiber...')
   fiber.sleep(50)
   print(('woke after %.0f ms'):format(async.hrtime() - t0))

   -- One call: its results come back as return values.
   print('slowDouble(21) =', fiber.wait(slowDouble, {21, 20}))

   -- Many calls, at most 4 in flight: results in call order.
   local funcs, args = {}, {}
   for i = 1, 10 do funcs[i], args[i] = slowDouble, {i, 10 * (11 - i)} end
   local results = fiber.wait(funcs, args, 4)
   local doubled = {}
   for i, r in ipairs(results) do doubled[i] = r[1] end
   print('doubled in order:', table.concat(doubled, ' '))

   -- fiber.sync.NAME wraps any async.NAME the same way.
   local timer = fiber.sync.setTimeout(10)
   print('sync.setTimeout returned', tostring(timer))
end)
print('all fibers done')
