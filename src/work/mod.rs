//! `async.work(code, [args], cb)`: runs Lua source in another Lua state on
//! libuv's thread pool, so that CPU-bound work does not hold up the loop;
//! `cb(result)` or `cb(nil, err)` is called on the loop thread.
//!
//! The arguments are copied out of the calling state when `work` is
//! called (copy.rs says what can be copied; anything else is an error
//! raised at the call); a pool thread runs the job in a worker state of
//! this Lua state's pool (pool.rs) and copies its result out; the
//! completion, back on the loop thread, copies it in and calls `cb`
//! through the runtime's callback policy. The pool thread touches only the
//! job's `Task` (plain data); the callback stays with the loop thread.
//!
//! Work queued keeps the loop alive: `go()` returns once every job's
//! callback has run. Stopping the loop (`async.stop`, a failing callback)
//! does not stop work: jobs go on, and their callbacks wait for the next
//! `go()`. A job that has not started when the Lua state closes is
//! skipped; one that runs then is waited for, as the state closes (see
//! `pool::Owner`). Its callback never runs.
//!
//! May touch: libuv work requests, the registry (callbacks), this Lua
//! state's app data (its pool).

use std::ffi::c_int;
use std::sync::Arc;

use libuv_sys2 as uv;
use mlua::{Function, Lua, Result, Table, Value, ffi};

use crate::core::boundary::{self, Args};
use crate::core::errors::uv_message;
use crate::core::memory;
use crate::core::runtime::Runtime;
use crate::core::uv_request::{Callback, UvRequest};

mod copy;
mod pool;

use copy::Copied;
use pool::{Owner, Pool};

/// The part of a job the pool thread uses: plain data, no Lua.
struct Task {
    pool: Option<Arc<Pool>>,
    source: Vec<u8>,
    arguments: Vec<Copied>,
    outcome: Option<std::result::Result<Copied, String>>,
}

struct Job {
    task: Task,
    callback: Callback,
}

type JobRequest = UvRequest<uv::uv_work_t, Job>;

/// This Lua state's pool, made on first use.
fn pool_of(lua: &Lua) -> Arc<Pool> {
    if let Some(owner) = lua.app_data_ref::<Owner>() {
        return owner.0.clone();
    }
    let owner = Owner::new();
    let pool = owner.0.clone();
    lua.set_app_data(owner);
    pool
}

/// `async.work(code, [args], cb)`.
fn work(lua: &Lua, args: Args) -> Result<()> {
    let Value::String(source) = args.get(1) else { return args.bad(1, "string") };
    let (given, callback) = match (args.get(2), args.get(3)) {
        (Value::Function(callback), _) => (None, callback),
        (Value::Table(given), _) => (Some(given), args.function(3)?),
        (Value::Nil, Value::Function(callback)) => (None, callback),
        _ => return args.bad(2, "table or function"),
    };
    let arguments = match given {
        Some(table) => copy_arguments(lua, &table)?,
        None => Vec::new(),
    };
    let source = memory::copy(&source.as_bytes())?;
    let task = Task { pool: Some(pool_of(lua)), source, arguments, outcome: None };
    let job = Job { task, callback: Callback::new(lua, callback)? };
    let rt = Runtime::of(lua)?;
    let uv_loop = rt.uv_loop();
    let started = JobRequest::start(job, |req| {
        // SAFETY: `req` lives until `job_done`, libuv's completion for it.
        unsafe { uv::uv_queue_work(uv_loop, req, Some(run_job), Some(job_done)) }
    });
    // The callback is told on the next turn, never inside this call.
    if let Err((rc, job)) = started {
        let callback: Function = job.callback.into_function(lua)?;
        Runtime::call_later(lua, callback, (Value::Nil, uv_message(rc, None)))?;
    }
    Ok(())
}

/// The most arguments a job takes: they must fit on a Lua stack (8000
/// slots in LuaJIT); a larger list goes better in one table.
const MAX_ARGUMENTS: usize = 7000;

