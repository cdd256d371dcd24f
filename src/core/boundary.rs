//! The one boundary between Lua and Rust.
//!
//! Every function this module hands to Lua is made here. A Rust function
//! returns `mlua::Result`; at this boundary a success becomes `true, ...`
//! and a failure becomes `false, message, level`, and a two-line Lua shim
//! (`lua/boundary.lua`) turns the latter into a plain-string `error()`. Lua
//! programs therefore see ordinary string errors positioned at their own
//! call (`file.lua:3: bad argument #2 to 'setTimeout' (function expected,
//! got nil)`), never mlua's wrapped error objects. (The hottest raw C
//! functions, `setTimeout` and `setInterval`, skip the shim's frame and
//! raise the same error themselves: `raise_at_caller`.) A Rust panic is caught
//! here too and becomes an error (in a raw C function, where it cannot be
//! caught, it aborts instead): none may unwind into Lua.
//!
//! The other way round, LuaJIT raises its errors (out of memory among
//! them) as exceptions that unwind through Rust frames. That is sound up
//! to the nearest Lua `pcall` or Lua caller, but a `catch_unwind` or a
//! plain `extern "C"` frame (a libuv callback) on the way aborts the
//! process. So a Lua C API call that can raise runs either in a raw C
//! function called by Lua (`raw_call`) or inside a protected call
//! (`lua_raw::call_handler`, mlua's `exec_raw`, and mlua's own calls,
//! which protect themselves: see `lib.rs` on `skip_memory_check`), and
//! `catch_unwind` only wraps Rust work that makes no such call.
//!
//! May touch: mlua values and the Lua registry. Never libuv.

use std::ffi::{CStr, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::{Error, FromLuaMulti, Function, IntoLuaMulti, Lua, MultiValue, Result, Table, Value, ffi};

use crate::core::lua_raw::{NoUnwind, PrivateKey};

const SHIM: &str = include_str!("../lua/boundary.lua");
const SHIM_KEY: &str = "async.boundary";

/// A failure worded for the Lua programmer, raised at the caller's line.
#[derive(Debug)]
struct Failure(String);

/// An error that already carries its position and traceback (an error from
/// a callback, re-raised by `go()`): raised as it is.
#[derive(Debug)]
struct Reraise(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Display for Reraise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Failure {}
impl std::error::Error for Reraise {}

/// An error with a message for the Lua programmer.
pub fn fail<T>(message: impl Into<String>) -> Result<T> {
    Err(Error::external(Failure(message.into())))
}

/// Wraps an error that already says where it happened, so that it is
/// raised unchanged.
pub fn reraise(error: Error) -> Error {
    Error::external(Reraise(message_of(&error).0))
}

/// The text of an error and the `error()` level to raise it at: 2 (the
/// caller's line) for our own messages, 0 for errors that came out of Lua
/// code and already carry a position and a traceback.
pub fn message_of(error: &Error) -> (String, i32) {
    match error {
        Error::ExternalError(inner) => {
            if let Some(Failure(m)) = inner.downcast_ref::<Failure>() {
                (m.clone(), 2)
            } else if let Some(Reraise(m)) = inner.downcast_ref::<Reraise>() {
                (m.clone(), 0)
            } else {
                (inner.to_string(), 2)
            }
        }
        Error::RuntimeError(m) => (m.clone(), 0),
        // As LuaJIT words its own, without a position.
        Error::MemoryError(m) => (m.clone(), 0),
        Error::CallbackError { cause, .. } => message_of(cause),
        Error::WithContext { cause, .. } => message_of(cause),
        other => (other.to_string(), 2),
    }
}

/// The message of an error without the traceback mlua adds when Rust
/// calls a Lua function: for errors of the module's own functions called
/// from Rust (`json.encode` for `client.send`), whose Lua caller gets the
/// message at its own line instead.
pub fn plain_message(error: &Error) -> String {
    let (message, _) = message_of(error);
    match message.split_once("\nstack traceback:") {
        Some((first, _)) => first.to_string(),
        None => message,
    }
}

/// The name of a value's type as Lua's `type()` says it: mlua tells
/// integers and light userdata apart, Lua 5.1 does not; a cdata is
/// LuaJIT's FFI value.
pub fn lua_type_name(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) => "number",
        Value::LightUserData(_) => "userdata",
        Value::Other(_) => "cdata",
        other => other.type_name(),
    }
}

