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
//! key holds a light userdata pointing at `S`. The close callback clears
//! that key before freeing, so a method called on a closed handle finds no
//! state instead of freed memory, and drops the reference, so the object
//! is collected once Lua lets go of it.
//!
//! May touch: libuv handles, the registry, the object's state key.

use std::cell::Cell;
use std::ffi::c_int;

use libuv_sys2 as uv;
use mlua::{Function, LightUserData, Lua, Result, Table, Value, ffi};

use crate::handle;
use crate::runtime::Runtime;

/// The part of every handle state that this core manages.
pub struct Tie {
    kind: &'static str,
    /// Registry reference of the Lua object while the handle is open.
    object: Cell<c_int>,
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

#[repr(C)]
struct Owned<S, H> {
    raw: H,
    state: S,
}

impl Tie {
    pub fn new(kind: &'static str) -> Tie {
        Tie {
            kind,
            object: Cell::new(ffi::LUA_NOREF),
            closing: Cell::new(false),
            handle: Cell::new(std::ptr::null_mut()),
            close: Cell::new(close_nothing),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
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
        unsafe { lua.exec_raw((), |state| { ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, reference as _); }) }
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

/// Allocates a handle with `state`, initialises it with `init` (e.g.
/// `uv_tcp_init`), and ties it to `object`. On an init error nothing is
/// left allocated and the libuv error code is returned.
pub fn open<S: HandleState, H>(
    lua: &Lua,
    object: &Table,
    state: S,
    init: impl FnOnce(*mut uv::uv_loop_t, *mut H) -> c_int,
) -> Result<std::result::Result<&'static S, c_int>> {
    let rt = Runtime::of(lua)?;
    // SAFETY: libuv handle structs are plain C data for which zeroed
    // memory is valid input to their init function.
    let owned = Box::into_raw(Box::new(Owned { raw: unsafe { std::mem::zeroed::<H>() }, state }));
    // SAFETY: `owned` is a fresh allocation; `raw` is its first field.
    let raw = unsafe { &raw mut (*owned).raw };
    let rc = init(rt.uv_loop(), raw);
    if rc != 0 {
        // SAFETY: init failed, so libuv holds no pointer to it.
        drop(unsafe { Box::from_raw(owned) });
        return Ok(Err(rc));
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
    // SAFETY: pushes the object and pops it into a new registry reference.
    let reference = unsafe { lua.exec_raw::<()>(object, |s| { let r = ffi::luaL_ref(s, ffi::LUA_REGISTRYINDEX); tie.object.set(r) }) };
    reference?;
    object.raw_set(handle::state_key(), LightUserData(state as *const S as *mut _))?;
    rt.opened(tie.kind);
    Ok(Ok(state))
}

/// The state of the handle behind a handle object, unless it is closed.
pub fn state_of<S: HandleState>(object: &Table) -> Result<Option<&S>> {
    match object.raw_get(handle::state_key())? {
        // SAFETY: the key was set by `open` to a live `S` and is cleared
        // by the close callback before `S` is freed; the callback cannot
        // run while the caller (a method, on this thread) holds `object`.
        Value::LightUserData(p) if !p.0.is_null() => Ok(Some(unsafe { &*(p.0 as *const S) })),
        _ => Ok(None),
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
    rt.closed(tie.kind);
    let reference = tie.object.replace(ffi::LUA_NOREF);
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        let object: Option<Table> =
            // SAFETY: pushes one registry value, which exec_raw pops.
            unsafe { lua.exec_raw((), |s| { ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, reference as _); }) }?;
        // SAFETY: drops the reference taken in `open`.
        unsafe { lua.exec_raw::<()>((), |s| ffi::luaL_unref(s, ffi::LUA_REGISTRYINDEX, reference)) }?;
        let Some(object) = object else { return Ok(()) };
        object.raw_set(handle::state_key(), Value::Nil)?;
        owned.state.closed(&lua, &object)?;
        let closers: Option<Table> = object.raw_get(key(&CLOSERS))?;
        object.raw_set(key(&CLOSERS), Value::Nil)?;
        for f in closers.iter().flat_map(|t| t.sequence_values::<Function>()) {
            f?.call::<()>(())?;
        }
        match object.raw_get::<Option<Function>>(key(&ON_CLOSE))? {
            Some(onclose) => onclose.call(()),
            None => Ok(()),
        }
    });
}

// Private keys of a handle object: the callbacks of `close(cb)` calls,
// and the `onclose` handler.
static CLOSERS: u8 = 0;
static ON_CLOSE: u8 = 0;

use crate::handle::private_key as key;

/// Has `f()` called once the handle of `object` is closed (`close(cb)`);
/// on the next turn if it is closed already.
pub fn when_closed(lua: &Lua, object: &Table, f: Function) -> Result<()> {
    if object.raw_get::<Value>(handle::state_key())? == Value::Nil {
        return Runtime::of(lua)?.timers.defer(lua, f);
    }
    let closers = match object.raw_get::<Option<Table>>(key(&CLOSERS))? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            object.raw_set(key(&CLOSERS), &t)?;
            t
        }
    };
    closers.raw_push(f)
}

/// `h.onclose(cb)`: `cb()` once the handle is closed.
pub fn set_onclose(object: &Table, f: Option<Function>) -> Result<()> {
    object.raw_set(key(&ON_CLOSE), f)
}
