---@meta async.handle

local async = {}

---A buffer: bytes handed over by `onrawdata` (valid during the callback
---only) or a fiber read after `syncraw()`, with the interface of the
---`buffer` rock. Methods are called with a colon.
---@class async.Buffer
---@field length integer the number of bytes (also `#buf`)
---@field ctype ffi.cdata* an `unsigned char *` to the first byte
---@field toString fun(self: async.Buffer, i?: integer, j?: integer): string the bytes `i` to `j`, counted as `string.sub` counts
---@field slice fun(self: async.Buffer, i?: integer, j?: integer): async.Buffer a view sharing the bytes
---@field copy fun(self: async.Buffer, src: string|async.Buffer): async.Buffer copies `src` (same length) into the buffer
---@field clone fun(self: async.Buffer): async.Buffer a buffer owning a copy of the bytes
---@field find fun(self: async.Buffer, s: string|async.Buffer, init?: integer): integer? where `s` first occurs
---@field split fun(self: async.Buffer, sep?: string|async.Buffer): async.Buffer[] the slices between separators (default `' '`)
---@field pointer fun(self: async.Buffer): lightuserdata the address of the first byte
---@field readUInt8 fun(self: async.Buffer, i: integer): integer
---@field readInt8 fun(self: async.Buffer, i: integer): integer
---@field readUInt16LE fun(self: async.Buffer, i: integer): integer
---@field readUInt16BE fun(self: async.Buffer, i: integer): integer
---@field readInt16LE fun(self: async.Buffer, i: integer): integer
---@field readInt16BE fun(self: async.Buffer, i: integer): integer
---@field readUInt32LE fun(self: async.Buffer, i: integer): integer
---@field readUInt32BE fun(self: async.Buffer, i: integer): integer
---@field readInt32LE fun(self: async.Buffer, i: integer): integer
---@field readInt32BE fun(self: async.Buffer, i: integer): integer
---@field [integer] integer? the byte at a 1-based position
---@operator len: integer
---@operator concat(string|number|async.Buffer): async.Buffer

---A buffer object of the `buffer` rock: `length` bytes at `ctype`.
---@class async.BufferObject
---@field ctype ffi.cdata*|lightuserdata
---@field length integer

---What `write` takes: a string, a buffer, a buffer object, or an array of them.
---@alias async.Writable string|number|async.Buffer|async.BufferObject|(string|async.Buffer|async.BufferObject)[]

---A separator function of `onsplitdata`: given the bytes buffered, returns
---the complete pieces and the rest to keep.
---@alias async.Splitter fun(buffered: string): string[]?, string?

---A stream: a TCP socket, a process pipe, a standard stream. One handler
---per event; setting it again replaces it.
---@class async.Stream: async.Handle
---@field ondata fun(cb?: fun(data: string)) reads, handing each chunk over as a string
---@field onrawdata fun(cb?: fun(buf: async.Buffer)) reads, handing each chunk over as a buffer valid during the call
---@field onsplitdata fun(separator: string|async.Splitter, cb?: fun(piece: string)) reads, handing over the pieces between separators
---@field onend fun(cb?: fun()) the peer ended the stream
---@field onerr fun(cb?: fun(err: string)) an error (`"CODE: message"`); the stream closes after it
---@field onclose fun(cb?: fun()) the handle is closed
---@field ondrain fun(cb?: fun()) the write queue emptied after `write` returned false
---@field write fun(data: async.Writable, cb?: fun(err: string?)): boolean queues bytes; false once past the high-water mark
---@field writeQueueSize fun(): integer bytes queued and not yet written
---@field pause fun() stops reading
---@field resume fun() reads again
---@field setTimeout fun(ms: number, cb?: fun(h: async.Stream)) calls `cb` after `ms` without reads or writes; 0 turns it off
---@field setMaxLineSize fun(bytes: number) the longest piece a separator reader holds (default 16 MiB)
---@field close fun(cb?: fun()) flushes queued writes, shuts down, closes
---@field destroy fun() closes at once, dropping queued writes
---@field sync fun() makes the stream read by fibers (`read`, `readsplit`, `readline`)
---@field syncraw fun() as `sync`, `read` giving buffers
---@field read fun(): string|async.Buffer|nil, string? inside a fiber: what is buffered, or the next chunk; nil at the end
---@field readsplit fun(separator: string|async.Splitter): string?, string? inside a fiber: the next piece up to the separator
---@field readline fun(): string?, string? inside a fiber: the next line
---@field pipe fun(dest: async.Stream|async.Writer, options?: {end: boolean?}): async.Stream|async.Writer writes what this stream reads to `dest` with backpressure; closes `dest` at the end unless `{['end'] = false}`; returns `dest`

---What `pipe` can write to besides a stream: a table with a `write`
---method that returns false past its mark, an `ondrain` method whose
---callback it calls once drained, and a `close` method.
---@class async.Writer
---@field write fun(data: string): boolean
---@field ondrain? fun(cb: fun())
---@field close? fun()

---A process pipe (`proc.stdin`, `proc.stdout`, `proc.stderr`), a
---standard stream that is a pipe, or a Unix domain socket (`async.pipe`).
---@class async.Pipe: async.Stream
---@field sockname string? a socket's own path (nil if unbound, and for process pipes)
---@field peername string? the path of a socket's peer (nil if unbound, and for process pipes)

---A file stream (`fs.createReadStream`, `fs.createWriteStream`), or a
---standard stream that is a file (copied by a thread through a pipe).
---@class async.File: async.Stream

---`require 'async.handle'`: what every stream offers, for reference.
---@class async.handlelib
---@field methods string[] the names of the stream methods
---@field highWaterMark integer the queued bytes past which `write` returns false
async.handle = {}

return async.handle
