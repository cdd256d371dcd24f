//! `async.fs`: the file system in callback style: `cb(result, err)`, or
//! `cb(err)` for operations that give nothing (close, write, mkdir, ...).
//!
//! Single operations (open, read, write, stat, mkdir, ...) are libuv file
//! requests: one `Request<uv_fs_t, Op>` each, whose completion turns
//! libuv's result into Lua values and calls the callback once, on every
//! path. A write libuv completed only in part is continued until every
//! byte is written.
//!
//! Whole-file operations (`readFile`, `writeFile`, `appendFile`) are one
//! job each on libuv's thread pool (`uv_queue_work`): the worker opens,
//! sizes, reads or writes and closes the file with `std::fs`, so a file
//! costs one trip to the pool instead of four. The worker touches only
//! the job's plain data (path, bytes, outcome), never Lua. A file of 16 MiB
//! or more is read in parts by short-lived helper threads, one per CPU (at
//! most four), and its buffer is freed on the pool once Lua has its copy.
//!
//! Errors are libuv's words with the path: `ENOENT: no such file or
//! directory "/x"`. Wrong arguments (not a string, an unknown flag) raise
//! at the call; failures of the operation itself always go to the callback.
//!
//! May touch: libuv fs and work requests, the file system (through libuv,
//! or `std::fs` inside a pool job and its helper threads), the registry
//! (callbacks), the timer queue (to report a request libuv refused to
//! start on the next turn).

use std::ffi::{CStr, CString, OsString, c_char, c_int};
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use libuv_sys2 as uv;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::errors::{UvError, uv_message};
use crate::core::uv_request::{Callback, Request};
use crate::core::runtime::Runtime;

/// `fs.bufferSize`: the length `fs.read` reads when given none.
const BUFFER_SIZE: i64 = 1024;

/// Where an operation failed, for its error message.
enum Place {
    Nowhere,
    Path(String),
    /// A source and a destination (rename, symlink, copyFile).
    Pair(String, String),
}

impl Place {
    fn message(&self, code: c_int) -> String {
        match self {
            Place::Nowhere => uv_message(code, None),
            Place::Path(path) => uv_message(code, Some(path)),
            Place::Pair(from, to) => format!("{} -> \"{}\"", uv_message(code, Some(from)), to),
        }
    }
}

/// What a successful operation gives its callback.
#[derive(Clone, Copy, PartialEq)]
enum Gives {
    /// `cb(nil)`; `cb(err)` on failure.
    Nothing,
    /// Like `Nothing`, for writes, which continue until all is written.
    Written,
    Fd,
    Data,
    Stats,
    Names,
    Entries,
    /// The string libuv leaves at `req.ptr` (readlink, realpath).
    Text,
    /// The path libuv filled in (mkdtemp).
    FilledPath,
    /// `cb(true)` or `cb(false)`, never an error.
    Exists,
}

/// The values a callback gets for a failure.
fn failure_values(lua: &Lua, gives: Gives, message: String) -> Result<MultiValue> {
    match gives {
        Gives::Nothing | Gives::Written => message.into_lua_multi(lua),
        Gives::Exists => false.into_lua_multi(lua),
        _ => (Value::Nil, message).into_lua_multi(lua),
    }
}

/// Calls `callback` with a failure on the next turn of the loop: for a
/// request libuv refused to start (the caller must not be called back
/// from inside its own call).
fn fail_later(rt: &Runtime, callback: Callback, gives: Gives, message: String) {
    let Some(lua) = rt.lua() else { return };
    let deferred = (|| {
        let f = callback.into_function(&lua)?;
        Runtime::call_later(&lua, f, failure_values(&lua, gives, message)?)
    })();
    if let Err(error) = deferred {
        rt.dispatch(|| Err(error));
    }
}

/// One file request in flight: its callback and what its completion
/// needs.
struct Op {
    callback: Option<Callback>,
    place: Place,
    gives: Gives,
    /// The bytes a read fills or a write sends; libuv points into them,
    /// and they live in the request until it completes.
    bytes: Vec<u8>,
    /// How many bytes of a write are written.
    written: usize,
    fd: c_int,
    /// The file offset of a write, -1 for the descriptor's position.
    offset: i64,
}

impl Op {
    fn new(callback: Callback, place: Place, gives: Gives) -> Op {
        Op { callback: Some(callback), place, gives, ..Op::empty() }
    }

    fn empty() -> Op {
        Op { callback: None, place: Place::Nowhere, gives: Gives::Nothing, bytes: Vec::new(), written: 0, fd: -1, offset: -1 }
    }

    /// The op, leaving an empty one in its place.
    fn take(&mut self) -> Op {
        std::mem::replace(self, Op::empty())
    }
}

type FsRequest = Request<uv::uv_fs_t, Op>;

