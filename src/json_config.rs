//! lua-cjson 2.1's configuration functions, on `async.json` and on every
//! table `json.new()` makes: `encode_sparse_array([convert[, ratio[,
//! safe]]])`, `encode_max_depth([depth])`, `decode_max_depth([depth])`,
//! `encode_number_precision([digits])`, `encode_invalid_numbers([setting])`,
//! `decode_invalid_numbers([setting])`, `encode_keep_buffer([keep])`, and
//! `_NAME`, `_VERSION`. The original module's `json` *was* cjson's table,
//! so programs written for it call these. Each sets what it is given
//! (`nil` leaves a setting as it is) and returns the settings it governs,
//! as cjson does; a bad argument is an error naming it, and changes
//! nothing (a fraction is one, where cjson truncates it).
//!
//! The defaults are cjson's but where our mapping documents a difference
//! (json.rs): a sparse array becomes an object (`convert` true), numbers
//! take their shortest exact form (precision 17; 1 to 16 write
//! `%.<n>g` as cjson does, which takes 1 to 14), and decode reads JSON's
//! numbers only (`decode_invalid_numbers` false). Depths up to 2^31-1 are
//! taken, as cjson does, but nesting stops at `DEPTH_CAP` (5000) whatever
//! the setting: each level is a few frames of Rust recursion on the C
//! stack.
//! `encode_keep_buffer` is kept and returned, and changes nothing: our
//! encoder has no buffer to keep. `_NAME` and `_VERSION` are cjson's
//! (`"cjson"`, `"2.1.0"`), for programs that tell JSON modules apart by
//! them: they name the API these tables implement.
//!
//! Each table's settings live in a userdata of ours that is upvalue 1 of
//! its raw `encode` and `decode` (json.rs), which copy them at each call:
//! no Lua table is read on that path.
//!
//! May touch: the settings userdata of a `json` table. Never libuv.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::rc::Rc;

use mlua::{IntoLuaMulti, LightUserData, Lua, RegistryKey, Result, Table, Value, ffi};

use crate::core::boundary::{self, Args};

/// The deepest nesting `encode` and `decode` reach, whatever
/// `encode_max_depth` and `decode_max_depth` say. A level costs under 200
/// bytes of C stack (measured: 7,900 levels of arrays decode within a
/// 1.5 MiB stack), so the cap holds a call under 1 MiB, well inside the
/// 8 MiB main-thread stack that coroutines share (spec/json_spec.lua runs
/// both at the cap in a child with a 2 MiB stack). The Lua stack stops
/// objects first, near 4,000 levels, as it does cjson's.
pub const DEPTH_CAP: u32 = 5000;

/// The precision that stands for our own number form: the shortest text
/// that reads back to the same double, which never needs more than 17
/// digits.
pub const SHORTEST: u8 = 17;

/// lua-cjson's three-way option: `false`/`"off"`, `true`/`"on"`, `"null"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    Off,
    On,
    Null,
}

/// What one `json` table's `encode` and `decode` follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// A too sparse array: an object (true) or an error.
    pub sparse_convert: bool,
    /// An array is too sparse when its largest index is over `ratio`
    /// times its count of keys (0: never) and over `safe`.
    pub sparse_ratio: u32,
    pub sparse_safe: u32,
    pub encode_max_depth: u32,
    pub decode_max_depth: u32,
    /// Significant digits of numbers, or `SHORTEST`.
    pub precision: u8,
    /// NaN and ±inf: an error (`Off`), written as cjson writes them (`On`:
    /// `nan`, `inf`, `-inf`), or `null`.
    pub encode_invalid: Switch,
    /// Whether `decode` reads what `strtod` does beyond JSON's numbers.
    pub decode_invalid: bool,
    pub keep_buffer: bool,
}

impl Settings {
    pub const DEFAULT: Settings = Settings {
        sparse_convert: true,
        sparse_ratio: 2,
        sparse_safe: 10,
        encode_max_depth: 1000,
        decode_max_depth: 1000,
        precision: SHORTEST,
        encode_invalid: Switch::Off,
        decode_invalid: false,
        keep_buffer: true,
    };

    /// How deep `encode` nests.
    pub fn encode_depth(&self) -> usize {
        self.encode_max_depth.min(DEPTH_CAP) as usize
    }

