---@meta async.loop

local async = {}

---The counters of `async.loop.metrics()`.
---@class async.LoopMetrics
---@field idleTime number milliseconds the loop has spent waiting for events
---@field iterations integer loop iterations so far
---@field events integer events handled so far
---@field eventsWaiting integer events that were waiting when the loop polled

---`async.loop` (`require 'async.loop'`): what the event loop is doing.
---@class async.loop
async.loop = {}

---Whether anything keeps the loop running (a referenced active handle or
---a pending request).
---@return boolean
function async.loop.alive() end

---The loop's time in milliseconds, as cached at the start of the
---current iteration.
---@return integer
function async.loop.now() end

---Refreshes the loop's cached time from the clock and returns it.
---@return integer
function async.loop.updateTime() end

---The loop's counters since it was made.
---@return async.LoopMetrics
function async.loop.metrics() end

return async.loop
