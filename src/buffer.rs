//! Buffers: the byte objects of raw reads (`onrawdata`, `syncraw`), with
//! the interface of the original's `buffer` module (the `buffer` rock its
//! programs use), and `Source`, the reader of byte arguments that `write`,
//! `copy` and `..` share.
//!
//! A buffer is a userdata over a span of memory. Called with a colon, as
//! the original's are: `buf:toString([i[, j]])`, `buf:clone()`,
//! `buf:slice([i[, j]])`, `buf:copy(src)`, `buf:find(s[, init])`,
//! `buf:split([sep])`, `buf:readUInt8(i)` and the other integer readers,
//! and `buf:pointer()` (a light userdata). Read as fields and operators:
//! `buf.length` and `#buf`, `buf.ctype` (an FFI `unsigned char *` to the
//! first byte), `buf[i]` (the byte at 1-based `i`, nil outside),
//! `buf[i] = n`, `buf[{i, j}]` (a slice) and `buf[{i, j}] = src` (a copy
//! into it), `tostring(buf)` as the original prints them, and `..` with
//! strings and buffers on either side (a new buffer).
//!
//! A slice is a view: it shares the bytes of the buffer it was cut from,
//! as in the original, so `buf:slice(1, 4):copy('abcd')` changes `buf`.
//!
//! A buffer given to `onrawdata` (and its slices) looks at the stream's
//! read buffer and is valid only during the callback: afterwards it is
//! released, so a late use raises an error instead of reading memory the
//! next read reuses. Its `ctype` pointer is valid for the same time, and
//! nothing can check a pointer kept longer. `clone()` makes a buffer that
//! owns a copy of its bytes, as do fiber reads (`syncraw`) and `..`; the
//! `ctype` of an owned buffer keeps those bytes alive for as long as the
//! pointer itself is referenced.
//!
//! A buffer object of the original's `buffer` module is a Lua table with a
//! `ctype` (an FFI pointer or array) and a `length` in bytes: `Source`
//! reads those bytes for the duration of one call, and `write` copies what
//! it queues.
//!
//! Errors are plain strings at the caller's line, like every other error
//! of the module (`spec.lua:9: buffer used after its callback returned
//! ...`).
//!
//! May touch: its own bytes, and memory the program hands over as an FFI
//! pointer, for reading, during one call. Never libuv.

use std::cell::Cell;
use std::ffi::c_void;
use std::fmt::Write;
use std::rc::Rc;

use mlua::{
    AnyUserData, BorrowedBytes, Function, IntoLuaMulti, LightUserData, Lua, MultiValue, Result, Table, UserData, UserDataFields,
    UserDataRef, Value,
};

use crate::core::boundary::{self, Args, fail};
use crate::core::memory::{self, OutOfMemory};

const RELEASED: &str = "buffer used after its callback returned (use buf:clone() to keep it)";

/// The memory one or more buffers (a buffer and its slices) look at.
struct Memory {
    start: *mut u8,
    len: usize,
    /// Owned memory is a boxed slice, freed with the last buffer or `ctype`
    /// pointer over it; lent memory is someone else's.
    owned: bool,
    /// False once the loan of lent memory ended: every view of it refuses
    /// to read or write from then on.
    live: Cell<bool>,
}

impl Memory {
    fn owned(bytes: Vec<u8>) -> Memory {
        let len = bytes.len();
        let start = Box::into_raw(bytes.into_boxed_slice()) as *mut u8;
        Memory { start, len, owned: true, live: Cell::new(true) }
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: `start` and `len` are those of the boxed slice that
            // `Memory::owned` leaked with Box::into_raw; this is its one drop.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.start, self.len)) });
        }
    }
}

/// The loan of memory to a buffer made by `Buffer::lend`: dropping it
/// releases the buffer and its slices, on every path out of the callback.
pub struct Loan(Rc<Memory>);

