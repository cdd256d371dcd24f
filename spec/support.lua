-- Small helpers shared by the specs.
local luassert = require 'luassert'
local support = {}

-- The message of the error `f` raises, which must be a string positioned
-- at a line of the spec file named `file` (e.g. 'url_spec.lua'), with that
-- position taken off.
function support.error_of(file, f)
   local ok, message = pcall(f)
   luassert.is_false(ok)
   luassert.is_string(message)
   local position = '^.-' .. file:gsub('%p', '%%%0') .. ':%d+: '
   luassert.matches(position, message)
   return (message:gsub(position, ''))
end

-- Runs the loop with a watchdog: a test that hangs fails instead.
-- `body(done)` starts the work; `done()` disarms the watchdog.
function support.run(seconds, body)
   local async = require 'async'
   local watchdog = async.setTimeout(seconds * 1000, function() error('test timed out') end)
   local ok, err = pcall(body, function() watchdog.clear() end)
   if not ok then watchdog.clear(); error(err, 0) end
   async.go()
end

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
