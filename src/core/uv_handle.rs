//! The handle core on the libuv side: who owns a libuv handle's memory,
//! how it is tied to its Lua object, and how it is closed and freed.
//!
//! Each handle is one allocation, `Owned<S, H>`: the libuv struct `H`
//! (`uv_tcp_t`, `uv_pipe_t`, ...) and the module's state `S` for it. libuv's
//! `data` field points at the state. The allocation belongs to libuv from
//! `open` until the close callback, which is the only place it is freed.
//!
//! The tie to Lua: while the handle is open, the Lua object (a handle
//! table, see `class.rs`) is held by a registry reference, so an active
//! handle lives without any Lua reference, and the object's private state
//! key holds a plain number that names the handle in the runtime's table
//! of open handles (`Handles`). That table has a slot per handle: a
//! pointer to its state, the type of the state, and a generation, bumped
//! each time the slot is freed; the number is the slot's index and
//! generation, and a lookup checks all three. Lua code can see the number
//! (`pairs`), copy it to another table or make up any other, but a number
//! is only a name: whatever it is, what Rust dereferences is a pointer
//! from the table, to a live state of the type asked for. A number copied
//! onto an object of another kind fails the type check, one kept after the
//! close names a freed slot (the close callback frees it, and so bumps its
//! generation, before it frees the state), and a made-up number names no
//! open handle, or one that is open, as a copy of its number would: never
//! freed memory, never a state of another type. Any other value under the
//! key is no state at all. The close callback also drops the object's
//! reference, so the object is collected once Lua lets go of it.
//!
//! The table also lists the open handles, for `async.handles()`. Raw code
//! on the Lua C API (the write and send hot paths) finds it through the
//! registry, where `publish` leaves its address under a private key; the
//! registry is out of Lua's reach (without the `debug` library, which can
//! break what mlua keeps there as well).
//!
//! Also the `close` and `onclose` methods shared by handle kinds.
//!
//! May touch: libuv handles, the registry, the object's state key.

use std::any::TypeId;
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};

use libuv_sys2 as uv;
use mlua::{Function, Lua, MultiValue, Result, Table, Value, ffi};

use crate::core::boundary::Args;
use crate::core::class::Class;

use crate::core::errors::UvError;
use crate::core::lua_raw::{self, PrivateKey};
use crate::core::runtime::Runtime;

/// The part of every handle state that this core manages.
pub struct Tie {
    /// The handle's class, for its kind (a thin pointer, where the kind's
    /// `&str` took 16 bytes).
    class: &'static Class,
    /// Registry reference of the Lua object while the handle is open.
    object: Cell<c_int>,
    /// Its slot in the runtime's `Handles`, while the handle is open.
    slot: Cell<u32>,
    closing: Cell<bool>,
    handle: Cell<*mut uv::uv_handle_t>,
    /// `uv_close` with the close callback for the concrete `Owned<S, H>`.
    close: Cell<unsafe fn(*mut uv::uv_handle_t)>,
}

/// A handle state: gives access to its tie and hears of the close.
pub trait HandleState: Sized + 'static {
    fn tie(&self) -> &Tie;
    /// Called once the handle is closed, before its memory is freed, with
    /// its Lua object (whose state key is already cleared).
    fn closed(&self, lua: &Lua, object: &Table) -> Result<()>;
}

/// The state of a handle that needs nothing but its tie and some plain
/// `data` (a server, a watcher and its path).
pub struct Plain<T: 'static = ()> {
    pub tie: Tie,
    pub data: T,
}

impl<T: 'static> Plain<T> {
    pub fn new(class: &'static Class, data: T) -> Plain<T> {
        Plain { tie: Tie::new(class), data }
    }
}

impl<T: 'static> HandleState for Plain<T> {
    fn tie(&self) -> &Tie {
        &self.tie
    }

    fn closed(&self, _: &Lua, _: &Table) -> Result<()> {
        Ok(())
    }
}

#[repr(C)]
struct Owned<S, H> {
    raw: H,
    state: S,
}

