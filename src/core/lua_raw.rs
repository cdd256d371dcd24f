//! Small pieces of the Lua C API shared by the hot paths (timers firing,
//! stream reads, HTTP requests): calling a Lua function or a handle's
//! handler protected, with a traceback, and reading error values. mlua's
//! generic call path costs more than the work itself on these paths;
//! everything else goes through mlua.
//!
//! May touch: the Lua stack it is given. Never libuv.

use std::ffi::{CStr, CString, c_int, c_void};

use mlua::ffi;

/// The longest string LuaJIT can make (its `LJ_MAX_STR`): pushing a longer
/// one raises "string length overflow", so sizes that come from users or
/// peers are held below it before anything is pushed.
pub const MAX_STRING_BYTES: usize = 0x7fff_ff00;

/// A key of a Lua table that no Lua code can write: a light userdata
/// made from the address of a static, so no user field can clash with
/// it. Declare one per purpose: `static ON_DATA: PrivateKey =
/// PrivateKey::new();` (distinct statics have distinct addresses).
pub struct PrivateKey(u8);

impl PrivateKey {
    pub const fn new() -> PrivateKey {
        PrivateKey(0)
    }

    /// The key as a raw pointer, for code on the Lua C API.
    #[inline]
    pub fn pointer(&'static self) -> *mut c_void {
        &self.0 as *const u8 as *mut c_void
    }

    /// The key as a Lua value, for code on mlua.
    #[inline]
    pub fn value(&'static self) -> mlua::Value {
        mlua::Value::LightUserData(mlua::LightUserData(self.pointer()))
    }
}

/// Calls the function below the top `nargs` values, protected, with
/// `traceback` as message handler; pops it and its arguments. Returns the
/// error message, traceback included, if it raised.
///
/// # Safety
/// `state` is a live Lua state with a function and `nargs` values on top,
/// where a Lua error may unwind (a protected call or a C function called
/// by Lua): growing the stack and making the handler can raise.
pub unsafe fn call_protected(state: *mut ffi::lua_State, nargs: c_int) -> Result<(), String> {
    // SAFETY: per the contract; the handler goes below the function and is
    // removed again, leaving the stack as it was before the function.
    unsafe {
        let base = ffi::lua_gettop(state) - nargs;
        if ffi::lua_checkstack(state, 4) == 0 {
            ffi::lua_settop(state, base - 1);
            return Err("stack overflow (no room to call a callback)".into());
        }
        push_traceback(state);
        ffi::lua_insert(state, base);
        let status = ffi::lua_pcall(state, nargs, 0, base);
        let outcome = if status == 0 { Ok(()) } else { Err(string_at(state, -1)) };
        ffi::lua_settop(state, base - 1);
        outcome
    }
}

/// Where a handle keeps one of its handlers: under a private key of its
/// Lua object, or by a registry reference of its own (LUA_NOREF: none).
#[derive(Clone, Copy)]
pub enum HandlerAt {
    Key(&'static PrivateKey),
    Registry(c_int),
}

/// Calls the handler kept at `handler` for a handle object (held by the
/// registry reference `object`), protected, on the
/// stack of the thread running `go()` — as mlua's own calls do — with the
/// arguments `push_args` pushes: it gets the object's stack index, pushes
/// at most `room` values, and returns how many. Without a handler nothing
/// is pushed or called. A Lua error comes back as a `RuntimeError` holding
/// its message and traceback.
///
/// This runs from libuv callbacks, where a Lua error must not unwind (see
/// boundary.rs), and pushing the arguments can raise (out of memory): so
/// the pushes happen inside a protected call too (`handler_call`, run by
/// lua_cpcall), and a failure there comes back as an error like the
/// handler's own.
///
/// The hot paths that hand data to Lua (a stream's `ondata`, the HTTP
/// server's handler) come through here instead of mlua's generic call.
/// `push_args` must not panic (it runs between raising Lua calls, where a
/// panic aborts the process: see `NoUnwind`).
pub fn call_handler(
    lua: &mlua::Lua,
    object: c_int,
    handler: HandlerAt,
    room: c_int,
    push_args: impl FnOnce(*mut ffi::lua_State, c_int) -> c_int,
) -> mlua::Result<()> {
    let mut push_args = Some(push_args);
    let mut push = |state: *mut ffi::lua_State, object: c_int| push_args.take().map_or(0, |push| push(state, object));
    let mut call = HandlerCall { object, handler, room, push: &mut push, failure: None };
    let state = lua.state();
    // SAFETY: `state` is the thread inside `go()`, whose C call is in
    // progress below us, so its stack is ours to use above its top, which
    // is restored before returning. lua_cpcall raises nothing: it makes
    // the trampoline's function object inside its protected call and
    // needs no stack check (LuaJIT keeps spare slots for it), while
    // lua_checkstack could raise in this LuaJIT, when the stack must grow
    // and memory is out. `call` outlives the call, the only user of the
    // pointer to it.
    let failure = unsafe {
        let top = ffi::lua_gettop(state);
        if ffi::lua_cpcall(state, handler_call, &mut call as *mut HandlerCall as *mut c_void) != 0 {
            // The trampoline failed before or while pushing the arguments.
            call.failure = Some(plain_string_at(state, -1));
        }
        ffi::lua_settop(state, top);
        call.failure
    };
    failure.map_or(Ok(()), |message| Err(mlua::Error::RuntimeError(message)))
}

/// What `call_handler` hands its trampoline.
struct HandlerCall<'a> {
    object: c_int,
    handler: HandlerAt,
    room: c_int,
    push: &'a mut dyn FnMut(*mut ffi::lua_State, c_int) -> c_int,
    /// The handler's error, message and traceback.
    failure: Option<String>,
}

