---@meta async.url

local async = {}

---The parts of a URL, as `url.parse` gives them (all strings).
---@class async.url.Parts
---@field scheme? string
---@field authority? string `userinfo@host:port`
---@field userinfo? string `user:password`
---@field user? string
---@field password? string
---@field host? string without brackets
---@field port? string|integer
---@field path? string
---@field params? string
---@field query? string
---@field fragment? string
---@field [any] any

---The segments of a path, as `url.parse_path` gives them.
---@class async.url.Path
---@field is_absolute? 1|true
---@field is_directory? 1|true
---@field [integer] string

---`require 'async.url'`: LuaSocket 2.0's `socket.url`, as the original had it.
---@class async.url
async.url = {}

---Every byte but letters, digits and `_` as `%xx` (lowercase).
---@param s string|number
---@return string
function async.url.escape(s) end

---Decodes every `%xx`; anything else is kept.
---@param s string|number
---@return string
function async.url.unescape(s) end

---Splits a URL into its parts, laid over a copy of `defaults`; `nil,
---'invalid url'` for a missing or empty `text`.
---@param text string?
---@param defaults? table
---@return async.url.Parts?
---@return string? err
function async.url.parse(text, defaults) end

---Writes a URL from its parts (the path escaped anew).
---@param parts async.url.Parts
---@return string
function async.url.build(parts) end

---Resolves `relative` against `base` (a URL or its parts).
---@param base string|async.url.Parts|nil
---@param relative string?
---@return string?
function async.url.absolute(base, relative) end

---The unescaped segments of a path.
---@param path string?
---@return async.url.Path
function async.url.parse_path(path) end

---A path from segments, escaped unless `unsafe`.
---@param segments async.url.Path|string[]
---@param unsafe? boolean
---@return string
function async.url.build_path(segments, unsafe) end

return async.url
