//! `async.http`: the Lua face of the HTTP/1.1 core in `http/`. The
//! server (`http.listen`) is in `server.rs`, the client (`http.request`,
//! `http.get`, `http.post`) in `client.rs`; this file installs both with
//! `http.codes`, and holds what they share: headers between Lua tables and
//! header lines.
//!
//! May touch: Lua tables; the `http` core. Sockets only through the two
//! files below.

mod client;
mod server;

use std::ffi::{CStr, c_int};

use mlua::{Lua, Result, Table, ffi};

use crate::core::boundary;
use crate::core::lua_raw::{self, bytes_at};
use crate::http;

/// `async.http`: `listen`, `codes`, and the client's functions.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    boundary::register_lua_binder(lua)?;
    server::register_request_keys(lua)?;
    let http_table = lua.create_table()?;
    http_table.set("listen", boundary::function(lua, "listen", server::listen)?)?;
    let codes = lua.create_table()?;
    for (code, reason) in http::codes() {
        codes.raw_set(code, reason)?;
    }
    http_table.set("codes", codes)?;
    client::install(lua, &http_table)?;
    module.set("http", http_table)
}

/// Header lines as given: names and values.
pub type HeaderPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The headers argument (index 2) of `res` and `request`: `{name = value}`,
/// where a value may be an array of values (one line each); a string at a
/// number key is a raw line `"Name: value"`, as the original async wrote
/// them, split at its first colon (a CR or LF in it is refused: it would
/// let the line write headers of its own).
pub fn header_table_pairs(table: &Table, function: &str) -> Result<HeaderPairs> {
    // The walk uses the Lua C API without a protected call: through mlua,
    // each step of `pairs` was a protected call of its own (a C closure of
    // garbage each), and a headers table cost ten times what `res` does
    // without one.
    // SAFETY: walk_header_table raises nothing and uses three slots above
    // the table.
    let walked = unsafe { lua_raw::read_table(table, 4, |state, at| walk_header_table(state, at)) }
        .unwrap_or_else(|| Err("the headers table could not be read".to_string()));
    walked.or_else(|message| boundary::fail(format!("{function}: {message}")))
}

/// The header lines of the table at stack index `at` (see
/// `header_table_pairs`), or what is wrong with it. Nothing here can
/// raise a Lua error: lua_next on keys it gave itself, raw reads, and
/// strings read as they are (a number's text is made in Rust, never by
/// lua_tolstring, which allocates).
///
/// # Safety
/// `at` is an absolute index of a table on the live `state`, with three
/// free slots above the top; each value is read and popped, nothing is
/// written, and the stack is left as it was.
pub unsafe fn walk_header_table(state: *mut ffi::lua_State, at: c_int) -> std::result::Result<HeaderPairs, String> {
    let mut pairs = Vec::new();
    // SAFETY: per the contract.
    unsafe {
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, at) != 0 {
            let step = match ffi::lua_type(state, -2) {
                ffi::LUA_TSTRING => {
                    let name = bytes_at(state, -2).to_vec();
                    header_values(state, &name, &mut pairs)
                }
                ffi::LUA_TNUMBER => match ffi::lua_type(state, -1) {
                    ffi::LUA_TSTRING => raw_line(bytes_at(state, -1)).map(|pair| pairs.push(pair)),
                    other => Err(format!(
                        "a raw header line must be a string, got {}",
                        CStr::from_ptr(ffi::lua_typename(state, other)).to_string_lossy()
                    )),
                },
                _ => Err("header names must be strings (or raw lines at number keys)".to_string()),
            };
            ffi::lua_pop(state, 1);
            if let Err(message) = step {
                // The key lua_next left.
                ffi::lua_pop(state, 1);
                return Err(message);
            }
        }
    }
    Ok(pairs)
}

/// Adds the line or lines of header `name`, whose value is on top of the
/// stack: a string, number or boolean, or an array of them.
///
/// # Safety
/// The value is on top with two free stack slots above it; the stack is
/// left as it was.
unsafe fn header_values(state: *mut ffi::lua_State, name: &[u8], pairs: &mut HeaderPairs) -> std::result::Result<(), String> {
    // SAFETY: per the contract; each array element is pushed, read and
    // popped.
    unsafe {
        if ffi::lua_type(state, -1) != ffi::LUA_TTABLE {
            let text = value_text(state, -1).ok_or_else(|| bad_value(name))?;
            pairs.push((name.to_vec(), text));
            return Ok(());
        }
        for i in 1.. {
            ffi::lua_rawgeti(state, -1, i);
            if ffi::lua_type(state, -1) == ffi::LUA_TNIL {
                ffi::lua_pop(state, 1);
                return Ok(());
            }
            let text = value_text(state, -1);
            ffi::lua_pop(state, 1);
            pairs.push((name.to_vec(), text.ok_or_else(|| bad_value(name))?));
        }
        Ok(())
    }
}

fn bad_value(name: &[u8]) -> String {
    format!("bad value for header '{}'", String::from_utf8_lossy(name))
}

/// A header value as text: a string, a number as Lua writes it, or a
/// boolean; None for anything else.
///
/// # Safety
/// The value at `index` stays on the stack while this runs; nothing is
/// pushed.
unsafe fn value_text(state: *mut ffi::lua_State, index: c_int) -> Option<Vec<u8>> {
    // SAFETY: per the contract; nothing here allocates in Lua.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TSTRING => Some(bytes_at(state, index).to_vec()),
            ffi::LUA_TNUMBER => Some(number_text(ffi::lua_tonumber(state, index))),
            ffi::LUA_TBOOLEAN => Some(if ffi::lua_toboolean(state, index) != 0 { b"true".to_vec() } else { b"false".to_vec() }),
            _ => None,
        }
    }
}

/// A number as LuaJIT's `tostring` writes it (`%.14g`, `inf`, `nan`).
fn number_text(x: f64) -> Vec<u8> {
    match x {
        x if x.is_nan() => b"nan".to_vec(),
        x if x.is_infinite() => {
            if x > 0.0 {
                b"inf".to_vec()
            } else {
                b"-inf".to_vec()
            }
        }
        x => {
            let mut text = Vec::new();
            // Writing into a Vec cannot fail.
            let _ = crate::json_numbers::write_g(&mut text, x, 14);
            text
        }
    }
}

/// A raw header line given at a number key, as a name and a value.
fn raw_line(line: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    match http::split_raw_header_line(line) {
        Ok((name, value)) => Ok((name.to_vec(), value.to_vec())),
        Err(error) => Err(format!("raw header line \"{}\" {error}", line.escape_ascii())),
    }
}

/// A header list as a Lua table of lower-case names; the last of
/// duplicates wins.
pub fn headers_table<'a>(lua: &Lua, headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Result<Table> {
    let table = lua.create_table()?;
    for (name, value) in headers {
        table.raw_set(lua.create_string(name.to_ascii_lowercase())?, lua.create_string(value)?)?;
    }
    Ok(table)
}
