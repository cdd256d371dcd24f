//! Child processes: `process.spawn`, `process.exec` and `process.dispatch`,
//! and `run`, the same for Rust callers (curl.rs).
//!
//! A process is a handle object (core/class.rs) over a `uv_process_t` made by
//! `uv_handle::open`, with `pid`, `kill`, `onexit`, `onclose`, and its
//! standard streams as pipes of the stream layer (stream/): `proc.stdin`,
//! `proc.stdout`, `proc.stderr` are ordinary stream handles.
//!
//! Lifetime rules (the ones Node.js and luv users learnt to expect):
//! - The process handle is closed only by its exit callback, never before,
//!   so libuv always reaps the child: no zombie is left.
//! - When the child exits, its stdin is closed (nobody can read it any
//!   more), and so are its stdout and stderr unless Lua reads them; a pipe
//!   that is read closes at its end of stream. No pipe outlives the child
//!   and its output, whether or not Lua read that output.
//! - Exit may come before the end of stdout. `onclose` fires once the
//!   process has exited *and* every pipe has closed; `exec` answers then,
//!   so its output is complete.
//!
//! A spawn that fails (no such program, bad cwd) is reported to the caller
//! (`nil, err`, or `cb(nil, err)` for exec); the handle libuv initialised
//! for it is closed without any event.
//!
//! May touch: libuv process and pipe handles (the pipes through stream/
//! and core/uv_handle.rs); the Lua objects of processes and their pipes.

use std::cell::{Cell, RefCell};
use std::ffi::{CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{Function, IntoLuaMulti, Lua, LuaString, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::class::{Class, Method};
use crate::core::errors::{UvError, uv_message};
use crate::core::lua_raw::PrivateKey;
use crate::core::memory::{self, OutOfMemory};
use crate::core::options::OptionTable;
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState, Tie};
use crate::stream::{Consumer, Stream};

static PROCESS: Class = Class { kind: "process", methods: &[PROCESS_METHODS], lua_methods: None };

static PROCESS_METHODS: &[(&str, Method)] = &[("kill", kill), ("onexit", onexit), ("onclose", onclose)];

// Private keys of a process object: its handlers, its pipes by name, how
// many of (process, pipes) are still open, and how it exited.
static ON_EXIT: PrivateKey = PrivateKey::new();
static CLOSE_CALLBACK: PrivateKey = PrivateKey::new();
/// exec's own completion, called before the user's `onclose`.
static ON_DONE: PrivateKey = PrivateKey::new();
static PIPES: PrivateKey = PrivateKey::new();
static PENDING: PrivateKey = PrivateKey::new();
static STATUS: PrivateKey = PrivateKey::new();
static SIGNAL: PrivateKey = PrivateKey::new();

struct Process {
    tie: Tie,
    /// uv_spawn succeeded: the exit callback will come.
    started: Cell<bool>,
}

impl HandleState for Process {
    fn tie(&self) -> &Tie {
        &self.tie
    }

    fn closed(&self, lua: &Lua, object: &Table) -> Result<()> {
        if self.started.get() { settle(lua, object) } else { Ok(()) }
    }
}

/// One of (the process, its pipes) has closed; once all have, the process
/// is done: exec's completion, then `onclose(status, signal)`.
fn settle(lua: &Lua, object: &Table) -> Result<()> {
    let left = object.raw_get::<i64>(PENDING.value())? - 1;
    object.raw_set(PENDING.value(), left)?;
    if left > 0 {
        return Ok(());
    }
    let status: Value = object.raw_get(STATUS.value())?;
    let signal: Value = object.raw_get(SIGNAL.value())?;
    let rt = Runtime::of(lua)?;
    if let Some(done) = object.raw_get::<Option<Function>>(ON_DONE.value())? {
        rt.callback(lua, done, (status.clone(), signal.clone()))?;
    }
    if let Some(onclose) = object.raw_get::<Option<Function>>(CLOSE_CALLBACK.value())? {
        rt.callback(lua, onclose, (status, signal))?;
    }
    Ok(())
}

/// What a child's standard stream is connected to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stdio {
    /// A pipe to a stream handle of ours.
    Pipe,
    /// /dev/null.
    Ignore,
    /// Our own descriptor of the same number.
    Inherit,
}

