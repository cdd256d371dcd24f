---@meta async.repl

local async = {}

---The options of `async.repl`.
---@class async.repl.Options
---@field prompt? string default `_PROMPT`, else `'> '`
---@field fiber? boolean run each chunk in a fiber

---`require 'async.repl'`; `async.repl([prompt])` starts the local REPL
---on the standard streams.
---@class async.repl
---@overload fun(prompt?: string|async.repl.Options)
---@field stdin async.StdStream descriptor 0 as a stream handle
---@field stdout async.StdStream descriptor 1 as a stream handle
---@field stderr async.StdStream descriptor 2 as a stream handle
---@field colors table<string, string> ANSI codes by colour name
---@field colorize async.repl.colorize
async.repl = {}

---Serves the REPL over TCP (`domain.prompt` is the clients' prompt);
---`cb(client)` per connection.
---@param domain async.Domain
---@param cb? fun(client: async.TcpSocket)
---@return async.TcpServer
function async.repl.listen(domain, cb) end

---Forwards stdin to a REPL server and shows its answers; the process
---exits when stdin ends or the server closes.
---@param domain async.Domain
---@param cb? fun(client: async.TcpSocket)
---@return async.TcpSocket
function async.repl.connect(domain, cb) end

---As `connect`, for several servers at once.
---@param domains async.Domain[]
---@param options? {mute?: boolean}|fun(client: async.TcpSocket)
---@param cb? fun(client: async.TcpSocket)
---@return async.TcpSocket[]
function async.repl.connectn(domains, options, cb) end

---`repl.colorize.NAME(text)`: `text` between the colour's code and `none`.
---@class async.repl.colorize
async.repl.colorize = {}

---@param text string|number
---@return string
function async.repl.colorize.none(text) end
---@param text string|number
---@return string
function async.repl.colorize.black(text) end
---@param text string|number
---@return string
function async.repl.colorize.red(text) end
---@param text string|number
---@return string
function async.repl.colorize.green(text) end
---@param text string|number
---@return string
function async.repl.colorize.yellow(text) end
---@param text string|number
---@return string
function async.repl.colorize.blue(text) end
---@param text string|number
---@return string
function async.repl.colorize.magenta(text) end
---@param text string|number
---@return string
function async.repl.colorize.cyan(text) end
---@param text string|number
---@return string
function async.repl.colorize.white(text) end
---@param text string|number
---@return string
function async.repl.colorize.Black(text) end
---@param text string|number
---@return string
function async.repl.colorize.Red(text) end
---@param text string|number
---@return string
function async.repl.colorize.Green(text) end
---@param text string|number
---@return string
function async.repl.colorize.Yellow(text) end
---@param text string|number
---@return string
function async.repl.colorize.Blue(text) end
---@param text string|number
---@return string
function async.repl.colorize.Magenta(text) end
---@param text string|number
---@return string
function async.repl.colorize.Cyan(text) end
---@param text string|number
---@return string
function async.repl.colorize.White(text) end
---@param text string|number
---@return string
function async.repl.colorize._black(text) end
---@param text string|number
---@return string
function async.repl.colorize._red(text) end
---@param text string|number
---@return string
function async.repl.colorize._green(text) end
---@param text string|number
---@return string
function async.repl.colorize._yellow(text) end
---@param text string|number
---@return string
function async.repl.colorize._blue(text) end
---@param text string|number
---@return string
function async.repl.colorize._magenta(text) end
---@param text string|number
---@return string
function async.repl.colorize._cyan(text) end
---@param text string|number
---@return string
function async.repl.colorize._white(text) end

return async.repl
