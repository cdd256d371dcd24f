//! `async.json`: `encode`, `decode` and `null`, with lua-cjson's mapping
//! between Lua values and JSON, so that code written for `cjson` works
//! unchanged.
//!
//! The mapping: a table whose keys are exactly 1..n (n > 0) is an array; so
//! is one whose positive integer keys leave holes, unless it is
//! "excessively sparse" (largest key over 10 and over twice the key count),
//! and the holes become `null`. Any other table, `{}` included, is an
//! object, whose number keys become strings (`[1.5]` → `"1.5"`). Numbers
//! that are whole and in the range of a 64-bit integer are written as such,
//! others in their shortest form that reads back to the same double (and
//! `-0` as `-0.0`). `json.null` (a light userdata NULL, equal to cjson's
//! `cjson.null`) stands for `null` both ways. Strings are bytes to Lua:
//! `encode` writes one that is not UTF-8 byte for byte (quotes, backslashes
//! and control characters escaped), as lua-cjson does, while `decode`
//! takes UTF-8 only. Where cjson would fail or guess, we raise an
//! error that says what and where (`json.encode: cannot encode a function
//! value at .list[2].f`; `json.decode: expected value at line 1 column 5`).
//!
//! Parsing and writing JSON is serde_json's work: `decode` drives its
//! parser with a `DeserializeSeed` that pushes each value straight onto the
//! Lua stack, and `encode` feeds its writer from a `Serialize` impl that
//! reads the Lua stack. Neither goes through mlua values: mlua's own serde
//! support (the `serialize` feature) holds every table and string as an
//! mlua reference, which costs several times what cjson spends per value,
//! and its mapping differs (sparse arrays, `{}` vs `[]` by metatable). Both
//! functions are raw C functions against the Lua C API for the same reason
//! (see `boundary::raw_call`, and `decode_raw` on why a Lua error from a
//! push may unwind through the parser); nesting is limited to 1000 levels either way
//! by default, as in cjson, so that deep or cyclic input cannot exhaust the C stack.
//!
//! lua-cjson's configuration functions (json_config.rs) change these rules
//! per `json` table: the sparse-array test, the nesting limits (capped),
//! number precision and lenient numbers (json_numbers.rs), NaN and ±inf.
//! Both functions reach their table's settings through their upvalue.
//!
//! May touch: the Lua stack of the calling state. Never libuv.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::fmt;

use mlua::{Function, Lua, Result, Table, Value, ffi};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::core::boundary;
use crate::core::lua_raw::{MAX_STRING_BYTES, bytes_at};
use crate::core::memory;
use crate::json_config::{self, Settings, Switch};
use crate::json_numbers;

// ---------------------------------------------------------------------------
// Pure rules

/// The integer a Lua number is written as, when it is one: whole, in the
/// range of i64, and not `-0` (which would lose its sign).
fn integer_of(x: f64) -> Option<i64> {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    let whole = x.trunc() == x && (-TWO_TO_63..TWO_TO_63).contains(&x);
    (whole && !(x == 0.0 && x.is_sign_negative())).then_some(x as i64)
}

/// A finite Lua number as JSON (as a value or, quoted, as a key).
struct Number(f64);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match integer_of(self.0) {
            Some(i) => s.serialize_i64(i),
            None => s.serialize_f64(self.0),
        }
    }
}

/// How a non-finite number is named in errors.
fn non_finite_name(x: f64) -> &'static str {
    if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// A non-finite number as lua-cjson 2.1 writes it when told to
/// (`encode_invalid_numbers(true)`): C's `%g` text, `nan` unsigned.
fn non_finite_text(x: f64) -> &'static str {
    if x.is_nan() { "nan" } else { non_finite_name(x) }
}

/// The largest array index `encode` looks for (the C API indexes by `int`).
const MAX_INDEX: f64 = (i32::MAX / 2) as f64;

