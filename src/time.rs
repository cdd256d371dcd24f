//! Timers: `setTimeout`, `setInterval`, `timer.clear()`.
//!
//! Every timer of a Lua state is a slot of the runtime's one timer driver
//! (`core/timer_driver.rs`, over the FIFO lists per duration of
//! `core/timer_queue.rs`, as Node.js does); this file is the Lua side
//! above it, the runtime's `TimerSink`.
//!
//! The Lua side of a timer is its handle table, which holds its callback;
//! pending handles sit in one Lua table, `store[slot + 1]`, which keeps an
//! unreferenced timer alive until it fires. A Rust reference per timer
//! would not scale (mlua keeps each on a Lua stack of bounded size).
//!
//! May touch: the timer driver, through the Runtime, which also
//! dispatches the callbacks.

use std::ffi::{c_int, c_void};
use std::rc::Rc;

use mlua::{Function, LightUserData, Lua, MultiValue, Result, Table, Value, ffi};

use crate::core::boundary::{self, Args};
use crate::core::class::{self, Class};
use crate::core::lua_raw;
use crate::core::lua_raw::PrivateKey;
use crate::core::runtime::Runtime;
use crate::core::runtime::TimerSink;
use crate::core::timer_driver::{Due, Slot};

static TIMER: Class = Class { kind: "timer", methods: &[&[("clear", clear)]], lua_methods: None };

/// The private key under which a timer handle keeps its callback.
static ON_DUE: PrivateKey = PrivateKey::new();

/// The Lua side of the timers of a Lua state: the runtime's `TimerSink`.
struct LuaTimers {
    /// `store[slot + 1]`: the handle of every pending timer.
    store: Table,
    metatable: Table,
}

/// The state's `LuaTimers`, made on first use and handed to the runtime.
fn lua_timers(lua: &Lua) -> Result<Rc<LuaTimers>> {
    if let Some(timers) = lua.app_data_ref::<Rc<LuaTimers>>() {
        return Ok(timers.clone());
    }
    let timers = Rc::new(LuaTimers { store: lua.create_table()?, metatable: TIMER.metatable(lua)? });
    lua.set_app_data(timers.clone());
    Runtime::of(lua)?.set_timer_sink(Box::new(timers.clone()));
    Ok(timers)
}

impl LuaTimers {
    /// Cancels the timer in `slot` if `object` (when given) is still the
    /// handle there; nothing happens if it already fired or was cleared.
    fn cancel(&self, rt: &Runtime, slot: Slot, object: Option<&Table>) -> Result<()> {
        if let Some(object) = object {
            let current: Option<Table> = self.store.raw_get(slot + 1)?;
            if current.as_ref() != Some(object) {
                return Ok(());
            }
        }
        if rt.timers.cancel(slot) {
            self.store.raw_set(slot + 1, Value::Nil)?;
        }
        Ok(())
    }

    /// Stores the handle on top of the stack (popped) in the store at
    /// `store` and queues its timer: the one place a timer takes a slot.
    /// Choosing the slot and taking it are one step as far as Lua can
    /// tell: only lua_rawseti runs in between, which makes no collection
    /// step and calls no metamethod, so no finalizer can run there and set
    /// a timer that takes the same slot (an mlua call could: it steps the
    /// collector). Out of memory raises from lua_rawseti, before anything
    /// is queued.
    ///
    /// # Safety
    /// `state` is a live Lua state with the store at index `store` and a
    /// handle table on top of its stack.
    unsafe fn enqueue(rt: &Runtime, state: *mut ffi::lua_State, store: c_int, ms: u64, repeat: bool, internal: bool) -> Slot {
        let slot = rt.timers.next_slot();
        // SAFETY: per the contract.
        unsafe { ffi::lua_rawseti(state, store, slot as ffi::lua_Integer + 1) };
        // Takes `slot`, as nothing ran in between (and a panic must not
        // unwind from here into Lua, so no assertion says so).
        rt.timers.schedule(ms, repeat, internal)
    }