/// A completed file request, taken back from libuv. Dropping it frees what
/// libuv allocated for it (`uv_fs_req_cleanup`), then the request itself.
struct Completed(Box<FsRequest>);

impl Drop for Completed {
    fn drop(&mut self) {
        // SAFETY: a `Completed` is made only in the completion callback, so
        // libuv is done with the request; cleanup frees libuv's own copies
        // (path, buffers list, readlink/scandir results), which nothing
        // uses after this.
        unsafe { uv::uv_fs_req_cleanup(self.0.raw_mut()) }
    }
}

/// Starts a file request; `call` makes the libuv call with the loop and the
/// request. If libuv refuses it, the callback gets the error on the next
/// turn of the loop.
fn start(rt: &Runtime, op: Op, call: impl FnOnce(*mut uv::uv_loop_t, *mut uv::uv_fs_t) -> c_int) {
    let uv_loop = rt.uv_loop();
    if let Err((rc, mut op)) = FsRequest::start(op, |req| call(uv_loop, req))
        && let Some(callback) = op.callback.take() {
            fail_later(rt, callback, op.gives, op.place.message(rc));
        }
}

/// Starts a file request from a Lua call, with `callback` to be called
/// with what `gives` says.
fn submit(
    lua: &Lua,
    callback: Function,
    place: Place,
    gives: Gives,
    call: impl FnOnce(*mut uv::uv_loop_t, *mut uv::uv_fs_t) -> c_int,
) -> Result<()> {
    let rt = Runtime::of(lua)?;
    let op = Op::new(Callback::new(lua, callback)?, place, gives);
    start(&rt, op, call);
    Ok(())
}

/// Writes what is left of a write's bytes.
fn write_rest(rt: &Runtime, op: Op) {
    let rest = &op.bytes[op.written..];
    let buf = uv::uv_buf_t { base: rest.as_ptr() as *mut c_char, len: rest.len() };
    let (fd, offset) = (op.fd, op.offset);
    start(rt, op, |uv_loop, req| {
        // SAFETY: `req` is fresh and lives until `on_done`; `buf` points
        // into the op's bytes, a heap block that moves with the op into the
        // request and stays there until completion; libuv copies the
        // one-entry buffer list itself.
        unsafe { uv::uv_fs_write(uv_loop, req, fd, &buf, 1, offset, Some(on_done)) }
    });
}

extern "C" fn on_done(req: *mut uv::uv_fs_t) {
    // SAFETY: every file request is started by `start` with this
    // completion callback; libuv calls it once, now.
    let mut done = Completed(unsafe { FsRequest::finish(req) });
    // SAFETY: the request's loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop(done.0.raw().loop_) };
    let result = done.0.raw().result;
    let mut failure = (result < 0).then_some(result as c_int);
    let op = &mut done.0.state;
    if op.gives == Gives::Written && result >= 0 {
        op.written += result as usize;
        if op.written < op.bytes.len() {
            if result == 0 {
                // No progress: report it rather than retry forever.
                failure = Some(uv::uv_errno_t_UV_EIO);
            } else {
                if op.offset >= 0 {
                    op.offset += result as i64;
                }
                let op = op.take();
                drop(done);
                return write_rest(rt, op);
            }
        }
    }
    let Some(callback) = op.callback.take() else { return };
    callback.call(rt, |lua| match failure {
        Some(code) => failure_values(lua, done.0.state.gives, done.0.state.place.message(code)),
        None => success_values(lua, &mut done),
    });
}

/// The values a callback gets for a successful request.
fn success_values(lua: &Lua, done: &mut Completed) -> Result<MultiValue> {
    let result = done.0.raw().result;
    match done.0.state.gives {
        Gives::Nothing | Gives::Written => Ok(MultiValue::new()),
        Gives::Exists => true.into_lua_multi(lua),
        Gives::Fd => (result as i64).into_lua_multi(lua),
        Gives::Data => lua.create_string(&done.0.state.bytes[..result as usize])?.into_lua_multi(lua),
        Gives::Stats => stats_table(lua, &done.0.raw().statbuf)?.into_lua_multi(lua),
        Gives::Text => c_string(lua, done.0.raw().ptr as *const c_char)?.into_lua_multi(lua),
        Gives::FilledPath => c_string(lua, done.0.raw().path)?.into_lua_multi(lua),
        Gives::Names | Gives::Entries => directory(lua, done)?.into_lua_multi(lua),
    }
}

/// A Lua string of a C string libuv left in a completed request.
fn c_string(lua: &Lua, s: *const c_char) -> Result<Value> {
    if s.is_null() {
        return Ok(Value::Nil);
    }
    // SAFETY: a non-null result string of a completed request is a C
    // string libuv owns until uv_fs_req_cleanup, which runs after this.
    Ok(Value::String(lua.create_string(unsafe { CStr::from_ptr(s) }.to_bytes())?))
}

