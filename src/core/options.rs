//! The one reader of option tables (`{host=, port=}`, `http.listen`'s and
//! `http.request`'s options, `json.listen`'s, `getAddrInfo`'s): every
//! function reads its fields the same way and words a bad one the same
//! way, `listen: keepAliveTimeout must be a non-negative number, got
//! string`.
//!
//! Numbers follow Lua's own coercion (`tonumber`): a numeric string such
//! as `"80"` or `" 80 "` is a number here as it is for Lua arithmetic.
//!
//! May touch: the option table it reads. Never libuv.

use mlua::{LuaString, Result, Table, Value};

use crate::core::boundary::{fail, plain_message};

/// The option table of one call of `function` (absent: every field nil).
pub struct OptionTable<'a> {
    table: Option<&'a Table>,
    function: &'a str,
}

/// A number, or a string Lua reads as one.
fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => number_in_text(s.to_str().ok()?.as_ref()),
        _ => None,
    }
}

/// The number in `text` as LuaJIT's `tonumber` reads it: surrounding
/// spaces allowed, decimal or `0x` hexadecimal, never `inf` or `nan`.
fn number_in_text(text: &str) -> Option<f64> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (sign, body) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if body.starts_with(['+', '-']) {
        return None;
    }
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().filter(|_| !hex.starts_with('+')).map(|n| sign * n as f64);
    }
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b)) {
        return None;
    }
    body.parse::<f64>().ok().map(|n| sign * n)
}

impl<'a> OptionTable<'a> {
    pub fn new(table: Option<&'a Table>, function: &'a str) -> OptionTable<'a> {
        OptionTable { table, function }
    }

    /// Field `name` as it is. An `__index` that raises is reported as
    /// failing to read that option (its error value may be anything).
    pub fn value(&self, name: &str) -> Result<Value> {
        match self.table {
            Some(table) => table
                .get(name)
                .or_else(|error| fail(format!("{}: reading option {name} failed: {}", self.function, plain_message(&error)))),
            None => Ok(Value::Nil),
        }
    }

    /// The error for field `name`, which is not `expected`.
    pub fn bad<T>(&self, name: &str, expected: &str) -> Result<T> {
        let got = crate::core::boundary::lua_type_name(&self.value(name)?);
        fail(format!("{}: {name} must be {expected}, got {got}", self.function))
    }

    /// A number within `valid`, described as `expected` in the error.
    fn number_where(&self, name: &str, expected: &str, valid: impl Fn(f64) -> bool) -> Result<Option<f64>> {
        let value = self.value(name)?;
        if value.is_nil() {
            return Ok(None);
        }
        match number_of(&value) {
            Some(n) if valid(n) => Ok(Some(n)),
            Some(n) if !matches!(value, Value::String(_)) => {
                fail(format!("{}: {name} must be {expected}, got {n}", self.function))
            }
            _ => self.bad(name, expected),
        }
    }

    /// A number of zero or more (finite).
    pub fn non_negative(&self, name: &str) -> Result<Option<f64>> {
        self.number_where(name, "a non-negative number", |n| n >= 0.0 && n.is_finite())
    }

    /// A number above zero (finite).
    pub fn positive(&self, name: &str) -> Result<Option<f64>> {
        self.number_where(name, "a positive number", |n| n > 0.0 && n.is_finite())
    }

    /// A TCP or UDP port: a whole number from 0 to 65535.
    pub fn port(&self, name: &str) -> Result<Option<u16>> {
        let n =
            self.number_where(name, "a whole number from 0 to 65535", |n| (0.0..=65535.0).contains(&n) && n.fract() == 0.0)?;
        Ok(n.map(|n| n as u16))
    }

    /// A string (Lua numbers read as strings too, as Lua coerces them).
    pub fn string(&self, name: &str) -> Result<Option<LuaString>> {
        match self.value(name)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s)),
            Value::Integer(_) | Value::Number(_) => match self.table {
                Some(table) => Ok(Some(table.get::<LuaString>(name)?)),
                None => Ok(None),
            },
            _ => self.bad(name, "a string"),
        }
    }

    /// A string of UTF-8 text.
    pub fn text(&self, name: &str) -> Result<Option<String>> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => match s.to_str() {
                Ok(text) => Ok(Some(text.to_string())),
                Err(_) => fail(format!("{}: {name} must be UTF-8 text", self.function)),
            },
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>> {
        match self.value(name)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            _ => self.bad(name, "a boolean"),
        }
    }

    pub fn table(&self, name: &str) -> Result<Option<Table>> {
        match self.value(name)? {
            Value::Nil => Ok(None),
            Value::Table(t) => Ok(Some(t)),
            _ => self.bad(name, "a table"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_strings_read_as_lua_reads_them() {
        for (text, n) in
            [("80", 80.0), (" 80 ", 80.0), ("0x50", 80.0), ("-0x10", -16.0), ("1e2", 100.0), ("-1.5", -1.5), (".5", 0.5)]
        {
            assert_eq!(number_in_text(text), Some(n), "{text}");
        }
        for text in ["", " ", "eighty", "inf", "nan", "80 x", "0x", "0x+1", "--1", "1e"] {
            assert_eq!(number_in_text(text), None, "{text}");
        }
    }
}