    /// How deep `decode` nests.
    pub fn decode_depth(&self) -> usize {
        self.decode_max_depth.min(DEPTH_CAP) as usize
    }

    /// The digits for `%.<n>g`, or `None` for our shortest exact form.
    pub fn printf_precision(&self) -> Option<usize> {
        (self.precision < SHORTEST).then_some(self.precision as usize)
    }
}

/// The payload of a settings userdata.
#[repr(C)]
struct Slot {
    magic: u64,
    settings: Cell<Settings>,
}

/// Tells a settings userdata from others of the same size.
const SLOT_MAGIC: u64 = 0x6a73_6f6e_6366_6721;

/// Pushes a new settings userdata holding the defaults.
///
/// # Safety
/// `state` is live, with a free stack slot, where a Lua error may unwind
/// (the allocation raises when memory is out).
pub unsafe fn push_new(state: *mut ffi::lua_State) {
    // SAFETY: per the contract; the userdata is at least as large as a
    // Slot and aligned for it (LuaJIT aligns payloads to 8 bytes), and a
    // Slot needs no drop, so the userdata needs no metatable.
    unsafe {
        let place = ffi::lua_newuserdata(state, std::mem::size_of::<Slot>()) as *mut Slot;
        place.write(Slot { magic: SLOT_MAGIC, settings: Cell::new(Settings::DEFAULT) });
    }
}

/// The slot at `index`, or null for anything but a settings userdata.
///
/// # Safety
/// `index` is a valid (or upvalue) index of the live `state`.
unsafe fn slot_at(state: *mut ffi::lua_State, index: c_int) -> *const Slot {
    // SAFETY: per the contract; the magic is read only from a full
    // userdata of a Slot's size, whose memory is that long, and one made
    // by `push_new` holds it (Lua code cannot write a userdata's memory).
    unsafe {
        if ffi::lua_type(state, index) != ffi::LUA_TUSERDATA || ffi::lua_objlen(state, index) != std::mem::size_of::<Slot>() {
            return std::ptr::null();
        }
        let slot = ffi::lua_touserdata(state, index) as *const Slot;
        if (*slot).magic == SLOT_MAGIC { slot } else { std::ptr::null() }
    }
}

/// The settings in the userdata at `index` (`encode` and `decode` read
/// their upvalue), or `None` if it is not one: only the debug library can
/// put anything else there.
///
/// # Safety
/// As for `slot_at`.
pub unsafe fn settings_at(state: *mut ffi::lua_State, index: c_int) -> Option<Settings> {
    // SAFETY: per the contract; a non-null slot is a live userdata's.
    unsafe { slot_at(state, index).as_ref().map(|slot| slot.settings.get()) }
}

/// The settings of one table, for its configuration functions: the
/// userdata's payload, and a registry reference that keeps the userdata
/// alive (and collectable once the functions are gone).
struct Handle {
    slot: *const Slot,
    _alive: RegistryKey,
}

impl Handle {
    fn new(lua: &Lua, settings: &Value) -> Result<Rc<Handle>> {
        // SAFETY: exec_raw pushed the value; it is replaced by one light
        // userdata.
        let slot = unsafe {
            lua.exec_raw::<LightUserData>(settings, |state| {
                let slot = slot_at(state, -1);
                ffi::lua_pop(state, 1);
                ffi::lua_pushlightuserdata(state, slot as *mut c_void);
            })
        }?;
        if slot.0.is_null() {
            return boundary::fail("json: settings expected");
        }
        Ok(Rc::new(Handle { slot: slot.0 as *const Slot, _alive: lua.create_registry_value(settings)? }))
    }

    fn get(&self) -> Settings {
        // SAFETY: the userdata is alive while `_alive` is, and does not
        // move (LuaJIT's collector moves nothing).
        unsafe { (*self.slot).settings.get() }
    }

    fn set(&self, settings: Settings) {
        // SAFETY: as in `get`.
        unsafe { (*self.slot).settings.set(settings) }
    }
}

const INT_MAX: i64 = i32::MAX as i64;

/// Integer argument `i` from `lo` to `hi`, if given.
fn integer(args: &Args, i: usize, lo: i64, hi: i64) -> Result<Option<u32>> {
    match args.get(i) {
        Value::Nil => Ok(None),
        _ => Ok(Some(args.whole_in(i, lo, hi, &format!("integer between {lo} and {hi}"))? as u32)),
    }
}