impl Tie {
    pub fn new(class: &'static Class) -> Tie {
        Tie {
            class,
            object: Cell::new(ffi::LUA_NOREF),
            slot: Cell::new(NO_SLOT),
            closing: Cell::new(false),
            handle: Cell::new(std::ptr::null_mut()),
            close: Cell::new(close_nothing),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.class.kind
    }

    /// Whether `close` was called (the handle may still be shutting down).
    pub fn closing(&self) -> bool {
        self.closing.get()
    }

    /// The libuv handle, valid until the close callback.
    pub fn handle(&self) -> *mut uv::uv_handle_t {
        self.handle.get()
    }

    /// The Lua object, while the handle is open.
    pub fn object(&self, lua: &Lua) -> Result<Option<Table>> {
        let reference = self.object.get();
        if reference == ffi::LUA_NOREF {
            return Ok(None);
        }
        // SAFETY: pushes one registry value, which exec_raw pops as result.
        unsafe {
            lua.exec_raw((), |state| {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, reference as _);
            })
        }
    }

    /// The registry reference of the Lua object, for the raw hot paths.
    pub fn object_ref(&self) -> c_int {
        self.object.get()
    }

    /// Starts closing the handle; the close callback frees it later. Safe
    /// to call more than once.
    pub fn close(&self) {
        if self.closing.replace(true) {
            return;
        }
        // SAFETY: the handle is initialised and not yet closed (`closing`
        // was false); `close` was set to the matching callback by `open`.
        unsafe { (self.close.get())(self.handle.get()) }
    }
}

unsafe fn close_nothing(_: *mut uv::uv_handle_t) {}

/// `Tie::slot` of a handle in no slot (yet, or any more).
const NO_SLOT: u32 = u32::MAX;

/// Bits of a handle's number for its slot's index, and above them for the
/// slot's generation: a number is below 2^52, which a Lua number (a
/// double) holds exactly. 2^26 (67 million) handles can be open at once.
const SLOT_BITS: u32 = 26;
const GENERATION_BITS: u32 = 26;

/// The open handles of a runtime, by slot (see the module doc). Freed
/// slots are reused, last freed first; a slot whose generation has run
/// out (after 2^26 handles) is never used again, so no number ever names
/// two handles.
#[derive(Default)]
pub struct Handles {
    slots: RefCell<Slots>,
}

#[derive(Default)]
struct Slots {
    entries: Vec<Entry>,
    /// The indexes of the free entries.
    free: Vec<u32>,
}

struct Entry {
    /// The handle's state, null while the slot is free.
    state: *const c_void,
    /// The state's tie, for `list`.
    tie: *const Tie,
    /// The type of the state.
    kind: TypeId,
    /// Which handle of the slot this is: bumped each time it is freed. It
    /// starts at 1, so that small numbers (0, 1, 2, ...) name nothing.
    generation: u32,
}

// Every borrow of `Handles::slots` below ends within its method, which
// calls out to nothing: none can overlap another, so none panics.
impl Handles {
    /// Puts a state in a free slot; its number, or None if 2^26 handles
    /// are open.
    fn insert(&self, state: *const c_void, tie: &Tie, kind: TypeId) -> Option<f64> {
        let mut slots = self.slots.borrow_mut();
        let slot = match slots.free.pop() {
            Some(slot) => slot,
            None if slots.entries.len() < 1 << SLOT_BITS => {
                slots.entries.push(Entry { state: std::ptr::null(), tie, kind, generation: 1 });
                (slots.entries.len() - 1) as u32
            }
            None => return None,
        };
        let entry = slots.entries.get_mut(slot as usize)?;
        *entry = Entry { state, tie, kind, generation: entry.generation };
        tie.slot.set(slot);
        Some(((entry.generation as u64) << SLOT_BITS | slot as u64) as f64)
    }

    /// Frees the slot of `tie` (if it has one): its number names nothing
    /// from here on.
    fn remove(&self, tie: &Tie) {
        let slot = tie.slot.replace(NO_SLOT);
        let mut slots = self.slots.borrow_mut();
        let Some(entry) = slots.entries.get_mut(slot as usize) else { return };
        entry.state = std::ptr::null();
        entry.tie = std::ptr::null();
        entry.generation += 1;
        if entry.generation < 1 << GENERATION_BITS {
            slots.free.push(slot);
        }
    }

