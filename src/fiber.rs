//! `async.fiber`: coroutines that read top to bottom.
//!
//! The module is the embedded Lua chunk `lua/fiber.lua`: suspending a
//! fiber means yielding a coroutine, and LuaJIT cannot yield across a C
//! call, so that code must run as Lua. It is given the Rust-made module
//! table (for `setTimeout` and for `sync.NAME` lookups).
//!
//! May touch: the module table it is installed into.

use mlua::{Lua, Result, Table};

const SOURCE: &str = include_str!("lua/fiber.lua");

pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let fiber: Table = lua.load(SOURCE).set_name("=async.fiber").call(module)?;
    module.set("fiber", fiber)
}
