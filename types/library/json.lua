---@meta async.json

local async = {}

---Sends `value` as one message to the peer that sent the request; false
---once past the high-water mark or once the connection is gone.
---@alias async.json.Reply fun(value: any): boolean

---The options of `json.listen` and `json.connect`.
---@class async.json.Options
---@field maxLineSize? number the longest message in bytes (default 16 MiB)

---A JSON-lines client: a TCP socket with `send` and `receive`.
---@class async.JsonClient: async.TcpSocket
---@field send fun(value: any): boolean sends `value` as one message
---@field receive fun(fn: fun(message: any)) `fn(message)` for each message, those already arrived first

---`require 'async.json'`: lua-cjson's mapping, and JSON-lines messaging.
---@class async.json
---@field null lightuserdata stands for JSON `null` (the same value as `cjson.null`)
async.json = {}

---The compact JSON text of `value`.
---@param value any
---@return string
function async.json.encode(value) end

---The Lua value of a JSON document.
---@param text string|number
---@return any
function async.json.decode(text) end

---A JSON-lines server: `cb(request, reply, client)` for each message.
---@param domain async.Domain
---@param cb fun(request: any, reply: async.json.Reply, client: async.TcpSocket)
---@param options? async.json.Options
---@return async.TcpServer
function async.json.listen(domain, cb, options) end

---A JSON-lines client: `cb(client)` once connected.
---@param domain async.Domain
---@param cb? fun(client: async.JsonClient)
---@param options? async.json.Options
---@return async.JsonClient
function async.json.connect(domain, cb, options) end

-- Configuration, with the meaning of lua-cjson's functions of the same names.

---How excessively sparse arrays are encoded: as objects (`convert`) or an
---error; sparse means the largest key is over `safe` and over `ratio`
---times the number of keys. Returns the settings.
---@param convert? boolean
---@param ratio? integer
---@param safe? integer
---@return boolean convert
---@return integer ratio
---@return integer safe
function async.json.encode_sparse_array(convert, ratio, safe) end

---The deepest nesting `encode` accepts (default 1000). Returns the setting.
---@param depth? integer
---@return integer
function async.json.encode_max_depth(depth) end

---The deepest nesting `decode` accepts (default 1000). Returns the setting.
---@param depth? integer
---@return integer
function async.json.decode_max_depth(depth) end

---How many significant digits `encode` writes for numbers. Returns the setting.
---@param precision? integer
---@return integer
function async.json.encode_number_precision(precision) end

---Whether `encode` accepts NaN and infinities (`true`), refuses them
---(`false`) or writes `null` (`'null'`). Returns the setting.
---@param setting? boolean|'null'
---@return boolean|'null'
function async.json.encode_invalid_numbers(setting) end

---Whether `decode` accepts NaN, Infinity and hexadecimal numbers. Returns
---the setting.
---@param setting? boolean
---@return boolean
function async.json.decode_invalid_numbers(setting) end

---Whether `encode` keeps its buffer between calls. Returns the setting.
---@param keep? boolean
---@return boolean
function async.json.encode_keep_buffer(keep) end

---A new, independent JSON module table with its own settings.
---@return async.json
function async.json.new() end

return async.json