    /// The state of type `S` that `number` names, or null.
    fn find<S: 'static>(&self, number: f64) -> *const S {
        // Only a whole number from 0 below 2^52 can name a slot: one that
        // the cast to an integer (which saturates, and makes NaN 0) does
        // not change, and below that bound.
        let whole = number as u64;
        if whole as f64 != number || whole >= 1 << (SLOT_BITS + GENERATION_BITS) {
            return std::ptr::null();
        }
        let number = whole;
        let (slot, generation) = (number & ((1 << SLOT_BITS) - 1), number >> SLOT_BITS);
        match self.slots.borrow().entries.get(slot as usize) {
            Some(entry) if entry.generation as u64 == generation && entry.kind == TypeId::of::<S>() => entry.state as *const S,
            _ => std::ptr::null(),
        }
    }

    /// The kind and libuv handle of every open handle.
    fn list(&self) -> Vec<(&'static str, *mut uv::uv_handle_t)> {
        let slots = self.slots.borrow();
        let ties = slots.entries.iter().filter(|entry| !entry.state.is_null()).map(|entry| entry.tie);
        // SAFETY: the tie of a used slot is part of a live state: the close
        // callback frees the slot before it frees the state.
        ties.map(|tie| unsafe { ((*tie).kind(), (*tie).handle()) }).collect()
    }
}

/// The kind and libuv handle of every open handle of the handle core.
pub fn open_handles(rt: &Runtime) -> Vec<(&'static str, *mut uv::uv_handle_t)> {
    rt.handles().list()
}

/// Where the registry keeps the address of a Lua state's `Handles`.
static HANDLES: PrivateKey = PrivateKey::new();

/// Leaves the address of `handles` in the registry of `lua`, for
/// `state_at`. Called once, as the runtime is made; `handles` is never
/// freed (see `Runtime::handles`), so the address stays valid as long as
/// Lua code runs.
pub fn publish(lua: &Lua, handles: &'static Handles) -> Result<()> {
    let address = handles as *const Handles as *mut c_void;
    // SAFETY: runs protected (exec_raw); the three pushes are consumed by
    // the raw set.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_pushlightuserdata(state, HANDLES.pointer());
            ffi::lua_pushlightuserdata(state, address);
            ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX);
        })
    }
}

/// Allocates a handle with `state`, initialises it with `init` (e.g.
/// `uv_tcp_init`), and ties it to `object`. On an init error nothing is
/// left allocated and the error is raised as `"{what}: CODE: message"`.
pub fn open<S: HandleState, H>(
    lua: &Lua,
    object: &Table,
    state: S,
    what: &str,
    init: impl FnOnce(*mut uv::uv_loop_t, *mut H) -> c_int,
) -> Result<&'static S> {
    let rt = Runtime::of(lua)?;
    // SAFETY: libuv handle structs are plain C data for which zeroed
    // memory is valid input to their init function.
    let owned = Box::into_raw(Box::new(Owned { raw: unsafe { std::mem::zeroed::<H>() }, state }));
    // SAFETY: `owned` is a fresh allocation; `raw` is its first field.
    let raw = unsafe { &raw mut (*owned).raw };
    if let Err(error) = UvError::check(init(rt.uv_loop(), raw)) {
        // SAFETY: init failed, so libuv holds no pointer to it.
        drop(unsafe { Box::from_raw(owned) });
        return crate::core::boundary::fail(format!("{what}: {error}"));
    }
    // SAFETY: the allocation lives until `on_close::<S, H>` frees it, and
    // every use of the returned reference is on this thread before that:
    // methods find it through the object's number, whose slot the close
    // callback frees first.
    let state: &'static S = unsafe { &(*owned).state };
    let handle = raw as *mut uv::uv_handle_t;
    // SAFETY: `handle` is initialised; `data` is ours to use.
    unsafe { (*handle).data = state as *const S as *mut _ };
    let tie = state.tie();
    tie.handle.set(handle);
    tie.close.set(start_close::<S, H>);
    let Some(number) = rt.handles().insert(state as *const S as *const c_void, tie, TypeId::of::<S>()) else {
        tie.close();
        return crate::core::boundary::fail(format!("{what}: too many open handles"));
    };
    // SAFETY: runs protected (exec_raw) with the object at index 1: the
    // number is stored under the state key, then the object is kept by a
    // registry reference.
    let tied = unsafe {
        lua.exec_raw::<()>(object, |s| {
            ffi::lua_pushlightuserdata(s, crate::core::class::STATE.pointer());
            ffi::lua_pushnumber(s, number);
            ffi::lua_rawset(s, 1);
            tie.object.set(ffi::luaL_ref(s, ffi::LUA_REGISTRYINDEX));
        })
    };
    if let Err(error) = tied {
        // Out of memory half-way: close what libuv has; the close callback
        // frees the slot, so a number stored already names nothing.
        tie.close();
        return Err(error);
    }
    Ok(state)
}

