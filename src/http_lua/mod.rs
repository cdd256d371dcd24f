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

use std::borrow::Cow;
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

/// Header lines as given: names and values, borrowed from the Lua
/// strings of a headers table while it is on the stack (`res`'s fast
/// path), owned otherwise.
pub type HeaderPairs<'a> = Vec<HeaderPair<'a>>;

/// One header line as given: its name and value.
pub type HeaderPair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// The headers argument (index 2) of `res` and `request`: `{name = value}`,
/// where a value may be an array of values (one line each); a string at a
/// number key is a raw line `"Name: value"`, as the original async wrote
/// them, split at its first colon (a CR or LF in it is refused: it would
/// let the line write headers of its own).
pub fn header_table_pairs(table: &Table, function: &str) -> Result<HeaderPairs<'static>> {
    // The walk uses the Lua C API without a protected call: through mlua,
    // each step of `pairs` was a protected call of its own (a C closure of
    // garbage each), and a headers table cost ten times what `res` does
    // without one.
    // SAFETY: walk_header_table raises nothing and uses three slots above
    // the table; what it borrows is copied before the table leaves the
    // stack.
    let walked = unsafe { lua_raw::read_table(table, 4, |state, at| walk_header_table(state, at).map(owned_pairs)) }
        .unwrap_or_else(|| Err("the headers table could not be read".to_string()));
    walked.or_else(|message| boundary::fail(format!("{function}: {message}")))
}

/// The header lines of the table at stack index `at` (see
/// `header_table_pairs`), or what is wrong with it. Nothing here can
/// raise a Lua error: lua_next on keys it gave itself, raw reads, and
/// strings read as they are (a number's text is made in Rust, never by
/// lua_tolstring, which allocates).
///
/// Names and values that are strings are borrowed from Lua, not copied
/// (a handler's headers table costs no allocation per line).
///
/// # Safety
/// `at` is an absolute index of a table on the live `state`, with three
/// free slots above the top; each value is read and popped, nothing is
/// written, and the stack is left as it was. The pairs borrow the bytes
/// of strings the table holds: the caller uses them only while the table
/// stays on the stack and no Lua code runs (nothing can take a string out
/// of the table, and LuaJIT never moves a string).
pub unsafe fn walk_header_table<'a>(state: *mut ffi::lua_State, at: c_int) -> std::result::Result<HeaderPairs<'a>, String> {
    let mut pairs = Vec::with_capacity(4);
    // SAFETY: per the contract.
    unsafe {
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, at) != 0 {
            let step = match ffi::lua_type(state, -2) {
                ffi::LUA_TSTRING => header_values(state, bytes_at(state, -2), &mut pairs),
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
unsafe fn header_values<'a>(
    state: *mut ffi::lua_State,
    name: &'a [u8],
    pairs: &mut HeaderPairs<'a>,
) -> std::result::Result<(), String> {
    // SAFETY: per the contract; each array element is pushed, read and
    // popped (the array, still on the stack, keeps its strings).
    unsafe {
        if ffi::lua_type(state, -1) != ffi::LUA_TTABLE {
            let text = value_text(state, -1).ok_or_else(|| bad_value(name))?;
            pairs.push((Cow::Borrowed(name), text));
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
            pairs.push((Cow::Borrowed(name), text.ok_or_else(|| bad_value(name))?));
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
unsafe fn value_text<'a>(state: *mut ffi::lua_State, index: c_int) -> Option<Cow<'a, [u8]>> {
    // SAFETY: per the contract; nothing here allocates in Lua.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TSTRING => Some(Cow::Borrowed(bytes_at(state, index))),
            ffi::LUA_TNUMBER => Some(Cow::Owned(number_text(ffi::lua_tonumber(state, index)))),
            ffi::LUA_TBOOLEAN => Some(Cow::Borrowed(if ffi::lua_toboolean(state, index) != 0 { b"true" } else { b"false" })),
            _ => None,
        }
    }
}

/// The pairs with every borrowed name and value copied.
fn owned_pairs(pairs: HeaderPairs) -> HeaderPairs<'static> {
    pairs.into_iter().map(|(name, value)| (Cow::Owned(name.into_owned()), Cow::Owned(value.into_owned()))).collect()
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
fn raw_line(line: &[u8]) -> std::result::Result<HeaderPair<'_>, String> {
    match http::split_raw_header_line(line) {
        Ok((name, value)) => Ok((Cow::Borrowed(name), Cow::Borrowed(value))),
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
