//! `async.go`, `async.run`, `async.stop`, `async.handles`: the Lua face of
//! the event loop that `core/runtime.rs` owns.
//!
//! May touch: the Runtime; the `fiber` table (for `run`).

use mlua::{Function, Lua, Result, Table};

use crate::core::boundary::{self, Args};
use crate::core::runtime::Runtime;

pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    module.set("go", boundary::function(lua, "go", |lua, args: Args| Runtime::of(lua)?.go(lua, args.opt_function(1)?))?)?;
    module.set(
        "stop",
        boundary::function(lua, "stop", |lua, _| {
            Runtime::of(lua)?.stop();
            Ok(())
        })?,
    )?;
    let fiber_new: Function = module.get::<Table>("fiber")?.get("new")?;
    module.set(
        "run",
        boundary::function(lua, "run", move |lua, args: Args| {
            fiber_new.call::<()>(args.function(1)?)?;
            Runtime::of(lua)?.go(lua, None)
        })?,
    )?;
    module.set(
        "handles",
        boundary::function(lua, "handles", |lua, _| {
            let open = lua.create_table()?;
            for (kind, n) in Runtime::of(lua)?.open_handles() {
                open.set(kind, n)?;
            }
            Ok(open)
        })?,
    )?;
    Ok(())
}