fn dirent_type(t: uv::uv_dirent_type_t) -> &'static str {
    match t {
        uv::uv_dirent_type_t_UV_DIRENT_FILE => "file",
        uv::uv_dirent_type_t_UV_DIRENT_DIR => "directory",
        uv::uv_dirent_type_t_UV_DIRENT_LINK => "link",
        uv::uv_dirent_type_t_UV_DIRENT_FIFO => "fifo",
        uv::uv_dirent_type_t_UV_DIRENT_SOCKET => "socket",
        uv::uv_dirent_type_t_UV_DIRENT_CHAR => "char",
        uv::uv_dirent_type_t_UV_DIRENT_BLOCK => "block",
        _ => "unknown",
    }
}

/// The entries of a completed scandir, sorted by name: names only, or
/// `{name=, type=}` tables.
fn directory(lua: &Lua, done: &mut Completed) -> Result<Table> {
    let mut entries: Vec<(Vec<u8>, uv::uv_dirent_type_t)> = Vec::new();
    loop {
        // SAFETY: zeroed is a valid empty dirent for scandir_next to fill.
        let mut entry: uv::uv_dirent_t = unsafe { std::mem::zeroed() };
        // SAFETY: the request is a completed scandir, not yet cleaned up;
        // the name it gives is valid until the next call, and copied here.
        let rc = unsafe { uv::uv_fs_scandir_next(done.0.raw_mut(), &mut entry) };
        if rc < 0 || entry.name.is_null() {
            break;
        }
        // SAFETY: as above.
        entries.push((unsafe { CStr::from_ptr(entry.name) }.to_bytes().to_vec(), entry.type_));
    }
    entries.sort();
    let list = lua.create_table_with_capacity(entries.len(), 0)?;
    let typed = done.0.state.gives == Gives::Entries;
    for (i, (name, kind)) in entries.into_iter().enumerate() {
        let name = lua.create_string(name)?;
        if typed {
            let entry = lua.create_table_with_capacity(0, 2)?;
            entry.raw_set("name", name)?;
            entry.raw_set("type", dirent_type(kind))?;
            list.raw_set(i + 1, entry)?;
        } else {
            list.raw_set(i + 1, name)?;
        }
    }
    Ok(list)
}

/// The contract's stats table.
fn stats_table(lua: &Lua, s: &uv::uv_stat_t) -> Result<Table> {
    let t = lua.create_table_with_capacity(0, 20)?;
    let numbers = [
        ("dev", s.st_dev),
        ("ino", s.st_ino),
        ("mode", s.st_mode),
        ("nlink", s.st_nlink),
        ("uid", s.st_uid),
        ("gid", s.st_gid),
        ("rdev", s.st_rdev),
        ("size", s.st_size),
        ("blksize", s.st_blksize),
        ("blocks", s.st_blocks),
    ];
    for (key, value) in numbers {
        t.raw_set(key, value as i64)?;
    }
    for (key, time) in [("atime", &s.st_atim), ("mtime", &s.st_mtim), ("ctime", &s.st_ctim), ("birthtime", &s.st_birthtim)] {
        t.raw_set(key, time.tv_sec)?;
    }
    let kind = s.st_mode as libc::mode_t & libc::S_IFMT;
    let kinds = [
        ("is_file", libc::S_IFREG),
        ("is_directory", libc::S_IFDIR),
        ("is_character_device", libc::S_IFCHR),
        ("is_block_device", libc::S_IFBLK),
        ("is_fifo", libc::S_IFIFO),
        ("is_symbolic_link", libc::S_IFLNK),
        ("is_socket", libc::S_IFSOCK),
    ];
    for (key, bits) in kinds {
        t.raw_set(key, kind == bits)?;
    }
    Ok(t)
}

// --- arguments -------------------------------------------------------------

/// A path argument: the C string for libuv and its text for messages.
fn path_arg(args: &Args, i: usize) -> Result<(CString, String)> {
    let s = args.string(i)?;
    let bytes = s.as_bytes().to_vec();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match CString::new(bytes) {
        Ok(c) => Ok((c, text)),
        Err(_) => args.bad(i, "path without zero bytes"),
    }
}

fn whole_number(args: &Args, i: usize, what: &str) -> Result<i64> {
    let n = args.number(i)?;
    if n.fract() != 0.0 || n < 0.0 || n > i64::MAX as f64 {
        return args.bad(i, what);
    }
    Ok(n as i64)
}

fn fd_arg(args: &Args, i: usize) -> Result<c_int> {
    let fd = whole_number(args, i, "file descriptor")?;
    c_int::try_from(fd).or_else(|_| args.bad(i, "file descriptor"))
}

