//! The single operations (`open`, `read`, `stat`, `mkdir`, `rename`, ...):
//! one libuv fs request each, completed by `on_done` in `mod.rs`.
//!
//! May touch: libuv fs requests.

use super::*;

/// `fs.open(path, flags, [mode,] cb)` -> `cb(fd, err)`.
pub(super) fn open(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let flags = flags_arg(&args, 2)?;
    let (at, cb) = callback_arg(&args, 3, 4)?;
    let mode = if at > 3 { mode_arg(&args, 3, 0o666)? } else { 0o666 };
    submit(lua, Reply::new(lua, cb, "open")?, Place::Path(text), Gives::Fd, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_open(uv_loop, req, path.as_ptr(), flags, mode, Some(on_done)) }
    })
}

/// Answers `EBADF` (on the next turn) for a descriptor of the loop, of an
/// open handle or held by the module (`Runtime::owns_descriptor`):
/// closing, reading, writing or truncating one of those under libuv would
/// break the loop (it aborts on a closed epoll fd) or the module. Every
/// operation on a descriptor asks here first. Gives the reply back if the
/// descriptor may be used.
pub(super) fn unless_loop_descriptor(lua: &Lua, fd: c_int, reply: Reply, gives: Gives) -> Result<Option<Reply>> {
    let rt = Runtime::of(lua)?;
    if !rt.owns_descriptor(fd) {
        return Ok(Some(reply));
    }
    let message = uv_message(uv::uv_errno_t_UV_EBADF, None) + " (the descriptor belongs to the event loop)";
    fail_later(&rt, reply, gives, message);
    Ok(None)
}

/// `fs.close(fd, cb)` -> `cb(err)`.
pub(super) fn close(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let reply = Reply::new(lua, args.opt_function(2)?, "close")?;
    let Some(reply) = unless_loop_descriptor(lua, fd, reply, Gives::Nothing)? else { return Ok(()) };
    submit(lua, reply, Place::Nowhere, Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_close(uv_loop, req, fd, Some(on_done)) }
    })
}

/// `fs.read(fd, [length, [offset,]] cb)` -> `cb(data, err)`; length
/// defaults to `fs.bufferSize`, offset to the descriptor's position.
pub(super) fn read(lua: &Lua, args: Args, fs: &Table) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let (at, cb) = callback_arg(&args, 2, 4)?;
    let length = match args.get(2) {
        Value::Nil | Value::Function(_) => fs.get::<Option<i64>>("bufferSize")?.unwrap_or(BUFFER_SIZE).max(0),
        _ => whole_number(&args, 2, "length")?,
    };
    let offset = if at > 3 && !args.get(3).is_nil() { whole_number(&args, 3, "offset")? } else { -1 };
    let reply = Reply::new(lua, cb, "read")?;
    let Some(callback) = unless_loop_descriptor(lua, fd, reply, Gives::Data)? else { return Ok(()) };
    // Linux moves at most this much in one read.
    let length = length.min(0x7fff_f000) as usize;
    let rt = Runtime::of(lua)?;
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
pub(super) fn write(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let data = memory::copy(&args.string(2)?.as_bytes())?;
    let (at, cb) = callback_arg(&args, 3, 4)?;
    let offset = if at > 3 && !args.get(3).is_nil() { whole_number(&args, 3, "offset")? } else { -1 };
    let reply = Reply::new(lua, cb, "write")?;
    let Some(reply) = unless_loop_descriptor(lua, fd, reply, Gives::Written)? else { return Ok(()) };
    let rt = Runtime::of(lua)?;
    let mut op = Op::new(reply, Place::Nowhere, Gives::Written);
    op.bytes = data;
    op.fd = fd;
    op.offset = offset;
    write_rest(&rt, op);
    Ok(())
}

/// `fs.stat(path, cb)` / `fs.lstat(path, cb)` -> `cb(stats, err)`.
pub(super) fn stat(lua: &Lua, args: Args, link: bool) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let reply = Reply::new(lua, args.opt_function(2)?, if link { "lstat" } else { "stat" })?;
    submit(lua, reply, Place::Path(text), Gives::Stats, |uv_loop, req| {
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
pub(super) fn fstat(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let reply = Reply::new(lua, args.opt_function(2)?, "fstat")?;
    let Some(reply) = unless_loop_descriptor(lua, fd, reply, Gives::Stats)? else { return Ok(()) };
    submit(lua, reply, Place::Nowhere, Gives::Stats, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_fstat(uv_loop, req, fd, Some(on_done)) }
    })
}

/// `fs.fsync(fd, cb)` -> `cb(err)`.
pub(super) fn fsync(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let reply = Reply::new(lua, args.opt_function(2)?, "fsync")?;
    let Some(reply) = unless_loop_descriptor(lua, fd, reply, Gives::Nothing)? else { return Ok(()) };
    submit(lua, reply, Place::Nowhere, Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_fsync(uv_loop, req, fd, Some(on_done)) }
    })
}