impl Drop for Loan {
    fn drop(&mut self) {
        self.0.live.set(false);
    }
}

/// A span of memory seen from Lua.
pub struct Buffer {
    memory: Rc<Memory>,
    /// Where the span starts in `memory`; `offset + len <= memory.len`.
    offset: usize,
    len: usize,
    /// Cut from another buffer by `slice` (what `tostring` reports).
    view: bool,
}

impl Buffer {
    fn whole(memory: Memory) -> Buffer {
        let len = memory.len;
        Buffer { memory: Rc::new(memory), offset: 0, len, view: false }
    }

    /// A buffer over `len` bytes at `start` that someone else owns, valid
    /// until the loan returned with it is dropped (its slices too).
    ///
    /// # Safety
    /// The bytes must stay valid for reads and writes, and be used by
    /// nothing else, until the `Loan` is dropped.
    pub unsafe fn lend(lua: &Lua, start: *mut u8, len: usize) -> Result<(AnyUserData, Loan)> {
        let buffer = Buffer::whole(Memory { start, len, owned: false, live: Cell::new(true) });
        let loan = Loan(buffer.memory.clone());
        Ok((lua.create_userdata(buffer)?, loan))
    }

    pub fn own(lua: &Lua, bytes: Vec<u8>) -> Result<AnyUserData> {
        lua.create_userdata(Buffer::whole(Memory::owned(bytes)))
    }

    /// The first byte and the length, or the error of a released buffer.
    fn span(&self) -> Result<(*mut u8, usize)> {
        if !self.memory.live.get() {
            return fail(RELEASED);
        }
        // SAFETY: `offset + len <= memory.len` (a view is cut inside its
        // parent), so the pointer stays inside the memory or one past it.
        Ok((unsafe { self.memory.start.add(self.offset) }, self.len))
    }

    /// The bytes, for a Rust caller that neither calls Lua nor makes a Lua
    /// value while it holds them (making one can run a garbage-collector
    /// finalizer, which is Lua code): copy them first to make a string.
    pub fn bytes(&self) -> Result<&[u8]> {
        let (start, len) = self.span()?;
        // SAFETY: the memory is live (checked by `span`): owned memory lives
        // as long as `self.memory`, lent memory until `release`, which runs
        // after the callback that lent it, when no Rust borrow of a buffer
        // is left. Only Lua code writes to the bytes (`buf[i] = n`, `copy`,
        // an FFI store through `ctype`), and by this function's contract no
        // Lua code runs while the slice is held.
        Ok(unsafe { std::slice::from_raw_parts(start, len) })
    }

    /// The part `from..from + len` of this buffer (0-based, inside it),
    /// sharing its memory.
    fn view(&self, from: usize, len: usize) -> Buffer {
        Buffer { memory: self.memory.clone(), offset: self.offset + from, len, view: true }
    }

    /// `slice(i, j)`: bytes `i` to `j` (1-based, inclusive), inside the
    /// buffer, as the original requires; `j = i - 1` is an empty slice.
    fn slice(&self, i: Option<i64>, j: Option<i64>) -> Result<Buffer> {
        self.span()?;
        let len = self.len as i64;
        let (i, j) = (i.unwrap_or(1), j.unwrap_or(len));
        if i < 1 || j > len || j < i - 1 {
            return fail(format!("slice({i}, {j}) is outside the buffer (1 to {len})"));
        }
        Ok(self.view((i - 1) as usize, (j - i + 1) as usize))
    }

    /// Copies `source` into this buffer, which must be as long.
    fn copy_from(&self, source: &Source) -> Result<()> {
        let (from, n) = source.span()?;
        let (to, len) = self.span()?;
        if n != len {
            return fail(format!("copy: the source has {n} bytes and the buffer {len}: they must be the same length"));
        }
        // SAFETY: both spans are live for `len` bytes (see `bytes`; a
        // foreign source is the program's promise, see `Foreign`), and
        // `to` is writable: memory we own, or the read buffer lent to a
        // running callback. No reference to either is held here, and
        // `ptr::copy` allows them to overlap (a buffer copied into a slice
        // of itself).
        unsafe { std::ptr::copy(from, to, len) };
        Ok(())
    }

