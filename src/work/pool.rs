//! The Lua states that run `async.work` jobs, and their pool.
//!
//! A worker state is a LuaJIT state of its own (`luaL_newstate`: its own
//! heap, garbage collector and globals), with the standard libraries. It
//! is made through the raw C API: mlua's `Lua` may not move between
//! threads, and the C API is all a job needs. A state belongs to whoever
//! holds its `WorkerState`: the pool while idle, one job on one pool
//! thread while it runs. Its compiled chunks are kept in the state, by
//! source text, so code run again is not compiled again.
//!
//! One pool per Lua state of the loop (`Owner`, in its app data): states
//! are made when a job finds none idle, so there are never more than jobs
//! running at once, at most libuv's thread pool size. They are closed when
//! the loop's Lua state closes, after the jobs running then end (see
//! `Owner::drop`); jobs that have not started by then are skipped.
//!
//! May touch: worker states (raw Lua C API), on whichever thread holds
//! them. Never the loop's Lua state, never libuv (but for its wording of
//! ECANCELED).

use std::ffi::{c_char, c_int, c_void};
use std::ptr::NonNull;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use mlua::ffi;

use crate::core::errors::uv_message;
use crate::core::lua_raw::{NoUnwind, PrivateKey, plain_string_at};
use crate::core::memory;
use crate::work::copy::{self, Copied};

const PRELUDE: &str = include_str!("../lua/work_state.lua");

/// How many compiled chunks a worker state keeps; past that, it forgets
/// them all and starts again.
const CACHED_CHUNKS: usize = 64;

/// After a job that copied this many bytes of strings, its state collects
/// its garbage at once, rather than holding the copies while idle.
const COLLECT_AFTER_BYTES: usize = 16 << 20;

/// The registry key of a worker state's chunk cache (source → function).
static CHUNKS: PrivateKey = PrivateKey::new();

/// One worker state. Closed when dropped.
pub struct WorkerState {
    state: NonNull<ffi::lua_State>,
    /// How many chunks its cache holds.
    cached: usize,
}

// SAFETY: a worker state shares nothing with any other state or thread
// (luaL_newstate makes a separate global state), and only the holder of
// its `WorkerState` reaches it: moving the value to another thread moves
// the sole right to use it. `WorkerState` is not `Sync`.
unsafe impl Send for WorkerState {}

impl Drop for WorkerState {
    fn drop(&mut self) {
        // SAFETY: the state was made by `WorkerState::new`, is closed here
        // only, and nothing runs in it (its holder is dropping it).
        unsafe { ffi::lua_close(self.state.as_ptr()) }
    }
}

/// What `run_in_state` is handed through `lua_cpcall`.
struct Run<'a> {
    source: &'a [u8],
    arguments: &'a [Copied],
    cached: &'a mut usize,
    outcome: Option<Result<Copied, String>>,
}

impl WorkerState {
    /// A new state with the standard libraries and the prelude.
    fn new() -> Result<WorkerState, String> {
        // SAFETY: luaL_newstate has no preconditions; null means no memory.
        let state = NonNull::new(unsafe { ffi::luaL_newstate() }).ok_or(memory::MESSAGE)?;
        // Dropped (closed) on every way out below.
        let worker = WorkerState { state, cached: 0 };
        // SAFETY: the fresh state is ours alone; lua_cpcall runs `open`
        // protected and leaves an error message, if any, on the stack.
        unsafe {
            let state = state.as_ptr();
            if ffi::lua_cpcall(state, open, std::ptr::null_mut()) != 0 {
                return Err(format!("cannot start a worker state: {}", plain_string_at(state, -1)));
            }
        }
        Ok(worker)
    }