const STDIO_NAMES: [&str; 3] = ["stdin", "stdout", "stderr"];

/// A program to start, as C strings for uv_spawn.
struct Command {
    file: CString,
    argv: Vec<CString>,
    env: Option<Vec<CString>>,
    cwd: Option<CString>,
}

fn c_string(text: &[u8], what: &str) -> Result<CString> {
    CString::new(text).or_else(|_| boundary::fail(format!("{what} must not contain a NUL byte")))
}

/// A string of a table (an argument, an env value): strings and numbers.
fn text_of(lua: &Lua, value: Value, what: &str) -> Result<LuaString> {
    match value {
        Value::String(s) => Ok(s),
        v @ (Value::Integer(_) | Value::Number(_)) => number_text(lua, v),
        v => boundary::fail(format!("{what} must be a string (got {})", boundary::lua_type_name(&v))),
    }
}

/// A number as Lua writes it.
fn number_text(lua: &Lua, number: Value) -> Result<LuaString> {
    match lua.coerce_string(number)? {
        Some(text) => Ok(text),
        None => boundary::fail("a number could not be converted to a string"),
    }
}

/// The command of `spawn(path, args)` / `exec(path, args)`: `args` holds
/// the arguments (1..n) and optionally `cwd=` and `env=`.
fn command_of(lua: &Lua, function: &str, path: &[u8], args: Option<&Table>) -> Result<Command> {
    let file = c_string(path, "the program path")?;
    let mut argv = vec![file.clone()];
    let (mut env, mut cwd) = (None, None);
    if let Some(args) = args {
        for value in args.sequence_values::<Value>() {
            argv.push(c_string(&text_of(lua, value?, "an argument")?.as_bytes(), "an argument")?);
        }
        let options = OptionTable::new(Some(args), function);
        if let Some(dir) = options.string("cwd")? {
            cwd = Some(c_string(&dir.as_bytes(), "cwd")?);
        }
        if let Some(vars) = options.table("env")? {
            let mut list = Vec::new();
            for pair in vars.pairs::<Value, Value>() {
                let (name, value) = pair?;
                let entry = match name {
                    // {'NAME=value'} is accepted as well as {NAME = 'value'}.
                    Value::Integer(_) => text_of(lua, value, "an env entry")?.as_bytes().to_vec(),
                    Value::String(name) => {
                        let mut entry = name.as_bytes().to_vec();
                        entry.push(b'=');
                        entry.extend_from_slice(&text_of(lua, value, "an env value")?.as_bytes());
                        entry
                    }
                    other => {
                        return boundary::fail(format!("env names must be strings (got {})", boundary::lua_type_name(&other)));
                    }
                };
                list.push(c_string(&entry, "an env entry")?);
            }
            env = Some(list);
        }
    }
    Ok(Command { file, argv, env, cwd })
}

/// A NULL-terminated array of pointers into `strings`, for libuv.
fn pointers(strings: &[CString]) -> Vec<*mut c_char> {
    strings.iter().map(|s| s.as_ptr() as *mut c_char).chain(std::iter::once(std::ptr::null_mut())).collect()
}

/// What libuv searches when neither our environment nor `env=` has PATH.
const DEFAULT_PATH: &[u8] = b"/usr/bin:/bin";

