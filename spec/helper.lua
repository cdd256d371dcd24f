-- Loaded by busted before every spec file (see .busted): after each test,
-- report an error if it left a handle open, as luv's test harness does.
local busted = require 'busted'
local async = require 'async'

busted.subscribe({'test', 'end'}, function(element, parent, status)
   local open = {}
   for kind, count in pairs(async.handles()) do
      open[#open + 1] = count .. ' ' .. kind
   end
   if #open > 0 and status == 'success' then
      table.sort(open)
      local message = 'handles left open after the test: ' .. table.concat(open, ', ')
      busted.publish({'error', 'it'}, element, parent, message, {traceback = '', short_src = element.trace and element.trace.short_src or '?', currentline = element.trace and element.trace.currentline or 0})
   end
   return nil, true
end)
