//! Timers: `setTimeout`, `setInterval`, `timer.clear()`.
//!
//! Every timer of a Lua state shares one libuv timer, the driver, set for
//! the earliest deadline in the queue (`timer_queue.rs`: FIFO lists per
//! duration, as Node.js does). A million timers therefore cost a million
//! queue entries and Lua tables, not a million libuv handles.
//!
//! The Lua side of a timer is its handle table, which holds its callback;
//! pending handles sit in one Lua table, `store[slot + 1]`, which keeps an
//! unreferenced timer alive until it fires. A Rust reference per timer
//! would not scale (mlua keeps each on a Lua stack of bounded size).
//!
//! May touch: the driver timer; the Runtime, to dispatch callbacks.

use std::cell::{Cell, OnceCell, RefCell};
use std::ffi::{c_int, c_void};
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{Function, LightUserData, Lua, MultiValue, Result, Table, Value, ffi};

use crate::boundary::{self, Args};
use crate::handle::{self, Class};
use crate::lua_raw;
use crate::runtime::Runtime;
use crate::timer_queue::{Due, Queue, Slot};

static TIMER: Class = Class { kind: "timer", methods: &[&[("clear", clear)]], lua_methods: None };

static CALLBACK_ANCHOR: u8 = 0;

/// The private key under which a timer handle keeps its callback.
fn callback_key() -> Value {
    handle::private_key(&CALLBACK_ANCHOR)
}

#[derive(Default)]
pub struct TimerQueue {
    queue: RefCell<Queue>,
    driver: Cell<Option<*mut uv::uv_timer_t>>,
    /// The deadline the driver is set for, while it runs.
    armed: Cell<Option<u64>>,
    lua_side: OnceCell<LuaSide>,
}

struct LuaSide {
    /// `store[slot + 1]`: the handle of every pending timer.
    store: Table,
    metatable: Table,
}

