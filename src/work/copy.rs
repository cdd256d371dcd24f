//! The values `async.work` carries from one Lua state to another: the
//! arguments into a worker state, the result back to the loop's state.
//!
//! A value is read off one state's stack into a `Copied` tree (plain Rust
//! data, which may cross threads) and pushed onto the other's. What can be
//! copied is what JSON can say, and a little more: nil, booleans, numbers,
//! strings (any bytes), `json.null` (the light userdata NULL), and tables
//! of those, whose keys are strings, numbers or booleans. A table is
//! copied with its own pairs only (no metatable); a table met twice is
//! copied twice; a table inside itself is refused, as are functions,
//! userdata, threads, cdata, and nesting deeper than `MAX_DEPTH`. Errors
//! say what and where, as `json.encode`'s do: `cannot copy a function
//! value at args[2].f` (the path is gathered only on the way out of a
//! refusal: reading a value that can be copied costs none).
//!
//! Reading allocates nothing in Lua: it only calls `lua_next` over tables
//! it does not change, `lua_rawgeti` and the `to*` readers on values that
//! need no conversion, and `lua_checkstack` per nested table (which in
//! LuaJIT raises when the stack must grow and memory is out). Pushing
//! makes tables and strings. Both therefore run inside a protected call
//! (mlua's `exec_raw` on the loop's state, `lua_cpcall` on a worker's),
//! where such an error unwinds to the protection; they must not panic,
//! and their Rust allocations are fallible (`core::memory`).
//!
//! May touch: the Lua stack of the state it is given. Never libuv.

use std::ffi::{CStr, c_char, c_int, c_void};

use mlua::ffi;

use crate::core::lua_raw::bytes_at;
use crate::core::memory;
use crate::json::{Step, path_text};

/// How deep tables may nest, as `json.encode` allows by default.
pub const MAX_DEPTH: usize = 1000;

/// A Lua value, held by Rust between two states.
#[derive(Debug, Clone, PartialEq)]
pub enum Copied {
    Nil,
    Boolean(bool),
    Number(f64),
    /// `json.null`: the light userdata NULL, the same in every state.
    Null,
    String(Vec<u8>),
    /// Key-value pairs, in the order `next` gave them.
    Table(Vec<(Copied, Copied)>),
}

impl Copied {
    /// The bytes of all its strings, keys included: what copying it cost.
    pub fn string_bytes(&self) -> usize {
        match self {
            Copied::String(bytes) => bytes.len(),
            Copied::Table(pairs) => pairs.iter().map(|(k, v)| k.string_bytes() + v.string_bytes()).sum(),
            _ => 0,
        }
    }
}

/// Why a value was not copied.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// A value that cannot be copied (`what`: "a function value"), and the
    /// steps to it from the value read, innermost first (they are added
    /// on the way out, so that reading costs no path).
    At {
        what: String,
        path: Vec<Step>,
    },
    /// A limit of the whole value: nesting, stack room.
    Within(String),
    OutOfMemory,
}

impl Refusal {
    /// The message, for a value named `root` (`args[1]`, `result`).
    pub fn message(self, root: &str) -> String {
        match self {
            Refusal::At { what, mut path } => {
                path.reverse();
                format!("cannot copy {what} at {root}{}", path_text(&path))
            }
            Refusal::Within(what) => format!("{what} (in {root})"),
            Refusal::OutOfMemory => memory::MESSAGE.to_string(),
        }
    }
}

impl From<memory::OutOfMemory> for Refusal {
    fn from(_: memory::OutOfMemory) -> Refusal {
        Refusal::OutOfMemory
    }
}

/// Reads the value at the absolute stack `index` of `state`. The stack is
/// left as it was.
///
/// # Safety
/// `state` is a live Lua state, used by this thread only, with a value at
/// `index`, inside a protected call (see the module doc).
pub unsafe fn read(state: *mut ffi::lua_State, index: c_int) -> Result<Copied, Refusal> {
    let mut reader = Reader { state, enclosing: Vec::new() };
    // SAFETY: per the contract; every path out of the reader is followed
    // by resetting the top it may have left higher.
    unsafe {
        let top = ffi::lua_gettop(state);
        let value = reader.value(index);
        ffi::lua_settop(state, top);
        value
    }
}

