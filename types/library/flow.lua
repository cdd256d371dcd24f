---@meta async.flow

local async = {}

---Queues calls and starts them in order, paced by a rate limiter:
---`func(args[1], ..., args[n], done)`; call `done()` when finished (a
---trailing function in `args` is wrapped to count as `done` instead).
---@alias async.flow.Limit fun(func: function, args?: any[])

---`require 'async.flow'`.
---@class async.flow
async.flow = {}

---A limiter that starts one queued call every `1000 / perSecond` ms,
---with at most `perSecond` unfinished at once.
---@param perSecond? number at least 1; default 100
---@return async.flow.Limit limit
function async.flow.ratelimiter(perSecond) end

return async.flow