/// The callback: the first function among arguments `first..=last` (the
/// ones before it are optional). Returns its index and the function.
fn callback_arg(args: &Args, first: usize, last: usize) -> Result<(usize, Function)> {
    for i in first..=last {
        if let Value::Function(f) = args.get(i) {
            return Ok((i, f));
        }
    }
    Ok((last, args.function(last)?))
}

/// A mode: an octal string ("644") or a number; `default` when absent.
fn mode_arg(args: &Args, i: usize, default: c_int) -> Result<c_int> {
    match args.get(i) {
        Value::Nil => Ok(default),
        Value::String(s) => match u32::from_str_radix(&s.to_string_lossy(), 8) {
            Ok(mode) if mode <= 0o7777 => Ok(mode as c_int),
            _ => args.bad(i, "octal mode string"),
        },
        _ => Ok(whole_number(args, i, "mode")? as c_int),
    }
}

/// `fs.open`'s flags.
fn flags_arg(args: &Args, i: usize) -> Result<c_int> {
    let (create, truncate, append, exclusive) = (libc::O_CREAT, libc::O_TRUNC, libc::O_APPEND, libc::O_EXCL);
    let flags = match args.opt_string(i)?.map(|s| s.to_string_lossy()).as_deref().unwrap_or("r") {
        "r" => libc::O_RDONLY,
        "r+" => libc::O_RDWR,
        "w" => libc::O_WRONLY | create | truncate,
        "w+" => libc::O_RDWR | create | truncate,
        "wx" => libc::O_WRONLY | create | truncate | exclusive,
        "wx+" => libc::O_RDWR | create | truncate | exclusive,
        "a" => libc::O_WRONLY | create | append,
        "a+" => libc::O_RDWR | create | append,
        "ax" => libc::O_WRONLY | create | append | exclusive,
        "ax+" => libc::O_RDWR | create | append | exclusive,
        _ => return args.bad(i, "flags 'r', 'r+', 'w', 'w+', 'wx', 'wx+', 'a', 'a+', 'ax' or 'ax+'"),
    };
    Ok(flags)
}

// --- single operations -----------------------------------------------------

/// `fs.open(path, flags, [mode,] cb)` -> `cb(fd, err)`.
fn open(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let flags = flags_arg(&args, 2)?;
    let (at, cb) = callback_arg(&args, 3, 4)?;
    let mode = if at > 3 { mode_arg(&args, 3, 0o666)? } else { 0o666 };
    submit(lua, cb, Place::Path(text), Gives::Fd, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_open(uv_loop, req, path.as_ptr(), flags, mode, Some(on_done)) }
    })
}

/// Answers `EBADF` (on the next turn) for a descriptor of the loop or of
/// an open handle: closing, reading, writing or truncating one of those
/// under libuv would break the loop (it aborts on a closed epoll fd).
/// Returns whether it refused.
fn refused_loop_descriptor(lua: &Lua, fd: c_int, cb: &Function, gives: Gives) -> Result<bool> {
    let rt = Runtime::of(lua)?;
    if !rt.owns_descriptor(fd) {
        return Ok(false);
    }
    let message = uv_message(uv::uv_errno_t_UV_EBADF, None) + " (the descriptor belongs to the event loop)";
    fail_later(&rt, Callback::new(lua, cb.clone())?, gives, message);
    Ok(true)
}

/// `fs.close(fd, cb)` -> `cb(err)`.
fn close(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let cb = args.function(2)?;
    if refused_loop_descriptor(lua, fd, &cb, Gives::Nothing)? {
        return Ok(());
    }
    submit(lua, cb, Place::Nowhere, Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_close(uv_loop, req, fd, Some(on_done)) }
    })
}

/// `fs.read(fd, [length, [offset,]] cb)` -> `cb(data, err)`; length
/// defaults to `fs.bufferSize`, offset to the descriptor's position.
fn read(lua: &Lua, args: Args, fs: &Table) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let (at, cb) = callback_arg(&args, 2, 4)?;
    let length = match args.get(2) {
        Value::Nil | Value::Function(_) => fs.get::<Option<i64>>("bufferSize")?.unwrap_or(BUFFER_SIZE).max(0),
        _ => whole_number(&args, 2, "length")?,
    };
    let offset = if at > 3 && !args.get(3).is_nil() { whole_number(&args, 3, "offset")? } else { -1 };
    if refused_loop_descriptor(lua, fd, &cb, Gives::Data)? {
        return Ok(());
    }
    // Linux moves at most this much in one read.
    let length = length.min(0x7fff_f000) as usize;
    let rt = Runtime::of(lua)?;
    let callback = Callback::new(lua, cb)?;
    let mut bytes = Vec::new();
    if bytes.try_reserve_exact(length).is_err() {
        fail_later(&rt, callback, Gives::Data, uv_message(uv::uv_errno_t_UV_ENOMEM, None));
        return Ok(());
    }
    bytes.resize(length, 0);
    let mut op = Op::new(callback, Place::Nowhere, Gives::Data);
    op.bytes = bytes;
    let buf = uv::uv_buf_t { base: op.bytes.as_mut_ptr() as *mut c_char, len: length };
    start(&rt, op, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; `buf` points into the op's
        // bytes, a heap block that moves with the op into the request and
        // stays there until completion; libuv copies the buffer list.
        unsafe { uv::uv_fs_read(uv_loop, req, fd, &buf, 1, offset, Some(on_done)) }
    });
    Ok(())
}

