---@meta async.process

local async = {}

---The arguments of a program: strings (or numbers) in order, with
---optional `cwd` and `env` (`{NAME = value}` or `{'NAME=value'}`; it
---replaces the environment).
---@class async.process.Args
---@field cwd? string
---@field env? table<string|integer, string|number>
---@field [integer] string|number

---A child process.
---@class async.Process: async.Handle
---@field pid integer
---@field stdin async.Pipe
---@field stdout async.Pipe
---@field stderr async.Pipe
---@field kill fun(signal?: string|integer): true?, string? sends a signal (`'SIGTERM'` by default); `nil, err` once exited
---@field onexit fun(cb?: fun(status: integer, signal: integer)) the process exited (its output may still come)
---@field onclose fun(cb?: fun(status: integer, signal: integer)) the process exited and every pipe closed

---`require 'async.process'`.
---@class async.process
async.process = {}

---Starts `path` (looked up in PATH unless it holds a `/`);
---`handler(proc)` at once. Returns the process, or `nil, err`.
---@param path string
---@param args? async.process.Args
---@param handler? fun(proc: async.Process)
---@return async.Process?
---@return string? err
---@overload fun(path: string, handler: fun(proc: async.Process)): async.Process?, string?
function async.process.spawn(path, args, handler) end

---Runs `path` to its end: `cb(stdout, status, signal)`, or `cb(nil, err)`
---when it cannot start. stdin is /dev/null, stderr the parent's.
---@param path string
---@param args async.process.Args?
---@param cb fun(stdout: string?, status: integer|string|nil, signal: integer?)
---@return async.Process?
---@overload fun(path: string, cb: fun(stdout: string?, status: integer|string|nil, signal: integer?)): async.Process?
function async.process.exec(path, args, cb) end

---Runs Lua `code` in a new process of this interpreter (`luajit -e
---code`), `${name}` replaced by `vars[name]`; as `spawn` otherwise.
---@param code string
---@param vars? table<string, string|number>
---@param handler? fun(proc: async.Process)
---@return async.Process?
---@return string? err
---@overload fun(code: string, handler: fun(proc: async.Process)): async.Process?, string?
function async.process.dispatch(code, vars, handler) end

return async.process