/// The protected half of `call_handler`: called by lua_cpcall with a light
/// userdata pointing at the `HandlerCall` as its only argument.
unsafe extern "C-unwind" fn handler_call(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the argument points at the HandlerCall that `call_handler`
    // keeps alive (and does not touch) until this returns or raises. This
    // frame owns nothing to drop but the guard, so a Lua error raised by a
    // push may unwind through it to the lua_cpcall in `call_handler`.
    unsafe {
        let call = &mut *(ffi::lua_touserdata(state, 1) as *mut HandlerCall);
        let _guard = NoUnwind("call_handler");
        ffi::lua_settop(state, 0);
        if ffi::lua_checkstack(state, 3 + call.room) == 0 {
            call.failure = Some("stack overflow (no room to call a callback)".into());
            return 0;
        }
        const OBJECT: c_int = 1;
        ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, call.object as _);
        match call.handler {
            HandlerAt::Key(key) => {
                ffi::lua_pushlightuserdata(state, key.pointer());
                ffi::lua_rawget(state, OBJECT);
            }
            HandlerAt::Registry(reference) => {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, reference as ffi::lua_Integer);
            }
        }
        if ffi::lua_type(state, -1) != ffi::LUA_TFUNCTION {
            return 0;
        }
        let nargs = (call.push)(state, OBJECT);
        if let Err(message) = call_protected(state, nargs) {
            call.failure = Some(message);
        }
        0
    }
}

/// The bytes of the string at `index`.
///
/// # Safety
/// `index` holds a string on the live `state`'s stack (lua_tolstring then
/// neither converts nor allocates); the slice must not be used after that
/// slot is popped or overwritten.
pub unsafe fn bytes_at<'a>(state: *mut ffi::lua_State, index: c_int) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: per the contract, lua_tolstring returns `len` valid bytes,
    // which LuaJIT never moves while the string is on the stack.
    unsafe { std::slice::from_raw_parts(ffi::lua_tolstring(state, index, &mut len) as *const u8, len) }
}

/// The text of the error value at `index` without any call that can raise:
/// a string as it is (so the out-of-memory error, "not enough memory"),
/// any other value by its type.
///
/// # Safety
/// `index` is a valid stack index of the live `state`.
pub unsafe fn plain_string_at(state: *mut ffi::lua_State, index: i32) -> String {
    // SAFETY: per the contract; a string value converts without allocating.
    unsafe {
        if ffi::lua_type(state, index) == ffi::LUA_TSTRING {
            return String::from_utf8_lossy(bytes_at(state, index)).into_owned();
        }
        let kind = CStr::from_ptr(ffi::lua_typename(state, ffi::lua_type(state, index)));
        format!("(error object is a {} value)", kind.to_string_lossy())
    }
}

static TRACEBACK: PrivateKey = PrivateKey::new();

/// Pushes the `traceback` message handler, made once per Lua state and kept
/// in the registry: `lua_pushcfunction` would allocate a new function
/// object on every call.
///
/// # Safety
/// `state` is a live Lua state with three free stack slots, where a Lua
/// error may unwind: making the handler the first time allocates.
pub unsafe fn push_traceback(state: *mut ffi::lua_State) {
    // SAFETY: per the contract; the registry lookup and the store each
    // leave exactly the handler on the stack.
    unsafe {
        ffi::lua_pushlightuserdata(state, TRACEBACK.pointer());
        ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
        if ffi::lua_type(state, -1) != ffi::LUA_TFUNCTION {
            ffi::lua_pop(state, 1);
            ffi::lua_pushcfunction(state, traceback);
            ffi::lua_pushlightuserdata(state, TRACEBACK.pointer());
            ffi::lua_pushvalue(state, -2);
            ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX);
        }
    }
}

/// The text of the error value at `index`.
///
/// # Safety
/// `index` is a valid stack index of the live `state`.
pub unsafe fn string_at(state: *mut ffi::lua_State, index: i32) -> String {
    let mut len = 0;
    // SAFETY: per the contract; lua_tolstring gives `len` valid bytes or null.
    unsafe {
        let mut text = ffi::lua_tolstring(state, index, &mut len);
        // An error object with a __tostring (mlua's errors raised by Rust
        // functions that Lua code called) is worded by it.
        let described = text.is_null() && ffi::luaL_callmeta(state, index, c"__tostring".as_ptr()) != 0;
        if described {
            text = ffi::lua_tolstring(state, -1, &mut len);
        }
        let owned =
            (!text.is_null()).then(|| String::from_utf8_lossy(std::slice::from_raw_parts(text as *const u8, len)).into_owned());
        if described {
            ffi::lua_pop(state, 1);
        }
        owned.unwrap_or_else(|| {
            let kind = CStr::from_ptr(ffi::lua_typename(state, ffi::lua_type(state, index)));
            format!("(error object is a {} value)", kind.to_string_lossy())
        })
    }
}

