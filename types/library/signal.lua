---@meta async.signal

local async = {}

---A signal handle of `async.signal`.
---@class async.Signal: async.Handle
---@field close fun(cb?: fun()) stops watching (the signal gets its default action back when no handle watches it); `cb()` once closed
---@field ref fun() makes the handle keep the loop running
---@field unref fun() lets the loop end while the handle waits (the start)
---@field hasRef fun(): boolean whether the handle keeps the loop running
---@field onclose fun(cb?: fun()) `cb()` once the handle is closed

return async
