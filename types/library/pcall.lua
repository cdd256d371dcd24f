---@meta async.pcall

---`require 'async.pcall'`: the same function as `async.pcall`. Wraps `cb`
---so that an error inside it is reported (to `handler`, else printed)
---with the traceback of where the wrapper was made.
---@param cb function|table
---@param handler? fun(traceback: string, where: string, info: debuginfo[])
---@return fun(...): ...
local function pcall_wrapper(cb, handler) end

return pcall_wrapper
