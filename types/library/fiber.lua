---@meta async.fiber

local async = {}

---A fiber: a coroutine that suspends while asynchronous calls complete.
---@class async.Fiber
---@field co thread the coroutine
---@field resume fun(...: any): ... resumes the fiber (raises if it is not suspended)
---@field yield fun(...: any): ... suspends the fiber, from inside it

---`fiber.sync.NAME(...)`: `async.NAME`, `async.process.NAME`,
---`async.fs.NAME`, `async.curl.NAME` or `async.http.NAME` (the first that
---exists), called with a callback; the fiber waits and gets what the
---callback was given. `sync.request` is `http.request`. `fiber.sync(fn)`
---is the same for any such function, a handle's method among them
---(`fiber.sync(sock.send)`).
---@class async.fiber.sync
---@overload fun(fn: function): fun(...: any): ...
---@field request fun(options: async.http.RequestOptions): async.http.Response?, string?
---@field exec fun(path: string, args?: async.process.Args): string?, integer|string|nil, integer?
---@field readFile fun(path: string): string?, string?
---@field writeFile fun(path: string, data: string): string?
---@field stat fun(path: string): async.fs.Stats?, string?
---@field get fun(options: string|async.curl.Options): any, integer, string?
---@field post fun(options: string|async.curl.Options): any, integer, string?
---@field getAddrInfo fun(options: async.AddrInfoOptions): async.AddrInfo[], string?
---@field [string] fun(...: any): ...

---`require 'async.fiber'`; `async.fiber(fn)` makes and starts a fiber.
---@class async.fiber
---@overload fun(fn: fun(...: any)): async.Fiber, boolean, ...
---@field sync async.fiber.sync
---@field fibers table<thread, async.Fiber> the live fibers, by coroutine (weak keys)
async.fiber = {}

---Makes a fiber of `fn` and starts it; returns the fiber, then what the
---first resume returned (`f, true, ...`).
---@param fn fun(...: any)
---@return async.Fiber
---@return boolean
---@return any ...
function async.fiber.new(fn) end

---The running fiber, or nil outside any fiber.
---@return async.Fiber?
function async.fiber.context() end

---Inside a fiber: calls each `funcs[i](args[i]..., done)`, at most `limit`
---at a time, waits until every `done` was called, and returns the
---results (each passed through `cb`): an array of result lists, or the
---results themselves for a single function.
---@param funcs function|function[]
---@param args? any[]|any[][]
---@param limit? integer default 64
---@param cb? fun(...: any): ...
---@return any ...
---@overload fun(funcs: function|function[], args: any[]|any[][]|nil, cb: fun(...: any): ...): ...
function async.fiber.wait(funcs, args, limit, cb) end

---Inside a fiber: suspends it for `ms` milliseconds.
---@param ms number
function async.fiber.sleep(ms) end

return async.fiber
