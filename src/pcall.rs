//! `async.pcall(cb[, handler])`: wraps `cb` so that an error inside it is
//! reported, not raised, with both the traceback where it happened and the
//! one where the wrapper was made (the code that scheduled the callback,
//! which an asynchronous traceback otherwise loses).
//!
//! The report goes to `handler(traceback, where, info)` — `info` being the
//! `debug.getinfo` records of the frames that made the wrapper — or, with
//! no handler, to stdout.
//!
//! May touch: Lua's `debug` library.

use mlua::{Function, Lua, MultiValue, ObjectLike, Result, Table, Value};

use crate::core::boundary::{self, Args, message_of};

pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    module.set(
        "pcall",
        boundary::function(lua, "pcall", |lua, args: Args| {
            // Any value, as the original's: a callable table or a fiber
            // object works, and what cannot be called fails when called,
            // reported like any other error of `cb`.
            let cb = args.get(1);
            let handler = args.opt_function(2)?;
            let debug: Table = lua.globals().get("debug")?;
            let made_at: String = debug.get::<Function>("traceback")?.call(())?;
            let info = frames(lua, &debug)?;
            // Made at the boundary: should the handler (or print) fail,
            // its error comes out as the plain string it raised.
            boundary::function(lua, "pcall", move |lua, args: Args| match call_value(&cb, all(&args)) {
                Ok(results) => Ok(results),
                Err(error) => {
                    let (traceback, _) = message_of(&error);
                    match &handler {
                        Some(handler) => handler.call::<()>((traceback, made_at.as_str(), &info))?,
                        None => {
                            let print: Function = lua.globals().get("print")?;
                            let separator = "-".repeat(40);
                            print.call::<()>(format!("{traceback}\n{separator}\n{made_at}"))?;
                        }
                    }
                    Ok(MultiValue::new())
                }
            })
        })?,
    )
}

/// Calls `f` as Lua would: a function, or a table or userdata with a
/// `__call` metamethod; anything else is Lua's "attempt to call" error.
fn call_value(f: &Value, args: MultiValue) -> Result<MultiValue> {
    match f {
        Value::Function(f) => f.call(args),
        Value::Table(t) if has_call(t.metatable()) => t.call(args),
        Value::UserData(u) if u.metatable().is_ok_and(|mt| mt.contains("__call").unwrap_or(false)) => u.call(args),
        other => {
            // Lua's name of the type: LuaJIT has no separate integers.
            let name = boundary::lua_type_name(other);
            Err(mlua::Error::runtime(format!("attempt to call a {name} value")))
        }
    }
}

fn has_call(metatable: Option<Table>) -> bool {
    metatable.is_some_and(|mt| mt.raw_get::<Value>("__call").is_ok_and(|v| !v.is_nil()))
}

/// The arguments of a call, all of them.
pub(crate) fn all(args: &Args) -> MultiValue {
    (1..=args.len()).map(|i| args.get(i)).collect()
}

/// `debug.getinfo` of every frame above the caller of `async.pcall`.
fn frames(lua: &Lua, debug: &Table) -> Result<Table> {
    let getinfo: Function = debug.get("getinfo")?;
    let list = lua.create_table()?;
    // Level 1 is getinfo's caller (this C function), 2 the boundary's Lua
    // wrapper of `async.pcall`: the caller's frames start at 3.
    for level in 3.. {
        match getinfo.call::<Option<Table>>(level)? {
            Some(info) => list.push(info)?,
            None => break,
        }
    }
    Ok(list)
}
