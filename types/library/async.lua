---@meta async

-- The `async` module: the event loop, timers, system information and the
-- submodules. Handle kinds shared by several modules (streams, sockets)
-- are declared in stream.lua, tcp.lua and pipe.lua.

---Where to listen or connect: a table, or a URL such as
---`'tcp://127.0.0.1:8080/'` (IPv6 as `[::1]`; a missing port comes from
---`async.tcp.protocols`).
---@alias async.Domain async.DomainTable|string

---@class async.DomainTable
---@field host? string an IP address or a host name; `listen` defaults to `0.0.0.0`, `connect` to `127.0.0.1`
---@field port? integer|string the port; 0 lets the system pick one
---@field backlog? integer the listen backlog (default 511)
---@field prompt? string `repl.listen` only: the prompt sent to clients

---An address of a socket (`sockname`, `peername`).
---@class async.SocketAddress
---@field address string the IP address
---@field port integer
---@field family integer 2 (IPv4) or 10 (IPv6)

---A handle: an object of the loop (timer, socket, server, pipe, process).
---Methods are called with a dot; your own fields are allowed.
---@class async.Handle
---@field [string] any

---One CPU, as `async.cpuInfo` lists them.
---@class async.CpuInfo
---@field model string
---@field speed number MHz
---@field times {user: number, nice: number, sys: number, idle: number, irq: number} milliseconds

---One answer of `async.getAddrInfo`.
---@class async.AddrInfo
---@field addr string the IP address
---@field port integer
---@field family 'IPv4'|'IPv6'
---@field socktype? 'STREAM'|'DGRAM'|'RAW'
---@field protocol? 'tcp'|'udp'
---@field canonname? string

---The options of `async.getAddrInfo`: `path` (or `host`), `port`, and the
---hints at index 1.
---@class async.AddrInfoOptions
---@field path? string the host name to look up
---@field host? string the same, when `path` is not given
---@field port? integer|string
---@field [1] {socktype?: 'STREAM'|'DGRAM', family?: 'INET'|'INET6'|'IPv4'|'IPv6'|'UNSPEC'|4|6|0|string, addrconfig?: boolean, canonname?: boolean}|nil the hints

---@class async
---@field time async.time `setTimeout` and `setInterval`
---@field fiber async.fiber coroutines that wait for asynchronous calls
---@field flow async.flow pacing helpers
---@field url async.url URL parsing and building
---@field tcp async.tcp TCP servers and clients
---@field pipe async.pipe Unix domain socket servers and clients
---@field handle async.handlelib what every stream offers
---@field process async.process child processes
---@field json async.json JSON and JSON-lines messaging
---@field http async.http HTTP server and client
---@field fs async.fs the file system
---@field curl async.curl requests made by the curl program
---@field repl async.repl the REPL and the standard streams
---@field tty async.tty the standard streams and terminal modes
---@field loop async.loop what the event loop is doing
local async = {}

---Runs the event loop until nothing is left to do. With `fn`, calls
---`fn()` about every millisecond while it runs. The first error raised
---by a callback stops the loop and is raised here; call `go()` again to
---carry on. Called from inside a callback, returns at once.
---@param fn? fun()
function async.go(fn) end

---Runs `fn` in a fiber, then the loop (`async.fiber(fn)` then `async.go()`).
---@param fn fun()
function async.run(fn) end

---Makes the running `go()` return after the current callback.
function async.stop() end

---One libuv handle of the loop, as `async.handles({list = true})` lists it.
---@class async.HandleInfo
---@field kind string the module's kind (`tcp`, `tcp.server`, `signal`, ...), or `internal` for the module's own handles
---@field type string libuv's type name (`tcp`, `pipe`, `timer`, `check`, `signal`, ...)
---@field active boolean
---@field ref boolean whether it keeps the loop running
---@field closing boolean
---@field fd? integer its file descriptor, if it has one

---The handles still open, by kind: `{timer = 2, tcp = 1}`; with
---`{list = true}`, a list of every libuv handle of the loop instead.
---@param options? {list?: boolean}
---@return table<string, integer>|async.HandleInfo[]
function async.handles(options) end

---Calls `cb(timer)` once, after `ms` milliseconds (a negative, NaN or
---missing delay counts as 0).
---@param ms number
---@param cb fun(timer: async.Timer)
---@return async.Timer
function async.setTimeout(ms, cb) end

---Calls `cb(timer)` every `ms` milliseconds until `timer.clear()`.
---@param ms number
---@param cb fun(timer: async.Timer)
---@return async.Timer
function async.setInterval(ms, cb) end

---Calls `cb(immediate)` once, after the I/O of this loop iteration.
---@param cb fun(immediate: async.Immediate)
---@return async.Immediate
function async.setImmediate(cb) end

---Calls `cb(name, number)` each time the process receives the signal
---(`'SIGINT'`, `'int'`, `2`, ...). The handle does not keep the loop
---running unless `handle.ref()` is called.
---@param signal string|integer
---@param cb fun(name: string, number: integer)
---@return async.Signal
function async.signal(signal, cb) end

---A monotonic clock in milliseconds (a float).
---@return number
function async.hrtime() end

---The machine's memory, in bytes.
---@return number
function async.getTotalMemory() end

---The free memory, in bytes.
---@return number
function async.getFreeMemory() end

---The CPUs of the machine.
---@return async.CpuInfo[]
function async.cpuInfo() end

---The CPUs of the machine (the original documentation's name for `cpuInfo`).
---@return async.CpuInfo[]
function async.getCpuInfo() end

---Looks up a host name: `cb(results)`, or `cb({}, err)` with a
---`"CODE: message"` string.
---@param options async.AddrInfoOptions
---@param cb fun(results: async.AddrInfo[], err: string?)
function async.getAddrInfo(options, cb) end

---A value `async.work` copies between Lua states: nil, a boolean, a
---number, a string (any bytes), `json.null`, or a table of those whose
---keys are strings, numbers or booleans.
---@alias async.WorkValue nil|boolean|number|string|lightuserdata|table

---Runs the Lua source `code` in a worker Lua state on libuv's thread pool,
---with the elements of `args` (`1..args.n`, else `1..#args`) as `...`;
---`cb(result)` gets its first result, or `cb(nil, err)` its error
---(syntax, runtime, or a result that cannot be copied). `args` may be
---left out: `async.work(code, cb)`. Raises at the call for an argument
---that cannot be copied.
---@param code string
---@param args async.WorkValue[]|nil
---@param cb fun(result: async.WorkValue, err: string?)
---@overload fun(code: string, cb: fun(result: async.WorkValue, err: string?))
function async.work(code, args, cb) end

---Wraps `cb` so that an error inside it is reported (to `handler`, else
---printed) with the traceback of where the wrapper was made, instead of
---stopping the loop. The wrapper returns `cb`'s results.
---@param cb function|table
---@param handler? fun(traceback: string, where: string, info: debuginfo[])
---@return fun(...): ...
function async.pcall(cb, handler) end

return async
