//! The handle core on the libuv side: who owns a libuv handle's memory,
//! how it is tied to its Lua object, and how it is closed and freed.
//!
//! Each handle is one allocation, `Owned<S, H>`: the libuv struct `H`
//! (`uv_tcp_t`, `uv_pipe_t`, ...) and the module's state `S` for it. libuv's
//! `data` field points at the state. The allocation belongs to libuv from
//! `open` until the close callback, which is the only place it is freed.
//!
//! The tie to Lua: while the handle is open, the Lua object (a handle
//! table, see `handle.rs`) is held by a registry reference, so an active
//! handle lives without any Lua reference, and the object's private state
//! key holds a *token*: a full userdata of ours holding the kind of `S`
//! and a pointer to it. Lua code can see the token (`pairs`) and move it
//! to another table, but it cannot make one or change what it holds, so
//! everything Rust dereferences stays out of its reach: a token copied
//! onto an object of another kind fails the kind check, one kept after the
//! close holds a null pointer (the close callback clears it, through a
//! registry reference of its own, before freeing), and any other value
//! under the key is no state at all. The close callback also drops the
//! object's reference, so the object is collected once Lua lets go of it.
//!
//! Also the `close` and `onclose` methods shared by handle kinds.
//!
//! May touch: libuv handles, the registry, the object's state key.

use std::any::TypeId;
use std::cell::Cell;
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
    /// Registry reference of the object's token while the handle is open.
    token: Cell<c_int>,
    closing: Cell<bool>,
    handle: Cell<*mut uv::uv_handle_t>,
    /// `uv_close` with the close callback for the concrete `Owned<S, H>`.
    close: Cell<unsafe fn(*mut uv::uv_handle_t)>,
    /// Its neighbours in the runtime's list of open handles (see
    /// `OpenList`), while it is in it.
    prev: Cell<*const Tie>,
    next: Cell<*const Tie>,
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
            token: Cell::new(ffi::LUA_NOREF),
            closing: Cell::new(false),
            handle: Cell::new(std::ptr::null_mut()),
            close: Cell::new(close_nothing),
            prev: Cell::new(std::ptr::null()),
            next: Cell::new(std::ptr::null()),
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

/// The open handles of the handle core, linked through their ties, for
/// `async.handles()`: two pointers in each tie, where a table by address
/// cost about 40 bytes per open handle (10,000 idle connections hold
/// 10,000 handles) and a hash per open and close. The runtime keeps the
/// head (`Runtime::open_list`); only this file reads or writes it.
struct OpenList<'a>(&'a Cell<*const c_void>);

impl OpenList<'_> {
    fn head(&self) -> *const Tie {
        self.0.get() as *const Tie
    }

    /// Puts `tie` first. Called once per handle, from `open`, once the
    /// tie sits in its `Owned` allocation (so at its final address).
    fn insert(&self, tie: &Tie) {
        let head = self.head();
        tie.prev.set(std::ptr::null());
        tie.next.set(head);
        // SAFETY: a tie in the list is in a live allocation: it is taken
        // out (`remove`) by the close callback before that frees it.
        if let Some(first) = unsafe { head.as_ref() } {
            first.prev.set(tie);
        }
        self.0.set(tie as *const Tie as *const c_void);
    }

    /// Takes `tie` out, if it is in (`open` may fail before inserting).
    fn remove(&self, tie: &Tie) {
        let (prev, next) = (tie.prev.replace(std::ptr::null()), tie.next.replace(std::ptr::null()));
        // SAFETY: the neighbours are in the list, so live (see `insert`).
        unsafe {
            if let Some(next) = next.as_ref() {
                next.prev.set(prev);
            }
            match prev.as_ref() {
                Some(prev) => prev.next.set(next),
                None if std::ptr::eq(self.head(), tie) => self.0.set(next as *const c_void),
                None => {}
            }
        }
    }
}

/// The kind and libuv handle of every open handle of the handle core.
pub fn open_handles(rt: &Runtime) -> Vec<(&'static str, *mut uv::uv_handle_t)> {
    let mut found = Vec::new();
    let mut at = OpenList(rt.open_list()).head();
    // SAFETY: every tie in the list is live (see OpenList::insert), and
    // nothing runs on the loop during this walk.
    while let Some(tie) = unsafe { at.as_ref() } {
        found.push((tie.kind(), tie.handle.get()));
        at = tie.next.get();
    }
    found
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
    // methods find it through the object's state key, which the close
    // callback clears first.
    let state: &'static S = unsafe { &(*owned).state };
    let handle = raw as *mut uv::uv_handle_t;
    // SAFETY: `handle` is initialised; `data` is ours to use.
    unsafe { (*handle).data = state as *const S as *mut _ };
    let tie = state.tie();
    tie.handle.set(handle);
    tie.close.set(start_close::<S, H>);
    let token = Token { magic: TOKEN_MAGIC, kind: TypeId::of::<S>(), state: state as *const S as *const c_void };
    // SAFETY: runs protected (exec_raw) with the object at index 1. The
    // token userdata is made, filled, stored under the state key and kept
    // by a registry reference; then the object is kept by one too.
    let tied = unsafe {
        lua.exec_raw::<()>(object, |s| {
            let place = ffi::lua_newuserdata(s, std::mem::size_of::<Token>()) as *mut Token;
            place.write(token);
            ffi::lua_pushlightuserdata(s, crate::core::class::STATE.pointer());
            ffi::lua_pushvalue(s, -2);
            ffi::lua_rawset(s, 1);
            tie.token.set(ffi::luaL_ref(s, ffi::LUA_REGISTRYINDEX));
            tie.object.set(ffi::luaL_ref(s, ffi::LUA_REGISTRYINDEX));
        })
    };
    if let Err(error) = tied {
        // Out of memory half-way: close what libuv has, nothing in Lua
        // points at the state without a token.
        tie.close();
        return Err(error);
    }
    OpenList(rt.open_list()).insert(tie);
    Ok(state)
}

