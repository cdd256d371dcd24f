-- Loaded by busted before every spec file (see .busted): after each test,
-- fail it if it left a handle open, as luv's test harness does.
local busted = require 'busted'
local async = require 'async'

busted.subscribe({'test', 'end'}, function(element, parent, status)
   local open = {}
   for kind, count in pairs(async.handles()) do
      open[#open + 1] = count .. ' ' .. kind
   end
   if #open > 0 and status == 'success' then
      table.sort(open)
      error('handles left open after the test: ' .. table.concat(open, ', '))
   end
   return nil, true
end)