    /// Runs `source` with `arguments` as its `...`; its first result, or
    /// the error (compiling, running, or copying the result).
    pub fn run(&mut self, source: &[u8], arguments: &[Copied]) -> Result<Copied, String> {
        let mut run = Run { source, arguments, cached: &mut self.cached, outcome: None };
        let state = self.state.as_ptr();
        // SAFETY: the state is ours (`&mut self`); `run` outlives the
        // call, the only user of the pointer to it; the stack is emptied
        // after, whatever happened.
        unsafe {
            let failed = ffi::lua_cpcall(state, run_in_state, &mut run as *mut Run as *mut c_void) != 0;
            let outcome = match run.outcome.take() {
                Some(outcome) if !failed => outcome,
                // The only errors run_in_state does not catch are those of
                // copying in (memory running out, mostly).
                _ => Err(format!("work: {}", plain_string_at(state, -1))),
            };
            ffi::lua_settop(state, 0);
            let copied =
                arguments.iter().map(Copied::string_bytes).sum::<usize>() + outcome.as_ref().map_or(0, Copied::string_bytes);
            if copied >= COLLECT_AFTER_BYTES {
                ffi::lua_gc(state, ffi::LUA_GCCOLLECT, 0);
            }
            outcome
        }
    }
}

/// Opens a new state's libraries and runs the prelude, under lua_cpcall.
unsafe extern "C-unwind" fn open(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by lua_cpcall on a fresh state; a Lua error raised
    // here unwinds to it through this frame, which owns nothing.
    unsafe {
        ffi::lua_settop(state, 0);
        ffi::luaL_openlibs(state);
        let name = c"=async.work";
        if ffi::luaL_loadbuffer(state, PRELUDE.as_ptr() as *const c_char, PRELUDE.len(), name.as_ptr()) != 0 {
            ffi::lua_error(state);
        }
        ffi::lua_call(state, 0, 0);
    }
    0
}

/// The body of `WorkerState::run`, under lua_cpcall with a light userdata
/// pointing at the `Run`. The job's own errors (compiling, running) and a
/// result that cannot be copied are caught here and put in `outcome`;
/// an error copying the arguments in unwinds to lua_cpcall.
unsafe extern "C-unwind" fn run_in_state(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the argument points at the Run that `WorkerState::run` keeps
    // alive, and does not touch, until this returns or raises. This frame
    // owns nothing to drop but the guard (the outcome is stored, not
    // held), so a Lua error may unwind through it.
    unsafe {
        let run = &mut *(ffi::lua_touserdata(state, 1) as *mut Run);
        let _guard = NoUnwind("work");
        ffi::lua_settop(state, 0);
        if let Err(message) = push_chunk(state, run.source, run.cached) {
            run.outcome = Some(Err(message));
            return 0;
        }
        let count = run.arguments.len();
        if count > c_int::MAX as usize || ffi::lua_checkstack(state, count as c_int + 1) == 0 {
            run.outcome = Some(Err(format!("work: too many arguments ({count})")));
            return 0;
        }
        for argument in run.arguments {
            if let Err(message) = copy::push(state, argument) {
                run.outcome = Some(Err(format!("work: {message}")));
                return 0;
            }
        }
        if ffi::lua_pcall(state, count as c_int, 1, 0) != 0 {
            run.outcome = Some(Err(plain_string_at(state, -1)));
            return 0;
        }
        let result = copy::read(state, ffi::lua_gettop(state));
        run.outcome = Some(result.map_err(|refusal| format!("work: {}", refusal.message("result"))));
    }
    0
}

