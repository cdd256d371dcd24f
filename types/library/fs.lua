---@meta async.fs

local async = {}

---What `stat`, `lstat` and `fstat` give.
---@class async.fs.Stats
---@field dev integer
---@field ino integer
---@field mode integer
---@field nlink integer
---@field uid integer
---@field gid integer
---@field rdev integer
---@field size integer
---@field blksize integer
---@field blocks integer
---@field atime integer seconds
---@field mtime integer seconds
---@field ctime integer seconds
---@field birthtime integer seconds
---@field is_file boolean
---@field is_directory boolean
---@field is_character_device boolean
---@field is_block_device boolean
---@field is_fifo boolean
---@field is_symbolic_link boolean
---@field is_socket boolean

---An entry of `scandir`.
---@class async.fs.Entry
---@field name string
---@field type 'file'|'directory'|'link'|'fifo'|'socket'|'char'|'block'|'unknown'

---`cb(err)`: nil on success, else a `"CODE: message"` string.
---@alias async.fs.Done fun(err: string?)

---@alias async.fs.Flags 'r'|'r+'|'w'|'w+'|'a'|'a+'|'wx'|'wx+'|'ax'|'ax+'

---What `fs.watch` and `fs.watchFile` return.
---@class async.fs.Watcher: async.Handle
---@field close fun(cb?: fun()) stops watching; `cb()` once closed
---@field onclose fun(cb?: fun()) `cb()` once closed

---Options of `fs.createReadStream`.
---@class async.fs.ReadStreamOptions
---@field start? integer the first byte read (default 0)
---@field end? integer the last byte read, inclusive (default: to the end of the file)
---@field highWaterMark? integer the most bytes one read gives (default 65536)

---`require 'async.fs'`.
---@class async.fs
---@field bufferSize integer what `read` reads when given no length (1024)
async.fs = {}

---Opens a file: `cb(fd, err)`.
---@param path string
---@param flags async.fs.Flags
---@param mode? string octal, default `'666'`
---@param cb fun(fd: integer?, err: string?)
---@overload fun(path: string, flags: async.fs.Flags, cb: fun(fd: integer?, err: string?))
function async.fs.open(path, flags, mode, cb) end

---@param fd integer
---@param cb async.fs.Done
function async.fs.close(fd, cb) end

---Reads `length` bytes (default `bufferSize`) at `offset` (default: the
---current position): `cb(data, err)`.
---@param fd integer
---@param length? integer
---@param offset? integer
---@param cb fun(data: string?, err: string?)
---@overload fun(fd: integer, cb: fun(data: string?, err: string?))
---@overload fun(fd: integer, length: integer, cb: fun(data: string?, err: string?))
function async.fs.read(fd, length, offset, cb) end

---Writes all of `data` at `offset` (default: after the previous write).
---@param fd integer
---@param data string
---@param offset? integer
---@param cb async.fs.Done
---@overload fun(fd: integer, data: string, cb: async.fs.Done)
function async.fs.write(fd, data, offset, cb) end

---@param path string
---@param cb fun(stats: async.fs.Stats?, err: string?)
function async.fs.stat(path, cb) end

---As `stat`, without following a symbolic link.
---@param path string
---@param cb fun(stats: async.fs.Stats?, err: string?)
function async.fs.lstat(path, cb) end

---@param fd integer
---@param cb fun(stats: async.fs.Stats?, err: string?)
function async.fs.fstat(fd, cb) end

---@param fd integer
---@param cb async.fs.Done
function async.fs.fsync(fd, cb) end

---Sets the file's size (default 0).
---@param fd integer
---@param length? integer
---@param cb async.fs.Done
---@overload fun(fd: integer, cb: async.fs.Done)
function async.fs.ftruncate(fd, length, cb) end

---The whole file: `cb(content, err)`.
---@param path string
---@param cb fun(content: string?, err: string?)
function async.fs.readFile(path, cb) end

---Creates or truncates the file and writes `data`.
---@param path string
---@param data string
---@param cb async.fs.Done
function async.fs.writeFile(path, data, cb) end