    /// Calls each due callback with `pcall` straight through the Lua C API:
    /// per timer a few stack operations instead of mlua's generic call
    /// path, which doubles the cost of a million timers. Stops at the first
    /// error and returns its message, traceback included.
    ///
    /// # Safety
    /// `state` is a live Lua state whose stack holds exactly the store table.
    unsafe fn fire_due(rt: &Runtime, state: *mut ffi::lua_State, now: u64, limit: u64) -> Option<String> {
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
                let next = rt.timers.pop_due(now, limit);
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
                ffi::lua_pushlightuserdata(state, ON_DUE.pointer());
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

impl TimerSink for Rc<LuaTimers> {
    /// Fires every timer due now, in order, then sets the driver for the
    /// next one. Timers armed meanwhile wait for the next loop iteration.
    fn fire(&self, rt: &Runtime) {
        let (now, limit) = rt.timers.begin_turn();
        if let Some(lua) = rt.lua() {
            rt.dispatch(|| {
                let mut failure = None;
                // SAFETY: `fire_due` keeps to the stack discipline stated there.
                unsafe { lua.exec_raw::<()>(&self.store, |state| failure = LuaTimers::fire_due(rt, state, now, limit))? };
                failure.map_or(Ok(()), |message| Err(mlua::Error::RuntimeError(message)))
            });
        }
        rt.timers.end_turn();
    }

    fn internal(&self, lua: &Lua, f: Function, ms: u64, repeat: bool) -> Result<Slot> {
        let holder = lua.create_table()?;
        holder.raw_set(ON_DUE.value(), f)?;
        let rt = Runtime::of(lua)?;
        let mut slot = 0;
        // SAFETY: exec_raw pushed the store (index 1) and the holder on
        // top of it, which `enqueue` pops; a raise inside is caught there.
        unsafe { lua.exec_raw::<()>((&self.store, holder), |state| slot = LuaTimers::enqueue(&rt, state, 1, ms, repeat, true))? };
        Ok(slot)
    }

    fn cancel_internal(&self, rt: &Runtime, slot: Slot) -> Result<()> {
        self.cancel(rt, slot, None)
    }
}

/// `setTimeout(ms, cb)` / `setInterval(ms, cb)` against the Lua C API: a
/// million timers are set in a tight loop, and mlua's generic call path
/// (argument lists, reference slots) would be most of their cost.
/// Upvalues: 1 the Runtime (light userdata), 2 the store, 3 the metatable.
/// Returns the handle; raises bad arguments itself at the caller's line,
/// so no `wrap` frame sits around it (a fifth of a timer's cost).
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
            return boundary::raise_at_caller(state, boundary::bad_argument_at(state, MS, name, "number"));
        }
        if ffi::lua_type(state, CALLBACK) != ffi::LUA_TFUNCTION {
            return boundary::raise_at_caller(state, boundary::bad_argument_at(state, CALLBACK, name, "function"));
        }
        let ms = ffi::lua_tonumber(state, MS);
        // Past u64 (inf included) the cast saturates: such a timer never fires.
        let ms = if ms > 0.0 { ms as u64 } else { 0 };
        let rt = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const Runtime);
        ffi::lua_settop(state, CALLBACK);
        ffi::lua_createtable(state, 0, 2);
        ffi::lua_pushlightuserdata(state, ON_DUE.pointer());
        ffi::lua_pushvalue(state, CALLBACK);
        ffi::lua_rawset(state, HANDLE);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(3));
        ffi::lua_setmetatable(state, HANDLE);
        ffi::lua_pushvalue(state, HANDLE);
        let slot = LuaTimers::enqueue(rt, state, ffi::lua_upvalueindex(2), ms, REPEAT, false);
        ffi::lua_pushlightuserdata(state, crate::core::class::STATE.pointer());
        ffi::lua_pushinteger(state, slot as ffi::lua_Integer);
        ffi::lua_rawset(state, HANDLE);
        1
    }
}

/// `timer.clear()`: harmless when repeated or after the timeout fired.
fn clear(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let slot = slot_of(&this)?;
    lua_timers(lua)?.cancel(&*Runtime::of(lua)?, slot, Some(&this))?;
    Ok(MultiValue::new())
}

/// The slot a timer handle names. Lua code can reach the private state
/// key (`pairs`) and put anything there, or dress up a table as a timer:
/// what is no slot number is an error naming `clear`; a slot number that
/// is not this handle's clears nothing (see `LuaTimers::cancel`).
fn slot_of(this: &Table) -> Result<Slot> {
    let slot = match class::raw_state::<Value>(this)? {
        Value::Integer(n) => Slot::try_from(n).ok(),
        Value::Number(n) if n.fract() == 0.0 && (0.0..=Slot::MAX as f64).contains(&n) => Some(n as Slot),
        _ => None,
    };
    slot.map_or_else(|| boundary::fail("clear: bad timer (not one that setTimeout or setInterval made)"), Ok)
}

/// `async.setTimeout`, `async.setInterval`, and the `async.time` table.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let rt = Runtime::of(lua)?;
    let side = lua_timers(lua)?;
    let upvalues = (LightUserData(Rc::as_ptr(&rt) as *mut c_void), &side.store, &side.metatable);
    // SAFETY: pushcclosure takes the three upvalues exec_raw pushed.
    let set_timeout: Function = unsafe { lua.exec_raw(upvalues, |s| ffi::lua_pushcclosure(s, start_raw::<false>, 3)) }?;
    // SAFETY: as for set_timeout.
    let set_interval: Function = unsafe { lua.exec_raw(upvalues, |s| ffi::lua_pushcclosure(s, start_raw::<true>, 3)) }?;
    let time = lua.create_table()?;
    for t in [&time, module] {
        t.set("setTimeout", &set_timeout)?;
        t.set("setInterval", &set_interval)?;
    }
    module.set("time", time)
}