struct Reader {
    state: *mut ffi::lua_State,
    /// The tables that enclose the value being read, outermost first.
    enclosing: Vec<*const c_void>,
}

/// A refusal of the value itself (no path yet).
fn refuse<T>(what: String) -> Result<T, Refusal> {
    Err(Refusal::At { what, path: Vec::new() })
}

impl Reader {
    /// # Safety
    /// As for `read`; `index` is absolute.
    unsafe fn value(&mut self, index: c_int) -> Result<Copied, Refusal> {
        let state = self.state;
        // SAFETY: per the contract; strings are read where they lie,
        // without conversion.
        unsafe {
            Ok(match ffi::lua_type(state, index) {
                ffi::LUA_TNIL => Copied::Nil,
                ffi::LUA_TBOOLEAN => Copied::Boolean(ffi::lua_toboolean(state, index) != 0),
                ffi::LUA_TNUMBER => Copied::Number(ffi::lua_tonumber(state, index)),
                ffi::LUA_TSTRING => Copied::String(memory::copy(bytes_at(state, index))?),
                ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(state, index).is_null() => Copied::Null,
                ffi::LUA_TTABLE => self.table(index)?,
                _ => return refuse(format!("a {} value", type_name(state, index))),
            })
        }
    }

    /// # Safety
    /// As for `value`, with a table at `index`.
    unsafe fn table(&mut self, index: c_int) -> Result<Copied, Refusal> {
        let state = self.state;
        // SAFETY: per the contract; lua_checkstack makes room for the key
        // and value lua_next pushes above `top`. The value is popped after
        // it is read, and the key is only read (a string key is not
        // converted), as lua_next requires.
        unsafe {
            let identity = ffi::lua_topointer(state, index);
            if self.enclosing.contains(&identity) {
                return refuse("a table that contains itself".into());
            }
            if self.enclosing.len() >= MAX_DEPTH {
                return Err(Refusal::Within(format!("cannot copy tables nested deeper than {MAX_DEPTH}")));
            }
            if ffi::lua_checkstack(state, 2) == 0 {
                return Err(Refusal::Within("cannot copy tables nested this deep: no room on the Lua stack".into()));
            }
            self.enclosing.push(identity);
            let top = ffi::lua_gettop(state);
            let mut pairs = Vec::new();
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, index) != 0 {
                let key = match ffi::lua_type(state, top + 1) {
                    ffi::LUA_TSTRING => Copied::String(memory::copy(bytes_at(state, top + 1))?),
                    ffi::LUA_TNUMBER => Copied::Number(ffi::lua_tonumber(state, top + 1)),
                    ffi::LUA_TBOOLEAN => Copied::Boolean(ffi::lua_toboolean(state, top + 1) != 0),
                    _ => {
                        let kind = type_name(state, top + 1);
                        return refuse(format!("a {kind} key (keys must be strings, numbers or booleans)"));
                    }
                };
                let value = match self.value(top + 2) {
                    Ok(value) => value,
                    Err(Refusal::At { what, mut path }) => {
                        path.push(step_of(&key));
                        return Err(Refusal::At { what, path });
                    }
                    Err(other) => return Err(other),
                };
                memory::reserve(&mut pairs, 1)?;
                pairs.push((key, value));
                ffi::lua_settop(state, top + 1);
            }
            self.enclosing.pop();
            Ok(Copied::Table(pairs))
        }
    }
}

/// The path step of a key.
fn step_of(key: &Copied) -> Step {
    match key {
        Copied::String(bytes) => Step::Key(bytes.clone()),
        Copied::Number(x) => Step::Index(*x),
        Copied::Boolean(b) => Step::Boolean(*b),
        // Keys are only ever those three.
        _ => Step::Key(Vec::new()),
    }
}

