//! `fs.watch` (libuv's `uv_fs_event_t`: inotify on Linux) and
//! `fs.watchFile` (libuv's `uv_fs_poll_t`: a `stat` every interval). Each
//! returns a watcher handle of the handle core with `close([cb])` and
//! `onclose(cb)`; its callback is kept in the handle's object and never
//! called once `close` was called.
//!
//! Failures follow the module's fs convention: wrong arguments raise at
//! the call; a failure of the watch itself (a missing path) reaches the
//! callback as its last argument, `ENOENT: no such file or directory
//! "path"`. A `watch` that cannot start is closed.
//!
//! May touch: libuv fs-event and fs-poll handles; the watcher's Lua object.

use std::ffi::c_char;

use super::*;
use crate::core::class::{Class, Method};
use crate::core::lua_raw::PrivateKey;
use crate::core::options::OptionTable;
use crate::core::uv_handle::{self, Plain, close_method, onclose_method};

static WATCHER: Class = Class { kind: "fs.watcher", methods: &[WATCHER_METHODS], lua_methods: None };
static WATCHER_METHODS: &[(&str, Method)] = &[("close", close_method::<Watcher>), ("onclose", onclose_method)];

/// Node's default `watchFile` interval, in milliseconds.
const DEFAULT_INTERVAL: u32 = 5007;

// Private key of a watcher object: its callback.
static ON_CHANGE: PrivateKey = PrivateKey::new();

/// A watcher: its handle and the watched path (for error messages).
type Watcher = Plain<String>;

/// Makes a watcher object with `callback`, its handle initialised by
/// `init`.
fn new_watcher<H>(
    lua: &Lua,
    what: &str,
    path: String,
    callback: Function,
    init: impl FnOnce(*mut uv::uv_loop_t, *mut H) -> c_int,
) -> Result<(Table, &'static Watcher)> {
    let object = lua.create_table()?;
    object.set_metatable(Some(WATCHER.metatable(lua)?))?;
    object.raw_set(ON_CHANGE.value(), callback)?;
    let watcher = uv_handle::open::<Watcher, H>(lua, &object, Plain::new(&WATCHER, path), what, init)?;
    Ok((object, watcher))
}

/// Calls the watcher's callback with what `args` makes, unless it is
/// closing.
fn call_back<A: IntoLuaMulti>(watcher: &Watcher, handle: *const uv::uv_handle_t, args: impl FnOnce(&Lua) -> Result<A>) {
    if watcher.tie.closing() {
        return;
    }
    // SAFETY: the handle is open (libuv calls back only then); its loop is
    // a runtime's, and this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*handle).loop_) };
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        let Some(object) = watcher.tie.object(&lua)? else { return Ok(()) };
        let callback: Function = object.raw_get(ON_CHANGE.value())?;
        rt.callback(&lua, callback, args(&lua)?).map(drop)
    });
}

/// The callback of `watch` and `watchFile`: argument 2, or 3 after
/// options. Returns its index and the function.
fn required_callback(args: &Args) -> Result<(usize, Function)> {
    match callback_arg(args, 2, 3)? {
        (at, Some(callback)) => Ok((at, callback)),
        (_, None) => args.bad(if args.get(2).is_nil() { 2 } else { 3 }, "function"),
    }
}