/// `fs.write(fd, data, [offset,] cb)` -> `cb(err)`; without an offset,
/// successive writes land one after another.
fn write(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let data = args.string(2)?;
    let (at, cb) = callback_arg(&args, 3, 4)?;
    let offset = if at > 3 && !args.get(3).is_nil() { whole_number(&args, 3, "offset")? } else { -1 };
    if refused_loop_descriptor(lua, fd, &cb, Gives::Written)? {
        return Ok(());
    }
    let rt = Runtime::of(lua)?;
    let mut op = Op::new(Callback::new(lua, cb)?, Place::Nowhere, Gives::Written);
    op.bytes = data.as_bytes().to_vec();
    op.fd = fd;
    op.offset = offset;
    write_rest(&rt, op);
    Ok(())
}

/// `fs.stat(path, cb)` / `fs.lstat(path, cb)` -> `cb(stats, err)`.
fn stat(lua: &Lua, args: Args, link: bool) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let cb = args.function(2)?;
    submit(lua, cb, Place::Path(text), Gives::Stats, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe {
            if link {
                uv::uv_fs_lstat(uv_loop, req, path.as_ptr(), Some(on_done))
            } else {
                uv::uv_fs_stat(uv_loop, req, path.as_ptr(), Some(on_done))
            }
        }
    })
}

/// `fs.fstat(fd, cb)` -> `cb(stats, err)`.
fn fstat(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let cb = args.function(2)?;
    submit(lua, cb, Place::Nowhere, Gives::Stats, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_fstat(uv_loop, req, fd, Some(on_done)) }
    })
}

/// `fs.fsync(fd, cb)` -> `cb(err)`.
fn fsync(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let cb = args.function(2)?;
    submit(lua, cb, Place::Nowhere, Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_fsync(uv_loop, req, fd, Some(on_done)) }
    })
}

/// `fs.ftruncate(fd, [length,] cb)` -> `cb(err)`; length defaults to 0.
fn ftruncate(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let (at, cb) = callback_arg(&args, 2, 3)?;
    let length = if at > 2 && !args.get(2).is_nil() { whole_number(&args, 2, "length")? } else { 0 };
    if refused_loop_descriptor(lua, fd, &cb, Gives::Nothing)? {
        return Ok(());
    }
    submit(lua, cb, Place::Nowhere, Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_ftruncate(uv_loop, req, fd, length, Some(on_done)) }
    })
}

/// The operations that take one path and a callback and give nothing or
/// one value: unlink, rmdir, readdir, scandir, readlink, realpath, exists.
fn one_path(lua: &Lua, args: Args, gives: Gives, call: unsafe extern "C" fn(*mut uv::uv_loop_t, *mut uv::uv_fs_t, *const c_char, uv::uv_fs_cb) -> c_int) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let cb = args.function(2)?;
    submit(lua, cb, Place::Path(text), gives, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { call(uv_loop, req, path.as_ptr(), Some(on_done)) }
    })
}

/// `uv_fs_scandir` with no flags, in the shape `one_path` calls.
unsafe extern "C" fn scandir_call(l: *mut uv::uv_loop_t, req: *mut uv::uv_fs_t, path: *const c_char, cb: uv::uv_fs_cb) -> c_int {
    // SAFETY: the caller's contract is uv_fs_scandir's.
    unsafe { uv::uv_fs_scandir(l, req, path, 0, cb) }
}

/// `uv_fs_access` for existence, in the shape `one_path` calls.
unsafe extern "C" fn exists_call(l: *mut uv::uv_loop_t, req: *mut uv::uv_fs_t, path: *const c_char, cb: uv::uv_fs_cb) -> c_int {
    // SAFETY: the caller's contract is uv_fs_access's.
    unsafe { uv::uv_fs_access(l, req, path, libc::F_OK, cb) }
}

/// `fs.access(path, [mode,] cb)` -> `cb(err)`; mode letters among "rwx",
/// or none to test existence.
fn access(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let (at, cb) = callback_arg(&args, 2, 3)?;
    let mut mode = libc::F_OK;
    if at > 2 && !args.get(2).is_nil() {
        for c in args.string(2)?.as_bytes().iter() {
            mode |= match c {
                b'r' => libc::R_OK,
                b'w' => libc::W_OK,
                b'x' => libc::X_OK,
                _ => return args.bad(2, "mode letters among 'rwx'"),
            };
        }
    }
    submit(lua, cb, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_access(uv_loop, req, path.as_ptr(), mode, Some(on_done)) }
    })
}

