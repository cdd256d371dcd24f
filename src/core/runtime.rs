//! The event loop of one Lua state: `go`, `run`, `stop`, and the callback
//! boundary every libuv callback passes through.
//!
//! There is one `Runtime` per Lua state, kept in mlua's app data (per
//! state, never a Rust `static`), so opening the module again — as busted
//! does for every spec file — finds the same loop. libuv reaches it through
//! `uv_loop_t.data`.
//!
//! Callback policy: a callback runs protected; its error is kept, the loop
//! is stopped, and `go()` raises it with the callback's traceback. Handles
//! stay as they were, so calling `go()` again continues. The callbacks
//! still due in that turn wait for the next `go()` (`Runtime::callback`);
//! an error that comes anyway (bytes must be handed over as they arrive)
//! is kept too, for a later `go()` to raise: none is lost.
//!
//! Descriptors the module holds open outside the loop and its handles
//! (the far ends of `tty`'s relay pipes, the files of `readFile` jobs, the
//! file `curl.postLargeFile` uploads) are `Held` while open, so that
//! `owns_descriptor` refuses them too.
//!
//! May touch: the libuv loop, mlua app data, the timer driver
//! (`timer_driver.rs`), the set of held descriptors and, through the
//! `TimerSink` trait, the Lua side of the timers.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};

use libuv_sys2 as uv;
use mlua::{Error, FromLuaMulti, Function, IntoLuaMulti, Lua, Result};

use crate::core::boundary::{self, fail};
use crate::core::lua_raw;
use crate::core::timer_driver::{Slot, TimerDriver};
use crate::core::uv_handle::Handles;

/// What runs timers when they come due: time.rs, which keeps each timer's
/// Lua callback. Installed once per Lua state (`Runtime::set_timer_sink`).
pub trait TimerSink {
    /// The driver's timer fired: run the timers due, popping each from
    /// `rt.timers` (see `TimerDriver::begin_turn`).
    fn fire(&self, rt: &Runtime);
    /// Queues `f()` to run after `ms` (every `ms` if `repeat`) for the
    /// module itself; returns the slot to cancel it with.
    fn internal(&self, lua: &Lua, f: Function, ms: u64, repeat: bool) -> Result<Slot>;
    /// Cancels an internal timer.
    fn cancel_internal(&self, rt: &Runtime, slot: Slot) -> Result<()>;
}

/// Told when `go()` starts running the loop and when it stops (returns,
/// or a callback failed): the REPL's terminal is raw only in between.
pub trait LoopObserver {
    fn starting(&self);
    fn stopped(&self);
}

pub struct Runtime {
    uv_loop: *mut uv::uv_loop_t,
    /// The Lua state, for callbacks that start in libuv.
    lua: mlua::WeakLua,
    /// The errors raised by callbacks and not yet raised by `go()`, first
    /// first: each `go()` raises one.
    failures: RefCell<VecDeque<Error>>,
    running: Cell<bool>,
    /// The `fn` of `go(fn)` calls made while the loop was already running:
    /// they tick until the running `go()` returns.
    nested_tickers: RefCell<Vec<Slot>>,
    pub timers: TimerDriver,
    timer_sink: OnceCell<Box<dyn TimerSink>>,
    observers: RefCell<Vec<Rc<dyn LoopObserver>>>,
    /// The open handles of core/uv_handle.rs. Never freed, like the loop:
    /// raw code reaches it through the registry (`uv_handle::publish`), so
    /// it must outlive any Lua code, finalizers run by closing the Lua
    /// state included.
    handles: &'static Handles,
    /// The buffer every stream reads into. A read callback consumes the
    /// bytes before it returns, and libuv makes one read at a time, so one
    /// buffer serves all streams (as Node's slab does): idle connections
    /// hold no read memory.
    read_buffer: *mut u8,
}

/// The descriptors open in this process now.
fn open_descriptors() -> Vec<c_int> {
    let mut fds: Vec<c_int> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    // The listing's own descriptor is among them, and closed by now: kept,
    // it would pass for a loop descriptor and refuse the file that next
    // gets its number.
    // SAFETY: F_GETFD only asks for the flags of a descriptor number.
    fds.retain(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1);
    fds.sort_unstable();
    fds
}

/// The descriptors `Held` now, and those that appeared while a loop was
/// made (its own and libuv's process-wide ones, such as the signal lock
/// pipe, which no field of the loop names). One set for the process: a
/// descriptor is the process's, not one Lua state's, and pool and relay
/// threads hold some.
static HELD: Mutex<BTreeSet<c_int>> = Mutex::new(BTreeSet::new());

