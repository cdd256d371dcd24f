---@meta async.tty

local async = {}

---A standard stream that is a terminal.
---@class async.Tty: async.Stream
---@field setMode fun(mode: 'normal'|'raw'|0|1): true sets the terminal's mode
---@field getWinSize fun(): integer?, integer? width and height in characters

---A standard stream: a terminal, a pipe or a file.
---@alias async.StdStream async.Tty|async.Pipe|async.File

---`require 'async.tty'`.
---@class async.tty
async.tty = {}

---The stream handle of descriptor 0, 1 or 2 (one per descriptor).
---@param fd 0|1|2
---@return async.StdStream
function async.tty.open(fd) end

---What a descriptor is.
---@param fd integer
---@return 'tty'|'pipe'|'file'|'unknown'
function async.tty.guess(fd) end

---Puts the terminal back into the mode it had before any `setMode`.
function async.tty.resetMode() end

return async.tty
