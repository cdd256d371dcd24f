//! `async.setImmediate(cb)`: `cb(handle)` runs once, after the I/O of
//! the current loop iteration (libuv's check phase), as Node.js runs it;
//! `handle.clear()` cancels it (Node's `clearImmediate`).
//!
//! Every immediate of a Lua state waits in one queue, run by one libuv
//! check handle: a Lua table `queue[number] = handle`, numbered in the
//! order they were set (numbers are Lua numbers, exact to 2^53: a
//! program that sets a million a second runs for centuries). Setting
//! and running one go through the Lua C API: through mlua, each costs
//! several times more. A run takes the immediates set before it began;
//! those set meanwhile wait for the next iteration, so an immediate that
//! sets another cannot starve the loop. While any is pending an idle
//! handle runs too: libuv does not wait for I/O while an idle handle is
//! active, so the check phase comes without delay.
//!
//! May touch: its own check and idle handles, the runtime (callbacks go
//! through its policy: the first error stops the loop, and the immediates
//! after it wait for the next `go()`).

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{Function, LightUserData, Lua, MultiValue, Result, Table, Value, ffi};

use crate::core::boundary::{self, Args};
use crate::core::class::{self, Class};
use crate::core::errors::uv_message;
use crate::core::lua_raw::{self, PrivateKey};
use crate::core::runtime::Runtime;

static IMMEDIATE: Class = Class { kind: "immediate", methods: &[&[("clear", clear)]], lua_methods: None };

/// The private key under which an immediate's handle keeps its callback.
static ON_RUN: PrivateKey = PrivateKey::new();

/// The immediates of one Lua state, in its app data.
struct Immediates {
    /// `queue[number]`: the handle of each pending immediate.
    queue: Table,
    metatable: Table,
    /// No immediate numbered below this one is pending.
    first: Cell<f64>,
    /// The number the next immediate takes.
    next: Cell<f64>,
    pending: Cell<usize>,
    /// Never freed, as the runtime's loop is not (they belong to it).
    check: *mut uv::uv_check_t,
    idle: *mut uv::uv_idle_t,
}

impl Immediates {
    fn of(lua: &Lua) -> Result<Rc<Immediates>> {
        match lua.app_data_ref::<Rc<Immediates>>() {
            Some(immediates) => Ok(immediates.clone()),
            None => boundary::fail("internal error: setImmediate is not installed"),
        }
    }

    fn make(lua: &Lua) -> Result<Immediates> {
        let uv_loop = Runtime::of(lua)?.uv_loop();
        // SAFETY: zeroed memory is valid input for the init functions. The
        // two handles are never freed: they stay registered with the loop,
        // which lives as long as the process (see runtime.rs).
        let check = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<uv::uv_check_t>() }));
        // SAFETY: as for `check`.
        let idle = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<uv::uv_idle_t>() }));
        // SAFETY: the loop is the runtime's, initialised; the handles are
        // fresh allocations that stay where they are for good.
        let rc = unsafe {
            match uv::uv_check_init(uv_loop, check) {
                0 => uv::uv_idle_init(uv_loop, idle),
                failed => failed,
            }
        };
        if rc != 0 {
            return boundary::fail(uv_message(rc, None));
        }
        Ok(Immediates {
            queue: lua.create_table()?,
            metatable: IMMEDIATE.metatable(lua)?,
            first: Cell::new(1.0),
            next: Cell::new(1.0),
            pending: Cell::new(0),
            check,
            idle,
        })
    }

    /// Counts `change` more (or fewer) pending immediates; the check and
    /// idle handles run exactly while some are pending.
    fn counted(&self, change: isize) {
        let before = self.pending.get();
        let after = before.saturating_add_signed(change);
        self.pending.set(after);
        // SAFETY: both handles were initialised in `make` and are never
        // closed; starting a started handle or stopping a stopped one does
        // nothing.
        unsafe {
            if before == 0 && after > 0 {
                uv::uv_check_start(self.check, Some(on_check));
                uv::uv_idle_start(self.idle, Some(on_idle));
            } else if before > 0 && after == 0 {
                uv::uv_check_stop(self.check);
                uv::uv_idle_stop(self.idle);
            }
        }
    }

    /// Runs the immediates set before this run began, in order, until one
    /// fails (this one or another callback of the turn); returns the
    /// error message, traceback included.
    ///
    /// # Safety
    /// `state` is a live Lua state whose stack holds exactly the queue
    /// table, where a Lua error may unwind (a protected call).
    unsafe fn run(&self, rt: &Runtime, state: *mut ffi::lua_State) -> Option<String> {
        const QUEUE: c_int = 1;
        let end = self.next.get();
        // SAFETY: (the whole block) each turn pushes the handle, takes it
        // out of the queue (setting nil allocates nothing) and calls its
        // callback with it, leaving the stack at the queue again; no Rust
        // borrow is held across the call, which may set or clear
        // immediates (they only touch Cells).
        unsafe {
            if ffi::lua_checkstack(state, 4) == 0 {
                return Some("stack overflow (no room to call an immediate)".into());
            }
            while self.first.get() < end && !rt.failing() {
                let number = self.first.get();
                self.first.set(number + 1.0);
                ffi::lua_pushnumber(state, number);
                ffi::lua_rawget(state, QUEUE);
                if ffi::lua_type(state, -1) != ffi::LUA_TTABLE {
                    ffi::lua_settop(state, QUEUE);
                    continue;
                }
                ffi::lua_pushnumber(state, number);
                ffi::lua_pushnil(state);
                ffi::lua_rawset(state, QUEUE);
                self.counted(-1);
                ffi::lua_pushlightuserdata(state, ON_RUN.pointer());
                ffi::lua_rawget(state, -2);
                ffi::lua_insert(state, -2);
                if let Err(message) = lua_raw::call_protected(state, 1) {
                    return Some(message);
                }
            }
        }
        None
    }
}