/// The length of the JSON array a table becomes, as lua-cjson decides it:
/// `count` keys, all positive integers, the largest `max`. `None` means an
/// object: no keys at all, or an excessively sparse array (largest index
/// over `ratio` times the count, unless the ratio is 0, and over `safe`)
/// when `convert` is set; without it such an array is an error. So is an
/// array whose holes alone (`null,` each) would be longer than a string
/// can be, which a ratio of 0 allows.
fn array_length(count: usize, max: usize, settings: &Settings) -> std::result::Result<Option<usize>, String> {
    let (ratio, safe) = (settings.sparse_ratio as usize, settings.sparse_safe as usize);
    if ratio > 0 && max > ratio.saturating_mul(count) && max > safe {
        return if settings.sparse_convert { Ok(None) } else { Err("excessively sparse array".into()) };
    }
    let holes = max.saturating_sub(count);
    if holes.saturating_mul(5) > MAX_STRING_BYTES {
        return Err(format!("an array with {holes} holes would be longer than the longest string LuaJIT can hold"));
    }
    Ok((count > 0).then_some(max))
}

/// One step of the path to a value inside a Lua value: what `encode` was
/// given here, or what `async.work` copies (work/copy.rs), whose tables
/// may have boolean keys too.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Index(f64),
    Key(Vec<u8>),
    Boolean(bool),
}

/// A path as Lua would index it, outermost step first: `.list[2]["a b"]`.
pub(crate) fn path_text(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Index(x) => match integer_of(*x) {
                Some(i) => out.push_str(&format!("[{i}]")),
                None => out.push_str(&format!("[{x}]")),
            },
            Step::Key(k) if is_identifier(k) => {
                out.push('.');
                out.push_str(&String::from_utf8_lossy(k));
            }
            Step::Key(k) => out.push_str(&format!("[{:?}]", String::from_utf8_lossy(k))),
            Step::Boolean(b) => out.push_str(&format!("[{b}]")),
        }
    }
    out
}

fn is_identifier(k: &[u8]) -> bool {
    match k.split_first() {
        Some((first, rest)) => {
            (first.is_ascii_alphabetic() || *first == b'_') && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }
        None => false,
    }
}

// ---------------------------------------------------------------------------
// Encoding: a `Serialize` view of the Lua stack

/// What one `encode` call shares: the state whose stack is read, its
/// table's settings, and the first failure (set once; the serde error that
/// carries it up is a mere marker, so that the path can be added on the
/// way out).
struct Encoder {
    state: *mut ffi::lua_State,
    settings: Settings,
    failure: RefCell<Option<Failure>>,
    /// The bytes of a string that is not UTF-8, on their way to
    /// `RawText` (see there).
    raw_string: RefCell<Option<Vec<u8>>>,
    /// The text of a number serde_json cannot write (NaN, ±inf), on its
    /// way to `RawText` in place of a `null`.
    raw_number: Cell<Option<&'static str>>,
}

/// serde_json's compact formatter, but for what serde_json cannot be
/// handed. For a string that is not UTF-8 the serializer is given an
/// empty string, and the string's own bytes, escaped, are written before
/// its closing quote; for a non-finite number it is given a unit, and the
/// number's text is written instead of `null`. Numbers follow the
/// precision setting.
struct RawText<'e>(&'e Encoder);

impl serde_json::ser::Formatter for RawText<'_> {
    fn end_string<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        if let Some(bytes) = self.0.raw_string.borrow_mut().take() {
            write_escaped_bytes(writer, &bytes)?;
        }
        writer.write_all(b"\"")
    }

    fn write_null<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(self.0.raw_number.take().unwrap_or("null").as_bytes())
    }

    fn write_i64<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: i64) -> std::io::Result<()> {
        match self.0.settings.printf_precision() {
            // Only whole doubles become integers (see `Number`): exact.
            Some(precision) => json_numbers::write_g(writer, value as f64, precision),
            None => serde_json::ser::CompactFormatter.write_i64(writer, value),
        }
    }

    fn write_f64<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: f64) -> std::io::Result<()> {
        match self.0.settings.printf_precision() {
            Some(precision) => json_numbers::write_g(writer, value, precision),
            None => serde_json::ser::CompactFormatter.write_f64(writer, value),
        }
    }
}

/// `bytes` as the inside of a JSON string: quote, backslash and control
/// characters escaped as serde_json escapes them, every other byte as it
/// is.
fn write_escaped_bytes<W: ?Sized + std::io::Write>(writer: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    let mut from = 0;
    for (at, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => 0,
            _ => continue,
        };
        writer.write_all(&bytes[from..at])?;
        if short == 0 {
            write!(writer, "\\u{:04x}", b)?;
        } else {
            writer.write_all(&[b'\\', short])?;
        }
        from = at + 1;
    }
    writer.write_all(&bytes[from..])
}