/// Switch argument `i` (`null_too`: `"null"` is one of its values), if
/// given.
fn switch(args: &Args, i: usize, null_too: bool) -> Result<Option<Switch>> {
    let expected = if null_too { "boolean, 'on', 'off' or 'null'" } else { "boolean, 'on' or 'off'" };
    match args.get(i) {
        Value::Nil => Ok(None),
        Value::Boolean(on) => Ok(Some(if on { Switch::On } else { Switch::Off })),
        Value::String(text) => match &*text.as_bytes() {
            b"on" => Ok(Some(Switch::On)),
            b"off" => Ok(Some(Switch::Off)),
            b"null" if null_too => Ok(Some(Switch::Null)),
            other => {
                let got = format!("'{}'", String::from_utf8_lossy(other));
                boundary::fail(boundary::bad_argument(i, args.name(), expected, &got))
            }
        },
        _ => args.bad(i, expected),
    }
}

/// A switch as cjson returns it: a boolean, or `"null"`.
fn switch_value(lua: &Lua, switch: Switch) -> Result<Value> {
    match switch {
        Switch::Off => Ok(Value::Boolean(false)),
        Switch::On => Ok(Value::Boolean(true)),
        Switch::Null => lua.create_string("null").map(Value::String),
    }
}

/// Adds the configuration functions, `_NAME` and `_VERSION` to `json`,
/// whose `encode` and `decode` share the settings userdata `settings`.
pub fn install(lua: &Lua, json: &Table, settings: &Value) -> Result<()> {
    let handle = Handle::new(lua, settings)?;
    // Each function reads the settings, changes them only once every
    // argument is checked, and returns what it governs.
    let option = |name: &'static str, f: fn(&Lua, &Args, &mut Settings) -> Result<mlua::MultiValue>| -> Result<()> {
        let handle = handle.clone();
        json.set(
            name,
            boundary::function(lua, name, move |lua, args: Args| {
                let mut settings = handle.get();
                let results = f(lua, &args, &mut settings)?;
                handle.set(settings);
                Ok(results)
            })?,
        )
    };
    option("encode_sparse_array", |lua, args, s| {
        let (convert, ratio, safe) = (switch(args, 1, false)?, integer(args, 2, 0, INT_MAX)?, integer(args, 3, 0, INT_MAX)?);
        s.sparse_convert = convert.map_or(s.sparse_convert, |c| c == Switch::On);
        s.sparse_ratio = ratio.unwrap_or(s.sparse_ratio);
        s.sparse_safe = safe.unwrap_or(s.sparse_safe);
        (s.sparse_convert, s.sparse_ratio, s.sparse_safe).into_lua_multi(lua)
    })?;
    option("encode_max_depth", |lua, args, s| {
        s.encode_max_depth = integer(args, 1, 1, INT_MAX)?.unwrap_or(s.encode_max_depth);
        s.encode_max_depth.into_lua_multi(lua)
    })?;
    option("decode_max_depth", |lua, args, s| {
        s.decode_max_depth = integer(args, 1, 1, INT_MAX)?.unwrap_or(s.decode_max_depth);
        s.decode_max_depth.into_lua_multi(lua)
    })?;
    option("encode_number_precision", |lua, args, s| {
        s.precision = integer(args, 1, 1, SHORTEST as i64)?.map_or(s.precision, |p| p as u8);
        s.precision.into_lua_multi(lua)
    })?;
    option("encode_invalid_numbers", |lua, args, s| {
        s.encode_invalid = switch(args, 1, true)?.unwrap_or(s.encode_invalid);
        switch_value(lua, s.encode_invalid)?.into_lua_multi(lua)
    })?;
    option("decode_invalid_numbers", |lua, args, s| {
        s.decode_invalid = switch(args, 1, false)?.map_or(s.decode_invalid, |d| d == Switch::On);
        s.decode_invalid.into_lua_multi(lua)
    })?;
    option("encode_keep_buffer", |lua, args, s| {
        s.keep_buffer = switch(args, 1, false)?.map_or(s.keep_buffer, |k| k == Switch::On);
        s.keep_buffer.into_lua_multi(lua)
    })?;
    json.set("_NAME", "cjson")?;
    json.set("_VERSION", "2.1.0")
}
