//! `require 'async'`: a libuv event loop for LuaJIT with a Node.js-like API.
//!
//! This file only assembles the module: each capability lives in its own
//! module and installs its functions into the table. Opening the module
//! again in the same Lua state (busted does it per spec file) returns the
//! same table and the same loop. `require 'async.time'` and the other
//! submodules are found by Lua's all-in-one loader through the
//! `luaopen_async_*` entry points below, and return the fields of `async`.

mod core;

mod buffer;
mod curl;
mod dns;
mod domain;
mod event_loop;
mod fiber;
mod flow;
mod fs;
mod http;
mod http_lua;
mod immediate;
mod json;
mod json_config;
mod json_numbers;
mod json_rpc;
mod pcall;
mod pipe;
mod process;
mod repl;
mod signal;
mod socket_address;
mod split;
mod stream;
mod system;
mod tcp;
mod time;
mod tty;
mod udp;
mod url;
mod work;

#[cfg(test)]
mod proptests;

/// The pure cores that the fuzz targets under `fuzz/` drive, by their own
/// public API; built only with the `fuzzing` feature and no part of the
/// Lua module's interface.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::{
        Event, Limits, ParseError, ReplyContext, Request, RequestEvent, RequestParser, Response, ResponseParser, checked,
        multipart, serialize_request, serialize_response,
    };
    pub use crate::split::Inbox;
    pub use crate::url::{Path, Url, build_path, escape, parse_path, unescape};

    /// The `json` table (`encode`, `decode`, `null`) as `require 'async'`
    /// would give it, installed into `lua` without the rest of the module
    /// (no event loop): the JSON target needs nothing else.
    pub fn json_table(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
        let module = lua.create_table()?;
        crate::json::install(lua, &module)?;
        module.get("json")
    }
}

use mlua::{Lua, Result, Table, Value};

use crate::core::MODULE_KEY;

/// What `require 'async'` returns.
fn open(lua: &Lua) -> Result<Table> {
    if let Ok(module) = lua.named_registry_value::<Table>(MODULE_KEY) {
        return Ok(module);
    }
    // mlua runs each table and string it makes under a protected call, so
    // that running out of memory is an ordinary error: LuaJIT recovers
    // from it ("not enough memory", which pcall catches), but raised
    // unprotected inside an mlua callback it would reach mlua's
    // catch_unwind and abort the process. That protection costs a few
    // allocations per value made, so the hot paths make their values with
    // the Lua C API instead, under one protected call each (see
    // core/boundary.rs and core/lua_raw.rs). Never skip it: `skip_memory_check(true)`
    // is what made out-of-memory abort.
    lua.skip_memory_check(false);
    reserve_references(lua)?;
    ignore_sigpipe();
    let module = lua.create_table()?;
    time::install(lua, &module)?;
    immediate::install(lua, &module)?;
    system::install(lua, &module)?;
    fiber::install(lua, &module)?;
    event_loop::install(lua, &module)?;
    flow::install(lua, &module)?;
    pcall::install(lua, &module)?;
    url::install(lua, &module)?;
    dns::install(lua, &module)?;
    stream::install(lua, &module)?;
    tcp::install(lua, &module)?;
    pipe::install(lua, &module)?;
    udp::install(lua, &module)?;
    process::install(lua, &module)?;
    signal::install(lua, &module)?;
    json::install(lua, &module)?;
    json_rpc::install(lua, &module.get::<Table>("json")?)?;
    http_lua::install(lua, &module)?;
    fs::install(lua, &module)?;
    curl::install(lua, &module)?;
    tty::install(lua, &module)?;
    repl::install(lua, &module)?;
    work::install(lua, &module)?;
    lua.set_named_registry_value(MODULE_KEY, &module)?;
    load_penlight(lua);
    Ok(module)
}

/// The original's `require 'async'` loaded penlight (`require 'pl'`), whose
/// lazy globals (`List`, `pretty`, `tablex`, `stringx`) programs written
/// for it use without requiring them. So do we, when penlight is
/// installed; when it is not (or fails to load), nothing changes.
fn load_penlight(lua: &Lua) {
    if let Ok(require) = lua.globals().get::<mlua::Function>("require") {
        let _ = require.call::<mlua::Value>("pl");
    }
}

/// How many values Rust may hold at once before mlua must grow the Lua
/// stack it keeps them on.
const RESERVED_REFERENCES: usize = 1024;

/// mlua keeps every Lua value that Rust holds in a slot of an auxiliary
/// Lua stack, which it doubles when full; in this LuaJIT growing a stack
/// raises when memory is out, and mlua does it unprotected, inside the
/// callback whose catch_unwind then aborts. Growing it here, while memory
/// is plentiful, leaves room for `RESERVED_REFERENCES` held values (the
/// module holds far fewer at once), so it need not grow later.
fn reserve_references(lua: &Lua) -> Result<()> {
    // Each read takes a slot of its own (a clone would share one).
    let holder = lua.create_sequence_from([lua.create_table()?])?;
    let held = (0..RESERVED_REFERENCES).map(|_| holder.raw_get::<Table>(1)).collect::<Result<Vec<Table>>>()?;
    drop(held);
    Ok(())
}

/// Writing to a socket the peer has reset raises SIGPIPE, whose default
/// action kills the process; Rust programs ignore it at start-up, but a
/// library loaded into `luajit` must do it itself. A handler the host
/// program installed is left alone. Called again when a SIGPIPE handle of
/// `async.signal` closes (libuv then restores the default action).
pub(crate) fn ignore_sigpipe() {
    // SAFETY: reading and setting the disposition of one signal; no
    // handler code of ours is involved.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut current) == 0 && current.sa_sigaction == libc::SIG_DFL {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
    }
}

fn submodule(lua: &Lua, name: &str) -> Result<Value> {
    open(lua)?.get(name)
}

#[unsafe(no_mangle)]
/// # Safety
/// Called by Lua's `require` with a valid state.
pub unsafe extern "C-unwind" fn luaopen_async(state: *mut mlua::lua_State) -> std::os::raw::c_int {
    // SAFETY: `state` is the live state that `require` passes.
    unsafe { Lua::entrypoint1(state, open) }
}

macro_rules! submodules {
    ($($entry:ident => $field:literal),* $(,)?) => {$(
        #[unsafe(no_mangle)]
        /// # Safety
        /// Called by Lua's `require` with a valid state.
        pub unsafe extern "C-unwind" fn $entry(state: *mut mlua::lua_State) -> std::os::raw::c_int {
            // SAFETY: `state` is the live state that `require` passes.
            unsafe { Lua::entrypoint1(state, |lua| submodule(lua, $field)) }
        }
    )*};
}

submodules! {
    luaopen_async_time => "time",
    luaopen_async_fiber => "fiber",
    luaopen_async_flow => "flow",
    luaopen_async_pcall => "pcall",
    luaopen_async_url => "url",
    luaopen_async_tcp => "tcp",
    luaopen_async_pipe => "pipe",
    luaopen_async_udp => "udp",
    luaopen_async_handle => "handle",
    luaopen_async_process => "process",
    luaopen_async_json => "json",
    luaopen_async_http => "http",
    luaopen_async_fs => "fs",
    luaopen_async_curl => "curl",
    luaopen_async_repl => "repl",
    luaopen_async_tty => "tty",
    luaopen_async_signal => "signal",
    luaopen_async_loop => "loop",
}
