-- The REPL's fiber mode (src/repl/mod.rs): a line runs inside a fiber so
-- that it may wait (fiber.sync.*, fiber.wait), which means yielding, and
-- LuaJIT cannot yield across a C call: the call must be made from Lua.
-- `report(ok, ...)` is the REPL's Rust printer.
local fiber_new, report = ...
local xpcall, traceback = xpcall, debug.traceback
return function(f)
   fiber_new(function() report(xpcall(f, traceback)) end)
end