struct Failure {
    message: String,
    /// Innermost step first (steps are added as the error goes up).
    path: Vec<Step>,
    /// Whether the path is worth telling (not for nesting errors).
    located: bool,
}

impl Encoder {
    /// What to hand the serializer for a Lua string: its text, or for
    /// bytes that are not UTF-8 an empty string, the bytes going to
    /// `RawText` (the serializer writes the string at once, before the
    /// next is read).
    fn text<'b, E: ser::Error>(&self, bytes: &'b [u8]) -> std::result::Result<&'b str, E> {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Ok(text);
        }
        let copy = memory::copy(bytes).map_err(|error| self.fail(error.to_string(), false))?;
        *self.raw_string.borrow_mut() = Some(copy);
        Ok("")
    }

    fn fail<E: ser::Error>(&self, message: String, located: bool) -> E {
        *self.failure.borrow_mut() = Some(Failure { message, path: Vec::new(), located });
        E::custom("json.encode failed")
    }

    /// The text a non-finite number is written as, per the
    /// `encode_invalid_numbers` setting, or the error it is.
    fn non_finite<E: ser::Error>(&self, x: f64, what: &str) -> std::result::Result<&'static str, E> {
        match self.settings.encode_invalid {
            Switch::Off => Err(self.fail(format!("cannot encode {}{what}", non_finite_name(x)), true)),
            Switch::On => Ok(non_finite_text(x)),
            Switch::Null => Ok("null"),
        }
    }

    /// Records that the failure happened inside `step` (called on the
    /// error path only).
    fn step(&self, step: impl FnOnce() -> Step) {
        if let Some(failure) = self.failure.borrow_mut().as_mut()
            && failure.located
        {
            failure.path.push(step());
        }
    }

    fn message(&self, error: serde_json::Error) -> String {
        match self.failure.borrow_mut().take() {
            Some(Failure { message, mut path, .. }) if !path.is_empty() => {
                path.reverse();
                format!("json.encode: {message} at {}", path_text(&path))
            }
            Some(failure) => format!("json.encode: {}", failure.message),
            // The only writer is `memory::Writer`, which fails for want of
            // memory alone.
            None if error.is_io() => format!("json.encode: {}", memory::MESSAGE),
            None => format!("json.encode: {error}"),
        }
    }
}

/// The Lua value at stack `index`, `depth` tables deep.
#[derive(Clone, Copy)]
struct StackValue<'e> {
    encoder: &'e Encoder,
    index: c_int,
    depth: usize,
}

/// The name of the type of the value at `index`.
///
/// # Safety
/// `index` is a valid stack index of the live `state`.
unsafe fn type_name(state: *mut ffi::lua_State, index: c_int) -> String {
    // SAFETY: lua_typename returns a static C string for every type tag.
    unsafe { CStr::from_ptr(ffi::lua_typename(state, ffi::lua_type(state, index))).to_string_lossy().into_owned() }
}

impl Serialize for StackValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let state = self.encoder.state;
        let index = self.index;
        // SAFETY: (the whole block) an Encoder is only made by `encode_raw` for
        // its own live state, and every StackValue's index is a slot of that
        // stack which stays put while the StackValue is serialized.
        unsafe {
            match ffi::lua_type(state, index) {
                ffi::LUA_TNIL => s.serialize_unit(),
                ffi::LUA_TBOOLEAN => s.serialize_bool(ffi::lua_toboolean(state, index) != 0),
                ffi::LUA_TNUMBER => {
                    let x = ffi::lua_tonumber(state, index);
                    if !x.is_finite() {
                        self.encoder.raw_number.set(Some(self.encoder.non_finite(x, "")?));
                        return s.serialize_unit();
                    }
                    Number(x).serialize(s)
                }
                ffi::LUA_TSTRING => s.serialize_str(self.encoder.text(bytes_at(state, index))?),
                ffi::LUA_TTABLE => self.table(s),
                ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(state, index).is_null() => s.serialize_unit(),
                _ => Err(self.encoder.fail(format!("cannot encode a {} value", type_name(state, index)), true)),
            }
        }
    }
}

