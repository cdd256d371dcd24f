//! The handle core: what every handle object (timers, TCP sockets and
//! servers, pipes, processes) looks like to Lua, and how it stays alive.
//!
//! A handle is a Lua table with its kind's metatable. Its Rust state is
//! reached through one private key (`STATE`); everything else in the table
//! is the user's (`client.send = function ... end` works and reads back).
//! Methods are called with a dot: the first read of `h.write` binds the
//! kind's Rust method to `h` and caches the closure in the table, so later
//! calls are a plain table hit (event setters such as `h.ondata` are bound
//! afresh each time instead: they are called once per handle). The module
//! that owns a kind keeps a strong reference to the table while the handle
//! is active (an armed timer, an open socket) and drops it when the handle
//! closes, so an active handle lives without any Lua reference and a
//! closed one is collected.
//!
//! May touch: Lua tables and the registry. Never libuv (see `uv_handle.rs`).

use mlua::{Function, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::lua_raw::PrivateKey;

/// A method of a handle kind; `args.this()` is the handle.
pub type Method = fn(&Lua, Args) -> Result<MultiValue>;

/// One kind of handle: its name (what `tostring` says) and its methods,
/// in groups (a TCP socket has the stream methods and its own).
pub struct Class {
    pub kind: &'static str,
    pub methods: &'static [&'static [(&'static str, Method)]],
    /// Methods the kind makes itself — Lua functions that suspend a fiber,
    /// raw C hot paths: a function returning a table of `function(handle,
    /// ...)` that follow the `true, ...` convention of boundary.rs. They
    /// replace methods of the same name in `methods`.
    pub lua_methods: Option<fn(&Lua) -> Result<Table>>,
}

/// The private key under which a handle table keeps its Rust state.
pub static STATE: PrivateKey = PrivateKey::new();

impl Class {
    /// The metatable shared by every handle of this kind, made once per
    /// Lua state.
    pub fn metatable(&'static self, lua: &Lua) -> Result<Table> {
        let key = format!("async.class.{}", self.kind);
        if let Ok(mt) = lua.named_registry_value::<Table>(&key) {
            return Ok(mt);
        }
        let methods = lua.create_table()?;
        for group in self.methods {
            for (name, method) in group.iter() {
                methods.raw_set(*name, boundary::raw_function(lua, name, 1, *method)?)?;
            }
        }
        if let Some(lua_methods) = self.lua_methods {
            for pair in lua_methods(lua)?.pairs::<Value, Function>() {
                let (name, method) = pair?;
                methods.raw_set(name, method)?;
            }
        }
        let mt = lua.create_table()?;
        mt.raw_set(
            "__index",
            boundary::internal(lua, move |lua, (object, key): (Table, Value)| {
                let Some(method) = methods.raw_get::<Option<Function>>(key.clone())? else {
                    return Ok(Value::Nil);
                };
                let bound = boundary::bind(lua, &method, &object)?;
                if !is_event_setter(&key) {
                    object.raw_set(key, &bound)?;
                }
                Ok(Value::Function(bound))
            })?,
        )?;
        let kind = self.kind;
        mt.raw_set(
            "__tostring",
            boundary::internal(lua, move |_, object: Table| Ok(format!("{kind}: {:p}", object.to_pointer())))?,
        )?;
        lua.set_named_registry_value(&key, &mt)?;
        Ok(mt)
    }
}

/// `ondata`, `onclose`, ...: called once or twice per handle, so their
/// bound closures are not kept in the handle; that saves a closure and a
/// table slot per idle connection.
fn is_event_setter(key: &Value) -> bool {
    matches!(key, Value::String(name) if name.as_bytes().starts_with(b"on"))
}

/// The Rust state kept under the private key of a handle table.
pub fn raw_state<T: mlua::FromLua>(object: &Table) -> Result<T> {
    object.raw_get(STATE.value())
}
