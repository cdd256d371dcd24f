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
//! This file holds the request core and the module table; `args.rs`
//! reads arguments, `ops.rs` has the single operations and
//! `whole_files.rs` the whole-file jobs.
//!
//! Errors are libuv's words with the path: `ENOENT: no such file or
//! directory "/x"`. Wrong arguments (not a string, an unknown flag) raise
//! at the call; failures of the operation itself always go to the callback.
//!
//! May touch: libuv fs and work requests, the file system (through libuv,
//! or `std::fs` inside a pool job and its helper threads), the registry
//! (callbacks), the runtime's deferred calls (to report a request libuv refused to
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
use crate::core::memory;
use crate::core::runtime::Runtime;
use crate::core::uv_request::{Callback, UvRequest};

mod args;
mod ops;
mod streams;
mod watch;
mod whole_files;

use args::*;
use ops::*;
use whole_files::*;

/// `fs.bufferSize`: the length `fs.read` reads when given none.
pub(super) const BUFFER_SIZE: i64 = 1024;

/// Where an operation failed, for its error message.
pub(super) enum Place {
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
pub(super) enum Gives {
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

/// Who hears how a request ended: the caller's callback or, where the
/// caller left it out (the original let every fs callback be left out:
/// its own `readFile` called `fs.close(fd)`), stderr, and only of a
/// failure.
pub(super) enum Reply {
    Callback(Callback),
    Stderr(&'static str),
}

impl Reply {
    /// The reply of operation `name` (for the stderr line) to `callback`.
    pub(super) fn new(lua: &Lua, callback: Option<Function>, name: &'static str) -> Result<Reply> {
        Ok(match callback {
            Some(f) => Reply::Callback(Callback::new(lua, f)?),
            None => Reply::Stderr(name),
        })
    }