fn held() -> MutexGuard<'static, BTreeSet<c_int>> {
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A descriptor the module holds open outside the loop and its handles
/// (`T`: a `File`, an `OwnedFd`), in the set `owns_descriptor` reads from
/// `new` until dropped. The drop closes it and takes it out in one step
/// under the lock, so no check sees its number closed yet still held,
/// and a number reused meanwhile is never taken out for another holder.
pub struct Held<T: AsRawFd>(ManuallyDrop<T>);

impl<T: AsRawFd> Held<T> {
    pub fn new(descriptor: T) -> Held<T> {
        held().insert(descriptor.as_raw_fd());
        Held(ManuallyDrop::new(descriptor))
    }
}

impl<T: AsRawFd> std::ops::Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: AsRawFd> Drop for Held<T> {
    fn drop(&mut self) {
        let mut set = held();
        let fd = self.0.as_raw_fd();
        // SAFETY: the descriptor is dropped here only, once, and the
        // `Held` is never used after its drop.
        unsafe { ManuallyDrop::drop(&mut self.0) };
        set.remove(&fd);
    }
}

const READ_BUFFER_SIZE: usize = 64 * 1024;

impl Runtime {
    /// The runtime of this Lua state, made on first use.
    pub fn of(lua: &Lua) -> Result<Rc<Runtime>> {
        if let Some(rt) = lua.app_data_ref::<Rc<Runtime>>() {
            return Ok(rt.clone());
        }
        let rt = Rc::new(Runtime::new(lua)?);
        // SAFETY: the loop was initialised in `new`; `data` points at the
        // Runtime, which the app data keeps alive as long as the Lua state,
        // and libuv only calls back from inside `uv_run`, i.e. while `go()`
        // holds a strong reference to it.
        unsafe { (*rt.uv_loop).data = Rc::as_ptr(&rt) as *mut _ };
        if let Err(rc) = rt.timers.init(rt.uv_loop, on_timers_due) {
            return fail(crate::core::errors::uv_message(rc, None));
        }
        crate::core::uv_handle::publish(lua, rt.handles)?;
        lua.set_app_data(rt.clone());
        Ok(rt)
    }