/// The file to run for `command`: its name looked up in PATH, as execvp
/// does (a name with a slash is used as it is). Done here, not by libuv:
/// libuv 1.53 on Linux tries a whole posix_spawn (a vfork and an exec) for
/// every PATH entry before the one that has the program, which made an
/// exec of `true` cost nine child processes here.
///
/// PATH is the one the child gets: from `env=` when given (libuv's rule),
/// else ours. Relative entries are taken relative to the child's `cwd=`.
fn resolve(command: &Command) -> std::result::Result<CString, UvError> {
    let name = command.file.as_bytes();
    if name.is_empty() {
        return Err(UvError(uv::uv_errno_t_UV_ENOENT));
    }
    if name.contains(&b'/') {
        return Ok(command.file.clone());
    }
    let own_path;
    let search: &[u8] = match &command.env {
        Some(env) => env.iter().find_map(|e| e.as_bytes().strip_prefix(b"PATH=")).unwrap_or(DEFAULT_PATH),
        None => {
            own_path = std::env::var_os("PATH");
            own_path.as_ref().map_or(DEFAULT_PATH, |p| p.as_encoded_bytes())
        }
    };
    let mut denied = false;
    for dir in search.split(|&b| b == b':') {
        let mut candidate = if dir.is_empty() { b"./".to_vec() } else { dir.to_vec() };
        if candidate.last() != Some(&b'/') {
            candidate.push(b'/');
        }
        candidate.extend_from_slice(name);
        // Where the child will look: relative to its cwd.
        let mut checked = candidate.clone();
        if let (Some(cwd), false) = (&command.cwd, candidate.starts_with(b"/")) {
            checked = [cwd.as_bytes(), b"/", &candidate].concat();
        }
        let Ok(checked) = CString::new(checked) else { continue };
        let is_file = std::fs::metadata(std::ffi::OsStr::from_bytes(checked.as_bytes())).is_ok_and(|m| m.is_file());
        if !is_file {
            continue;
        }
        // SAFETY: `checked` is a NUL-terminated path; access only reads it.
        if unsafe { libc::access(checked.as_ptr(), libc::X_OK) } == 0 {
            return CString::new(candidate).map_err(|_| UvError(uv::uv_errno_t_UV_EINVAL));
        }
        denied = true;
    }
    Err(UvError(if denied { uv::uv_errno_t_UV_EACCES } else { uv::uv_errno_t_UV_ENOENT }))
}

