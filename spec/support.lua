-- Small helpers shared by the specs.
local support = {}

-- Resident set size of this process in KiB.
function support.rss_kib()
   local f = assert(io.open('/proc/self/statm'))
   local pages = f:read('*n'); pages = f:read('*n')
   f:close()
   return pages * 4
end

-- Lua heap in KiB after a full collection.
function support.heap_kib()
   collectgarbage('collect'); collectgarbage('collect')
   return collectgarbage('count')
end

return support