/// The name of the type of the value at `index`, as `type()` says it.
///
/// # Safety
/// `index` is a valid stack index of the live `state`.
unsafe fn type_name(state: *mut ffi::lua_State, index: c_int) -> String {
    // SAFETY: lua_typename returns a static C string for every type tag.
    unsafe { CStr::from_ptr(ffi::lua_typename(state, ffi::lua_type(state, index))).to_string_lossy().into_owned() }
}

/// Pushes `value` onto `state`'s stack. Fails (pushing nothing) only when
/// the stack cannot hold tables nested this deep.
///
/// # Safety
/// `state` is a live Lua state, used by this thread only, with a free
/// stack slot, inside a protected call (see the module doc).
pub unsafe fn push(state: *mut ffi::lua_State, value: &Copied) -> Result<(), String> {
    // SAFETY: per the contract; a table is filled with one key and one
    // value above it at a time (lua_checkstack makes room for both), and
    // lua_rawset takes them off again.
    unsafe {
        match value {
            Copied::Nil => ffi::lua_pushnil(state),
            Copied::Boolean(b) => ffi::lua_pushboolean(state, *b as c_int),
            Copied::Number(x) => ffi::lua_pushnumber(state, *x),
            Copied::Null => ffi::lua_pushlightuserdata(state, std::ptr::null_mut()),
            Copied::String(bytes) => {
                ffi::lua_pushlstring(state, bytes.as_ptr() as *const c_char, bytes.len());
            }
            Copied::Table(pairs) => {
                if ffi::lua_checkstack(state, 3) == 0 {
                    return Err("cannot copy tables nested this deep: no room on the Lua stack".into());
                }
                let array = pairs.iter().filter(|(key, _)| is_array_index(key, pairs.len())).count();
                ffi::lua_createtable(state, array as c_int, (pairs.len() - array) as c_int);
                for (key, value) in pairs {
                    let pushed = push(state, key).and_then(|()| push(state, value).inspect_err(|_| ffi::lua_pop(state, 1)));
                    if let Err(message) = pushed {
                        ffi::lua_pop(state, 1);
                        return Err(message);
                    }
                    ffi::lua_rawset(state, -3);
                }
            }
        }
    }
    Ok(())
}

/// Whether `key` goes in the array part of a table of `count` pairs.
fn is_array_index(key: &Copied, count: usize) -> bool {
    matches!(key, Copied::Number(x) if x.fract() == 0.0 && *x >= 1.0 && *x <= count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_bytes_count_keys_and_nested_values() {
        let value = Copied::Table(vec![
            (Copied::String(b"ab".to_vec()), Copied::String(b"cde".to_vec())),
            (Copied::Number(1.0), Copied::Table(vec![(Copied::Boolean(true), Copied::String(b"f".to_vec()))])),
        ]);
        assert_eq!(value.string_bytes(), 6);
        assert_eq!(Copied::Null.string_bytes(), 0);
    }

    #[test]
    fn refusals_name_the_path_from_the_root() {
        let at = Refusal::At { what: "a function value".into(), path: vec![Step::Key(b"f".to_vec()), Step::Index(2.0)] };
        assert_eq!(at.message("args[1]"), "cannot copy a function value at args[1][2].f");
        let key = Refusal::At { what: "a thread value".into(), path: vec![Step::Boolean(true)] };
        assert_eq!(key.message("result"), "cannot copy a thread value at result[true]");
        assert_eq!(Refusal::Within("too deep".into()).message("result"), "too deep (in result)");
        assert_eq!(Refusal::OutOfMemory.message("result"), memory::MESSAGE);
    }

    #[test]
    fn whole_numbers_from_one_to_the_count_are_array_indexes() {
        assert!(is_array_index(&Copied::Number(1.0), 2));
        assert!(is_array_index(&Copied::Number(2.0), 2));
        assert!(!is_array_index(&Copied::Number(3.0), 2));
        assert!(!is_array_index(&Copied::Number(0.0), 2));
        assert!(!is_array_index(&Copied::Number(1.5), 2));
        assert!(!is_array_index(&Copied::String(b"1".to_vec()), 2));
    }
}
