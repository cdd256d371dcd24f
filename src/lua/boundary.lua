-- The Lua half of src/core/boundary.rs: Rust functions return `true, ...` or
-- `false, message, level`; these wrappers turn the latter into a
-- plain-string error() at the caller's line. It has to be Lua: only Lua's
-- error() raises a string positioned at the calling line, and only a Lua
-- closure keeps its bound handle visible to the garbage collector.
local error = error

local function finish(ok, ...)
   if ok then return ... end
   local message, level = ...
   error(message, level)
end

return {
   wrap = function(raw)
      return function(...) return finish(raw(...)) end
   end,
   bind = function(raw, object)
      return function(...) return finish(raw(object, ...)) end
   end,
   bind_two = function(raw, first, second)
      return function(...) return finish(raw(first, second, ...)) end
   end,
}