impl TimerQueue {
    /// Makes the driver timer; called once, when the runtime is made.
    pub fn init(&self, uv_loop: *mut uv::uv_loop_t) -> Result<()> {
        // SAFETY: zeroed memory is valid input for uv_timer_init. The driver
        // is never freed: it belongs to the loop, which lives as long as
        // the process.
        let driver = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<uv::uv_timer_t>() }));
        // SAFETY: `uv_loop` is the runtime's initialised loop; `driver` is
        // a fresh allocation that stays where it is for good.
        let rc = unsafe { uv::uv_timer_init(uv_loop, driver) };
        if rc != 0 {
            return boundary::fail(crate::errors::uv_message(rc, None));
        }
        self.driver.set(Some(driver));
        Ok(())
    }

    /// User timers now pending.
    pub fn live(&self) -> usize {
        self.queue.borrow().live()
    }

    fn lua_side(&self, lua: &Lua) -> Result<&LuaSide> {
        if let Some(side) = self.lua_side.get() {
            return Ok(side);
        }
        let side = LuaSide { store: lua.create_table()?, metatable: TIMER.metatable(lua)? };
        Ok(self.lua_side.get_or_init(|| side))
    }

    /// Queues a timer and stores its Lua side, `object` holding its callback.
    fn add(&self, rt: &Runtime, store: &Table, object: &Table, ms: u64, repeat: bool, internal: bool) -> Result<Slot> {
        let now = rt.fresh_now();
        let slot = self.queue.borrow_mut().add(now, ms, repeat, internal);
        store.raw_set(slot + 1, object)?;
        if self.armed.get().is_none_or(|armed| now.saturating_add(ms) < armed) {
            self.arm(rt, now.saturating_add(ms));
        }
        Ok(slot)
    }

    fn arm(&self, rt: &Runtime, deadline: u64) {
        let Some(driver) = self.driver.get() else { return };
        // SAFETY: the driver was initialised in `init` and is never freed.
        unsafe { uv::uv_timer_start(driver, Some(on_due), deadline.saturating_sub(rt.now()), 0) };
        self.armed.set(Some(deadline));
    }

    fn rearm(&self, rt: &Runtime) {
        let earliest = self.queue.borrow_mut().earliest();
        match earliest {
            Some(deadline) => self.arm(rt, deadline),
            None => self.disarm(),
        }
    }

    fn disarm(&self) {
        if let Some(driver) = self.driver.get() {
            // SAFETY: the driver was initialised in `init` and is never freed.
            unsafe { uv::uv_timer_stop(driver) };
        }
        self.armed.set(None);
    }

    /// Calls `f()` every millisecond for the runtime itself (`go(fn)`);
    /// returns the slot to cancel it with.
    pub fn every_ms(&self, lua: &Lua, f: Function) -> Result<Slot> {
        self.internal(lua, f, 1, true)
    }

    /// Calls `f()` once on the next turn of the loop: for callbacks that
    /// must not run inside the call that triggers them (Node's nextTick).
    pub fn defer(&self, lua: &Lua, f: Function) -> Result<()> {
        self.internal(lua, f, 0, false).map(drop)
    }

    fn internal(&self, lua: &Lua, f: Function, ms: u64, repeat: bool) -> Result<Slot> {
        let rt = Runtime::of(lua)?;
        let holder = lua.create_table()?;
        holder.raw_set(callback_key(), f)?;
        self.add(&rt, &self.lua_side(lua)?.store, &holder, ms, repeat, true)
    }

    /// Cancels the timer in `slot` if `object` (when given) is still the
    /// handle there; nothing happens if it already fired or was cleared.
    pub fn cancel(&self, slot: Slot, object: Option<&Table>) -> Result<()> {
        let Some(LuaSide { store, .. }) = self.lua_side.get() else { return Ok(()) };
        if let Some(object) = object {
            let current: Option<Table> = store.raw_get(slot + 1)?;
            if current.as_ref() != Some(object) {
                return Ok(());
            }
        }
        let (cancelled, empty) = {
            let mut q = self.queue.borrow_mut();
            (q.cancel(slot), q.is_empty())
        };
        if cancelled {
            store.raw_set(slot + 1, Value::Nil)?;
        }
        if empty {
            self.disarm();
        }
        Ok(())
    }

    /// The slot the next timer will take.
    fn next_slot(&self) -> Slot {
        self.queue.borrow().next_slot()
    }

    /// Queues a timer for the raw `setTimeout` below: pure Rust, no Lua.
    fn schedule(&self, rt: &Runtime, ms: u64, repeat: bool) -> Slot {
        let now = rt.fresh_now();
        let slot = self.queue.borrow_mut().add(now, ms, repeat, false);
        if self.armed.get().is_none_or(|armed| now.saturating_add(ms) < armed) {
            self.arm(rt, now.saturating_add(ms));
        }
        slot
    }

    /// Fires every timer due now, in order, then sets the driver for the
    /// next one. Timers armed meanwhile wait for the next loop iteration.
    fn fire(&self, rt: &Runtime) {
        self.armed.set(None);
        let (Some(lua), Some(side)) = (rt.lua(), self.lua_side.get()) else { return };
        let now = rt.now();
        let limit = self.queue.borrow().next_order();
        rt.dispatch(|| {
            let mut failure = None;
            // SAFETY: `fire_due` keeps to the stack discipline stated there.
            unsafe { lua.exec_raw::<()>(&side.store, |state| failure = self.fire_due(rt, state, now, limit))? };
            failure.map_or(Ok(()), |message| Err(mlua::Error::RuntimeError(message)))
        });
        self.rearm(rt);
    }

    /// Calls each due callback with `pcall` straight through the Lua C API:
    /// per timer a few stack operations instead of mlua's generic call
    /// path, which doubles the cost of a million timers. Stops at the first
    /// error and returns its message, traceback included.
    ///
    /// # Safety
    /// `state` is a live Lua state whose stack holds exactly the store table.
    unsafe fn fire_due(&self, rt: &Runtime, state: *mut ffi::lua_State, now: u64, limit: u64) -> Option<String> {
        const STORE: i32 = 1;
        const HANDLER: i32 = 2;
        const HANDLE: i32 = 3;
        // SAFETY: (the whole block) every index used is on the stack as set
        // up here; the stack is reset to HANDLER after each timer; no Rust
        // borrow is held across lua_pcall, which may re-enter this module.
        unsafe {
            if ffi::lua_checkstack(state, 8) == 0 {
                return Some("stack overflow (no room to call a timer)".into());
            }
            lua_raw::push_traceback(state);
            loop {
                // A callback failed in this turn (here or elsewhere): the
                // due timers wait for the next `go()`, whose first turn
                // fires them (the driver is rearmed below).
                if rt.failing() {
                    return None;
                }
                let next = self.queue.borrow_mut().pop_due(now, limit);
                let Due { slot, repeats, internal } = next?;
                ffi::lua_rawgeti(state, STORE, slot as ffi::lua_Integer + 1);
                if ffi::lua_type(state, HANDLE) != ffi::LUA_TTABLE {
                    ffi::lua_settop(state, HANDLER);
                    continue;
                }
                if !repeats {
                    ffi::lua_pushnil(state);
                    ffi::lua_rawseti(state, STORE, slot as ffi::lua_Integer + 1);
                }
                ffi::lua_pushlightuserdata(state, lua_raw::anchor(&CALLBACK_ANCHOR));
                ffi::lua_rawget(state, HANDLE);
                ffi::lua_insert(state, HANDLE);
                let nargs = if internal { 0 } else { 1 };
                ffi::lua_settop(state, HANDLE + nargs);
                if ffi::lua_pcall(state, nargs, 0, HANDLER) != 0 {
                    return Some(lua_raw::string_at(state, -1));
                }
                ffi::lua_settop(state, HANDLER);
            }
        }
    }
}

