//! The Lua side of `async.url`: the functions of the table, moving values
//! between Lua and the byte-string code of `url/mod.rs`.
//!
//! May touch: mlua values, and the Lua stack inside `exec_raw` (`parse`).
//! Never libuv.

use std::ffi::{c_char, c_int};

use mlua::{Lua, LuaString, Result, Table, Value, ffi};

use super::*;
use crate::core::boundary::{self, Args};

pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let url = lua.create_table()?;
    url.set("escape", boundary::function(lua, "escape", |lua, args| lua.create_string(escape(&args.string(1)?.as_bytes())))?)?;
    url.set(
        "unescape",
        boundary::function(lua, "unescape", |lua, args| lua.create_string(unescape(&args.string(1)?.as_bytes())))?,
    )?;
    url.set("parse", boundary::function(lua, "parse", lua_parse)?)?;
    url.set(
        "build",
        boundary::function(lua, "build", |lua, args| {
            let parts = url_from_table(lua, &args, 1, &args.table(1)?)?;
            lua.create_string(parts.build())
        })?,
    )?;
    url.set("absolute", boundary::function(lua, "absolute", lua_absolute)?)?;
    url.set("parse_path", boundary::function(lua, "parse_path", lua_parse_path)?)?;
    url.set("build_path", boundary::function(lua, "build_path", lua_build_path)?)?;
    module.set("url", url)
}

const FIELDS: [&str; 11] =
    ["scheme", "authority", "path", "params", "query", "fragment", "userinfo", "user", "password", "host", "port"];

impl Url {
    /// The parts in the order of `FIELDS`.
    fn fields_mut(&mut self) -> [&mut Option<Vec<u8>>; 11] {
        [
            &mut self.scheme,
            &mut self.authority,
            &mut self.path,
            &mut self.params,
            &mut self.query,
            &mut self.fragment,
            &mut self.userinfo,
            &mut self.user,
            &mut self.password,
            &mut self.host,
            &mut self.port,
        ]
    }
}

/// `parse(url[, defaults])`: a table of the parts, over a copy of
/// `defaults`; `nil, "invalid url"` for a missing or empty url.
fn lua_parse(lua: &Lua, args: Args) -> Result<std::result::Result<Table, &'static str>> {
    let defaults = match args.get(2) {
        Value::Nil | Value::Boolean(false) => None,
        Value::Table(t) => Some(t),
        _ => return args.bad(2, "table"),
    };
    let text = match optional_string(&args, 1)? {
        Some(text) if !text.as_bytes().is_empty() => text,
        _ => return Ok(Err("invalid url")),
    };
    let mut fallback = Url::default();
    if let Some(defaults) = &defaults {
        fallback.authority = text_field(lua, &args, 2, "field 'authority'", defaults.raw_get("authority")?)?;
        fallback.userinfo = text_field(lua, &args, 2, "field 'userinfo'", defaults.raw_get("userinfo")?)?;
    }
    let mut parts = Url::parse_with(&text.as_bytes(), &fallback).unwrap_or_default();
    let found: Vec<(&str, Vec<u8>)> =
        FIELDS.into_iter().zip(parts.fields_mut()).filter_map(|(name, part)| Some((name, part.take()?))).collect();
    // The table is made with the Lua C API in one protected call: made
    // through mlua, each of its strings and fields would be a protected
    // call of its own, which took four fifths of the time of a parse.
    // SAFETY: exec_raw pushed `defaults` (or nil) at index 1 and runs this
    // protected; the table is made at 2, filled (a copy of `defaults`,
    // then the parts, pushed as name and value above it) and moved to 1,
    // its only result. Nothing here panics or owns anything to drop.
    let parsed = unsafe {
        lua.exec_raw::<Table>(defaults, |state| {
            ffi::lua_createtable(state, 0, found.len() as c_int);
            if ffi::lua_type(state, 1) == ffi::LUA_TTABLE {
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, 1) != 0 {
                    ffi::lua_pushvalue(state, -2);
                    ffi::lua_insert(state, -2);
                    ffi::lua_rawset(state, 2);
                }
            }
            for (name, part) in &found {
                ffi::lua_pushlstring(state, name.as_ptr() as *const c_char, name.len());
                ffi::lua_pushlstring(state, part.as_ptr() as *const c_char, part.len());
                ffi::lua_rawset(state, 2);
            }
            ffi::lua_replace(state, 1);
        })
    }?;
    Ok(Ok(parsed))
}