/// `fs.watch(path[, {recursive=}], cb)` -> watcher; `cb(event, filename)`
/// with event `"rename"` or `"change"` and the name of the entry that
/// changed (in a watched folder; the file's own name for a file), or
/// `cb(nil, nil, err)`.
pub(super) fn watch(lua: &Lua, args: Args) -> Result<Table> {
    let (path, text) = path_arg(&args, 1)?;
    let (at, callback) = required_callback(&args)?;
    let table = if at == 3 { args.opt_table(2)? } else { None };
    if OptionTable::new(table.as_ref(), "watch").boolean("recursive")? == Some(true) {
        return boundary::fail("watch: recursive is not supported on Linux (libuv watches one folder, not its subfolders)");
    }
    let (object, watcher) = new_watcher::<uv::uv_fs_event_t>(lua, "watch", text, callback.clone(), |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_fs_event_init(uv_loop, raw) }
    })?;
    // SAFETY: the handle is open; libuv copies the path.
    let rc = unsafe { uv::uv_fs_event_start(watcher.tie.handle() as *mut _, Some(on_event), path.as_ptr(), 0) };
    if rc < 0 {
        watcher.tie.close();
        Runtime::call_later(lua, callback, (Value::Nil, Value::Nil, uv_message(rc, Some(&watcher.data))))?;
    }
    Ok(object)
}

extern "C" fn on_event(raw: *mut uv::uv_fs_event_t, filename: *const c_char, events: c_int, status: c_int) {
    // SAFETY: started by `watch` on a handle made by `new_watcher`.
    let watcher = unsafe { uv_handle::state_from::<Watcher>(raw as *const uv::uv_handle_t) };
    call_back(watcher, raw as *const uv::uv_handle_t, |lua| {
        if status < 0 {
            return (Value::Nil, Value::Nil, uv_message(status, Some(&watcher.data))).into_lua_multi(lua);
        }
        let event = if events & uv::uv_fs_event_UV_RENAME as c_int != 0 { "rename" } else { "change" };
        (event, c_string(lua, filename)?).into_lua_multi(lua)
    });
}

/// `fs.watchFile(path[, interval], cb)` -> watcher; `cb(curr, prev)`, two
/// stats tables as `fs.stat` gives, whenever the file's stats change (a
/// `stat` every `interval` ms, 5007 by default); while the file cannot be
/// read, `cb(curr, prev, err)` once, `curr` all zeros.
pub(super) fn watch_file(lua: &Lua, args: Args) -> Result<Table> {
    let (path, text) = path_arg(&args, 1)?;
    let (at, callback) = required_callback(&args)?;
    let interval = match args.get(2) {
        Value::Table(table) if at == 3 => OptionTable::new(Some(&table), "watchFile").positive("interval")?,
        Value::Function(_) | Value::Nil => None,
        _ => match args.number(2)? {
            n if n > 0.0 && n.is_finite() => Some(n),
            _ => return args.bad(2, "positive number"),
        },
    };
    let interval = interval.map_or(DEFAULT_INTERVAL, |n| n.min(u32::MAX as f64).max(1.0) as u32);
    let (object, watcher) = new_watcher::<uv::uv_fs_poll_t>(lua, "watchFile", text, callback, |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_fs_poll_init(uv_loop, raw) }
    })?;
    // SAFETY: the handle is open; libuv copies the path.
    let rc = unsafe { uv::uv_fs_poll_start(watcher.tie.handle() as *mut _, Some(on_poll), path.as_ptr(), interval) };
    if rc < 0 {
        watcher.tie.close();
        return boundary::fail(format!("watchFile: {}", uv_message(rc, Some(&watcher.data))));
    }
    Ok(object)
}

extern "C" fn on_poll(raw: *mut uv::uv_fs_poll_t, status: c_int, prev: *const uv::uv_stat_t, curr: *const uv::uv_stat_t) {
    // SAFETY: started by `watch_file` on a handle made by `new_watcher`.
    let watcher = unsafe { uv_handle::state_from::<Watcher>(raw as *const uv::uv_handle_t) };
    call_back(watcher, raw as *const uv::uv_handle_t, |lua| {
        // SAFETY: libuv passes two valid stat buffers for this call.
        let (curr, prev) = unsafe { (stats_table(lua, &*curr)?, stats_table(lua, &*prev)?) };
        let error = (status < 0).then(|| uv_message(status, Some(&watcher.data)));
        (curr, prev, error).into_lua_multi(lua)
    });
}