    fn new(lua: &Lua) -> Result<Runtime> {
        // SAFETY: a zeroed uv_loop_t is valid input for uv_loop_init. The
        // loop is never freed: it lives as long as the process, because
        // handles may still be registered with it when the Lua state closes.
        let uv_loop = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<uv::uv_loop_t>() }));
        let before = open_descriptors();
        // SAFETY: `uv_loop` is a fresh, exclusively owned allocation.
        let rc = unsafe { uv::uv_loop_init(uv_loop) };
        let startup_fds = open_descriptors().into_iter().filter(|fd| before.binary_search(fd).is_err());
        if rc != 0 {
            return fail(crate::core::errors::uv_message(rc, None));
        }
        // Idle-time accounting must be asked for before the loop first
        // runs; it costs two clock reads per wait for I/O.
        // SAFETY: the loop is initialised and has not run.
        let rc = unsafe { uv::uv_loop_configure(uv_loop, uv::uv_loop_option_UV_METRICS_IDLE_TIME) };
        if rc != 0 {
            return fail(crate::core::errors::uv_message(rc, None));
        }
        // The loop is never closed: these stay open, and held, for good.
        held().extend(startup_fds);
        Ok(Runtime {
            uv_loop,
            lua: lua.weak(),
            failures: RefCell::new(VecDeque::new()),
            running: Cell::new(false),
            nested_tickers: RefCell::new(Vec::new()),
            timers: TimerDriver::new(),
            timer_sink: OnceCell::new(),
            observers: RefCell::new(Vec::new()),
            handles: Box::leak(Box::default()),
            // Never freed, like the loop: it lives as long as the process.
            read_buffer: Box::into_raw(vec![0u8; READ_BUFFER_SIZE].into_boxed_slice()) as *mut u8,
        })
    }

    /// The runtime that owns `uv_loop`, from inside a libuv callback.
    ///
    /// # Safety
    /// `uv_loop` must be a loop made by `Runtime::new`; the returned
    /// reference must not outlive the callback.
    pub unsafe fn from_loop<'a>(uv_loop: *const uv::uv_loop_t) -> &'a Runtime {
        // SAFETY: per the contract above, `data` was set in `of` and the
        // Runtime is alive while libuv runs callbacks.
        unsafe { &*((*uv_loop).data as *const Runtime) }
    }

    /// The Lua state, unless it is being closed.
    pub fn lua(&self) -> Option<Lua> {
        self.lua.try_upgrade()
    }

    /// The shared read buffer, for an alloc callback.
    pub fn read_buffer(&self) -> uv::uv_buf_t {
        uv::uv_buf_t { base: self.read_buffer as *mut _, len: READ_BUFFER_SIZE }
    }

    pub fn uv_loop(&self) -> *mut uv::uv_loop_t {
        self.uv_loop
    }

    /// Loop time in milliseconds, as libuv caches it for this iteration.
    pub fn now(&self) -> u64 {
        // SAFETY: the loop is initialised and lives as long as the process.
        unsafe { uv::uv_now(self.uv_loop) }
    }

    /// Whether `fd` belongs to the loop, to one of its open handles or to
    /// the module (`Held`): then `fs.close` and the other descriptor calls
    /// must not touch it (closing the epoll descriptor or the signal pipe
    /// under libuv aborts it; a relay or a `readFile` job would lose its
    /// file). A handle's descriptor is asked of libuv, which makes it
    /// (in bind, connect, accept, spawn) and closes it (in `uv_close`).
    pub fn owns_descriptor(&self, fd: c_int) -> bool {
        if fd < 0 {
            return false;
        }
        if held().contains(&fd) {
            return true;
        }
        // SAFETY: the loop is initialised and lives as long as the process;
        // its fields and watcher array are read on the loop's own thread,
        // outside any libuv call. `watchers` has `nwatchers` entries.
        unsafe {
            let l = &*self.uv_loop;
            if fd == l.backend_fd
                || l.signal_pipefd.contains(&fd)
                || fd == l.async_wfd
                || fd == l.async_io_watcher.fd
                || fd == l.inotify_fd
            {
                return true;
            }
            if (fd as u32) < l.nwatchers && !l.watchers.is_null() && !(*l.watchers.add(fd as usize)).is_null() {
                return true;
            }
            let mut probe = (fd, false);
            uv::uv_walk(self.uv_loop, Some(fileno_is), &mut probe as *mut (c_int, bool) as *mut std::ffi::c_void);
            probe.1
        }
    }

    /// Runs one callback into Lua. An error (or a panic) is kept for
    /// `go()` and stops the loop; returns false then, so that a dispatcher
    /// of several callbacks stops too.
    pub fn dispatch(&self, callback: impl FnOnce() -> Result<()>) -> bool {
        let error = match catch_unwind(AssertUnwindSafe(callback)) {
            Ok(Ok(())) => return true,
            Ok(Err(error)) => error,
            Err(_) => Error::RuntimeError("internal error: a Rust panic in a callback".into()),
        };
        self.failures.borrow_mut().push_back(error);
        // SAFETY: the loop is initialised; uv_stop only sets a flag.
        unsafe { uv::uv_stop(self.uv_loop) };
        false
    }

    /// Whether a callback failed since `go()` last returned: then no other
    /// callback may run until `go()` is called again (the first error
    /// stops the loop; the others wait rather than run or be lost).
    pub fn failing(&self) -> bool {
        !self.failures.borrow().is_empty()
    }

    /// Calls the Lua callback `f(args)` from inside a libuv callback, as
    /// every callback is called: its error is kept for `go()` and stops
    /// the loop (`dispatch`), and after a callback failed in this turn it
    /// waits for the next `go()` instead of running now. Returns false if
    /// it ran and failed; an `Err` is the module's own failure (no memory
    /// to queue the call), never `f`'s.
    pub fn callback(&self, lua: &Lua, f: Function, args: impl IntoLuaMulti) -> Result<bool> {
        if self.failing() {
            Runtime::call_later(lua, f, args.into_lua_multi(lua)?)?;
            return Ok(true);
        }
        Ok(self.dispatch(|| f.call(args)))
    }

    /// A Lua function for the module's own event handlers (a socket's
    /// `ondata` in the HTTP server, a pipe's in `exec`, ...): they call
    /// user code, and an error there is the user's callback failing, so it
    /// goes to `go()` through `dispatch` like any callback error instead
    /// of travelling up through the handler's caller as an mlua error
    /// object.
    pub fn handler<A: FromLuaMulti>(lua: &Lua, f: impl Fn(&Lua, A) -> Result<()> + 'static) -> Result<Function> {
        crate::core::boundary::internal(lua, move |lua, args: A| {
            let rt = Runtime::of(lua)?;
            rt.dispatch(|| f(lua, args));
            Ok(())
        })
    }

    /// Calls `f(args)` on the next turn of the loop: for callbacks that
    /// must not run inside the call that triggers them (an error found
    /// while starting an operation, a write on a closed stream).
    pub fn call_later(lua: &Lua, f: Function, args: impl IntoLuaMulti + Clone + 'static) -> Result<()> {
        let later = Runtime::handler(lua, move |_, ()| f.call::<()>(args.clone()))?;
        Runtime::of(lua)?.defer(lua, later)
    }

    /// Calls `f()` once on the next turn of the loop: for callbacks that
    /// must not run inside the call that triggers them (Node's nextTick).
    pub fn defer(&self, lua: &Lua, f: Function) -> Result<()> {
        self.timer_sink()?.internal(lua, f, 0, false).map(drop)
    }

    /// Installs the Lua side of the timers; the first one stays.
    pub fn set_timer_sink(&self, sink: Box<dyn TimerSink>) {
        let _ = self.timer_sink.set(sink);
    }

    fn timer_sink(&self) -> Result<&dyn TimerSink> {
        match self.timer_sink.get() {
            Some(sink) => Ok(sink.as_ref()),
            None => fail("internal error: the timers are not installed"),
        }
    }

    /// Adds an observer of `go()`; if the loop runs now, it is told so.
    pub fn observe(&self, observer: Rc<dyn LoopObserver>) {
        if self.running.get() {
            observer.starting();
        }
        self.observers.borrow_mut().push(observer);
    }

    /// Stops the loop after the current callback, if it runs.
    pub fn stop(&self) {
        if self.running.get() {
            // SAFETY: the loop is initialised; uv_stop only sets a flag.
            unsafe { uv::uv_stop(self.uv_loop) };
        }
    }

    /// The open handles of core/uv_handle.rs.
    pub fn handles(&self) -> &'static Handles {
        self.handles
    }

    /// Every libuv handle of the loop now, the module's own internal ones
    /// (the timer driver's timer, setImmediate's check and idle handles,
    /// ...) included, those of libuv itself not; `kinds` names the
    /// module's kind of each handle of the handle core, by address (none
    /// for the internal ones).
    pub fn walk_handles(&self, kinds: &HashMap<usize, &'static str>) -> Vec<HandleInfo> {
        let mut found: Vec<*mut uv::uv_handle_t> = Vec::new();
        // SAFETY: uv_walk calls `collect_handle` with `found`, alive for the
        // call, for each live handle of the initialised loop.
        unsafe { uv::uv_walk(self.uv_loop, Some(collect_handle), &mut found as *mut _ as *mut std::ffi::c_void) };
        found
            .into_iter()
            .map(|handle| {
                // SAFETY: `handle` is live: nothing ran on the loop since
                // the walk. These calls only read it; the type name is a
                // static C string.
                unsafe {
                    let mut fd: uv::uv_os_fd_t = -1;
                    let kind_name = std::ffi::CStr::from_ptr(uv::uv_handle_type_name(uv::uv_handle_get_type(handle)));
                    HandleInfo {
                        kind: kinds.get(&(handle as usize)).copied(),
                        libuv_type: kind_name.to_str().unwrap_or("unknown"),
                        active: uv::uv_is_active(handle) != 0,
                        referenced: uv::uv_has_ref(handle) != 0,
                        closing: uv::uv_is_closing(handle) != 0,
                        fd: (uv::uv_fileno(handle, &mut fd) == 0).then_some(fd),
                    }
                }
            })
            .collect()
    }

    /// Whether the loop has anything that keeps it running (`uv_loop_alive`).
    pub fn alive(&self) -> bool {
        // SAFETY: the loop is initialised and lives as long as the process.
        unsafe { uv::uv_loop_alive(self.uv_loop) != 0 }
    }

    /// Updates the loop's cached time to the clock (`uv_update_time`).
    pub fn update_time(&self) {
        // SAFETY: as for `alive`; it only reads the clock into the loop.
        unsafe { uv::uv_update_time(self.uv_loop) }
    }

    /// The loop's counters: idle time (the loop was made with
    /// UV_METRICS_IDLE_TIME), iterations and events.
    pub fn metrics(&self) -> LoopMetrics {
        // SAFETY: as for `alive`; a zeroed uv_metrics_t is valid output
        // space for uv_metrics_info, which fills it.
        unsafe {
            let mut info = std::mem::zeroed::<uv::uv_metrics_t>();
            uv::uv_metrics_info(self.uv_loop, &mut info);
            LoopMetrics {
                idle_ns: uv::uv_metrics_idle_time(self.uv_loop),
                iterations: info.loop_count,
                events: info.events,
                events_waiting: info.events_waiting,
            }
        }
    }

    /// Runs the loop until nothing is left to do, `stop()` is called, or a
    /// callback fails.
    ///
    /// Called from inside a callback (the loop is already running: uv_run
    /// is not re-entrant), it returns at once and the running loop carries
    /// on, as programs written for the original expect; its `tick`, if
    /// any, runs until the running `go()` returns.
    pub fn go(&self, lua: &Lua, tick: Option<Function>) -> Result<()> {
        // Callbacks run on the thread that runs the loop: in a fiber, each
        // would run inside that coroutine and could suspend the loop itself.
        if !self.running.get() && lua_raw::in_coroutine(lua)? {
            return fail("go: the loop must run in the main program, not inside a fiber or coroutine");
        }
        // An error kept from the last run: raised before anything runs.
        if !self.running.get()
            && let Some(error) = self.take_failure()
        {
            return Err(error);
        }
        let ticker = match tick {
            Some(f) => Some(self.timer_sink()?.internal(lua, f, 1, true)?),
            None => None,
        };
        if self.running.get() {
            self.nested_tickers.borrow_mut().extend(ticker);
            return Ok(());
        }
        self.running.set(true);
        let observers = self.observers.borrow().clone();
        observers.iter().for_each(|o| o.starting());
        // SAFETY: uv_run is not re-entrant; `running` guards against that.
        // Our callbacks never unwind (see `dispatch`).
        unsafe { uv::uv_run(self.uv_loop, uv::uv_run_mode_UV_RUN_DEFAULT) };
        self.running.set(false);
        observers.iter().for_each(|o| o.stopped());
        let nested = std::mem::take(&mut *self.nested_tickers.borrow_mut());
        for id in ticker.into_iter().chain(nested) {
            self.timer_sink()?.cancel_internal(self, id)?;
        }
        match self.take_failure() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The oldest error kept for `go()`, made ready to raise.
    fn take_failure(&self) -> Option<Error> {
        self.failures.borrow_mut().pop_front().map(boundary::reraise)
    }
}