    /// What `tostring` says: the original's format, flags included.
    fn describe(&self) -> std::result::Result<String, OutOfMemory> {
        let Ok(bytes) = self.bytes() else { return Ok("<Buffer [released]>".to_string()) };
        // The original's flags: created (it allocated the bytes), managed
        // (it frees them), safe (something keeps them alive).
        let flags = match (self.memory.owned, self.view) {
            (true, false) => "created:1,managed:1,safe:1",
            (true, true) => "created:0,managed:0,safe:1",
            (false, _) => "created:0,managed:0,safe:0",
        };
        let mut text = String::new();
        // Three characters a byte, and the frame (less than 64): written with
        // no reallocation, which could fail where this reservation did not.
        text.try_reserve_exact(bytes.len().saturating_mul(3).saturating_add(64))?;
        text.push_str("<Buffer [");
        text.push_str(flags);
        text.push_str("] ");
        for (n, byte) in bytes.iter().enumerate() {
            let gap = if n == 0 { "" } else { " " };
            let _ = write!(text, "{gap}{byte:02x}");
        }
        text.push('>');
        Ok(text)
    }
}

/// A buffer object of the original's `buffer` module, read for the
/// duration of one call: `len` bytes at `start`.
pub struct Foreign {
    start: *const u8,
    len: usize,
    /// The object, held while its bytes are read: its `ctype` (or a `ref`
    /// field) is what keeps them allocated.
    _object: Table,
}

impl Foreign {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: nothing can check an FFI pointer; as with
        // `ffi.string(ptr, len)`, the program promises that `ctype` points
        // at `length` readable bytes, which the original's buffers keep
        // allocated for as long as the object lives (`_object` holds it).
        // The bytes are read only during the call that made this `Foreign`
        // (`write` copies what it queues). `start` is not null (checked in
        // `foreign`).
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }
}

/// Why a value is not bytes to read.
pub enum Refusal {
    /// Not a kind of value that holds bytes: its type.
    Type(&'static str),
    /// A buffer object whose `ctype` or `length` is wrong: what is wrong.
    Object(String),
}

impl Refusal {
    /// The text between the parentheses of a bad-argument error.
    pub fn explain(&self, expected: &str) -> String {
        match self {
            Refusal::Type(got) => format!("{expected} expected, got {got}"),
            Refusal::Object(why) => why.clone(),
        }
    }