/// Starts `command` with its standard streams as `stdio` says. Returns the
/// process object, or the error message if it cannot be started.
fn start(lua: &Lua, command: &Command, stdio: [Stdio; 3]) -> Result<std::result::Result<Table, String>> {
    let described = || String::from_utf8_lossy(command.file.as_bytes()).into_owned();
    if let Some(cwd) = &command.cwd {
        // Said here, because libuv's error would name the program instead.
        let rc = match std::fs::metadata(std::ffi::OsStr::from_bytes(cwd.as_bytes())) {
            Ok(m) if m.is_dir() => 0,
            Ok(_) => uv::uv_errno_t_UV_ENOTDIR,
            Err(e) => -e.raw_os_error().unwrap_or(libc::ENOENT),
        };
        if rc != 0 {
            return Ok(Err(uv_message(rc, Some(&format!("cwd {}", String::from_utf8_lossy(cwd.as_bytes()))))));
        }
    }
    let file = match resolve(command) {
        Ok(file) => file,
        Err(error) => return Ok(Err(error.message(Some(&described())))),
    };
    let object = lua.create_table()?;
    object.set_metatable(Some(PROCESS.metatable(lua)?))?;
    let mut pipes: Vec<(usize, Table, &'static Stream)> = Vec::new();
    for (fd, how) in stdio.iter().enumerate() {
        if *how == Stdio::Pipe {
            match crate::pipe::new_pipe(lua) {
                Ok((pipe, stream)) => pipes.push((fd, pipe, stream)),
                Err(e) => {
                    pipes.iter().for_each(|(_, _, s)| s.destroy());
                    return Err(e);
                }
            }
        }
    }
    let mut containers: Vec<uv::uv_stdio_container_t> = (0..3)
        .map(|fd| match stdio[fd] {
            Stdio::Ignore => uv::uv_stdio_container_t {
                flags: uv::uv_stdio_flags_UV_IGNORE,
                data: uv::uv_stdio_container_s__bindgen_ty_1 { fd: 0 },
            },
            Stdio::Inherit => uv::uv_stdio_container_t {
                flags: uv::uv_stdio_flags_UV_INHERIT_FD,
                data: uv::uv_stdio_container_s__bindgen_ty_1 { fd: fd as c_int },
            },
            Stdio::Pipe => {
                let stream =
                    pipes.iter().find(|(n, _, _)| *n == fd).map(|(_, _, s)| s.tie().handle()).unwrap_or(std::ptr::null_mut());
                // The child reads fd 0 and writes 1 and 2.
                let direction = if fd == 0 { uv::uv_stdio_flags_UV_READABLE_PIPE } else { uv::uv_stdio_flags_UV_WRITABLE_PIPE };
                uv::uv_stdio_container_t {
                    flags: uv::uv_stdio_flags_UV_CREATE_PIPE | direction,
                    data: uv::uv_stdio_container_s__bindgen_ty_1 { stream: stream as *mut uv::uv_stream_t },
                }
            }
        })
        .collect();
    let mut argv = pointers(&command.argv);
    let mut env = command.env.as_deref().map(pointers);
    // SAFETY: plain C data; zeroed is "no flags, no uid/gid change".
    let mut options: uv::uv_process_options_t = unsafe { std::mem::zeroed() };
    options.exit_cb = Some(on_exit);
    options.file = file.as_ptr();
    options.args = argv.as_mut_ptr();
    options.env = env.as_mut().map_or(std::ptr::null_mut(), |e| e.as_mut_ptr());
    options.cwd = command.cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    options.stdio_count = containers.len() as c_int;
    options.stdio = containers.as_mut_ptr();
    let spawned = Cell::new(0);
    let state = Process { tie: Tie::new(&PROCESS), started: Cell::new(false) };
    // uv_spawn initialises the handle even when it fails, and such a handle
    // must still be closed: so the init step always succeeds, and a failed
    // spawn is closed below through the handle core like any other.
    let process = uv_handle::open::<Process, uv::uv_process_t>(lua, &object, state, "spawn", |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop; every pointer in
        // `options` (strings, arrays, containers, pipe handles) lives until
        // this function returns, and libuv copies what it keeps.
        spawned.set(unsafe { uv::uv_spawn(uv_loop, raw, &options) });
        0
    });
    let process = match process {
        Ok(process) => process,
        Err(error) => {
            pipes.iter().for_each(|(_, _, s)| s.destroy());
            return Err(error);
        }
    };
    if spawned.get() != 0 {
        process.tie.close();
        pipes.iter().for_each(|(_, _, s)| s.destroy());
        return Ok(Err(uv_message(spawned.get(), Some(&described()))));
    }
    process.started.set(true);
    // SAFETY: the handle is open (its close waits for the exit callback).
    let pid = unsafe { (*(process.tie.handle() as *const uv::uv_process_t)).pid };
    object.raw_set("pid", pid)?;
    object.raw_set(PENDING.value(), 1 + pipes.len() as i64)?;
    let named = lua.create_table()?;
    for (fd, pipe, _) in &pipes {
        object.raw_set(STDIO_NAMES[*fd], pipe)?;
        named.raw_set(STDIO_NAMES[*fd], pipe)?;
        let owner = object.clone();
        uv_handle::when_closed(lua, pipe, Runtime::handler(lua, move |lua, ()| settle(lua, &owner))?)?;
    }
    object.raw_set(PIPES.value(), named)?;
    Ok(Ok(object))
}

extern "C" fn on_exit(raw: *mut uv::uv_process_t, status: i64, signal: c_int) {
    // SAFETY: the handle was made by `uv_handle::open::<Process, _>` in
    // `start`; it is closed only below, so its state is alive.
    let process = unsafe { uv_handle::state_from::<Process>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    // The child is reaped: the handle may go now (its close callback runs
    // on a later phase of this loop turn, so the object is still tied).
    process.tie.close();
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        let Some(object) = process.tie.object(&lua)? else { return Ok(()) };
        object.raw_set(STATUS.value(), status)?;
        object.raw_set(SIGNAL.value(), signal)?;
        release_pipes(&object)?;
        match object.raw_get::<Option<Function>>(ON_EXIT.value())? {
            Some(onexit) => rt.callback(&lua, onexit, (status, signal)).map(drop),
            None => Ok(()),
        }
    });
}

