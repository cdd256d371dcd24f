---@meta async.tcp

local async = {}

---A connected TCP socket: a stream with addresses and socket options.
---@class async.TcpSocket: async.Stream
---@field sockname async.SocketAddress? the local address
---@field peername async.SocketAddress? the remote address
---@field setNoDelay fun(enable?: boolean): boolean TCP_NODELAY (on by default)
---@field setKeepAlive fun(enable?: boolean, seconds?: number): boolean TCP keep-alive

---A listening TCP server (also what `http.listen`, `json.listen` and
---`repl.listen` return).
---@class async.TcpServer: async.Handle
---@field sockname async.SocketAddress? the address it listens on
---@field close fun(cb?: fun()) stops accepting; `cb()` once closed
---@field onclose fun(cb?: fun()) `cb()` once closed

---What `tcp.parseUrl` gives.
---@class async.tcp.ParsedUrl
---@field schema string
---@field host string
---@field port? integer
---@field path? string
---@field query? string
---@field fragment? string
---@field userinfo? string

---`require 'async.tcp'`.
---@class async.tcp
---@field protocols table<string, integer> default ports by URL scheme (`http = 80`, `https = 443`)
async.tcp = {}

---Listens on `domain`; `cb(client)` for each connection.
---@param domain async.Domain
---@param cb fun(client: async.TcpSocket)
---@return async.TcpServer
function async.tcp.listen(domain, cb) end

---Connects to `domain`; `cb(client)` once connected. A failure goes to
---the client's `onerr` (or stderr), never to `cb`.
---@param domain async.Domain
---@param cb? fun(client: async.TcpSocket)
---@return async.TcpSocket
function async.tcp.connect(domain, cb) end

---Splits `scheme://host:port/path?query#fragment`; a table is given back
---as it is.
---@param url string|table
---@return async.tcp.ParsedUrl|table
function async.tcp.parseUrl(url) end

return async.tcp
