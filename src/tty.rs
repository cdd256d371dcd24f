//! `async.tty`: the process's standard streams as stream handles of the
//! stream layer, of kind `tty` (a terminal: `uv_tty_t`), `pipe` (a pipe or
//! a socket: `uv_pipe_t`) or `file` (a regular file or a device such as
//! `/dev/null`), as libuv's `uv_guess_handle` says.
//!
//! libuv cannot poll a regular file, so a `file` handle is a pipe with a
//! relay thread at its far end, copying the file into it (fd 0) or out of
//! it into the file (fds 1 and 2); the thread touches only the two
//! descriptors, never Lua. At exit the process waits (two seconds at
//! most) for output relays to copy what was written into them. Each descriptor gets one handle per Lua state,
//! made on first use (`tty.open(fd)`, `repl.stdin` and its siblings), so
//! no two libuv handles ever watch one descriptor.
//!
//! A terminal in raw mode (`setMode('raw')`, the REPL's line editor) is
//! put back into its original mode when the process exits, however it
//! exits (`os.exit`, an error out of `go()`, the end of the script), and
//! whenever `go()` returns.
//!
//! May touch: descriptors 0, 1 and 2 (and only through libuv once they
//! have a handle), the terminal mode, relay threads and their `Held` ends.

use std::ffi::c_int;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use libuv_sys2 as uv;
use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::class::{Class, Method};
use crate::core::errors::uv_message;
use crate::core::runtime::Held;
use crate::core::uv_handle::{self, HandleState};
use crate::stream::{self, Stream};

static TTY: Class = Class { kind: "tty", methods: &[stream::METHODS, TTY_METHODS], lua_methods: Some(stream::lua_methods) };
static PIPE: Class = Class { kind: "pipe", methods: &[stream::METHODS], lua_methods: Some(stream::lua_methods) };
static FILE: Class = Class { kind: "file", methods: &[stream::METHODS], lua_methods: Some(stream::lua_methods) };

static TTY_METHODS: &[(&str, Method)] = &[("setMode", set_mode), ("getWinSize", get_win_size)];

/// What a descriptor is, as libuv guesses it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Tty,
    Pipe,
    File,
}

pub fn guess(fd: c_int) -> Option<Kind> {
    // SAFETY: uv_guess_handle only inspects the descriptor (fstat, isatty).
    match unsafe { uv::uv_guess_handle(fd) } {
        uv::uv_handle_type_UV_TTY => Some(Kind::Tty),
        uv::uv_handle_type_UV_NAMED_PIPE | uv::uv_handle_type_UV_TCP => Some(Kind::Pipe),
        uv::uv_handle_type_UV_FILE => Some(Kind::File),
        _ => None,
    }
}

fn kind_name(kind: Option<Kind>) -> &'static str {
    match kind {
        Some(Kind::Tty) => "tty",
        Some(Kind::Pipe) => "pipe",
        Some(Kind::File) => "file",
        None => "unknown",
    }
}

/// The registry table of the handles made so far, by descriptor.
const HANDLES_KEY: &str = "async.tty.handles";

/// The stream handle of standard descriptor `fd` (0, 1 or 2), made on first
/// use; the same table every time after, while it is open.
pub fn stdio(lua: &Lua, fd: c_int) -> Result<Table> {
    let handles = match lua.named_registry_value::<Table>(HANDLES_KEY) {
        Ok(t) => t,
        Err(_) => {
            let t = lua.create_table()?;
            lua.set_named_registry_value(HANDLES_KEY, &t)?;
            t
        }
    };
    if let Some(object) = handles.raw_get::<Option<Table>>(fd)?
        && uv_handle::state_of::<Stream>(&object)?.is_some()
    {
        return Ok(object);
    }
    let object = open(lua, fd)?;
    handles.raw_set(fd, &object)?;
    Ok(object)
}

fn open(lua: &Lua, fd: c_int) -> Result<Table> {
    let kind = guess(fd);
    let class = match kind {
        Some(Kind::Tty) => &TTY,
        Some(Kind::Pipe) => &PIPE,
        Some(Kind::File) => &FILE,
        None => return boundary::fail(format!("tty.open: descriptor {fd} is neither a terminal, a pipe nor a file")),
    };
    let object = lua.create_table()?;
    object.set_metatable(Some(class.metatable(lua)?))?;
    let what = "tty.open";
    match kind {
        Some(Kind::Tty) => {
            uv_handle::open::<Stream, uv::uv_tty_t>(lua, &object, Stream::new(class), what, |uv_loop, raw| {
                // SAFETY: `raw` is a fresh handle for this loop; libuv opens
                // the terminal again, so that non-blocking mode on its own
                // descriptor leaves `fd` (shared with the shell) alone.
                unsafe { uv::uv_tty_init(uv_loop, raw, fd, (fd == 0) as c_int) }
            })?;
        }
        Some(Kind::Pipe) => {
            open_pipe(lua, &object, class, fd)?;
        }
        _ => {
            let end = relay(fd).map_err(|e| mlua::Error::RuntimeError(format!("{what}: relay for descriptor {fd}: {e}")))?;
            open_pipe(lua, &object, class, end)?;
        }
    }
    Ok(object)
}