/// `fs.mkdir(path, [mode,] cb)` -> `cb(err)`; mode defaults to "777".
fn mkdir(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let (at, cb) = callback_arg(&args, 2, 3)?;
    let mode = if at > 2 { mode_arg(&args, 2, 0o777)? } else { 0o777 };
    submit(lua, cb, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_mkdir(uv_loop, req, path.as_ptr(), mode, Some(on_done)) }
    })
}

/// `fs.chmod(path, mode, cb)` -> `cb(err)`.
fn chmod(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    if args.get(2).is_nil() {
        return args.bad(2, "octal mode string");
    }
    let mode = mode_arg(&args, 2, 0)?;
    let cb = args.function(3)?;
    submit(lua, cb, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_chmod(uv_loop, req, path.as_ptr(), mode, Some(on_done)) }
    })
}

/// `fs.mkdtemp(prefix, cb)` -> `cb(path, err)`: a new directory named
/// `prefix` followed by six random characters.
fn mkdtemp(lua: &Lua, args: Args) -> Result<()> {
    let (prefix, text) = path_arg(&args, 1)?;
    let cb = args.function(2)?;
    let mut template = prefix.into_bytes();
    template.extend_from_slice(b"XXXXXX");
    let template = CString::new(template).map_err(mlua::Error::external)?;
    submit(lua, cb, Place::Path(text + "XXXXXX"), Gives::FilledPath, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the template
        // and fills in its copy.
        unsafe { uv::uv_fs_mkdtemp(uv_loop, req, template.as_ptr(), Some(on_done)) }
    })
}

/// `fs.utime(path, atime, mtime, cb)` -> `cb(err)`; times in seconds.
fn utime(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let (atime, mtime) = (args.number(2)?, args.number(3)?);
    let cb = args.function(4)?;
    submit(lua, cb, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_utime(uv_loop, req, path.as_ptr(), atime, mtime, Some(on_done)) }
    })
}

/// What the two-path operations call.
#[derive(Clone, Copy)]
enum TwoPaths {
    Rename,
    Symlink,
    CopyFile,
}

/// `fs.rename(from, to, cb)`, `fs.symlink(target, path, cb)`,
/// `fs.copyFile(from, to, cb)` -> `cb(err)`.
fn two_paths(lua: &Lua, args: Args, which: TwoPaths) -> Result<()> {
    let (from, from_text) = path_arg(&args, 1)?;
    let (to, to_text) = path_arg(&args, 2)?;
    let cb = args.function(3)?;
    submit(lua, cb, Place::Pair(from_text, to_text), Gives::Nothing, |uv_loop, req| {
        let (from, to, cb) = (from.as_ptr(), to.as_ptr(), Some(on_done as unsafe extern "C" fn(*mut uv::uv_fs_t)));
        // SAFETY: `req` lives until `on_done`; libuv copies both paths.
        unsafe {
            match which {
                TwoPaths::Rename => uv::uv_fs_rename(uv_loop, req, from, to, cb),
                TwoPaths::Symlink => uv::uv_fs_symlink(uv_loop, req, from, to, 0, cb),
                TwoPaths::CopyFile => uv::uv_fs_copyfile(uv_loop, req, from, to, 0, cb),
            }
        }
    })
}

// --- whole files -----------------------------------------------------------

/// What a pool job does; it returns the bytes read (or nothing).
type Work = Box<dyn FnOnce() -> std::io::Result<Vec<u8>> + Send>;

/// The part of a job the pool thread uses: plain data, no Lua.
struct Task {
    work: Option<Work>,
    outcome: Option<std::io::Result<Vec<u8>>>,
}

struct Job {
    task: Task,
    callback: Callback,
    path: String,
    gives: Gives,
}

type JobRequest = Request<uv::uv_work_t, Job>;

/// Runs `work` on libuv's thread pool, then calls `cb` with its bytes
/// (`gives` Data) or nothing, or the error about `path`.
fn queue(lua: &Lua, cb: Function, path: String, gives: Gives, work: Work) -> Result<()> {
    let rt = Runtime::of(lua)?;
    let uv_loop = rt.uv_loop();
    let job = Job { task: Task { work: Some(work), outcome: None }, callback: Callback::new(lua, cb)?, path, gives };
    let started = JobRequest::start(job, |req| {
        // SAFETY: `req` lives until `job_done`, libuv's completion for it.
        unsafe { uv::uv_queue_work(uv_loop, req, Some(run_job), Some(job_done)) }
    });
    if let Err((rc, job)) = started {
        fail_later(&rt, job.callback, job.gives, uv_message(rc, Some(&job.path)));
    }
    Ok(())
}

