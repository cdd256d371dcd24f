---@meta async.curl

local async = {}

---The options of a curl request.
---@class async.curl.Options
---@field url? string
---@field host? string used with `path` when there is no `url`
---@field path? string default `'/'`
---@field query? table<string, string|number|boolean> added to the URL, escaped
---@field method? string `get` only
---@field headers? table<string, string|number|boolean>
---@field auth? {user: string, password?: string}
---@field cookie? string
---@field saveCookie? string
---@field maxTime? number seconds
---@field maxConnectTime? number seconds
---@field retry? integer
---@field format? 'raw'|'json'
---@field output? 'code'|'full'
---@field verbose? boolean
---@field insecure? boolean `false` makes curl check certificates
---@field form? table<string, string|number|boolean> a multipart form; `'@path'` uploads a file
---@field file? string a body read from this file
---@field raw? string a body as it is
---@field json? any a body encoded as JSON

---The options of `getn` and `postn`: shared by every request.
---@class async.curl.BatchOptions: async.curl.Options
---@field max? integer how many at once (default 32)

---The options of `postLargeFile`.
---@class async.curl.UploadOptions
---@field filename string
---@field url? string
---@field host? string
---@field path? string
---@field chunkSize? integer bytes (default 32 MiB)
---@field verbose? boolean

---`cb(body, code[, err])`: the body (decoded with `format = 'json'`), the
---HTTP status (0 when curl failed) and why it failed.
---@alias async.curl.Callback fun(body: any, code: integer, err: string?)

---`require 'async.curl'`: requests run by the `curl` program.
---@class async.curl
async.curl = {}

---GET (or `options.method`).
---@param options string|async.curl.Options
---@param cb? async.curl.Callback
function async.curl.get(options, cb) end

---POST.
---@param options string|async.curl.Options
---@param cb? async.curl.Callback
function async.curl.post(options, cb) end

---PUT.
---@param options string|async.curl.Options
---@param cb? async.curl.Callback
function async.curl.put(options, cb) end

---DELETE.
---@param options string|async.curl.Options
---@param cb? async.curl.Callback
function async.curl.delete(options, cb) end

---One GET per item, at most `options.max` at once; `cb(body, item, code[, err])` per item.
---@param urls (string|async.curl.Options)[]
---@param options? async.curl.BatchOptions
---@param cb? fun(body: any, item: string|async.curl.Options, code: integer, err: string?)
function async.curl.getn(urls, options, cb) end

---One POST per item, at most `options.max` at once; `cb(body, item, code[, err])` per item.
---@param urls (string|async.curl.Options)[]
---@param options? async.curl.BatchOptions
---@param cb? fun(body: any, item: string|async.curl.Options, code: integer, err: string?)
function async.curl.postn(urls, options, cb) end

---A resumable upload in chunks: `cb(true)`, or `cb(nil, reason, code)`.
---@param options async.curl.UploadOptions
---@param cb? fun(ok: true?, reason: string?, code: integer?)
function async.curl.postLargeFile(options, cb) end

return async.curl