    /// The error of argument `i` of `name`, which should have been bytes.
    pub fn raise<T>(&self, i: usize, name: &str, expected: &str) -> Result<T> {
        fail(format!("bad argument #{i} to '{name}' ({})", self.explain(expected)))
    }
}

/// A value read as bytes: a string (or number), one of our buffers, or a
/// buffer object of the original's `buffer` module.
pub enum Source {
    Text(BorrowedBytes),
    Buffer(UserDataRef<Buffer>),
    Foreign(Foreign),
}

impl Source {
    /// `value` as bytes, or why it cannot be read as bytes (for the caller
    /// to word as its own error).
    pub fn of(lua: &Lua, value: Value) -> Result<std::result::Result<Source, Refusal>> {
        Ok(Ok(match value {
            Value::String(s) => Source::Text(s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => match lua.coerce_string(value)? {
                Some(s) => Source::Text(s.as_bytes()),
                None => return Ok(Err(Refusal::Type("number"))),
            },
            Value::UserData(u) => match u.borrow::<Buffer>() {
                Ok(buffer) => Source::Buffer(buffer),
                Err(_) => return Ok(Err(Refusal::Type("userdata"))),
            },
            Value::Table(object) => match object.get::<Value>("ctype")? {
                Value::Nil => return Ok(Err(Refusal::Type("table"))),
                ctype => match foreign(lua, object, ctype)? {
                    Ok(foreign) => Source::Foreign(foreign),
                    Err(why) => return Ok(Err(Refusal::Object(why))),
                },
            },
            other => return Ok(Err(Refusal::Type(crate::core::boundary::lua_type_name(&other)))),
        }))
    }

    /// The bytes, for a caller that makes no Lua call while it reads them.
    pub fn bytes(&self) -> Result<&[u8]> {
        match self {
            Source::Text(bytes) => Ok(bytes),
            Source::Buffer(buffer) => buffer.bytes(),
            Source::Foreign(foreign) => Ok(foreign.bytes()),
        }
    }

    /// The first byte and the length, without a reference to them (what
    /// `copy` needs: the source may overlap the buffer it writes).
    fn span(&self) -> Result<(*const u8, usize)> {
        match self {
            Source::Text(bytes) => Ok((bytes.as_ptr(), bytes.len())),
            Source::Buffer(buffer) => buffer.span().map(|(start, len)| (start as *const u8, len)),
            Source::Foreign(foreign) => Ok((foreign.start, foreign.len)),
        }
    }
}

/// True if `table` is a buffer object of the original's `buffer` module
/// (it has a `ctype`), not an array.
pub fn is_buffer_object(table: &Table) -> Result<bool> {
    Ok(table.get::<Value>("ctype")? != Value::Nil)
}

/// The functions of LuaJIT's `ffi` library the buffers use, and the ctypes
/// they convert to, made once per Lua state.
fn ffi(lua: &Lua) -> Result<Table> {
    const KEY: &str = "async.buffer.ffi";
    if let Ok(parts) = lua.named_registry_value::<Table>(KEY) {
        return Ok(parts);
    }
    let library: Table = lua.globals().get::<Function>("require")?.call("ffi")?;
    let type_of: Function = library.get("typeof")?;
    let parts = lua.create_table()?;
    for name in ["cast", "gc", "new"] {
        parts.raw_set(name, library.get::<Function>(name)?)?;
    }
    parts.raw_set("bytes", type_of.call::<Value>("unsigned char *")?)?;
    parts.raw_set("pointer", type_of.call::<Value>("const void *")?)?;
    parts.raw_set("address", type_of.call::<Value>("uintptr_t")?)?;
    parts.raw_set("tonumber", lua.globals().get::<Function>("tonumber")?)?;
    lua.set_named_registry_value(KEY, &parts)?;
    Ok(parts)
}

/// The largest integer a double holds exactly: an address or a length
/// read through `tonumber` is exact below it.
const EXACT: f64 = 9007199254740992.0;

/// A whole number in 0..2^53 (a length, an address), if `n` is one.
fn count(n: f64) -> Option<usize> {
    (n.fract() == 0.0 && (0.0..EXACT).contains(&n)).then_some(n as usize)
}

/// The address a cdata pointer or array points at, or why it has none.
///
/// `lua_topointer` cannot say it: on a cdata it gives the address of the
/// cdata's own payload, which for a pointer holds the address wanted but
/// for an array is the array. So we ask the `ffi` library, in Lua terms:
/// `ffi.new('const void *', p)` converts the way an assignment does,
/// which accepts exactly pointers and arrays (an array becomes the
/// address of its first element; a struct its address) and refuses
/// integers, numbers as ctypes and the like with "cannot convert";
/// `ffi.cast('uintptr_t', ...)` makes that address an integer cdata, and
/// `tonumber` a Lua number, exact for every user-space address (they are
/// below 2^48, far under 2^53).
fn address(lua: &Lua, ctype: &Value) -> Result<std::result::Result<usize, String>> {
    let parts = ffi(lua)?;
    let new: Function = parts.raw_get("new")?;
    let pointer = match new.call::<Value>((parts.raw_get::<Value>("pointer")?, ctype)) {
        Ok(pointer) => pointer,
        Err(_) => {
            let shown = ctype.to_string()?;
            let kind = shown.split(':').next().unwrap_or("cdata");
            return Ok(Err(format!("a buffer's ctype must be an FFI pointer or array, got {kind}")));
        }
    };
    let cast: Function = parts.raw_get("cast")?;
    let integer: Value = cast.call((parts.raw_get::<Value>("address")?, pointer))?;
    let number: f64 = parts.raw_get::<Function>("tonumber")?.call(integer)?;
    Ok(count(number).ok_or_else(|| "a buffer's ctype points outside the address space".to_string()))
}

/// A table with a `ctype` read as the original's buffer object, or what
/// is wrong with it.
fn foreign(lua: &Lua, object: Table, ctype: Value) -> Result<std::result::Result<Foreign, String>> {
    let length = object.get::<Value>("length")?;
    let len = match &length {
        Value::Integer(n) => usize::try_from(*n).ok(),
        Value::Number(n) => count(*n),
        // A 64-bit integer cdata: as a number.
        Value::Other(_) => ffi(lua)?.raw_get::<Function>("tonumber")?.call::<Option<f64>>(&length)?.and_then(count),
        _ => None,
    };
    let Some(len) = len.filter(|&len| len <= isize::MAX as usize) else {
        let got = match length {
            Value::Nil => "nil".to_string(),
            Value::Integer(_) | Value::Number(_) => length.to_string()?,
            other => crate::core::boundary::lua_type_name(&other).to_string(),
        };
        return Ok(Err(format!("a buffer's length must be a whole number of bytes, got {got}")));
    };
    if len == 0 {
        return Ok(Ok(Foreign { start: std::ptr::NonNull::dangling().as_ptr(), len, _object: object }));
    }
    let start = match &ctype {
        Value::LightUserData(pointer) => pointer.0 as usize,
        Value::Other(_) => match address(lua, &ctype)? {
            Ok(start) => start,
            Err(why) => return Ok(Err(why)),
        },
        other => {
            return Ok(Err(format!(
                "a buffer's ctype must be an FFI pointer or array, got {}",
                crate::core::boundary::lua_type_name(other)
            )));
        }
    };
    if start == 0 {
        return Ok(Err("a buffer's ctype is a NULL pointer".to_string()));
    }
    if start.checked_add(len).is_none() {
        return Ok(Err("a buffer's length runs past the end of the address space".to_string()));
    }
    Ok(Ok(Foreign { start: start as *const u8, len, _object: object }))
}

/// The `ctype` of a buffer: an FFI `unsigned char *` to its first byte.
fn ctype(lua: &Lua, buffer: &Buffer) -> Result<Value> {
    let (start, _) = buffer.span()?;
    let parts = ffi(lua)?;
    let cast: Function = parts.raw_get("cast")?;
    let pointer: Value = cast.call((parts.raw_get::<Value>("bytes")?, LightUserData(start as *mut c_void)))?;
    if !buffer.memory.owned {
        // The read buffer: valid during the callback, like the buffer.
        return Ok(pointer);
    }
    // The pointer holds the memory: its finalizer (`ffi.gc`) is a function
    // that owns a reference to it, dropped when the pointer is collected.
    let memory = buffer.memory.clone();
    let keep = boundary::internal(lua, move |_, _: MultiValue| {
        let _held = &memory;
        Ok(())
    })?;
    parts.raw_get::<Function>("gc")?.call((pointer, keep))
}

/// A whole number argument (a position), if given.
fn position(args: &Args, i: usize) -> Result<Option<i64>> {
    match args.opt_number(i)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && n.abs() < EXACT => Ok(Some(n as i64)),
        Some(_) => fail(format!("bad argument #{i} to '{}' (number has no integer representation)", args.name())),
    }
}

/// The buffer `value` is, or the error of a method called on something
/// else (`buf.toString(42)` where `buf:toString()` was meant).
fn buffer_of(args: &Args, value: Value) -> Result<UserDataRef<Buffer>> {
    let got = crate::core::boundary::lua_type_name(&value);
    if let Value::UserData(u) = value
        && let Ok(buffer) = u.borrow::<Buffer>()
    {
        return Ok(buffer);
    }
    fail(boundary::bad_argument(1, args.name(), "buffer", got))
}

/// A method of buffers (called with a colon: the buffer is bound, and
/// argument 1 is the first after it), made at the boundary so that its
/// errors are plain strings at the caller's line.
fn method<R: IntoLuaMulti>(
    lua: &Lua,
    name: &'static str,
    f: impl Fn(&Lua, &Buffer, &Args) -> Result<R> + 'static,
) -> Result<Function> {
    let raw = boundary::raw_function(lua, name, 1, move |lua, args| f(lua, &*buffer_of(&args, args.bound())?, &args))?;
    boundary::wrap(lua, raw)
}

/// A metamethod of buffers: argument 1 is the buffer.
fn meta<R: IntoLuaMulti>(
    lua: &Lua,
    name: &'static str,
    f: impl Fn(&Lua, &Buffer, &Args) -> Result<R> + 'static,
) -> Result<Function> {
    boundary::function(lua, name, move |lua, args| f(lua, &*buffer_of(&args, args.get(1))?, &args))
}

/// `buf:find(s[, init])`: where `s` (a string or buffer) first occurs at
/// or after `init` (as `string.find` counts it), or nil.
fn find(lua: &Lua, this: &Buffer, args: &Args) -> Result<Option<usize>> {
    let needle = match Source::of(lua, args.get(1))? {
        Ok(source) => source,
        Err(why) => return why.raise(1, "find", "string or buffer"),
    };
    let haystack = this.bytes()?;
    let len = haystack.len() as i64;
    let init = match position(args, 2)?.unwrap_or(1) {
        i if i < 0 => (len + i + 1).max(1),
        0 => 1,
        i => i,
    };
    if init > len + 1 {
        return Ok(None);
    }
    let from = (init - 1) as usize;
    Ok(memchr::memmem::find(&haystack[from..], needle.bytes()?).map(|at| from + at + 1))
}

/// `buf:split([sep])`: the slices between occurrences of `sep` (a string
/// or buffer, `' '` by default), empty ones left out as in the original.
fn split(lua: &Lua, this: &Buffer, args: &Args) -> Result<Vec<Buffer>> {
    let given = match args.get(1) {
        Value::Nil => None,
        value => match Source::of(lua, value)? {
            Ok(source) => Some(source),
            Err(why) => return why.raise(1, "split", "string or buffer"),
        },
    };
    let separator = match &given {
        Some(source) => source.bytes()?,
        None => b" ",
    };
    if separator.is_empty() {
        return fail("split: the separator must not be empty");
    }
    let bytes = this.bytes()?;
    let mut pieces = Vec::new();
    let mut start = 0;
    for at in memchr::memmem::find_iter(bytes, separator) {
        if at < start {
            continue;
        }
        if at > start {
            pieces.push(this.view(start, at - start));
        }
        start = at + separator.len();
    }
    if start < bytes.len() {
        pieces.push(this.view(start, bytes.len() - start));
    }
    Ok(pieces)
}

/// `buf:toString([i[, j]])`: bytes `i` to `j` as a string, counted as
/// `string.sub` counts (negative from the end, clamped to the buffer).
fn to_string(lua: &Lua, this: &Buffer, args: &Args) -> Result<mlua::LuaString> {
    let bytes = this.bytes()?;
    let len = bytes.len() as i64;
    let from_end = |n: i64| if n < 0 { len + n + 1 } else { n };
    let i = from_end(position(args, 1)?.unwrap_or(1)).max(1);
    let j = from_end(position(args, 2)?.unwrap_or(-1)).min(len);
    // Copied out first: making the string may run Lua code (see `bytes`).
    let part = if i > j { Vec::new() } else { memory::copy(&bytes[(i - 1) as usize..j as usize])? };
    lua.create_string(part)
}

/// The original's integer readers: `readUInt16LE(offset)` and the like,
/// `offset` 1-based.
const READERS: &[(&str, usize, bool, bool)] = &[
    // (name, bytes, signed, big-endian)
    ("readUInt8", 1, false, false),
    ("readInt8", 1, true, false),
    ("readUInt16LE", 2, false, false),
    ("readUInt16BE", 2, false, true),
    ("readInt16LE", 2, true, false),
    ("readInt16BE", 2, true, true),
    ("readUInt32LE", 4, false, false),
    ("readUInt32BE", 4, false, true),
    ("readInt32LE", 4, true, false),
    ("readInt32BE", 4, true, true),
];

fn reader(lua: &Lua, name: &'static str, size: usize, signed: bool, big_endian: bool) -> Result<Function> {
    method(lua, name, move |_, this, args| {
        let bytes = this.bytes()?;
        let Some(offset) = position(args, 1)? else { return args.bad(1, "number") };
        let at = usize::try_from(offset - 1).ok().filter(|at| at + size <= bytes.len());
        let Some(at) = at else {
            return fail(format!("{name}: offset {offset} is outside the buffer ({} bytes)", bytes.len()));
        };
        let mut word = [0u8; 4];
        word[..size].copy_from_slice(&bytes[at..at + size]);
        if big_endian {
            word[..size].reverse();
        }
        let unsigned = u32::from_le_bytes(word);
        let shift = 32 - 8 * size as u32;
        Ok(if signed { f64::from(((unsigned << shift) as i32) >> shift) } else { f64::from(unsigned) })
    })
}

/// The methods, looked up by `__index`.
fn methods(lua: &Lua) -> Result<Table> {
    let methods = lua.create_table()?;
    methods.raw_set("toString", method(lua, "toString", to_string)?)?;
    methods.raw_set("clone", method(lua, "clone", |lua, this, _| Buffer::own(lua, memory::copy(this.bytes()?)?))?)?;
    methods.raw_set("pointer", method(lua, "pointer", |_, this, _| Ok(LightUserData(this.span()?.0 as *mut c_void)))?)?;
    methods.raw_set("slice", method(lua, "slice", |_, this, args| this.slice(position(args, 1)?, position(args, 2)?))?)?;
    methods.raw_set(
        "copy",
        method(lua, "copy", |lua, this, args| {
            let source = match Source::of(lua, args.get(1))? {
                Ok(source) => source,
                Err(why) => return why.raise(1, "copy", "string or buffer"),
            };
            this.copy_from(&source)?;
            Ok(args.bound())
        })?,
    )?;
    methods.raw_set("find", method(lua, "find", find)?)?;
    methods.raw_set("split", method(lua, "split", split)?)?;
    for &(name, size, signed, big_endian) in READERS {
        methods.raw_set(name, reader(lua, name, size, signed, big_endian)?)?;
    }
    Ok(methods)
}

/// The slice a `{i, j}` key names (`buf[{2, 4}]`).
fn slice_by_key(this: &Buffer, key: &Table) -> Result<Buffer> {
    let bound = |n: usize| -> Result<Option<i64>> {
        match key.raw_get::<Value>(n)? {
            Value::Nil => Ok(None),
            Value::Integer(i) => Ok(Some(i)),
            Value::Number(x) if x.fract() == 0.0 && x.abs() < EXACT => Ok(Some(x as i64)),
            other => fail(format!(
                "a slice key is {{i, j}} with whole numbers, got {} at [{n}]",
                crate::core::boundary::lua_type_name(&other)
            )),
        }
    };
    this.slice(bound(1)?, bound(2)?)
}

/// A byte position read as a key (`buf[3]`): 0-based, if it is a whole
/// number inside the buffer.
fn byte_index(this: &Buffer, key: &Value) -> Option<usize> {
    let n = match key {
        Value::Integer(i) => *i as f64,
        Value::Number(x) => *x,
        _ => return None,
    };
    (n.fract() == 0.0 && n >= 1.0 && n <= this.len as f64).then(|| n as usize - 1)
}

fn index(lua: &Lua) -> Result<Function> {
    let methods = methods(lua)?;
    meta(lua, "__index", move |lua, this, args| {
        let key = args.get(2);
        match &key {
            Value::String(name) => match &*name.as_bytes() {
                b"length" => Ok(Value::Integer(this.span()?.1 as i64)),
                b"ctype" => ctype(lua, this),
                _ => methods.raw_get(key.clone()),
            },
            Value::Integer(_) | Value::Number(_) => {
                let bytes = this.bytes()?;
                Ok(byte_index(this, &key).map_or(Value::Nil, |at| Value::Integer(i64::from(bytes[at]))))
            }
            Value::Table(range) => Ok(Value::UserData(lua.create_userdata(slice_by_key(this, range)?)?)),
            _ => Ok(Value::Nil),
        }
    })
}

fn new_index(lua: &Lua) -> Result<Function> {
    meta(lua, "__newindex", |lua, this, args| {
        let (key, value) = (args.get(2), args.get(3));
        match &key {
            Value::Integer(_) | Value::Number(_) => {
                let (start, len) = this.span()?;
                let Some(at) = byte_index(this, &key) else {
                    return fail(format!("index {} is outside the buffer (1 to {len})", key.to_string()?));
                };
                let byte = match value {
                    // Stored as C stores a number in an unsigned char.
                    Value::Integer(n) => n as u8,
                    Value::Number(x) => (x as i64) as u8,
                    other => {
                        return fail(format!(
                            "a buffer's byte must be a number, got {}",
                            crate::core::boundary::lua_type_name(&other)
                        ));
                    }
                };
                // SAFETY: `at < len` and the span is live and writable
                // (owned memory, or the read buffer lent to this callback);
                // no reference to these bytes is held.
                unsafe { start.add(at).write(byte) };
                Ok(())
            }
            Value::Table(range) => match Source::of(lua, value)? {
                Ok(source) => slice_by_key(this, range)?.copy_from(&source),
                Err(why) => fail(format!("a buffer slice takes {}", why.explain("a string or buffer"))),
            },
            _ => fail(format!("cannot set '{}' on a buffer: it holds bytes only (buf[i] = n)", key.to_string()?)),
        }
    })
}

/// `a .. b` with a buffer on either side: a new buffer of both.
fn concat(lua: &Lua) -> Result<Function> {
    boundary::function(lua, "..", |lua, args| {
        let mut sources = Vec::with_capacity(2);
        for value in [args.get(1), args.get(2)] {
            match Source::of(lua, value)? {
                Ok(source) => sources.push(source),
                Err(why) => return fail(format!("attempt to concatenate a buffer: {}", why.explain("string or buffer"))),
            }
        }
        let joined = memory::join(&[sources[0].bytes()?, sources[1].bytes()?])?;
        Buffer::own(lua, joined)
    })
}

impl UserData for Buffer {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        // Every metamethod is a boundary function: mlua's own methods would
        // raise its error objects, not strings at the caller's line.
        fields.add_meta_field_with("__index", index);
        fields.add_meta_field_with("__newindex", new_index);
        fields.add_meta_field_with("__len", |lua| meta(lua, "__len", |_, this, _| Ok(this.span()?.1)));
        fields.add_meta_field_with("__tostring", |lua| meta(lua, "tostring", |_, this, _| Ok(this.describe()?)));
        fields.add_meta_field_with("__concat", concat);
    }
}