/// On a pool thread.
extern "C" fn run_job(req: *mut uv::uv_work_t) {
    // SAFETY: the request is a `JobRequest` (started by `queue`); between
    // submission and `job_done` only this thread touches its `task`, and
    // the loop thread touches nothing of it. libuv's queue orders this
    // thread's writes before `job_done` reads them.
    let task = unsafe { &mut (*(req as *mut JobRequest)).state.task };
    if let Some(work) = task.work.take() {
        let outcome = catch_unwind(AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(std::io::Error::from_raw_os_error(libc::EIO)));
        task.outcome = Some(outcome);
    }
}

extern "C" fn job_done(req: *mut uv::uv_work_t, status: c_int) {
    // SAFETY: started by `queue`; this is its one completion callback.
    let job = unsafe { JobRequest::finish(req) };
    // SAFETY: the request's loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop(job.raw().loop_) };
    let Job { task, callback, path, gives } = job.state;
    let outcome = match task.outcome {
        Some(outcome) if status == 0 => outcome.map_err(|e| match (e.raw_os_error(), e.kind()) {
            (Some(errno), _) => UvError(-errno),
            (None, std::io::ErrorKind::OutOfMemory) => UvError(uv::uv_errno_t_UV_ENOMEM),
            (None, _) => UvError(uv::uv_errno_t_UV_EIO),
        }),
        _ => Err(UvError(if status < 0 { status } else { uv::uv_errno_t_UV_ECANCELED })),
    };
    callback.call(rt, |lua| match outcome {
        Err(error) => failure_values(lua, gives, error.message(Some(&path))),
        Ok(bytes) if gives == Gives::Data => {
            let content = lua.create_string(&bytes)?;
            free_later(rt, bytes);
            content.into_lua_multi(lua)
        }
        Ok(_) => Ok(MultiValue::new()),
    });
}

/// Frees a big buffer on the thread pool: giving back thousands of pages
/// takes milliseconds the loop need not wait for.
fn free_later(rt: &Runtime, bytes: Vec<u8>) {
    if bytes.len() < PARALLEL_MIN {
        return;
    }
    extern "C" fn free(req: *mut uv::uv_work_t) {
        // SAFETY: the request is a `Request<uv_work_t, Vec<u8>>` started
        // below; until `freed` runs, only this pool thread touches its
        // state.
        drop(unsafe { std::mem::take(&mut (*(req as *mut Request<uv::uv_work_t, Vec<u8>>)).state) });
    }
    extern "C" fn freed(req: *mut uv::uv_work_t, _status: c_int) {
        // SAFETY: started below; this is its one completion callback.
        drop(unsafe { Request::<uv::uv_work_t, Vec<u8>>::finish(req) });
    }
    let uv_loop = rt.uv_loop();
    // If the pool refuses it, the buffer comes back and is freed here.
    let _ = Request::<uv::uv_work_t, Vec<u8>>::start(bytes, |req| {
        // SAFETY: `req` lives until `freed`, libuv's completion for it.
        unsafe { uv::uv_queue_work(uv_loop, req, Some(free), Some(freed)) }
    });
}

/// A path for `std::fs` on the pool: the argument's bytes as they are.
fn std_path(path: CString) -> PathBuf {
    PathBuf::from(OsString::from_vec(path.into_bytes()))
}

/// `fs.readFile(path, cb)` -> `cb(content, err)`: one job that sizes the
/// file and reads it in one read when the size allows.
fn read_file(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let cb = args.function(2)?;
    let path = std_path(path);
    queue(lua, cb, text, Gives::Data, Box::new(move || read_whole(path)))
}

/// Files at least this big are read in parts, in parallel.
const PARALLEL_MIN: usize = 16 << 20;

/// The CPUs this process may use, asked once (the answer reads cgroup
/// files).
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A whole file, on a pool thread: sized first, then read into one buffer
/// of that size — in as few reads as the kernel allows, and for a big file
/// in parts read side by side (the page faults of a fresh buffer are most
/// of the cost of reading from the page cache, and they scale with the
/// CPUs). As Node does, the size found is trusted: a file that grows
/// meanwhile is read as it was sized, one that shrinks as it is. A file the
/// kernel does not size (`/proc`, a FIFO) is read to its end.
fn read_whole(path: PathBuf) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let size = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
    if size == 0 {
        let mut content = Vec::new();
        (&file).read_to_end(&mut content)?;
        return Ok(content);
    }
    let mut content = zeroed(size)?;
    let mut filled = if size >= PARALLEL_MIN && cpus() > 1 { fill_in_parts(&file, &mut content)? } else { 0 };
    if filled < size {
        filled = fill(&file, &mut content, 0)?;
    }
    content.truncate(filled);
    Ok(content)
}