/// `absolute(base, relative)`: `base` is a URL or a parsed table. As in
/// the original, a side that does not parse (missing or empty) leaves the
/// other as the answer, as it was given, and so does a `relative` with a
/// scheme.
fn lua_absolute(lua: &Lua, args: Args) -> Result<Value> {
    let base = match args.get(1) {
        Value::Table(t) => {
            let parts = url_from_table(lua, &args, 1, &t)?;
            let text = lua.create_string(parts.build())?;
            Some((Value::String(text), parts))
        }
        Value::Nil | Value::Boolean(false) => None,
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            let text = args.string(1)?;
            Url::parse(&text.as_bytes()).map(|parts| (args.get(1), parts))
        }
        _ => return args.bad(1, "string or table"),
    };
    let relative = optional_string(&args, 2)?.and_then(|text| Url::parse(&text.as_bytes()));
    match (base, relative) {
        (None, _) => Ok(args.get(2)),
        (Some((base_text, _)), None) => Ok(base_text),
        (Some((_, base)), Some(relative)) => match base.resolve(relative) {
            Some(resolved) => lua.create_string(resolved).map(Value::String),
            None => Ok(args.get(2)),
        },
    }
}

/// `parse_path(path)`: the unescaped segments, with `is_absolute` and
/// `is_directory` set to 1 when true.
fn lua_parse_path(lua: &Lua, args: Args) -> Result<Table> {
    let text = optional_string(&args, 1)?;
    let path = parse_path(text.as_ref().map(|s| s.as_bytes()).as_deref().unwrap_or_default());
    let table = lua.create_table_with_capacity(path.segments.len(), 2)?;
    for segment in path.segments {
        table.raw_push(lua.create_string(segment)?)?;
    }
    if path.is_absolute {
        table.raw_set("is_absolute", 1)?;
    }
    if path.is_directory {
        table.raw_set("is_directory", 1)?;
    }
    Ok(table)
}

/// `build_path(segments[, unsafe])`.
fn lua_build_path(lua: &Lua, args: Args) -> Result<LuaString> {
    let table = args.table(1)?;
    let mut path = Path {
        segments: Vec::with_capacity(table.raw_len()),
        is_absolute: truthy(&table.get::<Value>("is_absolute")?),
        is_directory: truthy(&table.get::<Value>("is_directory")?),
    };
    for i in 1..=table.raw_len() {
        let segment: Value = table.get(i)?;
        match as_text(lua, &segment)? {
            Some(text) => path.segments.push(text),
            None => return element_error(&args, 1, &format!("element {i}"), crate::core::boundary::lua_type_name(&segment)),
        }
    }
    lua.create_string(build_path(&path, truthy(&args.get(2))))
}

/// The named parts of a parsed-URL table (`__index` honoured, as the original
/// reads them with plain indexing).
fn url_from_table(lua: &Lua, args: &Args, arg: usize, table: &Table) -> Result<Url> {
    let mut url = Url::default();
    for (name, part) in FIELDS.into_iter().zip(url.fields_mut()) {
        *part = text_field(lua, args, arg, &format!("field '{name}'"), table.get(name)?)?;
    }
    Ok(url)
}

/// A string argument that may be absent (`nil` or `false`).
fn optional_string(args: &Args, i: usize) -> Result<Option<LuaString>> {
    match args.get(i) {
        Value::Nil | Value::Boolean(false) => Ok(None),
        _ => args.string(i).map(Some),
    }
}

/// A part read from a table: absent when `nil` or `false`; numbers become
/// their text, as Lua's concatenation makes them.
fn text_field(lua: &Lua, args: &Args, arg: usize, what: &str, value: Value) -> Result<Option<Vec<u8>>> {
    if !truthy(&value) {
        return Ok(None);
    }
    match as_text(lua, &value)? {
        Some(text) => Ok(Some(text)),
        None => element_error(args, arg, what, crate::core::boundary::lua_type_name(&value)),
    }
}

/// A string or number as bytes; `None` for any other value.
fn as_text(lua: &Lua, value: &Value) -> Result<Option<Vec<u8>>> {
    Ok(lua.coerce_string(value.clone())?.map(|s| s.as_bytes().to_vec()))
}

fn element_error<T>(args: &Args, arg: usize, what: &str, got: &str) -> Result<T> {
    boundary::fail(format!("bad argument #{arg} to '{}' ({what} must be a string, got {got})", args.name()))
}

fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Nil | Value::Boolean(false))
}
