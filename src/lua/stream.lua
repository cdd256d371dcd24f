-- The fiber reads of a stream (src/stream/fiber_reads.rs): read, readsplit, readline.
-- Lua because they suspend the calling fiber, and LuaJIT cannot yield
-- across a C call. They rest on two Rust primitives: take(h, sep) gives
-- the next chunk or piece, nil (+ error) at the end, or false when the
-- fiber must wait; park(h, wake) has `wake` called when that changes.
-- Both follow core/boundary.rs's convention (true, ... or false, message), and
-- so do the methods: a misuse is raised at the line of the reader.
local take, park = ...
local running, yield, resume = coroutine.running, coroutine.yield, coroutine.resume
local traceback, error, tostring, pcall = debug.traceback, error, tostring, pcall

local function await(h, name, separator)
   local co = running()
   if co == nil then
      error("'" .. name .. "' must be called inside a fiber (see async.fiber)", 3)
   end
   while true do
      local ok, piece, err = take(h, separator)
      if not ok then return false, piece, 2 end
      -- One value with data (print(h.read()) shows no stray nil), two at the end.
      if piece ~= false then
         if err == nil then return true, piece end
         return true, piece, err
      end
      ok, err = park(h, function()
         local resumed, message = resume(co)
         if not resumed then error(traceback(co, tostring(message)), 0) end
      end)
      if not ok then return false, err, 2 end
      -- A read inside a C function (a table.sort comparator, a metamethod
      -- called from C) cannot suspend: forget the waiter so that the
      -- stream can be read again, and say why.
      local suspended, why = pcall(yield)
      if not suspended then
         park(h, nil)
         return false, name .. ': cannot wait for data here (' .. tostring(why) .. ')', 2
      end
   end
end

return {
   read = function(h) return await(h, 'read') end,
   readsplit = function(h, separator)
      local kind = type(separator)
      if kind ~= 'string' and kind ~= 'function' then
         error("bad argument #1 to 'readsplit' (string or function expected, got " .. kind .. ")", 3)
      end
      return await(h, 'readsplit', separator)
   end,
   readline = function(h) return await(h, 'readline', '\n') end,
}
