//! `async.go`, `async.run`, `async.stop`, `async.handles` and the
//! `async.loop` table (`alive`, `now`, `updateTime`, `metrics`): the Lua
//! face of the event loop that `core/runtime.rs` owns.
//!
//! May touch: the Runtime; the `fiber` table (for `run`); the count of
//! pending immediates (`immediate.rs`).

use std::collections::BTreeMap;

use mlua::{Function, Lua, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::options::OptionTable;
use crate::core::runtime::Runtime;
use crate::core::uv_handle;

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
    module.set("handles", boundary::function(lua, "handles", handles)?)?;
    module.set("loop", loop_table(lua)?)
}

/// `async.handles([{list = true}])`: counts by kind, or a list of every
/// libuv handle of the loop.
fn handles(lua: &Lua, args: Args) -> Result<Table> {
    let options = args.opt_table(1)?;
    let rt = Runtime::of(lua)?;
    if OptionTable::new(options.as_ref(), "handles").boolean("list")?.unwrap_or(false) {
        let list = lua.create_table()?;
        let kinds = uv_handle::open_handles(&rt).into_iter().map(|(kind, handle)| (handle as usize, kind)).collect();
        for info in rt.walk_handles(&kinds) {
            let entry = lua.create_table()?;
            entry.set("kind", info.kind.unwrap_or("internal"))?;
            entry.set("type", info.libuv_type)?;
            entry.set("active", info.active)?;
            entry.set("ref", info.referenced)?;
            entry.set("closing", info.closing)?;
            entry.set("fd", info.fd)?;
            list.raw_push(entry)?;
        }
        return Ok(list);
    }
    let open = lua.create_table()?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (kind, _) in uv_handle::open_handles(&rt) {
        *counts.entry(kind).or_insert(0) += 1;
    }
    // Pending user timers count as "timer" (they share one libuv timer).
    let timers = rt.timers.live();
    if timers > 0 {
        counts.insert("timer", timers);
    }
    for (kind, n) in counts {
        open.set(kind, n)?;
    }
    let immediates = crate::immediate::pending(lua)?;
    if immediates > 0 {
        open.set("immediate", immediates)?;
    }
    Ok(open)
}

/// `async.loop`: what the loop is doing.
fn loop_table(lua: &Lua) -> Result<Table> {
    let table = lua.create_table()?;
    table.set("alive", boundary::function(lua, "alive", |lua, _| Ok(Runtime::of(lua)?.alive()))?)?;
    table.set("now", boundary::function(lua, "now", |lua, _| Ok(Runtime::of(lua)?.now()))?)?;
    table.set(
        "updateTime",
        boundary::function(lua, "updateTime", |lua, _| {
            let rt = Runtime::of(lua)?;
            rt.update_time();
            Ok(rt.now())
        })?,
    )?;
    table.set(
        "metrics",
        boundary::function(lua, "metrics", |lua, _| {
            let metrics = Runtime::of(lua)?.metrics();
            let table = lua.create_table()?;
            table.set("idleTime", metrics.idle_ns as f64 / 1e6)?;
            table.set("iterations", metrics.iterations)?;
            table.set("events", metrics.events)?;
            table.set("eventsWaiting", metrics.events_waiting)?;
            Ok(Value::Table(table))
        })?,
    )?;
    Ok(table)
}
