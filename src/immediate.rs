//! `async.setImmediate(cb)`: `cb(handle)` runs once, after the I/O of
//! the current loop iteration (libuv's check phase), as Node.js runs it;
//! `handle.clear()` cancels it (Node's `clearImmediate`).
//!
//! Every immediate of a Lua state waits in one queue, run by one libuv
//! check handle: a Lua table `queue[number] = handle`, numbered in the
//! order they were set. A run takes the immediates set before it began;
//! those set meanwhile wait for the next iteration, so an immediate that
//! sets another cannot starve the loop. While any is pending an idle
//! handle runs too: libuv does not wait for I/O while an idle handle is
//! active, so the check phase comes without delay.
//!
//! May touch: its own check and idle handles, the runtime (callbacks go
//! through its policy: the first error stops the loop, and the immediates
//! after it wait for the next `go()`).

use std::cell::Cell;
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{Function, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::class::{self, Class};
use crate::core::errors::uv_message;
use crate::core::lua_raw::PrivateKey;
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
    first: Cell<i64>,
    /// The number the next immediate takes.
    next: Cell<i64>,
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
            first: Cell::new(1),
            next: Cell::new(1),
            pending: Cell::new(0),
            check,
            idle,
        })
    }

    fn add(&self, lua: &Lua, callback: Function) -> Result<Table> {
        let handle = lua.create_table()?;
        handle.raw_set(ON_RUN.value(), callback)?;
        let number = self.next.get();
        handle.raw_set(class::STATE.value(), number)?;
        handle.set_metatable(Some(self.metatable.clone()))?;
        self.queue.raw_set(number, &handle)?;
        self.next.set(number + 1);
        self.counted(1);
        Ok(handle)
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
    /// fails (this one or another callback of the turn).
    fn run(&self, lua: &Lua, rt: &Runtime) -> Result<()> {
        let end = self.next.get();
        while self.first.get() < end && !rt.failing() {
            let number = self.first.get();
            self.first.set(number + 1);
            let Some(handle) = self.queue.raw_get::<Option<Table>>(number)? else { continue };
            self.queue.raw_set(number, Value::Nil)?;
            self.counted(-1);
            if let Some(callback) = handle.raw_get::<Option<Function>>(ON_RUN.value())? {
                rt.callback(lua, callback, handle)?;
            }
        }
        Ok(())
    }
}

extern "C" fn on_check(check: *mut uv::uv_check_t) {
    // SAFETY: the check handle belongs to a runtime's loop; this runs
    // inside uv_run, while the Runtime is alive.
    let rt = unsafe { Runtime::from_loop((*check).loop_) };
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| Immediates::of(&lua)?.run(&lua, rt));
}

/// Does nothing: an active idle handle only keeps libuv from waiting.
extern "C" fn on_idle(_: *mut uv::uv_idle_t) {}

/// `async.setImmediate(cb)` -> handle.
fn set_immediate(lua: &Lua, args: Args) -> Result<Table> {
    let callback = args.function(1)?;
    Immediates::of(lua)?.add(lua, callback)
}

/// `handle.clear()`: harmless when repeated or after the immediate ran.
fn clear(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let number = match class::raw_state::<Value>(&this)? {
        Value::Integer(n) => n,
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
    lua.set_app_data(Rc::new(Immediates::make(lua)?));
    let set_immediate = boundary::function(lua, "setImmediate", set_immediate)?;
    module.get::<Table>("time")?.set("setImmediate", &set_immediate)?;
    module.set("setImmediate", set_immediate)
}
