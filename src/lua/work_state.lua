-- Run once in each worker state of async.work (src/work/pool.rs), after
-- the standard libraries are opened. It has to be Lua: it installs a
-- package loader, which `require` calls as a Lua function.
--
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