    /// Calls back with `values` — or, with no callback, reports `failure`.
    fn send(self, rt: &Runtime, failure: Option<String>, values: impl FnOnce(&Lua) -> Result<MultiValue>) {
        match self {
            Reply::Callback(callback) => {
                callback.call(rt, values);
            }
            Reply::Stderr(name) => {
                if let Some(message) = failure {
                    eprintln!("async: fs.{name}: {message}");
                }
            }
        }
    }
}

/// The values a callback gets for a failure.
pub(super) fn failure_values(lua: &Lua, gives: Gives, message: String) -> Result<MultiValue> {
    match gives {
        Gives::Nothing | Gives::Written => message.into_lua_multi(lua),
        Gives::Exists => false.into_lua_multi(lua),
        _ => (Value::Nil, message).into_lua_multi(lua),
    }
}

/// Calls `callback` with a failure on the next turn of the loop: for a
/// request libuv refused to start (the caller must not be called back
/// from inside its own call).
pub(super) fn fail_later(rt: &Runtime, reply: Reply, gives: Gives, message: String) {
    let callback = match reply {
        Reply::Callback(callback) => callback,
        stderr @ Reply::Stderr(_) => return stderr.send(rt, Some(message), |_| Ok(MultiValue::new())),
    };
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
pub(super) struct Op {
    callback: Option<Reply>,
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
    fn new(callback: Reply, place: Place, gives: Gives) -> Op {
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

pub(super) type FsRequest = UvRequest<uv::uv_fs_t, Op>;

/// A completed file request, taken back from libuv. Dropping it frees what
/// libuv allocated for it (`uv_fs_req_cleanup`), then the request itself.
pub(super) struct Completed(Box<FsRequest>);

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
pub(super) fn start(rt: &Runtime, op: Op, call: impl FnOnce(*mut uv::uv_loop_t, *mut uv::uv_fs_t) -> c_int) {
    let uv_loop = rt.uv_loop();
    if let Err((rc, mut op)) = FsRequest::start(op, |req| call(uv_loop, req))
        && let Some(callback) = op.callback.take()
    {
        fail_later(rt, callback, op.gives, op.place.message(rc));
    }
}

/// Starts a file request from a Lua call, with `callback` to be called
/// with what `gives` says.
pub(super) fn submit(
    lua: &Lua,
    reply: Reply,
    place: Place,
    gives: Gives,
    call: impl FnOnce(*mut uv::uv_loop_t, *mut uv::uv_fs_t) -> c_int,
) -> Result<()> {
    let rt = Runtime::of(lua)?;
    let op = Op::new(reply, place, gives);
    start(&rt, op, call);
    Ok(())
}

/// Writes what is left of a write's bytes.
pub(super) fn write_rest(rt: &Runtime, op: Op) {
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

pub(super) extern "C" fn on_done(req: *mut uv::uv_fs_t) {
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
    let Some(reply) = op.callback.take() else { return };
    let failure = failure.map(|code| op.place.message(code));
    let gives = op.gives;
    reply.send(rt, failure.clone(), |lua| match failure {
        Some(message) => failure_values(lua, gives, message),
        None => success_values(lua, &mut done),
    });
}

/// The values a callback gets for a successful request.
pub(super) fn success_values(lua: &Lua, done: &mut Completed) -> Result<MultiValue> {
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
pub(super) fn c_string(lua: &Lua, s: *const c_char) -> Result<Value> {
    if s.is_null() {
        return Ok(Value::Nil);
    }
    // SAFETY: a non-null result string of a completed request is a C
    // string libuv owns until uv_fs_req_cleanup, which runs after this.
    Ok(Value::String(lua.create_string(unsafe { CStr::from_ptr(s) }.to_bytes())?))
}

pub(super) fn dirent_type(t: uv::uv_dirent_type_t) -> &'static str {
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
pub(super) fn directory(lua: &Lua, done: &mut Completed) -> Result<Table> {
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
pub(super) fn stats_table(lua: &Lua, s: &uv::uv_stat_t) -> Result<Table> {
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

// --- the module ------------------------------------------------------------

pub(super) type Plain = fn(&Lua, Args) -> Result<()>;

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
        ("rmdir", |lua, args| one_path(lua, args, "rmdir", Gives::Nothing, uv::uv_fs_rmdir)),
        ("unlink", |lua, args| one_path(lua, args, "unlink", Gives::Nothing, uv::uv_fs_unlink)),
        ("readdir", |lua, args| one_path(lua, args, "readdir", Gives::Names, scandir_call)),
        ("scandir", |lua, args| one_path(lua, args, "scandir", Gives::Entries, scandir_call)),
        ("readlink", |lua, args| one_path(lua, args, "readlink", Gives::Text, uv::uv_fs_readlink)),
        ("realpath", |lua, args| one_path(lua, args, "realpath", Gives::Text, uv::uv_fs_realpath)),
        ("exists", |lua, args| one_path(lua, args, "exists", Gives::Exists, exists_call)),
        ("access", access),
        ("chmod", chmod),
        ("utime", utime),
        ("rename", |lua, args| two_paths(lua, args, TwoPaths::Rename)),
        ("symlink", |lua, args| two_paths(lua, args, TwoPaths::Symlink)),
    ];
    for (name, f) in plain {
        fs.set(name, boundary::function(lua, name, f)?)?;
    }
    fs.set("createReadStream", boundary::function(lua, "createReadStream", streams::create_read_stream)?)?;
    fs.set("createWriteStream", boundary::function(lua, "createWriteStream", streams::create_write_stream)?)?;
    fs.set("watch", boundary::function(lua, "watch", watch::watch)?)?;
    fs.set("watchFile", boundary::function(lua, "watchFile", watch::watch_file)?)?;
    fs.set("copyFile", boundary::function(lua, "copyFile", |lua, args| two_paths(lua, args, TwoPaths::CopyFile))?)?;
    let table = fs.clone();
    fs.set("read", boundary::function(lua, "read", move |lua, args| read(lua, args, &table))?)?;
    module.set("fs", fs)
}
