//! placeholder
use mlua::{Lua, Result, Table};
pub fn install(_lua: &Lua, _module: &Table) -> Result<()> { Ok(()) }