/// The state of kind `S` that the value at `index` names (a handle
/// object's number, see the module doc), or null: for anything that names
/// no open handle with a state of that kind.
///
/// # Safety
/// `index` is a valid index of the live `state`'s stack, with one free
/// slot above the top; nothing here raises (a raw read of the registry
/// with a light userdata key neither allocates nor calls a metamethod).
pub unsafe fn state_at<S: 'static>(state: *mut ffi::lua_State, index: c_int) -> *const S {
    // SAFETY: per the contract; the value read from the registry is the
    // address `publish` left there, of a `Handles` that is never freed, or
    // nil (no runtime yet, so no handle), which lua_touserdata makes null.
    unsafe {
        if ffi::lua_type(state, index) != ffi::LUA_TNUMBER {
            return std::ptr::null();
        }
        let number = ffi::lua_tonumber(state, index);
        ffi::lua_pushlightuserdata(state, HANDLES.pointer());
        ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
        let handles = ffi::lua_touserdata(state, -1) as *const Handles;
        ffi::lua_pop(state, 1);
        handles.as_ref().map_or(std::ptr::null(), |handles| handles.find::<S>(number))
    }
}

/// The state of the handle behind a handle object, unless it is closed or
/// the object's number names no handle of kind `S`.
pub fn state_of<S: HandleState>(object: &Table) -> Result<Option<&S>> {
    // SAFETY: state_in raises nothing and uses two slots above the object.
    let found = unsafe { lua_raw::read_table(object, 3, |state, at| state_in::<S>(state, at)) };
    // SAFETY: a live state's pointer (see state_at); the close callback
    // that frees the state cannot run while the caller, on this thread,
    // uses the reference during one call.
    Ok(found.filter(|found| !found.is_null()).map(|found| unsafe { &*found }))
}

/// As `state_of`, for the object held by the registry reference
/// `reference` (see stream/socket_ref.rs), looked up in `handles` (the
/// runtime's, which the caller keeps: one registry read fewer than
/// `state_at`, on a path an HTTP response takes three times): no mlua
/// value is made.
pub fn state_of_registered<'a, S: HandleState>(lua: &Lua, handles: &'a Handles, reference: c_int) -> Option<&'a S> {
    // SAFETY: a raw read of the object's state key raises nothing and uses
    // one slot above the object (and nothing is read when the reference
    // holds no table); the value read is only compared and converted.
    let found = unsafe {
        lua_raw::read_registry(lua, reference, 2, |state, at| {
            if ffi::lua_type(state, at) != ffi::LUA_TTABLE {
                return std::ptr::null();
            }
            ffi::lua_pushlightuserdata(state, crate::core::class::STATE.pointer());
            ffi::lua_rawget(state, at);
            match ffi::lua_type(state, -1) {
                ffi::LUA_TNUMBER => handles.find::<S>(ffi::lua_tonumber(state, -1)),
                _ => std::ptr::null(),
            }
        })
    };
    // SAFETY: as in state_of.
    found.filter(|found| !found.is_null()).map(|found| unsafe { &*found })
}