/// The wording of an argument error, as Lua's own library puts it.
pub fn bad_argument(i: usize, function: &str, expected: &str, got: &str) -> String {
    format!("bad argument #{i} to '{function}' ({expected} expected, got {got})")
}

/// Wraps a raw function that follows the `true, ...` / `false, message,
/// level` convention (a hot path written against the Lua C API).
pub fn wrap(lua: &Lua, raw: Function) -> Result<Function> {
    shim(lua)?.get::<Function>("wrap")?.call(raw)
}

/// Runs the body of a raw C function (a hot path written against the Lua
/// C API, made into a Lua function by `wrap`) under the same convention:
/// `body` returns how many results it pushed, and they are returned after
/// `true`; an `Err` returns `false, message, 2`.
///
/// A Lua error raised by a push (out of memory, say) goes on to the Lua
/// caller: the raw function and this one are frames a Lua error may
/// unwind through (`extern "C-unwind"`, no `catch_unwind`, nothing that
/// touches the Lua stack when dropped). A Rust panic has nowhere to go
/// there (catching it would need `catch_unwind`, which aborts when a Lua
/// error reaches it, and it must not unwind into Lua), so the body must
/// not panic: each says why it cannot. A panic that happens anyway
/// aborts the process (see `NoUnwind`) instead of unwinding into Lua.
///
/// # Safety
/// `state` is the live state that called the raw function; `body` pushes
/// exactly the results it counts (on error it may leave anything above
/// the arguments: those values are dropped).
pub unsafe fn raw_call(
    state: *mut ffi::lua_State,
    name: &'static str,
    body: impl FnOnce() -> std::result::Result<c_int, String>,
) -> c_int {
    // SAFETY: the stack is reset to the arguments before a failure is
    // pushed; each push needs one of the LUA_MINSTACK slots C functions
    // are given, and `true` goes below the results `body` pushed.
    unsafe {
        let base = ffi::lua_gettop(state);
        let outcome = {
            let _guard = NoUnwind(name);
            body()
        };
        match outcome {
            Ok(results) => {
                ffi::lua_pushboolean(state, 1);
                ffi::lua_insert(state, -(results + 1));
                results + 1
            }
            Err(message) => {
                ffi::lua_settop(state, base);
                push_failure(state, &message)
            }
        }
    }
}

/// Pushes `false, message, 2` and returns 3: what a raw function returns
/// on failure.
///
/// # Safety
/// `state` is a live state with three free stack slots.
pub unsafe fn push_failure(state: *mut ffi::lua_State, message: &str) -> c_int {
    // SAFETY: per the contract.
    unsafe { push_failure_at(state, message, 2) }
}

/// As `push_failure`, blaming `level` (what `message_of` gives an error).
///
/// # Safety
/// As for `push_failure`.
pub unsafe fn push_failure_at(state: *mut ffi::lua_State, message: &str, level: i32) -> c_int {
    // SAFETY: per the contract; the string is copied by Lua.
    unsafe {
        ffi::lua_pushboolean(state, 0);
        ffi::lua_pushlstring(state, message.as_ptr() as *const c_char, message.len());
        ffi::lua_pushinteger(state, level as ffi::lua_Integer);
    }
    3
}

