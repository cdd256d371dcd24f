---@meta async.http

local async = {}

---Headers to send: `{Name = value}`, `{Name = {v1, v2}}` for repeated
---headers, and raw `'Name: value'` lines at number keys.
---@alias async.http.Headers table<string|integer, string|number|boolean|(string|number|boolean)[]>

---The URL of a request as the server read it (nothing unescaped).
---@class async.http.RequestUrl
---@field path string
---@field query? string
---@field fragment? string

---A request, as the server's handler gets it.
---@class async.http.Request
---@field method string
---@field url async.http.RequestUrl
---@field headers table<string, string> values by lower-case name; the last of repeated headers
---@field version_major integer
---@field version_minor integer
---@field should_keep_alive boolean
---@field upgrade boolean
---@field body string|table the body; a POST's JSON or multipart form decoded

---Answers a request: `res(body[, headers][, status])`. Raises for a bad
---argument (the request then gets 500), or when called twice.
---@alias async.http.Respond fun(body?: string|number|string[], headers?: async.http.Headers, status?: integer)

---The server's function, called once per request.
---@alias async.http.Handler fun(req: async.http.Request, res: async.http.Respond, client: async.TcpSocket)

---The options of `http.listen`; 0 turns a timeout off.
---@class async.http.ListenOptions
---@field maxBodySize? number bytes (default 16 MiB); more gets 413
---@field maxHeaderSize? number bytes (default 64 KiB); more gets 431
---@field headersTimeout? number ms (default 60000) until the end of the headers; then 408
---@field keepAliveTimeout? number ms (default 5000) an idle connection waits for its next request

---What `http.request` sends.
---@class async.http.RequestOptions
---@field url string an `http://` URL
---@field method? string default `'GET'`
---@field headers? async.http.Headers
---@field body? string
---@field timeout? number ms without progress before `ETIMEDOUT` (default 60000)

---A response, as the client gets it.
---@class async.http.Response
---@field status integer
---@field reason string
---@field headers table<string, string> values by lower-case name; the last of repeated headers
---@field body string
---@field version_major integer
---@field version_minor integer

---The client's callback: `cb(response)` or `cb(nil, err)`.
---@alias async.http.Callback fun(response: async.http.Response?, err: string?)

---`require 'async.http'`.
---@class async.http
---@field codes table<integer, string> reason phrases by status code
async.http = {}

---Starts an HTTP server; `handler(req, res, client)` per request.
---@param domain async.Domain
---@param handler async.http.Handler
---@param options? async.http.ListenOptions
---@return async.TcpServer
function async.http.listen(domain, handler, options) end

---Sends a request; `cb(response)` or `cb(nil, err)`.
---@param options async.http.RequestOptions
---@param cb async.http.Callback
function async.http.request(options, cb) end

---`http.request({url = url}, cb)`.
---@param url string
---@param cb async.http.Callback
function async.http.get(url, cb) end

---`http.request({url = url, method = 'POST', body = body}, cb)`.
---@param url string
---@param body string
---@param cb async.http.Callback
function async.http.post(url, body, cb) end

---Closes the client's idle kept-alive connections.
function async.http.closeIdleConnections() end

return async.http
