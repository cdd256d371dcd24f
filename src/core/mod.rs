//! The shared core every capability is built on: how Rust functions
//! become Lua functions (`boundary`), what a handle object is to Lua
//! (`class`), how libuv handles and requests are owned (`uv_handle`,
//! `uv_request`), the per-state event loop (`runtime`, with its Lua-free
//! timer driver `timer_driver` over `timer_queue`), libuv error codes
//! (`errors`), allocations that may fail (`memory`), option tables
//! (`options`) and the raw Lua C API helpers (`lua_raw`).
//!
//! May touch: libuv and Lua. Never a capability module (`stream`, `tcp`,
//! `http_lua`, ...): dependencies run from them to here, never back.

/// The registry key of the module table, `require 'async'`'s result.
pub const MODULE_KEY: &str = "async.module";

pub mod boundary;
pub mod class;
pub mod errors;
pub mod lua_raw;
pub mod memory;
pub mod options;
pub mod runtime;
pub mod timer_driver;
pub mod timer_queue;
pub mod uv_handle;
pub mod uv_request;