/// One libuv handle of the loop, as `walk_handles` saw it.
pub struct HandleInfo {
    /// The module's kind (`tcp`, `signal`, ...) for a handle of the handle
    /// core; none for the module's internal handles.
    pub kind: Option<&'static str>,
    /// libuv's name of its type (`tcp`, `timer`, `check`, ...).
    pub libuv_type: &'static str,
    pub active: bool,
    pub referenced: bool,
    pub closing: bool,
    pub fd: Option<uv::uv_os_fd_t>,
}

/// The loop's counters (`uv_metrics_info`, `uv_metrics_idle_time`).
pub struct LoopMetrics {
    pub idle_ns: u64,
    pub iterations: u64,
    pub events: u64,
    pub events_waiting: u64,
}

extern "C" fn collect_handle(handle: *mut uv::uv_handle_t, found: *mut std::ffi::c_void) {
    // SAFETY: `found` is the vector of `walk_handles`, alive for the walk.
    unsafe { (*(found as *mut Vec<*mut uv::uv_handle_t>)).push(handle) };
}

extern "C" fn fileno_is(handle: *mut uv::uv_handle_t, arg: *mut std::ffi::c_void) {
    // SAFETY: `arg` is the `(fd, found)` pair of `owns_descriptor`, alive
    // for the uv_walk call; `handle` is a live handle of the loop.
    unsafe {
        let probe = &mut *(arg as *mut (c_int, bool));
        let mut fd: uv::uv_os_fd_t = -1;
        if uv::uv_fileno(handle, &mut fd) == 0 && fd == probe.0 {
            probe.1 = true;
        }
    }
}

extern "C" fn on_timers_due(timer: *mut uv::uv_timer_t) {
    // SAFETY: the driver's timer belongs to a loop made by `Runtime::new`;
    // this runs inside uv_run, while the Runtime is alive.
    let rt = unsafe { Runtime::from_loop((*timer).loop_) };
    if let Some(sink) = rt.timer_sink.get() {
        sink.fire(rt);
    }
}