impl StackValue<'_> {
    /// A table, as an array or an object (see the module doc).
    fn table<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let state = self.encoder.state;
        if self.depth >= self.encoder.settings.encode_depth() {
            return Err(self.encoder.fail(self.too_deep(), false));
        }
        // SAFETY: the table is at `self.index`; lua_checkstack makes room
        // for the key and value that the iteration pushes.
        unsafe {
            if ffi::lua_checkstack(state, 3) == 0 {
                return Err(self.encoder.fail("nesting too deep for the Lua stack".into(), false));
            }
            match self.array_length() {
                Ok(Some(n)) => self.array(n, s),
                Ok(None) => self.object(s),
                Err(message) => Err(self.encoder.fail(message, true)),
            }
        }
    }

    /// The array length of the table, or `None` for an object: one pass
    /// over its keys, stopping at the first that is no array index.
    ///
    /// # Safety
    /// The table is at `self.index`, with two free stack slots.
    unsafe fn array_length(&self) -> std::result::Result<Option<usize>, String> {
        let state = self.encoder.state;
        // SAFETY: per the contract; lua_next leaves key and value above
        // `top`, and the stack is reset to `top` on every way out.
        unsafe {
            let top = ffi::lua_gettop(state);
            let (mut count, mut max) = (0usize, 0.0f64);
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, self.index) != 0 {
                let k = ffi::lua_tonumber(state, top + 1);
                let index = ffi::lua_type(state, top + 1) == ffi::LUA_TNUMBER && (1.0..=MAX_INDEX).contains(&k) && k.trunc() == k;
                if !index {
                    ffi::lua_settop(state, top);
                    return Ok(None);
                }
                count += 1;
                max = max.max(k);
                ffi::lua_settop(state, top + 1);
            }
            array_length(count, max as usize, &self.encoder.settings)
        }
    }

    /// # Safety
    /// As for `array_length`, which returned `n`.
    unsafe fn array<S: Serializer>(&self, n: usize, s: S) -> std::result::Result<S::Ok, S::Error> {
        let state = self.encoder.state;
        let mut seq = s.serialize_seq(Some(n))?;
        // SAFETY: per the contract; each element is pushed into the slot
        // above `top` and popped after it is written. n ≤ MAX_INDEX fits
        // an int.
        unsafe {
            let top = ffi::lua_gettop(state);
            let item = StackValue { index: top + 1, depth: self.depth + 1, ..*self };
            for i in 1..=n {
                ffi::lua_rawgeti_(state, self.index, i as c_int);
                seq.serialize_element(&item).inspect_err(|_| {
                    self.encoder.step(|| Step::Index(i as f64));
                })?;
                ffi::lua_settop(state, top);
            }
        }
        seq.end()
    }

    /// # Safety
    /// The table is at `self.index`, with two free stack slots.
    unsafe fn object<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let state = self.encoder.state;
        let mut map = s.serialize_map(None)?;
        // SAFETY: per the contract; lua_next leaves the key at `key` and
        // the value above it; the value is popped after it is written and
        // the key is only read (lua_tolstring on a string key does not
        // change it), as lua_next requires.
        unsafe {
            let key = ffi::lua_gettop(state) + 1;
            let value = StackValue { index: key + 1, depth: self.depth + 1, ..*self };
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, self.index) != 0 {
                match ffi::lua_type(state, key) {
                    ffi::LUA_TSTRING => map.serialize_key(self.encoder.text(bytes_at(state, key))?)?,
                    ffi::LUA_TNUMBER => {
                        let x = ffi::lua_tonumber(state, key);
                        if x.is_finite() {
                            map.serialize_key(&Number(x))?
                        } else {
                            map.serialize_key(self.encoder.non_finite(x, " as a key")?)?
                        }
                    }
                    _ => {
                        let kind = type_name(state, key);
                        let message = format!("cannot encode a {kind} key (keys must be strings or numbers)");
                        return Err(self.encoder.fail(message, true));
                    }
                }
                map.serialize_value(&value).inspect_err(|_| {
                    // On this error path the key is still at `key`.
                    self.encoder.step(|| key_step(state, key));
                })?;
                ffi::lua_settop(state, key);
            }
        }
        map.end()
    }

    /// The message for a table nested too deep: a cycle if one of the
    /// tables on the stack (the table being encoded and all that enclose
    /// it) appears twice, plain depth otherwise.
    fn too_deep(&self) -> String {
        let state = self.encoder.state;
        // SAFETY: reads the types and identities of the live stack's slots.
        let cyclic = unsafe {
            let mut seen = std::collections::HashSet::new();
            (1..=ffi::lua_gettop(state))
                .filter(|&i| ffi::lua_type(state, i) == ffi::LUA_TTABLE)
                .any(|i| !seen.insert(ffi::lua_topointer(state, i)))
        };
        if cyclic {
            "cannot encode a table that contains itself".to_string()
        } else {
            format!("nesting deeper than {}", self.encoder.settings.encode_depth())
        }
    }
}

