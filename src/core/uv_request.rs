//! The request core: a libuv request in flight (a write, a shutdown, a
//! connect, a name lookup, a file operation) and what it must keep alive
//! until libuv completes it.
//!
//! A request is one allocation, `UvRequest<R, T>`: the libuv struct `R` and
//! the state `T` its completion needs (the bytes being written, the Lua
//! callback to call, a Rust continuation). `start` hands it to libuv;
//! libuv's completion callback takes it back with `finish`, which is the
//! only place it is freed — on every path, success, error or
//! cancellation, because libuv calls every completion callback exactly
//! once (with `UV_ECANCELED` when its handle closes first).
//!
//! `Callback` is how a request keeps a Lua function: a registry reference,
//! released when the request is dropped, whether or not it was called.
//!
//! May touch: libuv requests, the registry.

use std::ffi::c_int;

use mlua::{Function, IntoLuaMulti, Lua, RegistryKey, Result};

use crate::core::runtime::Runtime;

#[repr(C)]
pub struct UvRequest<R, T> {
    raw: R,
    pub state: T,
}

impl<R, T> UvRequest<R, T> {
    /// Allocates a request with `state` and starts it with `start` (e.g. a
    /// closure calling `uv_write`). If `start` fails, libuv will not call
    /// back: the request is freed here and its state returned with the
    /// error code.
    pub fn start(state: T, start: impl FnOnce(*mut R) -> c_int) -> std::result::Result<(), (c_int, T)> {
        // SAFETY: libuv request structs are plain C data; zeroed memory is
        // valid before the call that starts them fills them in.
        let request = Box::into_raw(Box::new(UvRequest { raw: unsafe { std::mem::zeroed::<R>() }, state }));
        // SAFETY: `raw` is the first field of the fresh allocation.
        let rc = start(unsafe { &raw mut (*request).raw });
        if rc < 0 {
            // SAFETY: the start failed, so libuv holds no pointer to it.
            let request = unsafe { Box::from_raw(request) };
            return Err((rc, request.state));
        }
        Ok(())
    }

    /// Takes back a completed request, in its completion callback.
    ///
    /// # Safety
    /// `raw` was passed to `start`'s closure for a `UvRequest<R, T>` and libuv
    /// has completed it: this is its one completion callback.
    pub unsafe fn finish(raw: *mut R) -> Box<UvRequest<R, T>> {
        // SAFETY: per the contract; `raw` is the first field (repr(C)).
        unsafe { Box::from_raw(raw as *mut UvRequest<R, T>) }
    }

    /// The libuv struct, e.g. to read a result field of a file request.
    pub fn raw(&self) -> &R {
        &self.raw
    }

    /// The libuv struct, mutably: for calls that take a completed request
    /// back, e.g. `uv_fs_req_cleanup` or `uv_fs_scandir_next`.
    pub fn raw_mut(&mut self) -> &mut R {
        &mut self.raw
    }
}

/// A Lua function kept for a later call.
pub struct Callback(RegistryKey);

impl Callback {
    pub fn new(lua: &Lua, f: Function) -> Result<Callback> {
        Ok(Callback(lua.create_registry_value(f)?))
    }

    /// The function itself, no longer kept.
    pub fn into_function(self, lua: &Lua) -> Result<Function> {
        let f = lua.registry_value(&self.0)?;
        lua.remove_registry_value(self.0)?;
        Ok(f)
    }

    /// Calls the function through the runtime's callback policy (an error
    /// stops the loop and is raised by `go()`); `args` are made only if the
    /// Lua state is still there. Returns false if the call failed.
    pub fn call<A: IntoLuaMulti>(self, rt: &Runtime, args: impl FnOnce(&Lua) -> Result<A>) -> bool {
        let Some(lua) = rt.lua() else { return true };
        let mut succeeded = false;
        let prepared = rt.dispatch(|| {
            let f = self.into_function(&lua)?;
            succeeded = rt.callback(&lua, f, args(&lua)?)?;
            Ok(())
        });
        prepared && succeeded
    }
}