/// After the exit: closes stdin, and stdout and stderr unless Lua reads
/// them (a pipe that is read closes at its end).
fn release_pipes(object: &Table) -> Result<()> {
    let Some(pipes) = object.raw_get::<Option<Table>>(PIPES.value())? else { return Ok(()) };
    for name in STDIO_NAMES {
        let Some(pipe) = pipes.raw_get::<Option<Table>>(name)? else { continue };
        if let Some(stream) = uv_handle::state_of::<Stream>(&pipe)?
            && (name == "stdin" || !stream.has_reader())
        {
            stream.destroy();
        }
    }
    Ok(())
}

// ---- methods ----

/// `proc.kill([signal])`: true, or nil and the error (e.g. once exited).
fn kill(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let signal = match args.get(1) {
        Value::Nil => libc::SIGTERM,
        // 0 asks only whether the process is there, as kill(2) does.
        _ => crate::signal::number_arg(&args, 1, 0)?,
    };
    let process = uv_handle::state_of::<Process>(&this)?.filter(|p| !p.tie.closing());
    let Some(process) = process else {
        return (Value::Nil, uv_message(uv::uv_errno_t_UV_ESRCH, None) + " (the process has exited)").into_lua_multi(lua);
    };
    // SAFETY: the handle is open and its child not yet reaped (the exit
    // callback closes it), so the pid is still this child's.
    let rc = unsafe { uv::uv_process_kill(process.tie.handle() as *mut uv::uv_process_t, signal) };
    if rc != 0 {
        return (Value::Nil, uv_message(rc, None)).into_lua_multi(lua);
    }
    true.into_lua_multi(lua)
}

fn onexit(_: &Lua, args: Args) -> Result<MultiValue> {
    args.this()?.raw_set(ON_EXIT.value(), args.opt_function(1)?)?;
    Ok(MultiValue::new())
}

/// `proc.onclose(cb)`: `cb(status, signal)` once the process has exited
/// and all its pipes have closed; on the next turn if that is past.
fn onclose(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let callback = args.opt_function(1)?;
    this.raw_set(CLOSE_CALLBACK.value(), callback.clone())?;
    if let Some(callback) = callback
        && this.raw_get::<Option<i64>>(PENDING.value())? == Some(0)
    {
        let (status, signal): (Value, Value) = (this.raw_get(STATUS.value())?, this.raw_get(SIGNAL.value())?);
        Runtime::call_later(lua, callback, (status, signal))?;
    }
    Ok(MultiValue::new())
}

// ---- functions ----

/// What `exec` collects of a child's standard output, or that memory ran
/// out for it (the rest is then dropped).
struct Output(RefCell<std::result::Result<Vec<u8>, OutOfMemory>>);

impl Default for Output {
    fn default() -> Output {
        Output(RefCell::new(Ok(Vec::new())))
    }
}

impl Output {
    /// What was collected, leaving nothing behind.
    fn take(&self) -> std::result::Result<Vec<u8>, OutOfMemory> {
        std::mem::replace(&mut *self.0.borrow_mut(), Ok(Vec::new()))
    }
}

impl Consumer for Output {
    fn data(self: Rc<Self>, _: &Lua, _: &Stream, bytes: &[u8]) -> Result<()> {
        let mut output = self.0.borrow_mut();
        if let Ok(collected) = &mut *output
            && let Err(error) = memory::append(collected, bytes)
        {
            *output = Err(error);
        }
        Ok(())
    }
}

