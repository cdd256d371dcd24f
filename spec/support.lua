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

local ffi = require 'ffi'
ffi.cdef [[
int malloc_trim(size_t pad);
struct mallinfo2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; };
struct mallinfo2 mallinfo2(void);
]]

-- Bytes malloc has handed out and not had back, in KiB, after a full Lua
-- collection: the C and Rust side of this process (libuv handles, our
-- state, queues), without the allocators' retained pages that make RSS
-- jump with the garbage collector's timing.
function support.malloc_kib()
   support.heap_kib()
   local info = ffi.C.mallinfo2()
   return tonumber(info.uordblks + info.hblkhd) / 1024
end

-- Resident set size of this process in KiB, after malloc has handed its
-- free memory back to the system: what is left is memory in use, so a
-- leak shows and the allocator's fragmentation from earlier specs does
-- not.
function support.rss_kib()
   ffi.C.malloc_trim(0)
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

-- Runs `body(done)` and then the loop, with a watchdog: a test that hangs
-- fails after `seconds` instead. `done()` disarms the watchdog.
function support.run(seconds, body)
   local async = require 'async'
   local watchdog = async.setTimeout(seconds * 1000, function() error('test timed out') end)
   local ok, err = pcall(body, function() watchdog.clear() end)
   if not ok then watchdog.clear(); error(err, 0) end
   async.go()
end

return support