---Creates the file if needed and writes `data` at its end.
---@param path string
---@param data string
---@param cb async.fs.Done
function async.fs.appendFile(path, data, cb) end

---@param path string
---@param mode? string octal, default `'777'`
---@param cb async.fs.Done
---@overload fun(path: string, cb: async.fs.Done)
function async.fs.mkdir(path, mode, cb) end

---A new directory named `prefix` and six random characters: `cb(path, err)`.
---@param prefix string
---@param cb fun(path: string?, err: string?)
function async.fs.mkdtemp(prefix, cb) end

---@param path string
---@param cb async.fs.Done
function async.fs.rmdir(path, cb) end

---@param path string
---@param cb async.fs.Done
function async.fs.unlink(path, cb) end

---The names in a directory, sorted.
---@param path string
---@param cb fun(names: string[]?, err: string?)
function async.fs.readdir(path, cb) end

---The entries of a directory, sorted by name.
---@param path string
---@param cb fun(entries: async.fs.Entry[]?, err: string?)
function async.fs.scandir(path, cb) end

---@param path string
---@param cb fun(target: string?, err: string?)
function async.fs.readlink(path, cb) end

---@param path string
---@param cb fun(path: string?, err: string?)
function async.fs.realpath(path, cb) end

---`cb(true)` or `cb(false)`, never an error.
---@param path string
---@param cb fun(exists: boolean)
function async.fs.exists(path, cb) end

---Checks access: `mode` letters among `'rwx'` (default: existence).
---@param path string
---@param mode? string
---@param cb async.fs.Done
---@overload fun(path: string, cb: async.fs.Done)
function async.fs.access(path, mode, cb) end

---@param path string
---@param mode string octal
---@param cb async.fs.Done
function async.fs.chmod(path, mode, cb) end

---@param path string
---@param atime number seconds
---@param mtime number seconds
---@param cb async.fs.Done
function async.fs.utime(path, atime, mtime, cb) end

---@param from string
---@param to string
---@param cb async.fs.Done
function async.fs.rename(from, to, cb) end

---@param target string
---@param path string
---@param cb async.fs.Done
function async.fs.symlink(target, path, cb) end

---@param from string
---@param to string
---@param cb async.fs.Done
function async.fs.copyFile(from, to, cb) end

---A stream reading a file (`async.File`): `ondata`, `onend`, `pause`,
---`pipe`, fiber reads... A missing file reaches `onerr` (or stderr).
---@param path string
---@param options? async.fs.ReadStreamOptions
---@return async.File
function async.fs.createReadStream(path, options) end

---A stream writing a file (`async.File`): `write` (false past 64 KiB
---queued), `ondrain`, `close(cb)` once all is written.
---@param path string
---@param options? {flags: async.fs.Flags?} default `'w'`; `'r'` is refused
---@return async.File
function async.fs.createWriteStream(path, options) end

---Watches a file or a folder (inotify): `cb(event, filename)` with
---`'rename'` or `'change'` and the entry's name, or `cb(nil, nil, err)`
---(then the watcher is closed when it could not start).
---`{recursive = true}` is refused: Linux watches one folder.
---@param path string
---@param options? {recursive: boolean?}
---@param cb fun(event: 'rename'|'change'|nil, filename: string?, err: string?)
---@return async.fs.Watcher
---@overload fun(path: string, cb: fun(event: 'rename'|'change'|nil, filename: string?, err: string?)): async.fs.Watcher
function async.fs.watch(path, options, cb) end

---Polls a file's stats every `interval` ms (default 5007): `cb(curr, prev)`
---when they change; `cb(curr, prev, err)` once while the file cannot be
---read (`curr` all zeros).
---@param path string
---@param interval? number|{interval: number?}
---@param cb fun(curr: async.fs.Stats, prev: async.fs.Stats, err: string?)
---@return async.fs.Watcher
---@overload fun(path: string, cb: fun(curr: async.fs.Stats, prev: async.fs.Stats, err: string?)): async.fs.Watcher
function async.fs.watchFile(path, interval, cb) end

return async.fs
