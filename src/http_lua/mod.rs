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

use mlua::{Lua, Result, Table, Value};

use crate::core::boundary;
use crate::http;

/// `async.http`: `listen`, `codes`, and the client's functions.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
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

/// A header value: a string or number as text.
fn header_text(lua: &Lua, value: Value) -> Result<Option<Vec<u8>>> {
    Ok(match value {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(_) | Value::Number(_) => lua.coerce_string(value)?.map(|s| s.as_bytes().to_vec()),
        Value::Boolean(b) => Some(b.to_string().into_bytes()),
        _ => None,
    })
}

/// Header lines as given: names and values.
pub type HeaderPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The headers argument (index 2) of `res` and `request`: `{name = value}`,
/// where a value may be an array of values (one line each); a string at a
/// number key is a raw line `"Name: value"`, as the original async wrote
/// them, split at its first colon (a CR or LF in it is refused: it would
/// let the line write headers of its own).
pub fn header_table_pairs(lua: &Lua, table: &Table, function: &str) -> Result<HeaderPairs> {
    let mut pairs = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let (name, value) = pair?;
        let name = match name {
            Value::String(name) => name.as_bytes().to_vec(),
            Value::Integer(_) | Value::Number(_) => {
                pairs.push(raw_line(&value, function)?);
                continue;
            }
            _ => return boundary::fail(format!("{function}: header names must be strings (or raw lines at number keys)")),
        };
        if let Value::Table(values) = value {
            for value in values.sequence_values::<Value>() {
                match header_text(lua, value?)? {
                    Some(text) => pairs.push((name.clone(), text)),
                    None => {
                        return boundary::fail(format!("{function}: bad value for header '{}'", String::from_utf8_lossy(&name)));
                    }
                }
            }
        } else {
            match header_text(lua, value)? {
                Some(text) => pairs.push((name, text)),
                None => return boundary::fail(format!("{function}: bad value for header '{}'", String::from_utf8_lossy(&name))),
            }
        }
    }
    Ok(pairs)
}

/// A raw header line given at a number key, as a name and a value.
fn raw_line(value: &Value, function: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let Value::String(line) = value else {
        return boundary::fail(format!("{function}: a raw header line must be a string, got {}", value.type_name()));
    };
    let line = line.as_bytes();
    match http::split_raw_header_line(&line) {
        Ok((name, value)) => Ok((name.to_vec(), value.to_vec())),
        Err(error) => boundary::fail(format!("{function}: raw header line \"{}\" {error}", line.escape_ascii())),
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