/// Pushes the function compiled from `source`, from the state's cache or
/// compiled now (and cached). A syntax error is returned, worded
/// `work:LINE: message`.
///
/// # Safety
/// Inside `run_in_state`, with an empty stack.
unsafe fn push_chunk(state: *mut ffi::lua_State, source: &[u8], cached: &mut usize) -> Result<(), String> {
    // SAFETY: per the contract; the cache table stays at index 1 and the
    // source string at 2 while they are needed, and the function ends up
    // alone on the stack.
    unsafe {
        ffi::lua_pushlightuserdata(state, CHUNKS.pointer());
        ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
        if ffi::lua_type(state, 1) != ffi::LUA_TTABLE || *cached >= CACHED_CHUNKS {
            ffi::lua_settop(state, 0);
            ffi::lua_createtable(state, 0, CACHED_CHUNKS as c_int);
            ffi::lua_pushlightuserdata(state, CHUNKS.pointer());
            ffi::lua_pushvalue(state, 1);
            ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX);
            *cached = 0;
        }
        ffi::lua_pushlstring(state, source.as_ptr() as *const c_char, source.len());
        ffi::lua_pushvalue(state, 2);
        ffi::lua_rawget(state, 1);
        if ffi::lua_type(state, 3) != ffi::LUA_TFUNCTION {
            ffi::lua_settop(state, 2);
            let name = c"=work";
            if ffi::luaL_loadbuffer(state, source.as_ptr() as *const c_char, source.len(), name.as_ptr()) != 0 {
                let message = plain_string_at(state, -1);
                ffi::lua_settop(state, 0);
                return Err(message);
            }
            ffi::lua_pushvalue(state, 2);
            ffi::lua_pushvalue(state, 3);
            ffi::lua_rawset(state, 1);
            *cached += 1;
        }
        ffi::lua_replace(state, 1);
        ffi::lua_settop(state, 1);
    }
    Ok(())
}

/// The worker states of one loop's Lua state.
pub struct Pool {
    shared: Mutex<Shared>,
    /// Signalled when a job ends, for `Owner::drop` waiting for them.
    job_ended: Condvar,
}

struct Shared {
    idle: Vec<WorkerState>,
    /// Jobs running now.
    running: usize,
    /// Set when the loop's Lua state closes: no job starts after that,
    /// and states coming back are closed.
    closed: bool,
}

impl Pool {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs one job in an idle state (a new one if none is), on the
    /// calling thread, and gives the state back.
    pub fn run(&self, source: &[u8], arguments: &[Copied]) -> Result<Copied, String> {
        let (taken, mut running) = {
            let mut shared = self.shared();
            if shared.closed {
                return Err(uv_message(libuv_sys2::uv_errno_t_UV_ECANCELED, None));
            }
            shared.running += 1;
            (shared.idle.pop(), Running { pool: self, worker: None })
        };
        let worker = running.worker.insert(match taken {
            Some(worker) => worker,
            None => WorkerState::new()?,
        });
        worker.run(source, arguments)
    }
}

/// A job running: when it ends, however it ends, its state goes back to
/// the pool (unless the pool is closed) and `Owner::drop` is told.
struct Running<'p> {
    pool: &'p Pool,
    worker: Option<WorkerState>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut shared = self.pool.shared();
        // Room is asked first: a push that had to grow the vector and
        // could not would abort. Without room the state is just closed
        // (after the lock is let go).
        let kept = !shared.closed && memory::reserve(&mut shared.idle, 1).is_ok();
        let closing = match self.worker.take() {
            Some(worker) if kept => {
                shared.idle.push(worker);
                None
            }
            other => other,
        };
        shared.running -= 1;
        // Only `Owner::drop` waits, and only once the pool is closed.
        if shared.closed {
            self.pool.job_ended.notify_all();
        }
        drop(shared);
        drop(closing);
    }
}

/// The pool as its loop's Lua state holds it; dropped when that state
/// closes, which closes the pool.
pub struct Owner(pub Arc<Pool>);

impl Owner {
    pub fn new() -> Owner {
        let shared = Shared { idle: Vec::new(), running: 0, closed: false };
        Owner(Arc::new(Pool { shared: Mutex::new(shared), job_ended: Condvar::new() }))
    }
}

impl Drop for Owner {
    /// Closes the pool, and waits for the jobs running: the Lua state
    /// closes before the module is unloaded, and libuv's unload hook joins
    /// its threads while it holds the dynamic loader's lock, which a job
    /// loading a C module (`require`) would wait for forever.
    fn drop(&mut self) {
        let mut shared = self.0.shared();
        shared.closed = true;
        while shared.running > 0 {
            shared = self.0.job_ended.wait(shared).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let idle = std::mem::take(&mut shared.idle);
        drop(shared);
        drop(idle);
    }
}