/// The path step of the key at `index`.
///
/// # Safety
/// `index` holds a string or number on the live `state`'s stack.
unsafe fn key_step(state: *mut ffi::lua_State, index: c_int) -> Step {
    // SAFETY: per the contract.
    unsafe {
        if ffi::lua_type(state, index) == ffi::LUA_TSTRING {
            Step::Key(bytes_at(state, index).to_vec())
        } else {
            Step::Index(ffi::lua_tonumber(state, index))
        }
    }
}

/// The JSON text of the value at index 1, the only value on the stack of
/// the live `state`. It only reads the stack (`lua_next` over tables it
/// does not change, `lua_rawgeti`, the `to*` readers on values that need
/// no conversion), except for `lua_checkstack` per nested table, which in
/// this LuaJIT raises when the stack must grow and memory is out: so it
/// runs where a Lua error may unwind (see `encode_raw`), and must not
/// panic. Nothing does: serde_json's writer into `memory::Writer` only
/// fails by returning errors (memory running out among them, which would
/// abort with a plain `Vec`), and the `Serialize` impls above only read
/// values, compare and format.
///
/// # Safety
/// As said: `state` is live and holds exactly the value.
unsafe fn encode_text(state: *mut ffi::lua_State, settings: Settings) -> std::result::Result<Vec<u8>, String> {
    let encoder =
        Encoder { state, settings, failure: RefCell::new(None), raw_string: RefCell::new(None), raw_number: Cell::new(None) };
    let mut out = Vec::with_capacity(256);
    let top = StackValue { encoder: &encoder, index: 1, depth: 0 };
    let writer = memory::Writer(&mut out);
    match top.serialize(&mut serde_json::Serializer::with_formatter(writer, RawText(&encoder))) {
        Ok(()) if out.len() > MAX_STRING_BYTES => Err(format!(
            "json.encode: the text would be {} bytes, more than the longest string LuaJIT can hold ({MAX_STRING_BYTES})",
            out.len(),
        )),
        Ok(()) => Ok(out),
        Err(error) => Err(encoder.message(error)),
    }
}

/// The settings of the `json` table a raw function belongs to: its
/// upvalue (see `new_codec`).
///
/// # Safety
/// `state` runs a C closure made by `new_codec`.
unsafe fn settings_of_call(state: *mut ffi::lua_State, name: &str) -> std::result::Result<Settings, String> {
    // SAFETY: per the contract; the upvalue is checked for what it is.
    unsafe { json_config::settings_at(state, ffi::lua_upvalueindex(1)) }
        .ok_or_else(|| format!("json.{name}: its settings upvalue was replaced"))
}

/// `json.encode(value)` → `true, text` or `false, message, 2`.
unsafe extern "C-unwind" fn encode_raw(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its arguments on the stack, as a closure
    // made by `new_codec`; the body pushes the one result it reports. A
    // Lua error while the text is made or pushed (out of memory) unwinds
    // to the caller, dropping the serializer and `out` on the way.
    unsafe {
        boundary::raw_call(state, "encode", || {
            let settings = settings_of_call(state, "encode")?;
            if ffi::lua_gettop(state) == 0 {
                return Err(boundary::bad_argument(1, "encode", "value", "no value"));
            }
            ffi::lua_settop(state, 1);
            let out = encode_text(state, settings)?;
            ffi::lua_pushlstring_(state, out.as_ptr() as *const c_char, out.len());
            Ok(1)
        })
    }
}