/// Collects what the child of `object` writes to its pipe `name`.
fn collect(object: &Table, name: &str) -> Result<Rc<Output>> {
    let output = Rc::new(Output::default());
    let pipe: Table = object.raw_get(name)?;
    if let Some(stream) = uv_handle::state_of::<Stream>(&pipe)? {
        stream.set_consumer(output.clone());
    }
    Ok(output)
}

/// `(path, [args], [cb])`: the path, the args table and the function,
/// `args` may be left out (`exec('ls', cb)`, as fiber.sync calls it).
fn split_args(args: &Args) -> Result<(LuaString, Option<Table>, Option<Function>)> {
    let path = args.string(1)?;
    match args.get(2) {
        Value::Function(f) => Ok((path, None, Some(f))),
        _ => Ok((path, args.opt_table(2)?, args.opt_function(3)?)),
    }
}

/// Calls `handler(proc)` and returns proc, or nil and the error.
fn spawn_with(lua: &Lua, command: &Command, handler: Option<Function>) -> Result<MultiValue> {
    match start(lua, command, [Stdio::Pipe; 3])? {
        Ok(object) => {
            if let Some(handler) = handler {
                handler.call::<()>(&object)?;
            }
            object.into_lua_multi(lua)
        }
        Err(message) => (Value::Nil, message).into_lua_multi(lua),
    }
}

/// `process.spawn(path, [args], [handler])` -> proc, or nil, err.
fn spawn(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (path, list, handler) = split_args(&args)?;
    let command = command_of(lua, args.name(), &path.as_bytes(), list.as_ref())?;
    spawn_with(lua, &command, handler)
}

/// `process.exec(path, [args], cb)` -> proc; `cb(stdout, status, signal)`
/// once it exited and its output ended, `cb(nil, err)` if it could not
/// start. stdin is /dev/null; stderr is ours.
fn exec(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (path, list, callback) = split_args(&args)?;
    let Some(callback) = callback else { return args.bad(3, "function") };
    let command = command_of(lua, args.name(), &path.as_bytes(), list.as_ref())?;
    let object = match start(lua, &command, [Stdio::Ignore, Stdio::Pipe, Stdio::Inherit])? {
        Ok(object) => object,
        Err(message) => {
            Runtime::call_later(lua, callback, (Value::Nil, message))?;
            return Ok(MultiValue::new());
        }
    };
    let output = collect(&object, "stdout")?;
    let done = Runtime::handler(lua, move |lua, (status, signal): (Value, Value)| match output.take() {
        Ok(bytes) => callback.call::<()>((lua.create_string(bytes)?, status, signal)),
        Err(error) => callback.call::<()>((Value::Nil, error.to_string())),
    })?;
    object.raw_set(ON_DONE.value(), done)?;
    object.into_lua_multi(lua)
}

/// How a program started by `run` ended, and what it wrote.
pub(crate) struct Finished {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: i64,
    /// The signal that ended it, 0 if none.
    pub signal: i64,
}

