//! Signals: `async.signal(name, cb)`, a handle that calls `cb(name,
//! number)` each time the process receives the signal; and the table of
//! signal names, which `proc.kill` reads too.
//!
//! A signal handle is a libuv `uv_signal_t` on the shared handle core
//! (`core/uv_handle.rs`). It is unreferenced when it starts, as Node's
//! `process.on('SIGINT')` is: waiting for a signal does not keep the loop
//! running, unless the program asks with `handle.ref()`. Closing the last
//! handle of a signal gives the signal back its default action (libuv
//! does that when it stops the handle); for SIGPIPE, which the module
//! ignores (see `lib.rs`), the ignore is put back instead.
//!
//! May touch: libuv signal handles through the handle core, and the
//! disposition of SIGPIPE.

use std::ffi::c_int;

use libuv_sys2 as uv;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::class::{Class, Method};
use crate::core::errors::UvError;
use crate::core::lua_raw::PrivateKey;
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState, Tie};

static SIGNAL: Class = Class { kind: "signal", methods: &[SIGNAL_METHODS], lua_methods: None };

static SIGNAL_METHODS: &[(&str, Method)] =
    &[("close", close), ("ref", reference), ("unref", unreference), ("hasRef", has_reference), ("onclose", onclose)];

/// The private key under which a signal handle keeps its callback.
static ON_SIGNAL: PrivateKey = PrivateKey::new();

/// Signal names without "SIG", as `kill -l` lists them on Linux.
const SIGNALS: &[(&str, c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Linux's highest real-time signal.
const MAX_SIGNAL: i64 = 64;

/// The number of a signal name, with or without "SIG", in any case.
fn number_of(name: &str) -> Option<c_int> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.iter().find(|(n, _)| *n == bare).map(|(_, number)| *number)
}

/// The name of a signal number: `SIGINT`, `SIGRTMIN+3` for a real-time
/// signal, `SIG40` past them.
pub fn name_of(number: c_int) -> String {
    if let Some((name, _)) = SIGNALS.iter().find(|(_, n)| *n == number) {
        return format!("SIG{name}");
    }
    let (first, last) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    match number {
        n if n == first => "SIGRTMIN".to_string(),
        n if n > first && n <= last => format!("SIGRTMIN+{}", n - first),
        n => format!("SIG{n}"),
    }
}

/// Argument `i` as a signal: a name (`'SIGTERM'`, `'term'`) or a number
/// from `lowest` to 64. An unknown name is an error `"NAME: unknown
/// signal 'X'"` after the function's name.
pub fn number_arg(args: &Args, i: usize, lowest: i64) -> Result<c_int> {
    match args.get(i) {
        Value::Integer(_) | Value::Number(_) => {
            let expected = format!("signal name or number ({lowest} to {MAX_SIGNAL})");
            Ok(args.whole_in(i, lowest, MAX_SIGNAL, &expected)? as c_int)
        }
        Value::String(name) => match number_of(&name.to_string_lossy()) {
            Some(number) => Ok(number),
            None => boundary::fail(format!("{}: unknown signal '{}'", args.name(), name.to_string_lossy())),
        },
        _ => args.bad(i, "signal name or number"),
    }
}

struct Watcher {
    tie: Tie,
    number: c_int,
}

impl HandleState for Watcher {
    fn tie(&self) -> &Tie {
        &self.tie
    }

    fn closed(&self, _: &Lua, _: &Table) -> Result<()> {
        Ok(())
    }
}

/// `async.signal(name, cb)` -> handle; `cb(name, number)` on each arrival.
fn watch(lua: &Lua, args: Args) -> Result<Table> {
    let number = number_arg(&args, 1, 1)?;
    let callback = args.function(2)?;
    let object = lua.create_table()?;
    object.set_metatable(Some(SIGNAL.metatable(lua)?))?;
    object.raw_set(ON_SIGNAL.value(), callback)?;
    let watcher = uv_handle::open::<Watcher, uv::uv_signal_t>(
        lua,
        &object,
        Watcher { tie: Tie::new(&SIGNAL), number },
        "signal",
        // SAFETY: `raw` is the zeroed handle `open` allocated, on its loop.
        |uv_loop, raw| unsafe { uv::uv_signal_init(uv_loop, raw) },
    )?;
    let handle = watcher.tie.handle();
    // SAFETY: the handle is initialised and open; libuv calls `on_signal`
    // only until it is closed.
    let started = unsafe { uv::uv_signal_start(handle as *mut uv::uv_signal_t, Some(on_signal), number) };
    if let Err(error) = UvError::check(started) {
        // SIGKILL and SIGSTOP cannot be caught: EINVAL.
        watcher.tie.close();
        return boundary::fail(format!("signal: {error} ({})", name_of(number)));
    }
    // SAFETY: as above; unref only clears a flag of the open handle.
    unsafe { uv::uv_unref(handle) };
    Ok(object)
}

extern "C" fn on_signal(raw: *mut uv::uv_signal_t, number: c_int) {
    // SAFETY: the handle was made by `uv_handle::open::<Watcher, _>` in
    // `watch`; libuv calls back only while it is open, so its state lives.
    let watcher = unsafe { uv_handle::state_from::<Watcher>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    if watcher.tie.closing() {
        return;
    }
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        let Some(object) = watcher.tie.object(&lua)? else { return Ok(()) };
        match object.raw_get::<Option<Function>>(ON_SIGNAL.value())? {
            Some(callback) => rt.callback(&lua, callback, (name_of(number), number)).map(drop),
            None => Ok(()),
        }
    });
}