/// The elements `1..n` of `args`, copied: `n` is `args.n` if it is a
/// number (as `table.pack` sets it), else `#args`. A value that cannot be
/// copied is an error raised at the call.
fn copy_arguments(lua: &Lua, table: &Table) -> Result<Vec<Copied>> {
    let mut copied: Option<std::result::Result<Vec<Copied>, String>> = None;
    // SAFETY: exec_raw pushed the table and runs this protected, on the
    // calling thread; the stack is put back as it was, the table on top.
    unsafe {
        lua.exec_raw::<()>(table, |state| {
            let at = ffi::lua_gettop(state);
            ffi::lua_pushstring(state, c"n".as_ptr());
            ffi::lua_rawget(state, at);
            let count = match ffi::lua_type(state, -1) {
                ffi::LUA_TNUMBER => ffi::lua_tonumber(state, -1).max(0.0) as usize,
                _ => ffi::lua_objlen(state, at),
            };
            ffi::lua_settop(state, at);
            if count > MAX_ARGUMENTS {
                copied = Some(Err(format!("too many arguments ({count}; at most {MAX_ARGUMENTS})")));
                ffi::lua_settop(state, at - 1);
                return;
            }
            let mut elements = Vec::new();
            for i in 1..=count {
                ffi::lua_rawgeti(state, at, i as _);
                let element = copy::read(state, at + 1).map_err(|refusal| refusal.message(&format!("args[{i}]")));
                ffi::lua_settop(state, at);
                let room = memory::reserve(&mut elements, 1).map_err(|e| e.to_string());
                match room.and(element) {
                    Ok(element) => elements.push(element),
                    Err(message) => {
                        copied = Some(Err(message));
                        break;
                    }
                }
            }
            ffi::lua_settop(state, at - 1);
            copied.get_or_insert(Ok(elements));
        })?;
    }
    match copied {
        Some(Ok(elements)) => Ok(elements),
        Some(Err(message)) => boundary::fail(format!("work: {message}")),
        None => boundary::fail("work: internal error: the arguments were not read"),
    }
}

/// On a pool thread.
extern "C" fn run_job(req: *mut uv::uv_work_t) {
    // SAFETY: the request is a `JobRequest` (started by `work`); between
    // submission and `job_done` only this thread touches its `task`, and
    // the loop thread touches nothing of it. libuv's queue orders this
    // thread's writes before `job_done` reads them.
    let task = unsafe { &mut (*(req as *mut JobRequest)).state.task };
    // Given up here: the last holder of a closed pool frees it.
    if let Some(pool) = task.pool.take() {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.run(&task.source, &task.arguments)));
        task.outcome = Some(outcome.unwrap_or_else(|_| Err("work: internal error: a Rust panic in a worker".into())));
    }
}

/// On the loop thread, once the job ran (or was cancelled).
extern "C" fn job_done(req: *mut uv::uv_work_t, status: c_int) {
    // SAFETY: started by `work`; this is its one completion callback.
    let job = unsafe { JobRequest::finish(req) };
    // SAFETY: the request's loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop(job.raw().loop_) };
    let Job { task, callback } = job.state;
    let outcome = match task.outcome {
        Some(outcome) if status == 0 => outcome,
        _ => Err(uv_message(if status < 0 { status } else { uv::uv_errno_t_UV_ECANCELED }, None)),
    };
    callback.call(rt, |lua| match outcome.and_then(|result| push_result(lua, &result)) {
        Ok(result) => Ok((result, Value::Nil)),
        Err(message) => Ok((Value::Nil, Value::String(lua.create_string(message)?))),
    });
}

/// The result as a value of the loop's Lua state, or why it could not be
/// made (memory running out is the job's error, as in the worker).
fn push_result(lua: &Lua, result: &Copied) -> std::result::Result<Value, String> {
    let mut failure = None;
    // SAFETY: exec_raw runs this protected, on the loop thread, with a
    // free slot; exactly one value is left, the copy (or nil).
    let value = unsafe {
        lua.exec_raw::<Value>((), |state| {
            if let Err(message) = copy::push(state, result) {
                failure = Some(message);
                ffi::lua_pushnil(state);
            }
        })
    };
    match (value, failure) {
        (Ok(value), None) => Ok(value),
        (_, Some(message)) => Err(format!("work: {message}")),
        (Err(error), None) => Err(format!("work: {}", boundary::plain_message(&error))),
    }
}

/// `async.work`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    module.set("work", boundary::function(lua, "work", work)?)
}