/// The state that the number in the handle object at `at` names, or null.
///
/// # Safety
/// `at` is the absolute index of a table on the live `state`, with two
/// free slots above the top; nothing here raises (a raw read with a light
/// userdata key neither allocates nor calls a metamethod). The pushed
/// value is left for the caller to pop.
unsafe fn state_in<S: HandleState>(state: *mut ffi::lua_State, at: c_int) -> *const S {
    // SAFETY: per the contract.
    unsafe {
        ffi::lua_pushlightuserdata(state, crate::core::class::STATE.pointer());
        ffi::lua_rawget(state, at);
        state_at::<S>(state, -1)
    }
}

/// The state of a handle, from inside a libuv callback.
///
/// # Safety
/// `handle` was made by `open::<S, _>` and its close callback has not run.
pub unsafe fn state_from<'a, S>(handle: *const uv::uv_handle_t) -> &'a S {
    // SAFETY: per the contract, `data` points at the live state.
    unsafe { &*((*handle).data as *const S) }
}

unsafe fn start_close<S: HandleState, H>(handle: *mut uv::uv_handle_t) {
    // SAFETY: called once (see Tie::close) on an initialised handle.
    unsafe { uv::uv_close(handle, Some(on_close::<S, H>)) }
}

extern "C" fn on_close<S: HandleState, H>(handle: *mut uv::uv_handle_t) {
    // SAFETY: libuv calls this once, after which it no longer touches the
    // handle; `handle` is the first field of the `Owned<S, H>` made by
    // `open`, so this takes the allocation back.
    let owned = unsafe { Box::from_raw(handle as *mut Owned<S, H>) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*handle).loop_) };
    let tie = owned.state.tie();
    // From here no number names the state.
    rt.handles().remove(tie);
    let reference = tie.object.replace(ffi::LUA_NOREF);
    let Some(lua) = rt.lua() else {
        // The Lua state is being closed: `closed` cannot run, and the
        // state may hold Lua values (a consumer's) of that state. It is
        // left allocated (the process is ending anyway).
        std::mem::forget(owned);
        return;
    };
    rt.dispatch(|| {
        let object: Option<Table> =
            // SAFETY: pushes one registry value, which exec_raw pops.
            unsafe { lua.exec_raw((), |s| { ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, reference as _); }) }?;
        // SAFETY: drops the reference taken in `open`.
        unsafe { lua.exec_raw::<()>((), |s| ffi::luaL_unref(s, ffi::LUA_REGISTRYINDEX, reference)) }?;
        let Some(object) = object else { return Ok(()) };
        object.raw_set(crate::core::class::STATE.value(), Value::Nil)?;
        owned.state.closed(&lua, &object)?;
        let closers: Option<Table> = object.raw_get(CLOSERS.value())?;
        object.raw_set(CLOSERS.value(), Value::Nil)?;
        let mut waiting: Vec<Function> = Vec::new();
        for f in closers.iter().flat_map(|t| t.sequence_values::<Function>()) {
            waiting.push(f?);
        }
        if let Some(onclose) = object.raw_get::<Option<Function>>(ON_CLOSE.value())? {
            waiting.push(onclose);
        }
        // Each runs; once one fails (this one's or another handle's), the
        // others wait for the next `go()`.
        for f in waiting {
            rt.callback(&lua, f, ())?;
        }
        Ok(())
    });
}

// Private keys of a handle object: the callbacks of `close(cb)` calls,
// and the `onclose` handler.
static CLOSERS: PrivateKey = PrivateKey::new();
static ON_CLOSE: PrivateKey = PrivateKey::new();

/// Has `f()` called once the handle of `object` is closed (`close(cb)`);
/// on the next turn if it is closed already.
pub fn when_closed(lua: &Lua, object: &Table, f: Function) -> Result<()> {
    if object.raw_get::<Value>(crate::core::class::STATE.value())? == Value::Nil {
        return Runtime::of(lua)?.defer(lua, f);
    }
    let closers = match object.raw_get::<Option<Table>>(CLOSERS.value())? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            object.raw_set(CLOSERS.value(), &t)?;
            t
        }
    };
    closers.raw_push(f)
}