fn open_pipe(lua: &Lua, object: &Table, class: &'static Class, fd: c_int) -> Result<()> {
    uv_handle::open::<Stream, uv::uv_pipe_t>(lua, object, Stream::new(class), "tty.open", |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop, `fd` an open
        // descriptor that the handle owns from now on.
        let rc = unsafe { uv::uv_pipe_init(uv_loop, raw, 0) };
        if rc != 0 {
            return rc;
        }
        // SAFETY: as above; on failure the handle is closed by the caller.
        unsafe { uv::uv_pipe_open(raw, fd) }
    })?;
    Ok(())
}

/// A pipe whose far end a thread joins to `fd`: for fd 0 the thread copies
/// `fd` into the pipe and the read end is returned, for the others the
/// thread copies the pipe into `fd` and the write end is returned. The
/// thread's end is `Held` while the thread uses it, so that `fs.close`
/// cannot take it away.
fn relay(fd: c_int) -> std::io::Result<c_int> {
    let mut ends = [0 as c_int; 2];
    // SAFETY: `ends` has room for the two descriptors pipe2 returns.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 has just made both descriptors; nothing else owns them.
    let [read_end, write_end] = ends.map(|end| unsafe { OwnedFd::from_raw_fd(end) });
    // If the thread cannot be made, both ends are closed on the way out.
    let loop_end = if fd == 0 {
        let write_end = Held::new(write_end);
        std::thread::Builder::new().name("async-relay-0".into()).spawn(move || {
            copy(fd, write_end.as_raw_fd());
            drop(write_end);
        })?;
        read_end
    } else {
        let output = std::sync::Arc::new(OutputRelay {
            read_end: Held::new(read_end),
            busy: AtomicBool::new(false),
            ended: AtomicBool::new(false),
        });
        let thread_side = output.clone();
        std::thread::Builder::new().name(format!("async-relay-{fd}")).spawn(move || thread_side.run(fd))?;
        drain_at_exit_once();
        OUTPUT_RELAYS.lock().unwrap_or_else(|e| e.into_inner()).push(output);
        write_end
    };
    Ok(loop_end.into_raw_fd())
}

/// The thread side of an output relay, and what `drain_output` reads of
/// it: bytes written into the pipe reach the file only when the thread
/// has copied them, so a process about to exit waits for that.
struct OutputRelay {
    /// The thread's end of the pipe, never closed (so that the drain may
    /// always ask it how many bytes it holds).
    read_end: Held<OwnedFd>,
    /// The thread holds bytes it has taken from the pipe and not written.
    busy: AtomicBool,
    ended: AtomicBool,
}

static OUTPUT_RELAYS: std::sync::Mutex<Vec<std::sync::Arc<OutputRelay>>> = std::sync::Mutex::new(Vec::new());

impl OutputRelay {
    /// Copies the pipe into `fd` until the pipe's write end is closed.
    fn run(&self, fd: c_int) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let mut ready = libc::pollfd { fd: self.read_end.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut ready, 1, -1) } < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            // Busy from before the read: while the pipe still shows the
            // bytes, or once they are out of it and not yet written.
            self.busy.store(true, Ordering::SeqCst);
            // SAFETY: `buf` is a valid buffer of its length.
            let n = unsafe { libc::read(self.read_end.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let interrupted = n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
            let copied = n > 0 && write_all(fd, &buf[..n as usize]).is_ok();
            self.busy.store(false, Ordering::SeqCst);
            if !copied && !interrupted {
                break;
            }
        }
        self.ended.store(true, Ordering::SeqCst);
    }

    /// Whether everything written into the pipe so far has reached the
    /// file (or never will: the thread has ended).
    fn drained(&self) -> bool {
        if self.ended.load(Ordering::SeqCst) {
            return true;
        }
        let mut held: c_int = 0;
        // SAFETY: FIONREAD writes one int; `read_end` is open for the
        // whole process (see the field).
        let asked = unsafe { libc::ioctl(self.read_end.as_raw_fd(), libc::FIONREAD, &mut held) };
        asked == 0 && held == 0 && !self.busy.load(Ordering::SeqCst)
    }
}

/// Waits (up to two seconds) until every output relay has copied what was
/// written into it: otherwise what a stream wrote to a standard output
/// that is a file could be lost when the process exits.
fn drain_output() {
    let relays = OUTPUT_RELAYS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !relays.iter().all(|relay| relay.drained()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

extern "C" fn drain_at_exit() {
    drain_output();
}

fn drain_at_exit_once() {
    static REGISTERED: Once = Once::new();
    at_exit_once(&REGISTERED, drain_at_exit);
}

/// Has `f` run at process exit, the first time `once` is passed here.
fn at_exit_once(once: &'static Once, f: extern "C" fn()) {
    // SAFETY: registers a plain extern "C" function that never unwinds.
    once.call_once(|| unsafe {
        libc::atexit(f);
    });
}

/// Copies until the end of `from` or an error on either side.
fn copy(from: c_int, to: c_int) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        // SAFETY: `buf` is a valid buffer of its length.
        let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return;
        }
        if write_all(to, &buf[..n as usize]).is_err() {
            return;
        }
    }
}

