//! `SocketRef`: how the protocols built on TCP in Rust (http_lua/server.rs,
//! http_lua/client.rs, json_rpc.rs) hold the Lua object of a socket whose
//! handlers they own.
//!
//! Those handlers are Rust closures stored in the socket's object, and they
//! reach the object back through a `SocketRef`: a registry reference that
//! Lua's garbage collector cannot see (never an mlua `Table`, which would
//! take one of the few thousand slots mlua has for values held by Rust,
//! and so cap the number of connections). The owner calls `release` once
//! the socket is closed (from a `uv_handle::when_closed` callback), which
//! breaks that cycle so that the object can be collected.
//!
//! May touch: the socket's Lua object and its stream state (stream/).

use std::cell::{Cell, RefCell};

use mlua::{Lua, RegistryKey, Result, Table, WeakLua};

use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, Handles};
use crate::stream::Stream;

pub struct SocketRef {
    held: RefCell<Option<(WeakLua, RegistryKey)>>,
    /// The runtime's table of open handles, where the stream is found.
    handles: &'static Handles,
    /// The stream, while it is delivering data to its consumer (`lending`):
    /// then no lookup is needed.
    lent: Cell<*const Stream>,
}

/// Puts back the stream `lending` replaced, even if the lending's work
/// panics: a pointer left behind could outlive its stream.
struct Lending<'a>(&'a Cell<*const Stream>, *const Stream);

impl Drop for Lending<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

impl SocketRef {
    pub fn new(lua: &Lua, object: &Table) -> Result<SocketRef> {
        let held = Some((lua.weak(), lua.create_registry_value(object)?));
        Ok(SocketRef { held: RefCell::new(held), handles: Runtime::of(lua)?.handles(), lent: Cell::new(std::ptr::null()) })
    }

    /// Runs `f` with `stream` as the one `with_stream` hands out: for a
    /// consumer's `data`, which the stream of this socket calls, and whose
    /// work (an HTTP request: its handler, its response) would otherwise
    /// look the stream up several times. `stream` is valid all along: its
    /// state is freed only by its close callback, which runs from the
    /// loop, never inside a callback of it (`go()` does not re-enter it).
    pub fn lending<R>(&self, stream: &Stream, f: impl FnOnce() -> R) -> R {
        let _restore = Lending(&self.lent, self.lent.replace(stream));
        f()
    }

    /// The object, until `release`.
    pub fn get(&self) -> Option<Table> {
        let held = self.held.borrow();
        let (weak, key) = held.as_ref()?;
        weak.try_upgrade()?.registry_value(key).ok()
    }

    pub fn is_held(&self) -> bool {
        self.held.borrow().is_some()
    }

    /// The socket is closed: let go of its object.
    pub fn release(&self) {
        self.held.borrow_mut().take();
    }

    /// Runs `f` on the stream while it is open; None after. The stream is
    /// found through the registry reference with the C API: a hot path
    /// (an HTTP response takes three), where making the object's mlua
    /// value cost more than the rest of the lookup.
    pub fn with_stream<R>(&self, f: impl FnOnce(&Stream) -> R) -> Result<Option<R>> {
        let found = {
            let held = self.held.borrow();
            let Some((weak, key)) = held.as_ref() else { return Ok(None) };
            match self.lent.get() {
                lent if !lent.is_null() => Some(lent),
                _ => {
                    let Some(lua) = weak.try_upgrade() else { return Ok(None) };
                    uv_handle::state_of_registered::<Stream>(&lua, self.handles, key.id()).map(|s| s as *const Stream)
                }
            }
        };
        // SAFETY: a live stream state, lent (see `lending`) or found (see
        // uv_handle::state_of): its close callback cannot run during this
        // call on this thread. The borrow of the reference ended above, so
        // `f` may release it.
        Ok(found.map(|stream| f(unsafe { &*stream })))
    }
}