/// For Rust callers (curl.rs): runs `program` (looked up in PATH as for
/// spawn) with the arguments `args`, an argv with no shell involved.
/// `input`, if any, is written to its stdin, which is then closed (without
/// it stdin is /dev/null); its stdout and stderr are collected. `done`
/// gets them once the child has exited and both have ended, or the error
/// if it could not start (then on the next turn). `done` runs as a
/// callback of the loop: an error it returns stops `go()`.
pub(crate) fn run<F>(lua: &Lua, program: &[u8], args: &[Vec<u8>], input: Option<Vec<u8>>, done: F) -> Result<()>
where
    F: FnOnce(&Lua, std::result::Result<Finished, String>) -> Result<()> + 'static,
{
    let file = c_string(program, "the program path")?;
    let mut argv = vec![file.clone()];
    for arg in args {
        argv.push(c_string(arg, "an argument")?);
    }
    let command = Command { file, argv, env: None, cwd: None };
    let stdin = if input.is_some() { Stdio::Pipe } else { Stdio::Ignore };
    let done = Rc::new(Cell::new(Some(done)));
    let object = match start(lua, &command, [stdin, Stdio::Pipe, Stdio::Pipe])? {
        Ok(object) => object,
        Err(message) => {
            let report = crate::core::boundary::internal(lua, move |lua, ()| match done.take() {
                Some(done) => done(lua, Err(message.clone())),
                None => Ok(()),
            })?;
            return Runtime::call_later(lua, report, ());
        }
    };
    let (stdout, stderr) = (collect(&object, "stdout")?, collect(&object, "stderr")?);
    if let Some(input) = input {
        let pipe: Table = object.raw_get("stdin")?;
        if let Some(stream) = uv_handle::state_of::<Stream>(&pipe)? {
            // A child that exits without reading it all makes the write
            // fail after the close began: the stream does not report that.
            stream.write(lua, &[&input], None)?;
            stream.close_gracefully();
        }
    }
    let finished = Runtime::handler(lua, move |lua, (status, signal): (i64, i64)| match done.take() {
        Some(done) => {
            let finished = match (stdout.take(), stderr.take()) {
                (Ok(stdout), Ok(stderr)) => Ok(Finished { stdout, stderr, status, signal }),
                _ => Err(memory::MESSAGE.to_string()),
            };
            done(lua, finished)
        }
        None => Ok(()),
    })?;
    object.raw_set(ON_DONE.value(), finished)
}

/// `${name}` in `code` replaced by `value(name)` where that is Some;
/// other `${...}` are left as they are.
fn substitute(code: &[u8], mut value: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.windows(2).position(|w| w == b"${") {
        out.extend_from_slice(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.iter().position(|&b| b == b'}') else {
            rest = &rest[at..];
            break;
        };
        match value(&after[..end])? {
            Some(text) => out.extend_from_slice(&text),
            None => out.extend_from_slice(&rest[at..at + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// `vars[name]` as text, if it is a string or a number.
fn var_text(lua: &Lua, vars: Option<&Table>, name: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(vars) = vars else { return Ok(None) };
    match vars.get::<Value>(lua.create_string(name)?)? {
        value @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => {
            Ok(Some(text_of(lua, value, "a var")?.as_bytes().to_vec()))
        }
        _ => Ok(None),
    }
}

/// `process.dispatch(code, [vars], [handler])`: `code`, with `${name}`
/// replaced from `vars`, run by a new process of this program's own
/// interpreter (`luajit -e code`); proc or nil, err as for spawn.
fn dispatch(lua: &Lua, args: Args) -> Result<MultiValue> {
    let code = args.string(1)?;
    let (vars, handler) = match args.get(2) {
        Value::Function(f) => (None, Some(f)),
        _ => (args.opt_table(2)?, args.opt_function(3)?),
    };
    let source = substitute(&code.as_bytes(), |name| var_text(lua, vars.as_ref(), name))?;
    let interpreter = match std::fs::read_link("/proc/self/exe") {
        Ok(path) => path,
        Err(e) => return (Value::Nil, format!("dispatch: cannot find the interpreter: {e}")).into_lua_multi(lua),
    };
    let file = c_string(interpreter.as_os_str().as_encoded_bytes(), "the interpreter path")?;
    let command = Command { argv: vec![file.clone(), c"-e".into(), c_string(&source, "the code")?], file, env: None, cwd: None };
    spawn_with(lua, &command, handler)
}

/// `async.process`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let process = lua.create_table()?;
    process.set("spawn", boundary::function(lua, "spawn", spawn)?)?;
    process.set("exec", boundary::function(lua, "exec", exec)?)?;
    process.set("dispatch", boundary::function(lua, "dispatch", dispatch)?)?;
    module.set("process", process)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_known_names_only() {
        let lookup = |name: &[u8]| {
            Ok(match name {
                b"n" => Some(b"42".to_vec()),
                b"s" => Some(b"x".to_vec()),
                _ => None,
            })
        };
        let out = substitute(b"a=${n} b=${s}${s} c=${other} d=${", lookup).unwrap();
        assert_eq!(out, b"a=42 b=xx c=${other} d=${");
    }
}