extern "C" fn on_check(check: *mut uv::uv_check_t) {
    // SAFETY: the check handle belongs to a runtime's loop; this runs
    // inside uv_run, while the Runtime is alive.
    let rt = unsafe { Runtime::from_loop((*check).loop_) };
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        let immediates = Immediates::of(&lua)?;
        let mut failure = None;
        // SAFETY: `run` keeps to the stack discipline stated there.
        unsafe { lua.exec_raw::<()>(&immediates.queue, |state| failure = immediates.run(rt, state))? };
        failure.map_or(Ok(()), |message| Err(mlua::Error::RuntimeError(message)))
    });
}

/// Does nothing: an active idle handle only keeps libuv from waiting.
extern "C" fn on_idle(_: *mut uv::uv_idle_t) {}

/// `async.setImmediate(cb)` -> handle, against the Lua C API (see the
/// module doc). Upvalues: 1 the `Immediates` (light userdata), 2 the
/// queue, 3 the metatable. Returns `true, handle` or `false, message, 2`
/// (see core/boundary.rs).
unsafe extern "C-unwind" fn set_immediate_raw(state: *mut ffi::lua_State) -> c_int {
    const CALLBACK: c_int = 1;
    const HANDLE: c_int = 2;
    // SAFETY: (the whole block) the indices are the call's argument and
    // the closure's upvalues as made in `install`; upvalue 1 points at the
    // `Immediates` that the app data keeps as long as the Lua state. Only
    // out of memory can raise here, and every push that can comes before
    // the immediate is counted, so a raise leaves no count without its
    // queue entry; this frame owns nothing that needs dropping.
    unsafe {
        if ffi::lua_type(state, CALLBACK) != ffi::LUA_TFUNCTION {
            return boundary::raise_bad_argument(state, CALLBACK, "setImmediate", "function");
        }
        let immediates = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const Immediates);
        let number = immediates.next.get();
        ffi::lua_settop(state, CALLBACK);
        ffi::lua_createtable(state, 0, 2);
        ffi::lua_pushlightuserdata(state, ON_RUN.pointer());
        ffi::lua_pushvalue(state, CALLBACK);
        ffi::lua_rawset(state, HANDLE);
        ffi::lua_pushlightuserdata(state, class::STATE.pointer());
        ffi::lua_pushnumber(state, number);
        ffi::lua_rawset(state, HANDLE);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(3));
        ffi::lua_setmetatable(state, HANDLE);
        ffi::lua_pushnumber(state, number);
        ffi::lua_pushvalue(state, HANDLE);
        ffi::lua_rawset(state, ffi::lua_upvalueindex(2));
        immediates.next.set(number + 1.0);
        immediates.counted(1);
        ffi::lua_pushboolean(state, 1);
        ffi::lua_insert(state, HANDLE);
        2
    }
}

/// `handle.clear()`: harmless when repeated or after the immediate ran.
fn clear(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let number = match class::raw_state::<Value>(&this)? {
        Value::Integer(n) => n as f64,
        Value::Number(n) => n,
        _ => return boundary::fail("clear: bad immediate (not one that setImmediate made)"),
    };
    let immediates = Immediates::of(lua)?;
    if immediates.queue.raw_get::<Option<Table>>(number)?.as_ref() == Some(&this) {
        immediates.queue.raw_set(number, Value::Nil)?;
        immediates.counted(-1);
    }
    Ok(MultiValue::new())
}

/// Immediates set and not yet run nor cleared, for `async.handles()`.
pub fn pending(lua: &Lua) -> Result<usize> {
    Ok(Immediates::of(lua)?.pending.get())
}

/// `async.setImmediate`, also in `async.time`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let immediates = Rc::new(Immediates::make(lua)?);
    lua.set_app_data(immediates.clone());
    let upvalues = (LightUserData(Rc::as_ptr(&immediates) as *mut c_void), &immediates.queue, &immediates.metatable);
    // SAFETY: pushcclosure takes the three upvalues exec_raw pushed.
    let raw: Function = unsafe { lua.exec_raw(upvalues, |s| ffi::lua_pushcclosure(s, set_immediate_raw, 3)) }?;
    let set_immediate = boundary::wrap(lua, raw)?;
    module.get::<Table>("time")?.set("setImmediate", &set_immediate)?;
    module.set("setImmediate", set_immediate)
}