/// `fs.ftruncate(fd, [length,] cb)` -> `cb(err)`; length defaults to 0.
pub(super) fn ftruncate(lua: &Lua, args: Args) -> Result<()> {
    let fd = fd_arg(&args, 1)?;
    let (at, cb) = callback_arg(&args, 2, 3)?;
    let length = if at > 2 && !args.get(2).is_nil() { whole_number(&args, 2, "length")? } else { 0 };
    let reply = Reply::new(lua, cb, "ftruncate")?;
    let Some(reply) = unless_loop_descriptor(lua, fd, reply, Gives::Nothing)? else { return Ok(()) };
    submit(lua, reply, Place::Nowhere, Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`.
        unsafe { uv::uv_fs_ftruncate(uv_loop, req, fd, length, Some(on_done)) }
    })
}

/// The operations that take one path and a callback and give nothing or
/// one value: unlink, rmdir, readdir, scandir, readlink, realpath, exists.
pub(super) fn one_path(
    lua: &Lua,
    args: Args,
    name: &'static str,
    gives: Gives,
    call: unsafe extern "C" fn(*mut uv::uv_loop_t, *mut uv::uv_fs_t, *const c_char, uv::uv_fs_cb) -> c_int,
) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let reply = Reply::new(lua, args.opt_function(2)?, name)?;
    submit(lua, reply, Place::Path(text), gives, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { call(uv_loop, req, path.as_ptr(), Some(on_done)) }
    })
}

/// `uv_fs_scandir` with no flags, in the shape `one_path` calls.
pub(super) unsafe extern "C" fn scandir_call(
    l: *mut uv::uv_loop_t,
    req: *mut uv::uv_fs_t,
    path: *const c_char,
    cb: uv::uv_fs_cb,
) -> c_int {
    // SAFETY: the caller's contract is uv_fs_scandir's.
    unsafe { uv::uv_fs_scandir(l, req, path, 0, cb) }
}

/// `uv_fs_access` for existence, in the shape `one_path` calls.
pub(super) unsafe extern "C" fn exists_call(
    l: *mut uv::uv_loop_t,
    req: *mut uv::uv_fs_t,
    path: *const c_char,
    cb: uv::uv_fs_cb,
) -> c_int {
    // SAFETY: the caller's contract is uv_fs_access's.
    unsafe { uv::uv_fs_access(l, req, path, libc::F_OK, cb) }
}

/// `fs.access(path, [mode,] cb)` -> `cb(err)`; mode letters among "rwx",
/// or none to test existence.
pub(super) fn access(lua: &Lua, args: Args) -> Result<()> {
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
    submit(lua, Reply::new(lua, cb, "access")?, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_access(uv_loop, req, path.as_ptr(), mode, Some(on_done)) }
    })
}

/// `fs.mkdir(path, [mode,] cb)` -> `cb(err)`; mode defaults to "777".
pub(super) fn mkdir(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let (at, cb) = callback_arg(&args, 2, 3)?;
    let mode = if at > 2 { mode_arg(&args, 2, 0o777)? } else { 0o777 };
    submit(lua, Reply::new(lua, cb, "mkdir")?, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_mkdir(uv_loop, req, path.as_ptr(), mode, Some(on_done)) }
    })
}

/// `fs.chmod(path, mode, cb)` -> `cb(err)`.
pub(super) fn chmod(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    if args.get(2).is_nil() {
        return args.bad(2, "octal mode string");
    }
    let mode = mode_arg(&args, 2, 0)?;
    let reply = Reply::new(lua, args.opt_function(3)?, "chmod")?;
    submit(lua, reply, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_chmod(uv_loop, req, path.as_ptr(), mode, Some(on_done)) }
    })
}

/// `fs.mkdtemp(prefix, cb)` -> `cb(path, err)`: a new directory named
/// `prefix` followed by six random characters.
pub(super) fn mkdtemp(lua: &Lua, args: Args) -> Result<()> {
    let (prefix, text) = path_arg(&args, 1)?;
    let reply = Reply::new(lua, args.opt_function(2)?, "mkdtemp")?;
    let mut template = prefix.into_bytes();
    template.extend_from_slice(b"XXXXXX");
    let template = CString::new(template).map_err(mlua::Error::external)?;
    submit(lua, reply, Place::Path(text + "XXXXXX"), Gives::FilledPath, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the template
        // and fills in its copy.
        unsafe { uv::uv_fs_mkdtemp(uv_loop, req, template.as_ptr(), Some(on_done)) }
    })
}

/// `fs.utime(path, atime, mtime, cb)` -> `cb(err)`; times in seconds.
pub(super) fn utime(lua: &Lua, args: Args) -> Result<()> {
    let (path, text) = path_arg(&args, 1)?;
    let (atime, mtime) = (args.number(2)?, args.number(3)?);
    let reply = Reply::new(lua, args.opt_function(4)?, "utime")?;
    submit(lua, reply, Place::Path(text), Gives::Nothing, |uv_loop, req| {
        // SAFETY: `req` lives until `on_done`; libuv copies the path.
        unsafe { uv::uv_fs_utime(uv_loop, req, path.as_ptr(), atime, mtime, Some(on_done)) }
    })
}

/// What the two-path operations call.
#[derive(Clone, Copy)]
pub(super) enum TwoPaths {
    Rename,
    Symlink,
    CopyFile,
}

/// `fs.rename(from, to, cb)`, `fs.symlink(target, path, cb)`,
/// `fs.copyFile(from, to, cb)` -> `cb(err)`.
pub(super) fn two_paths(lua: &Lua, args: Args, which: TwoPaths) -> Result<()> {
    let (from, from_text) = path_arg(&args, 1)?;
    let (to, to_text) = path_arg(&args, 2)?;
    let name = match which {
        TwoPaths::Rename => "rename",
        TwoPaths::Symlink => "symlink",
        TwoPaths::CopyFile => "copyFile",
    };
    let reply = Reply::new(lua, args.opt_function(3)?, name)?;
    submit(lua, reply, Place::Pair(from_text, to_text), Gives::Nothing, |uv_loop, req| {
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