/// Raises `message` from a raw function registered without `wrap`: a
/// plain-string error positioned at the Lua line that called it, as
/// `wrap`'s `error(message, 2)` would be (level 1 of a running C function
/// is its caller). For hot paths where the wrapper's extra Lua frame is a
/// measurable share of the call (`setTimeout`).
///
/// # Safety
/// `state` is the live state that called the raw function, with two free
/// stack slots; nothing on the Rust frames above this one needs dropping
/// (the message is copied into Lua and dropped here before the raise).
pub unsafe fn raise_at_caller(state: *mut ffi::lua_State, message: String) -> c_int {
    // SAFETY: per the contract; the string is copied by Lua before it is
    // dropped, and the raise unwinds only frames that own nothing.
    unsafe {
        ffi::lua_pushlstring(state, message.as_ptr() as *const c_char, message.len());
        drop(message);
        raise_top(state, 2)
    }
}

/// The message for a bad argument `index` of a raw function, worded as
/// `bad_argument` does.
///
/// # Safety
/// `index` is a positive stack index of the live `state` (past the top is
/// allowed: it reads as "no value").
pub unsafe fn bad_argument_at(state: *mut ffi::lua_State, index: i32, name: &str, expected: &str) -> String {
    // SAFETY: per the contract; lua_typename returns a static C string.
    let got = unsafe {
        if index > ffi::lua_gettop(state) {
            "no value".to_string()
        } else {
            CStr::from_ptr(ffi::lua_typename(state, ffi::lua_type(state, index))).to_string_lossy().into_owned()
        }
    };
    bad_argument(index as usize, name, expected, &got)
}

/// Returns `false, message, 2` for a bad argument `index` of a raw function.
///
/// # Safety
/// As for `bad_argument_at`, with three free stack slots.
pub unsafe fn raise_bad_argument(state: *mut ffi::lua_State, index: i32, name: &str, expected: &str) -> c_int {
    // SAFETY: per the contract.
    unsafe { push_failure(state, &bad_argument_at(state, index, name, expected)) }
}

