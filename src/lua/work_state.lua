-- Run once in each worker state of async.work (src/work/pool.rs), after
-- the standard libraries are opened. It has to be Lua: it installs a
-- package loader, which `require` calls as a Lua function.
--
-- os.exit would end the process from a pool thread, where libuv's exit
-- hook, joining the pool's threads, would wait for that very thread: a
-- job ends by returning, and the callback may end the program.
os.exit = function()
   error("os.exit is not available inside async.work (return, and exit from the callback)", 2)
end

-- The module cannot run inside a worker (a worker state has no event
-- loop, and its thread must not start one): `require 'async'` and its
-- submodules fail there with a clear error instead of loading async.so
-- into the worker state.
local error, sub = error, string.sub

local function refused(name)
   error("require '" .. name .. "': the async module is not available inside async.work", 2)
end

table.insert(package.loaders, 1, function(name)
   if name == 'async' or sub(name, 1, 6) == 'async.' then
      return refused
   end
end)
