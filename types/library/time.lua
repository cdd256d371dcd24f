---@meta async.time

local async = {}

---A timer of `setTimeout` or `setInterval`.
---@class async.Timer: async.Handle
---@field clear fun() stops the timer; harmless when repeated or after it fired

---An immediate of `setImmediate`.
---@class async.Immediate: async.Handle
---@field clear fun() cancels it; harmless when repeated or after it ran

---`require 'async.time'`: the timer functions.
---@class async.time
async.time = {}

---Calls `cb(timer)` once, after `ms` milliseconds.
---@param ms number
---@param cb fun(timer: async.Timer)
---@return async.Timer
function async.time.setTimeout(ms, cb) end

---Calls `cb(timer)` every `ms` milliseconds until `timer.clear()`.
---@param ms number
---@param cb fun(timer: async.Timer)
---@return async.Timer
function async.time.setInterval(ms, cb) end

---Calls `cb(immediate)` once, after the I/O of this loop iteration.
---@param cb fun(immediate: async.Immediate)
---@return async.Immediate
function async.time.setImmediate(cb) end

return async.time