/// The message handler of callbacks: appends the traceback to the error,
/// as mlua and `debug.traceback` word it.
pub unsafe extern "C-unwind" fn traceback(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by lua_pcall with the error value at index 1.
    unsafe {
        if ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
            let message = ffi::lua_tostring(state, 1);
            ffi::luaL_traceback(state, state, message, 1);
        } else {
            let message = CString::new(string_at(state, 1)).unwrap_or_default();
            ffi::luaL_traceback(state, state, message.as_ptr(), 1);
        }
    }
    1
}

/// Aborts the process if a Rust panic unwinds through it. Lives in frames
/// where Rust code and raising Lua calls interleave, which can neither
/// catch a panic (see `raw_call`) nor let it into Lua, whose handlers
/// cannot deal with it. A Lua error passing through is no panic: then
/// dropping the guard does nothing and the error goes on.
pub(crate) struct NoUnwind(pub &'static str);

impl Drop for NoUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("async: a Rust panic in '{}' cannot be turned into a Lua error here; aborting", self.0);
            std::process::abort();
        }
    }
}

/// Runs `read` on the calling thread's stack with `table` pushed on top
/// (at the absolute index `read` is given), without a protected call, and
/// puts the stack back: for reads on the hot paths, where mlua's
/// `exec_raw` would make a C closure of garbage per call. None when the
/// table's state is gone or the stack cannot take `room` more values.
///
/// # Safety
/// `read` must not raise a Lua error (nothing that allocates or calls a
/// metamethod) and uses at most `room - 1` slots above the table.
pub unsafe fn read_table<R>(table: &mlua::Table, room: c_int, read: impl FnOnce(*mut ffi::lua_State, c_int) -> R) -> Option<R> {
    use mlua::IntoLua;
    let lua = table.weak_lua().try_upgrade()?;
    // SAFETY: the table is pushed from mlua's reference (no allocation);
    // `read` is as the contract says.
    unsafe { read_pushed(&lua, room, |raw, _| table.push_into_stack(raw).is_ok(), read) }
}

/// As `read_table`, for the value of the registry reference `reference`
/// (pushed at the index `read` is given, whatever it is): a read through
/// a reference kept in Rust without holding an mlua value.
///
/// # Safety
/// As for `read_table`.
pub unsafe fn read_registry<R>(
    lua: &mlua::Lua,
    reference: c_int,
    room: c_int,
    read: impl FnOnce(*mut ffi::lua_State, c_int) -> R,
) -> Option<R> {
    // SAFETY: a raw read of the registry by an integer raises nothing;
    // `read` is as the contract says.
    unsafe {
        read_pushed(
            lua,
            room,
            |_, state| {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, reference as ffi::lua_Integer);
                true
            },
            read,
        )
    }
}

/// What `read_table` and `read_registry` share: `push` pushes one value
/// (false if it could not), `read` reads it at the absolute index it is
/// given, and the stack is put back either way.
///
/// # Safety
/// `push` pushes at most one value and raises nothing; `read` is as for
/// `read_table`.
unsafe fn read_pushed<R>(
    lua: &mlua::Lua,
    room: c_int,
    push: impl FnOnce(&mlua::state::RawLua, *mut ffi::lua_State) -> bool,
    read: impl FnOnce(*mut ffi::lua_State, c_int) -> R,
) -> Option<R> {
    // SAFETY: `room` slots are checked for before anything is pushed; per
    // the contract neither `push` nor `read` raises, so the top is always
    // restored.
    lua.exec_raw_lua(|raw| unsafe {
        let state = raw.state();
        if ffi::lua_checkstack(state, room) == 0 {
            return None;
        }
        let top = ffi::lua_gettop(state);
        let result = push(raw, state).then(|| read(state, top + 1));
        ffi::lua_settop(state, top);
        result
    })
}

/// Whether Lua code is running in a coroutine (a fiber) rather than the
/// main program: Lua 5.1 has no function for it that user code cannot
/// replace (`coroutine.running` is a global).
pub fn in_coroutine(lua: &mlua::Lua) -> mlua::Result<bool> {
    // SAFETY: exec_raw runs this on the calling thread's stack with room
    // for a few values; lua_pushthread pushes that thread (popped again)
    // and answers whether it is the main one; one boolean is left.
    unsafe {
        lua.exec_raw::<bool>((), |state| {
            let main = ffi::lua_pushthread(state);
            ffi::lua_pop(state, 1);
            ffi::lua_pushboolean(state, (main == 0) as c_int);
        })
    }
}