/// `h.onclose(cb)`: `cb()` once the handle is closed.
pub fn set_onclose(object: &Table, f: Option<Function>) -> Result<()> {
    object.raw_set(ON_CLOSE.value(), f)
}

/// Runs the rest of a new handle's setup (binding it, naming it, keeping
/// it for a lookup): if that fails, the caller never gets the handle, so
/// it is closed rather than left open.
pub fn or_close<T>(tie: &Tie, setup: impl FnOnce() -> Result<T>) -> Result<T> {
    let done = setup();
    if done.is_err() {
        tie.close();
    }
    done
}

/// The `close([cb])` method of a handle kind whose state is `S` and whose
/// close has nothing to flush (a server, a UDP socket): `cb()` once closed.
pub fn close_method<S: HandleState>(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    if let Some(callback) = args.opt_function(1)? {
        when_closed(lua, &this, callback)?;
    }
    if let Some(state) = state_of::<S>(&this)? {
        state.tie().close();
    }
    Ok(MultiValue::new())
}

/// The `onclose(cb)` method of any handle kind.
pub fn onclose_method(_: &Lua, args: Args) -> Result<MultiValue> {
    set_onclose(&args.this()?, args.opt_function(1)?)?;
    Ok(MultiValue::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A class no Lua code sees. Its methods are a named empty list, so
    /// that spec/types_spec.lua, which reads the kinds of handles from the
    /// `Class { kind: .., methods: &[..] }`s of the source, passes it by.
    const NO_METHODS: &[&[(&str, crate::core::class::Method)]] = &[];
    static KIND: Class = Class { kind: "test", methods: NO_METHODS, lua_methods: None };

    /// The number of slot `slot` in generation `generation`.
    fn number(slot: u64, generation: u64) -> f64 {
        (generation << SLOT_BITS | slot) as f64
    }

    #[test]
    fn a_number_names_one_live_state_of_its_type() {
        let handles = Handles::default();
        let (first, second) = (Tie::new(&KIND), Tie::new(&KIND));
        let (state, other) = (1u8, 2u8);
        let address = &state as *const u8;
        let n = handles.insert(address as *const c_void, &first, TypeId::of::<u8>()).unwrap();
        assert_eq!(n, number(0, 1));
        assert_eq!(handles.find::<u8>(n), address);
        assert!(handles.find::<u16>(n).is_null(), "another type");
        let made_up = [
            0.0,
            1.0,
            -0.0,
            -n,
            n + 0.5,
            n - 1.0,
            n + 1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            2f64.powi(52),
            2f64.powi(60),
        ];
        for made_up in made_up {
            assert!(handles.find::<u8>(made_up).is_null(), "{made_up}");
        }
        let m = handles.insert(&other as *const u8 as *const c_void, &second, TypeId::of::<u8>()).unwrap();
        assert_eq!(m, number(1, 1));
        assert_eq!(handles.list().len(), 2);
        // Freed, the slot is reused in the next generation: the old
        // number names nothing.
        handles.remove(&first);
        assert!(handles.find::<u8>(n).is_null());
        assert_eq!(handles.list().len(), 1);
        let again = handles.insert(address as *const c_void, &first, TypeId::of::<u8>()).unwrap();
        assert_eq!(again, number(0, 2));
        assert!(handles.find::<u8>(n).is_null());
        assert_eq!(handles.find::<u8>(again), address);
        // A slot whose generations have run out is never used again.
        handles.slots.borrow_mut().entries[0].generation = (1 << GENERATION_BITS) - 1;
        handles.remove(&first);
        let last = number(0, (1 << GENERATION_BITS) - 1);
        assert!(handles.find::<u8>(last).is_null());
        let fresh = handles.insert(address as *const c_void, &first, TypeId::of::<u8>()).unwrap();
        assert_eq!(fresh, number(2, 1));
        // Removing a tie twice, or one never inserted, does nothing.
        handles.remove(&first);
        handles.remove(&first);
        handles.remove(&Tie::new(&KIND));
        assert_eq!(handles.find::<u8>(m), &other as *const u8);
    }
}
