//! `SocketRef`: how the protocols built on TCP in Rust (http_server.rs,
//! http_client.rs, json_rpc.rs) hold the Lua object of a socket whose
//! handlers they own.
//!
//! Those handlers are Rust closures stored in the socket's object, and they
//! reach the object back through a `SocketRef`: a strong reference that Lua's
//! garbage collector cannot see. The owner calls `release` once the socket
//! is closed (from a `uv_handle::when_closed` callback), which breaks that
//! cycle so that the object can be collected.
//!
//! May touch: the socket's Lua object and its stream state (stream.rs).

use std::cell::RefCell;

use mlua::{Function, IntoLuaMulti, Result, Table};

use crate::stream::Stream;
use crate::uv_handle;

pub struct SocketRef(RefCell<Option<Table>>);

impl SocketRef {
    pub fn new(object: &Table) -> SocketRef {
        SocketRef(RefCell::new(Some(object.clone())))
    }

    /// The object, until `release`.
    pub fn get(&self) -> Option<Table> {
        self.0.borrow().clone()
    }

    pub fn is_held(&self) -> bool {
        self.0.borrow().is_some()
    }

    /// The socket is closed: let go of its object.
    pub fn release(&self) {
        self.0.borrow_mut().take();
    }

    /// Runs `f` on the stream while it is open; None after.
    pub fn with_stream<R>(&self, f: impl FnOnce(&Stream) -> R) -> Result<Option<R>> {
        let object = self.0.borrow();
        let Some(object) = object.as_ref() else { return Ok(None) };
        Ok(uv_handle::state_of::<Stream>(object)?.map(f))
    }

    /// Calls the socket's Lua method `name` (`pause`, `destroy`, ...).
    pub fn call(&self, name: &str, args: impl IntoLuaMulti) -> Result<()> {
        match self.get() {
            Some(object) => object.get::<Function>(name)?.call::<()>(args),
            None => Ok(()),
        }
    }
}