/// Makes a Lua function that calls `f` with its arguments checked by name,
/// raising plain-string errors at the caller.
pub fn function<F, R>(lua: &Lua, name: &'static str, f: F) -> Result<Function>
where
    F: Fn(&Lua, Args) -> Result<R> + 'static,
    R: IntoLuaMulti,
{
    wrap(lua, raw_function(lua, name, 0, f)?)
}

/// As `function`, for a `__call` metamethod: the called table comes first
/// and is not counted, so `async.repl(5)` blames argument #1.
pub fn call_metamethod<F, R>(lua: &Lua, name: &'static str, f: F) -> Result<Function>
where
    F: Fn(&Lua, Args) -> Result<R> + 'static,
    R: IntoLuaMulti,
{
    wrap(lua, raw_function(lua, name, 1, f)?)
}

/// A function only the module itself calls: an event handler kept under a
/// private key, a metamethod, a deferred report. No Lua caller's line is
/// there to blame, so its errors go up as they are (to `Runtime::dispatch`,
/// which hands them to `go()`). With `raw_function`, the only place Lua
/// functions are made (clippy.toml forbids `create_function` elsewhere).
pub fn internal<A, R>(lua: &Lua, f: impl Fn(&Lua, A) -> Result<R> + 'static) -> Result<Function>
where
    A: FromLuaMulti,
    R: IntoLuaMulti,
{
    #[allow(clippy::disallowed_methods)]
    lua.create_function(f)
}

/// The unwrapped form used for handle methods: `false, message, level` on
/// failure. `offset` is how many leading arguments are not the caller's
/// (1 for methods, whose handle is bound in by `bind`).
pub fn raw_function<F, R>(lua: &Lua, name: &'static str, offset: usize, f: F) -> Result<Function>
where
    F: Fn(&Lua, Args) -> Result<R> + 'static,
    R: IntoLuaMulti,
{
    #[allow(clippy::disallowed_methods)]
    lua.create_function(move |lua, values: MultiValue| {
        let args = Args { lua: lua.clone(), name, values, offset };
        // `f` reaches Lua through mlua, whose calls protect themselves
        // (and `exec_raw`), so no Lua error can reach this catch_unwind.
        let outcome = catch_unwind(AssertUnwindSafe(|| f(lua, args).and_then(|r| r.into_lua_multi(lua))));
        let (message, level) = match outcome {
            Ok(Ok(mut results)) => {
                results.push_front(Value::Boolean(true));
                return Ok(results);
            }
            Ok(Err(error)) => message_of(&error),
            Err(panic) => (format!("internal error in '{name}': {}", panic_text(&panic)), 2),
        };
        (false, message, level).into_lua_multi(lua)
    })
}

/// Binds `object` as the first argument of a raw method: the result is
/// what `object.method` returns to Lua, so that methods are called with a
/// dot. `object` is an upvalue of the result, so it stays visible to the
/// garbage collector (a cycle through it is still collectable). A method
/// made in Rust is bound by a C closure (56 bytes, and no Lua frame per
/// call); a Lua method by a Lua closure, because Lua methods may yield
/// (fiber reads), which LuaJIT cannot do across a C function.
pub fn bind(lua: &Lua, method: &Function, object: &Table) -> Result<Function> {
    // SAFETY: exec_raw pushed the argument; it is replaced by one boolean.
    let native = unsafe {
        lua.exec_raw::<bool>(method, |state| {
            let native = ffi::lua_iscfunction(state, -1);
            ffi::lua_pop(state, 1);
            ffi::lua_pushboolean(state, native);
        })
    }?;
    if !native {
        return shim(lua)?.get::<Function>("bind")?.call((method, object));
    }
    // SAFETY: exec_raw pushed method and object. A self-binding method
    // (see `self_binding`) is remade as its own C function over its raw
    // method and the object; any other as `bound_call` over both. Either
    // way the two pushed values are replaced by the one closure.
    unsafe {
        lua.exec_raw((method, object), |state| {
            // Upvalue 2 of the method, pushed if it has one.
            let has_second = !ffi::lua_getupvalue(state, -2, 2).is_null();
            let is_self_binding = has_second && ffi::lua_touserdata(state, -1) == SELF_BINDING.pointer();
            if has_second {
                ffi::lua_pop(state, 1);
            }
            let body = ffi::lua_tocfunction(state, -2);
            if let (true, Some(body)) = (is_self_binding, body) {
                ffi::lua_getupvalue(state, -2, 1);
                ffi::lua_insert(state, -2);
                ffi::lua_remove(state, -3);
                ffi::lua_pushcclosure(state, body, 2);
            } else {
                ffi::lua_pushcclosure(state, bound_call, 2);
            }
        })
    }
}

static SELF_BINDING: PrivateKey = PrivateKey::new();

/// A method whose bound form is its own C function `body`, with the raw
/// method `raw` as upvalue 1 and the handle object as upvalue 2 (what
/// `call_bound` expects): a hot path then skips the `bound_call`
/// trampoline. `body` must only be called in that bound form; for
/// anything it does not handle itself it returns `call_bound(state)`.
pub fn self_binding(lua: &Lua, body: ffi::lua_CFunction, raw: Function) -> Result<Function> {
    let marker = mlua::LightUserData(SELF_BINDING.pointer());
    // SAFETY: exec_raw pushed the two upvalues, which the closure takes.
    unsafe { lua.exec_raw((raw, marker), |state| ffi::lua_pushcclosure(state, body, 2)) }
}

/// The body of a bound Rust method: see `call_bound`.
unsafe extern "C-unwind" fn bound_call(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a C closure made in `bind`, with its two
    // upvalues.
    unsafe { call_bound(state) }
}

/// Calls upvalue 1 (a raw function) with upvalue 2 and the caller's
/// arguments, and returns how many results follow its `true`; `false,
/// message, level` becomes an error positioned at the caller's line, as
/// the Lua shim does (this function does not return then).
///
/// # Safety
/// `state` runs a C closure with (at least) those two upvalues. The
/// calling frames own nothing that needs dropping, so a Lua error
/// (raised here or by the raw function) may unwind through them.
pub unsafe fn call_bound(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: per the contract; the stack is checked for the arguments,
    // the function and the bound value.
    unsafe {
        let nargs = ffi::lua_gettop(state);
        ffi::luaL_checkstack(state, nargs + 2 + ffi::LUA_MINSTACK, std::ptr::null());
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        for i in 1..=nargs {
            ffi::lua_pushvalue(state, i);
        }
        ffi::lua_call(state, nargs + 1, ffi::LUA_MULTRET);
        let first = nargs + 1;
        let results = ffi::lua_gettop(state) - nargs;
        if ffi::lua_toboolean(state, first) != 0 {
            return results - 1;
        }
        let level = ffi::lua_tointeger(state, first + 2);
        ffi::lua_settop(state, first + 1);
        raise_top(state, level as c_int)
    }
}

/// Raises `error` from a raw C function that Lua called (a hot path that
/// does not go through `call_bound`), worded and positioned as the
/// boundary words and positions its failures. `error` is dropped first.
///
/// # Safety
/// `state` is the live state of that call, with a free stack slot; the
/// calling frames own nothing that needs dropping (a Lua error unwinds
/// through them).
pub unsafe fn raise(state: *mut ffi::lua_State, error: Error) -> ! {
    let (message, level) = message_of(&error);
    drop(error);
    // SAFETY: per the contract; Lua copies the message, which is dropped
    // before the error is raised.
    unsafe {
        ffi::lua_pushlstring(state, message.as_ptr() as *const c_char, message.len());
        drop(message);
        raise_top(state, level)
    }
}

/// Raises the message on top of the stack, after the position of the
/// caller `level` levels up (none for level 0), as Lua's `error` does.
///
/// # Safety
/// `state` is a live state running a C function, with a string on top of
/// its stack; the calling frames own nothing that needs dropping.
unsafe fn raise_top(state: *mut ffi::lua_State, level: c_int) -> ! {
    // SAFETY: per the contract; luaL_where pushes one string, which the
    // concatenation takes back with the message.
    unsafe {
        if level > 0 {
            ffi::luaL_where(state, level - 1);
            ffi::lua_insert(state, -2);
            ffi::lua_concat(state, 2);
        }
        ffi::lua_error(state)
    }
}

/// Registry key of the shim's Lua `bind_two(raw, a, b)`, for hot paths
/// that bind two values per call with the Lua C API (see
/// `register_lua_binder`).
pub static LUA_BINDER: PrivateKey = PrivateKey::new();

/// Stores the shim's `bind` at `LUA_BINDER` in the registry. A function
/// made anew for every call (the HTTP server's `res`) is bound by a Lua
/// closure, not a C closure: LuaJIT's traces specialize a call to a C
/// function on its identity, so a fresh C closure per call sends every
/// call down a new side trace, while a Lua closure is matched by its
/// prototype.
pub fn register_lua_binder(lua: &Lua) -> Result<()> {
    let bind: Function = shim(lua)?.get("bind_two")?;
    let key = mlua::LightUserData(LUA_BINDER.pointer());
    // SAFETY: exec_raw pushed the key and the function; lua_rawset on the
    // registry takes both and cannot fail (a light userdata key).
    unsafe { lua.exec_raw::<()>((key, bind), |state| ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX)) }
}

fn shim(lua: &Lua) -> Result<Table> {
    if let Ok(t) = lua.named_registry_value::<Table>(SHIM_KEY) {
        return Ok(t);
    }
    let t: Table = lua.load(SHIM).set_name("=async.boundary").call(())?;
    lua.set_named_registry_value(SHIM_KEY, &t)?;
    Ok(t)
}

pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// The arguments of one call, with checks that word their errors the way
/// Lua's own library does.
pub struct Args {
    lua: Lua,
    name: &'static str,
    values: MultiValue,
    offset: usize,
}

impl Args {
    /// Argument `i` as the caller counts it (1-based), `nil` if absent.
    pub fn get(&self, i: usize) -> Value {
        self.values.get(i - 1 + self.offset).cloned().unwrap_or(Value::Nil)
    }

    /// The bound handle of a method call.
    pub fn this(&self) -> Result<Table> {
        match self.values.front() {
            Some(Value::Table(t)) if self.offset == 1 => Ok(t.clone()),
            _ => fail(format!("'{}' must be called on its handle", self.name)),
        }
    }

    /// The bound first argument of a raw function made with offset 1,
    /// whatever its type; `nil` if absent.
    pub fn bound(&self) -> Value {
        self.bound_nth(0)
    }

    /// Bound value `n` (0-based), for functions with several (`offset`).
    pub fn bound_nth(&self, n: usize) -> Value {
        match n < self.offset {
            true => self.values.get(n).cloned().unwrap_or(Value::Nil),
            false => Value::Nil,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len().saturating_sub(self.offset)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn bad<T>(&self, i: usize, expected: &str) -> Result<T> {
        let got = match self.get(i) {
            Value::Nil if i > self.len() => "no value",
            v => lua_type_name(&v),
        };
        fail(bad_argument(i, self.name, expected, got))
    }

    pub fn number(&self, i: usize) -> Result<f64> {
        match self.opt_number(i)? {
            Some(n) => Ok(n),
            None => self.bad(i, "number"),
        }
    }

    pub fn opt_number(&self, i: usize) -> Result<Option<f64>> {
        match self.get(i) {
            Value::Nil => Ok(None),
            Value::Integer(n) => Ok(Some(n as f64)),
            Value::Number(n) => Ok(Some(n)),
            Value::String(s) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                Some(n) => Ok(Some(n)),
                None => self.bad(i, "number"),
            },
            _ => self.bad(i, "number"),
        }
    }

    /// A whole number from `lo` to `hi`; anything else is a bad argument
    /// described by `expected` (a fraction is never rounded into range).
    pub fn whole_in(&self, i: usize, lo: i64, hi: i64, expected: &str) -> Result<i64> {
        match self.opt_number(i) {
            Ok(Some(n)) if n.fract() == 0.0 && n >= lo as f64 && n <= hi as f64 => Ok(n as i64),
            _ => self.bad(i, expected),
        }
    }

    pub fn function(&self, i: usize) -> Result<Function> {
        match self.get(i) {
            Value::Function(f) => Ok(f),
            _ => self.bad(i, "function"),
        }
    }

    pub fn opt_function(&self, i: usize) -> Result<Option<Function>> {
        match self.get(i) {
            Value::Nil => Ok(None),
            Value::Function(f) => Ok(Some(f)),
            _ => self.bad(i, "function"),
        }
    }

    pub fn table(&self, i: usize) -> Result<Table> {
        match self.get(i) {
            Value::Table(t) => Ok(t),
            _ => self.bad(i, "table"),
        }
    }

    pub fn opt_table(&self, i: usize) -> Result<Option<Table>> {
        match self.get(i) {
            Value::Nil => Ok(None),
            Value::Table(t) => Ok(Some(t)),
            _ => self.bad(i, "table"),
        }
    }

    /// A string argument; numbers are accepted and converted, as Lua does.
    pub fn string(&self, i: usize) -> Result<mlua::LuaString> {
        match self.opt_string(i)? {
            Some(s) => Ok(s),
            None => self.bad(i, "string"),
        }
    }

    pub fn opt_string(&self, i: usize) -> Result<Option<mlua::LuaString>> {
        match self.get(i) {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s)),
            v @ (Value::Integer(_) | Value::Number(_)) => self.lua.coerce_string(v),
            _ => self.bad(i, "string"),
        }
    }
}