/// `setTimeout(ms, cb)` / `setInterval(ms, cb)` against the Lua C API: a
/// million timers are set in a tight loop, and mlua's generic call path
/// (argument lists, reference slots) would be most of their cost.
/// Upvalues: 1 the Runtime (light userdata), 2 the store, 3 the metatable.
/// Returns `true, handle` or `false, message, 2` (see boundary.rs).
unsafe extern "C-unwind" fn start_raw<const REPEAT: bool>(state: *mut ffi::lua_State) -> c_int {
    let name = if REPEAT { "setInterval" } else { "setTimeout" };
    const MS: i32 = 1;
    const CALLBACK: i32 = 2;
    const HANDLE: i32 = 3;
    // SAFETY: (the whole block) the indices are the call's arguments and the
    // closure's upvalues as made in `install`. Upvalue 1 points at the
    // Runtime, which lives as long as the Lua state. A Lua error (only
    // out-of-memory can happen here) would unwind through this frame,
    // which owns nothing that needs dropping. Every push that can raise
    // comes before the timer is queued (the handle is stored in the slot
    // it is about to take; the state key fits in the two hash slots made
    // for it), so a raise leaves no timer without its Lua side.
    unsafe {
        if ffi::lua_isnumber(state, MS) == 0 {
            return boundary::raise_bad_argument(state, MS, name, "number");
        }
        if ffi::lua_type(state, CALLBACK) != ffi::LUA_TFUNCTION {
            return boundary::raise_bad_argument(state, CALLBACK, name, "function");
        }
        let ms = ffi::lua_tonumber(state, MS);
        // Past u64 (inf included) the cast saturates: such a timer never fires.
        let ms = if ms > 0.0 { ms as u64 } else { 0 };
        let rt = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const Runtime);
        ffi::lua_settop(state, CALLBACK);
        ffi::lua_createtable(state, 0, 2);
        ffi::lua_pushlightuserdata(state, lua_raw::anchor(&CALLBACK_ANCHOR));
        ffi::lua_pushvalue(state, CALLBACK);
        ffi::lua_rawset(state, HANDLE);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(3));
        ffi::lua_setmetatable(state, HANDLE);
        let slot = rt.timers.next_slot();
        ffi::lua_pushvalue(state, HANDLE);
        ffi::lua_rawseti(state, ffi::lua_upvalueindex(2), slot as ffi::lua_Integer + 1);
        // Takes `slot`: nothing ran in between (and a panic must not
        // unwind from here into Lua, so no assertion says so).
        rt.timers.schedule(rt, ms, REPEAT);
        ffi::lua_pushlightuserdata(state, handle::state_anchor());
        ffi::lua_pushinteger(state, slot as ffi::lua_Integer);
        ffi::lua_rawset(state, HANDLE);
        ffi::lua_pushboolean(state, 1);
        ffi::lua_insert(state, HANDLE);
        2
    }
}

extern "C" fn on_due(driver: *mut uv::uv_timer_t) {
    // SAFETY: the driver belongs to a loop made by `Runtime::new`; this runs
    // inside uv_run, while the Runtime is alive.
    let rt = unsafe { Runtime::from_loop((*driver).loop_) };
    rt.timers.fire(rt);
}

/// `timer.clear()`: harmless when repeated or after the timeout fired.
fn clear(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let slot: Slot = handle::state_of(&this)?;
    Runtime::of(lua)?.timers.cancel(slot, Some(&this))?;
    Ok(MultiValue::new())
}

/// `async.setTimeout`, `async.setInterval`, and the `async.time` table.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let rt = Runtime::of(lua)?;
    let side = rt.timers.lua_side(lua)?;
    let upvalues = (LightUserData(Rc::as_ptr(&rt) as *mut c_void), &side.store, &side.metatable);
    // SAFETY: pushcclosure takes the three upvalues exec_raw pushed.
    let set_timeout: Function = unsafe { lua.exec_raw(upvalues, |s| ffi::lua_pushcclosure(s, start_raw::<false>, 3)) }?;
    // SAFETY: as for set_timeout.
    let set_interval: Function = unsafe { lua.exec_raw(upvalues, |s| ffi::lua_pushcclosure(s, start_raw::<true>, 3)) }?;
    let set_timeout = boundary::wrap(lua, set_timeout)?;
    let set_interval = boundary::wrap(lua, set_interval)?;
    let time = lua.create_table()?;
    for t in [&time, module] {
        t.set("setTimeout", &set_timeout)?;
        t.set("setInterval", &set_interval)?;
    }
    module.set("time", time)
}