/// Writes all of `bytes` to `fd`, waiting when it is non-blocking and full.
pub fn write_all(fd: c_int, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid buffer of its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n >= 0 {
            bytes = &bytes[n as usize..];
            continue;
        }
        let error = std::io::Error::last_os_error();
        match error.kind() {
            std::io::ErrorKind::Interrupted => {}
            std::io::ErrorKind::WouldBlock => {
                let mut poll = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut poll, 1, -1) };
            }
            _ => return Err(error),
        }
    }
    Ok(())
}

/// Puts the terminal back into the mode it had before any `setMode`; safe
/// to call at any time, from any exit path.
pub fn reset_mode() {
    // SAFETY: uv_tty_reset_mode only restores saved termios settings, and
    // is documented as safe to call from exit handlers.
    unsafe { uv::uv_tty_reset_mode() };
}

extern "C" fn reset_at_exit() {
    reset_mode();
}

/// Arranges for `reset_mode` at process exit (once per process).
fn reset_at_exit_once() {
    static REGISTERED: Once = Once::new();
    at_exit_once(&REGISTERED, reset_at_exit);
}

/// Sets the mode of the terminal under a `tty` stream: "normal" or "raw".
pub fn set_stream_mode(stream: &Stream, raw: bool) -> std::result::Result<(), String> {
    reset_at_exit_once();
    let mode = if raw { uv::uv_tty_mode_t_UV_TTY_MODE_RAW } else { uv::uv_tty_mode_t_UV_TTY_MODE_NORMAL };
    // SAFETY: the stream is open and of kind tty (checked by the callers),
    // so its handle is a uv_tty_t.
    let rc = unsafe { uv::uv_tty_set_mode(stream.tie().handle() as *mut uv::uv_tty_t, mode) };
    if rc != 0 { Err(uv_message(rc, None)) } else { Ok(()) }
}

/// Runs `f` on the stream of a method call if it is an open tty stream.
fn with_tty<R>(args: &Args, f: impl FnOnce(&Stream) -> Result<R>) -> Result<Option<R>> {
    let this = args.this()?;
    match uv_handle::state_of::<Stream>(&this)?.filter(|s| s.tie().kind() == "tty") {
        Some(stream) => f(stream).map(Some),
        None => Ok(None),
    }
}

/// `t.setMode(mode)`: `'normal'` (or 0) or `'raw'` (or 1).
fn set_mode(lua: &Lua, args: Args) -> Result<MultiValue> {
    let raw = match args.get(1) {
        Value::String(s) if s.as_bytes() == b"normal" => false,
        Value::String(s) if s.as_bytes() == b"raw" => true,
        Value::Integer(0) => false,
        Value::Integer(1) => true,
        Value::Number(n) if n == 0.0 || n == 1.0 => n == 1.0,
        _ => return args.bad(1, "'normal' or 'raw'"),
    };
    with_tty(&args, |stream| set_stream_mode(stream, raw).or_else(|e| boundary::fail(format!("setMode: {e}"))))?;
    true.into_lua_multi(lua)
}

/// `t.getWinSize()` -> `width, height` in characters.
fn get_win_size(lua: &Lua, args: Args) -> Result<MultiValue> {
    let size = with_tty(&args, |stream| {
        let (mut width, mut height) = (0, 0);
        // SAFETY: the stream is an open tty stream (see with_tty).
        let rc = unsafe { uv::uv_tty_get_winsize(stream.tie().handle() as *mut uv::uv_tty_t, &mut width, &mut height) };
        if rc != 0 {
            return boundary::fail(format!("getWinSize: {}", uv_message(rc, None)));
        }
        Ok((width, height))
    })?;
    match size {
        Some(size) => size.into_lua_multi(lua),
        None => Value::Nil.into_lua_multi(lua),
    }
}

/// `async.tty`: `open(fd)`, `guess(fd)`, `resetMode()`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let tty = lua.create_table()?;
    tty.set(
        "open",
        boundary::function(lua, "open", |lua, args: Args| {
            let fd = args.number(1)?;
            if ![0.0, 1.0, 2.0].contains(&fd) {
                return args.bad(1, "0, 1 or 2 (a standard descriptor)");
            }
            stdio(lua, fd as c_int)
        })?,
    )?;
    tty.set(
        "guess",
        boundary::function(lua, "guess", |_, args: Args| {
            let fd = args.number(1)?;
            let valid = fd >= 0.0 && fd.fract() == 0.0 && fd <= c_int::MAX as f64;
            Ok(kind_name(if valid { guess(fd as c_int) } else { None }))
        })?,
    )?;
    tty.set(
        "resetMode",
        boundary::function(lua, "resetMode", |_, _| {
            reset_mode();
            Ok(())
        })?,
    )?;
    module.set("tty", tty)
}
