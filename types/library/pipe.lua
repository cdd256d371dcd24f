---@meta async.pipe

local async = {}

---A listening Unix domain socket server.
---@class async.PipeServer: async.Handle
---@field sockname string the path it listens on
---@field close fun(cb?: fun()) stops accepting, removes its socket file; `cb()` once closed
---@field onclose fun(cb?: fun()) `cb()` once closed

---`require 'async.pipe'`: Unix domain sockets. A path starting with a
---zero byte is a name in Linux's abstract namespace.
---@class async.pipe
async.pipe = {}

---Listens at `path`; `cb(client)` for each connection. A file already at
---`path` (a stale socket) raises `listen: EADDRINUSE: ...`.
---@param path string
---@param cb fun(client: async.Pipe)
---@return async.PipeServer
function async.pipe.listen(path, cb) end

---Connects to `path`; `cb(client)` once connected. A failure goes to
---the client's `onerr` (or stderr), never to `cb`.
---@param path string
---@param cb? fun(client: async.Pipe)
---@return async.Pipe
function async.pipe.connect(path, cb) end

return async.pipe