/// What a handle object keeps under its state key (see the module doc).
#[repr(C)]
struct Token {
    magic: u64,
    kind: TypeId,
    /// The state, null once the handle is closed.
    state: *const c_void,
}

/// Tells our tokens from other userdata of the same size.
const TOKEN_MAGIC: u64 = 0x6173_796e_6374_6f6b;

/// The state of kind `S` that the value at `index` is a token of, or null:
/// for anything that is not a live token of that kind.
///
/// # Safety
/// `index` is a valid index of the live `state`'s stack.
pub unsafe fn token_state<S: 'static>(state: *mut ffi::lua_State, index: c_int) -> *const S {
    // SAFETY: only a full userdata of exactly a token's size is read, and
    // such a userdata holding the magic was made by `open` (Lua cannot
    // write into a userdata's memory); its pointer is valid until the close
    // callback nulls it, before the state is freed.
    unsafe {
        if ffi::lua_type(state, index) != ffi::LUA_TUSERDATA || ffi::lua_objlen(state, index) != std::mem::size_of::<Token>() {
            return std::ptr::null();
        }
        let token = &*(ffi::lua_touserdata(state, index) as *const Token);
        if token.magic != TOKEN_MAGIC || token.kind != TypeId::of::<S>() {
            return std::ptr::null();
        }
        token.state as *const S
    }
}

/// The state of the handle behind a handle object, unless it is closed or
/// the object holds no token of kind `S`.
pub fn state_of<S: HandleState>(object: &Table) -> Result<Option<&S>> {
    // SAFETY: state_in raises nothing and uses one slot above the object.
    let found = unsafe { lua_raw::read_table(object, 2, |state, at| state_in::<S>(state, at)) };
    // SAFETY: a live token's pointer (see token_state); the close callback
    // that frees the state cannot run while the caller, on this thread,
    // uses the reference during one call.
    Ok(found.filter(|found| !found.is_null()).map(|found| unsafe { &*found }))
}

/// As `state_of`, for the object held by the registry reference
/// `reference` (see stream/socket_ref.rs): no mlua value is made.
pub fn state_of_registered<S: HandleState>(lua: &Lua, reference: c_int) -> Option<&S> {
    // SAFETY: state_in raises nothing and uses one slot above the object
    // (and reads nothing when the reference holds no table).
    let found = unsafe {
        lua_raw::read_registry(lua, reference, 2, |state, at| {
            if ffi::lua_type(state, at) == ffi::LUA_TTABLE { state_in::<S>(state, at) } else { std::ptr::null() }
        })
    };
    // SAFETY: as in state_of.
    found.filter(|found| !found.is_null()).map(|found| unsafe { &*found })
}

/// The state pointer of the token in the handle object at `at`, or null.
///
/// # Safety
/// `at` is the absolute index of a table on the live `state`, with one free
/// slot above the top; nothing here raises (a raw read with a light
/// userdata key neither allocates nor calls a metamethod). The pushed
/// value is left for the caller to pop.
unsafe fn state_in<S: HandleState>(state: *mut ffi::lua_State, at: c_int) -> *const S {
    // SAFETY: per the contract.
    unsafe {
        ffi::lua_pushlightuserdata(state, crate::core::class::STATE.pointer());
        ffi::lua_rawget(state, at);
        token_state::<S>(state, -1)
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
    OpenList(rt.open_list()).remove(tie);
    let reference = tie.object.replace(ffi::LUA_NOREF);
    let token = tie.token.replace(ffi::LUA_NOREF);
    let Some(lua) = rt.lua() else {
        // The Lua state is being closed: a token may still be reachable, so
        // the state is left allocated (the process is ending anyway).
        std::mem::forget(owned);
        return;
    };
    // SAFETY: runs protected; the token userdata was made by `open` and is
    // kept alive by `token` until this unref, so writing its pointer is
    // in bounds. From here no token leads to the state being freed.
    let cleared = unsafe {
        lua.exec_raw::<()>((), |s| {
            ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, token as _);
            if ffi::lua_type(s, -1) == ffi::LUA_TUSERDATA {
                (*(ffi::lua_touserdata(s, -1) as *mut Token)).state = std::ptr::null();
            }
            ffi::lua_pop(s, 1);
            ffi::luaL_unref(s, ffi::LUA_REGISTRYINDEX, token);
        })
    };
    if let Err(error) = cleared {
        // The token could not be cleared: leak the state rather than leave
        // a token pointing at freed memory.
        std::mem::forget(owned);
        rt.dispatch(|| Err(error));
        return;
    }
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