/// The watcher of a signal handle, unless it is closed or closing.
fn open_watcher(this: &Table) -> Result<Option<&Watcher>> {
    Ok(uv_handle::state_of::<Watcher>(this)?.filter(|w| !w.tie.closing()))
}

/// `handle.close([cb])`: stops watching; `cb()` once closed. Harmless
/// when repeated.
fn close(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    if let Some(callback) = args.opt_function(1)? {
        uv_handle::when_closed(lua, &this, callback)?;
    }
    if let Some(watcher) = open_watcher(&this)? {
        // uv_close stops the handle at once, which restores the signal's
        // default action if no other handle watches it.
        watcher.tie.close();
        if watcher.number == libc::SIGPIPE {
            crate::ignore_sigpipe();
        }
    }
    Ok(MultiValue::new())
}

/// `handle.ref()`: the loop keeps running while the handle is open.
fn reference(_: &Lua, args: Args) -> Result<MultiValue> {
    if let Some(watcher) = open_watcher(&args.this()?)? {
        // SAFETY: the handle is open (not closing).
        unsafe { uv::uv_ref(watcher.tie.handle()) };
    }
    Ok(MultiValue::new())
}

/// `handle.unref()`: the loop may end while the handle waits (the start).
fn unreference(_: &Lua, args: Args) -> Result<MultiValue> {
    if let Some(watcher) = open_watcher(&args.this()?)? {
        // SAFETY: the handle is open (not closing).
        unsafe { uv::uv_unref(watcher.tie.handle()) };
    }
    Ok(MultiValue::new())
}

/// `handle.hasRef()`: whether it keeps the loop running (false once closed).
fn has_reference(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let watcher = open_watcher(&this)?;
    // SAFETY: the handle is open (not closing).
    let referenced = watcher.is_some_and(|w| unsafe { uv::uv_has_ref(w.tie.handle()) } != 0);
    referenced.into_lua_multi(lua)
}

/// `handle.onclose(cb)`: `cb()` once the handle is closed.
fn onclose(_: &Lua, args: Args) -> Result<MultiValue> {
    uv_handle::set_onclose(&args.this()?, args.opt_function(1)?)?;
    Ok(MultiValue::new())
}

/// `async.signal`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    module.set("signal", boundary::function(lua, "signal", watch)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_with_or_without_sig() {
        assert_eq!(number_of("SIGKILL"), Some(libc::SIGKILL));
        assert_eq!(number_of("term"), Some(libc::SIGTERM));
        assert_eq!(number_of("SigWinch"), Some(libc::SIGWINCH));
        assert_eq!(number_of("SIGNOPE"), None);
        assert_eq!(number_of(""), None);
    }

    #[test]
    fn names_every_number() {
        assert_eq!(name_of(libc::SIGINT), "SIGINT");
        assert_eq!(name_of(libc::SIGRTMIN()), "SIGRTMIN");
        assert_eq!(name_of(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
        for (name, number) in SIGNALS {
            assert_eq!(number_of(&name_of(*number)), Some(*number), "{name}");
        }
    }
}