fn out_of_memory() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOMEM)
}

/// `size` zero bytes, asked of the allocator as such: a big block comes
/// straight from the kernel, already zero, and is not written over.
fn zeroed(size: usize) -> std::io::Result<Vec<u8>> {
    let layout = std::alloc::Layout::array::<u8>(size).map_err(|_| out_of_memory())?;
    // SAFETY: `size` is not zero (the caller checks), so the layout is
    // valid for alloc_zeroed; a non-null block has `size` initialised
    // (zero) bytes of u8 alignment from the global allocator, which is
    // what a Vec of that length and capacity owns and frees.
    unsafe {
        let block = std::alloc::alloc_zeroed(layout);
        if block.is_null() {
            return Err(out_of_memory());
        }
        Ok(Vec::from_raw_parts(block, size, size))
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends;
/// returns how much it read.
fn fill(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Fills `buf` from the start of the file in up to four parts, one per
/// CPU, read at once; returns `buf.len()`, or less if a part came short.
/// (A thread the system cannot make panics; `run_job` reports that as
/// EIO.)
fn fill_in_parts(file: &std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let (size, part) = (buf.len(), buf.len().div_ceil(cpus().min(4)));
    std::thread::scope(|scope| {
        let (first, rest) = buf.split_at_mut(part);
        let others: Vec<_> = rest
            .chunks_mut(part)
            .enumerate()
            .map(|(i, chunk)| {
                let want = chunk.len();
                scope.spawn(move || fill(file, chunk, ((i + 1) * part) as u64).map(|n| n == want))
            })
            .collect();
        let mut whole = fill(file, first, 0)? == part;
        for other in others {
            whole &= other.join().unwrap_or(Err(std::io::Error::from_raw_os_error(libc::EIO)))?;
        }
        Ok(if whole { size } else { 0 })
    })
}

/// `fs.writeFile(path, data, cb)` / `fs.appendFile(path, data, cb)` ->
/// `cb(err)`: creates the file (mode 666 less the umask), truncates it or
/// appends to it, and writes every byte.
fn write_file(lua: &Lua, args: Args, append: bool) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let data = args.string(2)?.as_bytes().to_vec();
    let cb = args.function(3)?;
    let path = std_path(path);
    queue(lua, cb, text, Gives::Nothing, Box::new(move || {
        let mut file = std::fs::OpenOptions::new().create(true).write(true).append(append).truncate(!append).open(path)?;
        file.write_all(&data)?;
        Ok(Vec::new())
    }))
}

// --- the module ------------------------------------------------------------

type Plain = fn(&Lua, Args) -> Result<()>;

/// `async.fs`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let fs = lua.create_table()?;
    fs.set("bufferSize", BUFFER_SIZE)?;
    let plain: [(&'static str, Plain); 25] = [
        ("open", open),
        ("close", close),
        ("write", write),
        ("stat", |lua, args| stat(lua, args, false)),
        ("lstat", |lua, args| stat(lua, args, true)),
        ("fstat", fstat),
        ("fsync", fsync),
        ("ftruncate", ftruncate),
        ("readFile", read_file),
        ("writeFile", |lua, args| write_file(lua, args, false)),
        ("appendFile", |lua, args| write_file(lua, args, true)),
        ("mkdir", mkdir),
        ("mkdtemp", mkdtemp),
        ("rmdir", |lua, args| one_path(lua, args, Gives::Nothing, uv::uv_fs_rmdir)),
        ("unlink", |lua, args| one_path(lua, args, Gives::Nothing, uv::uv_fs_unlink)),
        ("readdir", |lua, args| one_path(lua, args, Gives::Names, scandir_call)),
        ("scandir", |lua, args| one_path(lua, args, Gives::Entries, scandir_call)),
        ("readlink", |lua, args| one_path(lua, args, Gives::Text, uv::uv_fs_readlink)),
        ("realpath", |lua, args| one_path(lua, args, Gives::Text, uv::uv_fs_realpath)),
        ("exists", |lua, args| one_path(lua, args, Gives::Exists, exists_call)),
        ("access", access),
        ("chmod", chmod),
        ("utime", utime),
        ("rename", |lua, args| two_paths(lua, args, TwoPaths::Rename)),
        ("symlink", |lua, args| two_paths(lua, args, TwoPaths::Symlink)),
    ];
    for (name, f) in plain {
        fs.set(name, boundary::function(lua, name, f)?)?;
    }
    fs.set("copyFile", boundary::function(lua, "copyFile", |lua, args| two_paths(lua, args, TwoPaths::CopyFile))?)?;
    let table = fs.clone();
    fs.set("read", boundary::function(lua, "read", move |lua, args| read(lua, args, &table))?)?;
    module.set("fs", fs)
}