// ---------------------------------------------------------------------------
// Decoding: a `DeserializeSeed` that pushes onto the Lua stack

/// Pushes one JSON value onto the stack of `state`, `depth` containers
/// deep (of at most `max_depth`).
#[derive(Clone, Copy)]
struct Push<'n> {
    state: *mut ffi::lua_State,
    depth: usize,
    max_depth: usize,
    /// With `decode_invalid_numbers`, the values of the numbers, in order,
    /// that `json_numbers::lenient_text` replaced with zeros.
    numbers: Option<&'n Numbers<'n>>,
}

/// The numbers a lenient decode takes in place of the zeros serde_json
/// reads, and how many it took.
struct Numbers<'n> {
    values: &'n [f64],
    next: Cell<usize>,
}

impl<'n> Push<'n> {
    /// Checks that one more container fits, and makes stack room for it
    /// and one key and value.
    fn enter<E: de::Error>(&self) -> std::result::Result<Push<'n>, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(format!("nesting deeper than {}", self.max_depth)));
        }
        // SAFETY: `state` is the live state of the `decode_raw` call.
        if unsafe { ffi::lua_checkstack(self.state, 3) } == 0 {
            return Err(E::custom("nesting too deep for the Lua stack"));
        }
        Ok(Push { depth: self.depth + 1, ..*self })
    }
}

impl<'de> DeserializeSeed<'de> for Push<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

// SAFETY: (every method below) a Push is only made by `decode_raw` for
// its own live state; each push needs one stack slot, which `enter` (or,
// for the top value, LUA_MINSTACK) provides.
impl<'de> Visitor<'de> for Push<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<(), E> {
        // SAFETY: see the impl.
        unsafe { ffi::lua_pushlightuserdata(self.state, std::ptr::null_mut::<c_void>()) };
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<(), E> {
        // SAFETY: see the impl.
        unsafe { ffi::lua_pushboolean(self.state, v as c_int) };
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<(), E> {
        self.visit_f64(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<(), E> {
        self.visit_f64(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<(), E> {
        // Every number serde_json reads in lenient text is one of the
        // zeros, in the order they were put there.
        let v = match self.numbers {
            Some(numbers) => {
                let at = numbers.next.replace(numbers.next.get() + 1);
                numbers.values.get(at).copied().unwrap_or(v)
            }
            None => v,
        };
        // SAFETY: see the impl.
        unsafe { ffi::lua_pushnumber(self.state, v) };
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<(), E> {
        // SAFETY: see the impl; Lua copies the bytes.
        unsafe { ffi::lua_pushlstring_(self.state, v.as_ptr() as *const c_char, v.len()) };
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let inner = self.enter()?;
        // SAFETY: see the impl; each element is pushed above the table,
        // at -2 then, and moved into it.
        unsafe {
            ffi::lua_createtable(self.state, 0, 0);
            let mut n: c_int = 0;
            while seq.next_element_seed(inner)?.is_some() {
                n += 1;
                ffi::lua_rawseti_(self.state, -2, n);
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let inner = self.enter()?;
        // SAFETY: see the impl; key and value are pushed above the table,
        // at -3 then, and moved into it (a repeated key keeps the last).
        unsafe {
            ffi::lua_createtable(self.state, 0, 0);
            while map.next_key_seed(inner)?.is_some() {
                map.next_value_seed(inner)?;
                ffi::lua_rawset(self.state, -3);
            }
        }
        Ok(())
    }
}

/// `json.decode(text)` → `true, value` or `false, message, 2`.
///
/// Parsing and pushing interleave (each value is pushed as serde_json
/// reads it), so a Lua error from a push (out of memory, with a large
/// document) unwinds through serde_json's frames to the caller, dropping
/// the parser and its scratch buffer on the way. No `catch_unwind` can sit
/// in between, so nothing here may panic, and nothing does: serde_json's
/// parser reports every malformed input as an `Err` (it is fuzzed for
/// that), and the visitor above only pushes, counts array elements in an
/// `int` (a string LuaJIT can hold has fewer than 2^30 elements) and makes
/// error values. Were a panic to happen anyway, `raw_call` aborts.
unsafe extern "C-unwind" fn decode_raw(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua with its arguments on the stack, as a closure
    // made by `new_codec`. The text stays at index 1, so its bytes stay
    // valid while they are parsed; the body pushes the one result it
    // reports.
    unsafe {
        boundary::raw_call(state, "decode", || {
            let settings = settings_of_call(state, "decode")?;
            if ffi::lua_isstring(state, 1) == 0 {
                return Err(boundary::bad_argument_at(state, 1, "decode", "string"));
            }
            ffi::lua_settop(state, 1);
            // Lenient: serde_json reads zeros where the numbers were.
            let lenient = settings.decode_invalid.then(|| json_numbers::lenient_text(bytes_at(state, 1)));
            let (text, numbers) = match &lenient {
                Some((text, values)) => (text.as_slice(), Some(Numbers { values, next: Cell::new(0) })),
                None => (bytes_at(state, 1), None),
            };
            let mut de = serde_json::Deserializer::from_slice(text);
            // Our own limit (the decode_max_depth setting) replaces serde_json's 128.
            de.disable_recursion_limit();
            let push = Push { state, depth: 0, max_depth: settings.decode_depth(), numbers: numbers.as_ref() };
            push.deserialize(&mut de).and_then(|()| de.end()).map_err(|e| format!("json.decode: {e}"))?;
            Ok(1)
        })
    }
}

/// An `encode` and a `decode` that share new settings (json_config.rs),
/// and the userdata that holds them: upvalue 1 of both raw functions.
fn new_codec(lua: &Lua) -> Result<(Function, Function, Value)> {
    // SAFETY: runs protected (exec_raw): the settings userdata is pushed,
    // then each raw function as a C closure over a copy of it; the stack
    // is left as encode, decode, settings. Both are lua_CFunctions that
    // keep to the raw convention of `boundary::raw_call`.
    let (encode, decode, settings): (Function, Function, Value) = unsafe {
        lua.exec_raw((), |state| {
            json_config::push_new(state);
            ffi::lua_pushvalue(state, -1);
            ffi::lua_pushcclosure(state, encode_raw, 1);
            ffi::lua_pushvalue(state, -2);
            ffi::lua_pushcclosure(state, decode_raw, 1);
            ffi::lua_pushvalue(state, -3);
            ffi::lua_remove(state, -4);
        })?
    };
    Ok((boundary::wrap(lua, encode)?, boundary::wrap(lua, decode)?, settings))
}

/// `async.json`'s `encode`, `decode` and settings. Made once per Lua state.
fn module_codec(lua: &Lua) -> Result<(Function, Function, Value)> {
    const KEY: &str = "async.json.functions";
    if let Ok(codec) = lua.named_registry_value::<Table>(KEY) {
        return Ok((codec.raw_get(1)?, codec.raw_get(2)?, codec.raw_get(3)?));
    }
    let (encode, decode, settings) = new_codec(lua)?;
    let codec = lua.create_table()?;
    codec.raw_set(1, &encode)?;
    codec.raw_set(2, &decode)?;
    codec.raw_set(3, &settings)?;
    lua.set_named_registry_value(KEY, codec)?;
    Ok((encode, decode, settings))
}

/// `json.encode` and `json.decode` as this module made them, whatever the
/// user put in the `json` table since: the JSON-lines peers and the HTTP
/// server's JSON bodies use these, with the settings of `async.json`.
pub fn functions(lua: &Lua) -> Result<(Function, Function)> {
    let (encode, decode, _) = module_codec(lua)?;
    Ok((encode, decode))
}

/// A `json` table: `encode`, `decode`, `null`, `new` and the
/// configuration functions of `settings`.
fn table_of(lua: &Lua, (encode, decode, settings): (Function, Function, Value)) -> Result<Table> {
    let json = lua.create_table()?;
    json.set("encode", encode)?;
    json.set("decode", decode)?;
    json.set("null", Value::NULL)?;
    json.set("new", boundary::function(lua, "new", |lua, _| table_of(lua, new_codec(lua)?))?)?;
    json_config::install(lua, &json, &settings)?;
    Ok(json)
}

/// `async.json` (`listen` and `connect` are json_rpc.rs's).
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    module.set("json", table_of(lua, module_codec(lua)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(x: f64) -> String {
        serde_json::to_string(&Number(x)).unwrap()
    }

    /// A number as an object key, the way `object` writes it.
    fn key(x: f64) -> String {
        struct One(f64);
        impl Serialize for One {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(&Number(self.0), &true)?;
                map.end()
            }
        }
        serde_json::to_string(&One(x)).unwrap()
    }

    #[test]
    fn whole_numbers_are_integers() {
        assert_eq!(json(1.0), "1");
        assert_eq!(json(-42.0), "-42");
        assert_eq!(json(0.0), "0");
        assert_eq!(json(9007199254740992.0), "9007199254740992");
        assert_eq!(json(2f64.powi(62)), "4611686018427387904");
        assert_eq!(json(-(2f64.powi(63))), "-9223372036854775808");
    }

    #[test]
    fn other_numbers_take_the_shortest_form_that_reads_back() {
        for x in [0.1, 1.0 / 3.0, 1e300, 5e-324, f64::MAX, -2.5e-7, 2f64.powi(63), 1e20, 123456.789] {
            let text = json(x);
            assert_eq!(text.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{x} as {text}");
        }
        assert_eq!(json(0.1), "0.1");
        assert_eq!(json(1.5), "1.5");
        assert_eq!(json(-0.0), "-0.0");
        assert_eq!(integer_of(2f64.powi(63)), None);
    }

    #[test]
    fn number_keys_are_quoted() {
        assert_eq!(key(1.0), r#"{"1":true}"#);
        assert_eq!(key(1.5), r#"{"1.5":true}"#);
        assert_eq!(key(-3.0), r#"{"-3":true}"#);
    }

    #[test]
    fn non_finite_numbers_are_named() {
        assert_eq!(non_finite_name(f64::NAN), "NaN");
        assert_eq!(non_finite_name(f64::INFINITY), "inf");
        assert_eq!(non_finite_name(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn arrays_as_lua_cjson_tells_them() {
        let default = Settings::DEFAULT;
        let length = |count, max| array_length(count, max, &default).unwrap();
        assert_eq!(length(0, 0), None);
        assert_eq!(length(3, 3), Some(3));
        assert_eq!(length(2, 3), Some(3));
        assert_eq!(length(1, 10), Some(10));
        assert_eq!(length(1, 11), None);
        assert_eq!(length(50, 100), Some(100));
        assert_eq!(length(50, 101), None);

        let strict = Settings { sparse_convert: false, sparse_ratio: 3, sparse_safe: 5, ..default };
        assert_eq!(array_length(1, 3, &strict), Ok(Some(3)));
        assert_eq!(array_length(2, 6, &strict), Ok(Some(6)));
        assert_eq!(array_length(2, 7, &strict), Err("excessively sparse array".to_string()));
        assert_eq!(array_length(1, 5, &strict), Ok(Some(5)));
        let never = Settings { sparse_ratio: 0, ..default };
        assert_eq!(array_length(1, 1000, &never), Ok(Some(1000)));
        assert!(array_length(1, 1 << 30, &never).unwrap_err().contains("longer than the longest string"));
    }

    #[test]
    fn paths_read_as_lua_indexing() {
        let steps = [Step::Key(b"list".to_vec()), Step::Index(2.0), Step::Key(b"a b".to_vec()), Step::Index(1.5)];
        assert_eq!(path_text(&steps), r#".list[2]["a b"][1.5]"#);
        assert_eq!(path_text(&[Step::Key(b"_x9".to_vec()), Step::Key(b"9x".to_vec())]), r#"._x9["9x"]"#);
        assert_eq!(path_text(&[Step::Key(b"".to_vec()), Step::Key(b"q\"".to_vec())]), r#"[""]["q\""]"#);
        assert_eq!(path_text(&[]), "");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_written_as_they_are_with_escapes() {
        let escaped = |bytes: &[u8]| {
            let mut out = Vec::new();
            write_escaped_bytes(&mut out, bytes).unwrap();
            out
        };
        assert_eq!(escaped(b"caf\xe9"), b"caf\xe9");
        assert_eq!(escaped(b"\xff\"q\"\\\n\x01\x7f"), b"\xff\\\"q\\\"\\\\\\n\\u0001\x7f");
        assert_eq!(escaped(b""), b"");
    }
}
