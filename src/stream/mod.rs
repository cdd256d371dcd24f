//! The stream layer: what every TCP socket, Unix domain socket, process
//! pipe and file stream offers Lua (`async.handle` in the contract).
//! Reading in one of several modes (`ondata` strings, `onrawdata`
//! buffers, `onsplitdata` pieces, fiber reads after `sync()`), ordered
//! writes with backpressure, an idle timeout, and a close that flushes
//! what is queued.
//!
//! The state of a stream is `Stream`, held in the handle allocation of
//! `core/uv_handle.rs`; its Lua callbacks are kept in its Lua object under
//! private keys, so they are visible to the garbage collector and go with
//! the object, but for the two that nearly every stream has (the data and
//! drain handlers): those are kept by registry references in the state,
//! which the close drops (see `Handler`). A kind of stream (tcp.rs, pipe.rs, process.rs's pipes)
//! makes the libuv handle and a `Stream`, and lists `METHODS` in its class;
//! the sockets share their servers and connects (`socket.rs`). A file is
//! no libuv stream: a file stream's reads and writes are file requests
//! (`file.rs`), behind the same state and methods.
//!
//! Every callback into Lua goes through the runtime's dispatch (an error
//! stops the loop); a stream's own failure (reset, broken pipe) goes to its
//! `onerr` handler or stderr and closes that stream only.
//!
//! Protocols written in Rust over a stream (the HTTP server and client,
//! JSON-lines peers, `exec`'s output) read it as a `Consumer`: the stream
//! calls the trait's methods with bytes, end, errors, drain and idle
//! timeouts, and the protocol calls `write`, `set_paused`,
//! `set_idle_timeout`, `close_gracefully` and `destroy` back — Rust to Rust,
//! never through the Lua object, whose fields the user may have replaced.
//!
//! Readers that wait for a separator (`onsplitdata`, `readsplit`,
//! `readline`) hold at most `max_line` bytes of an unfinished piece
//! (`setMaxLineSize`, 16 MiB by default): past it the stream fails with a
//! clear error instead of buffering a peer's endless line.
//!
//! This file holds the state, the consumer trait and the life cycle (end,
//! failure, close); the rest is split along its seams: `read.rs`,
//! `write.rs`, `idle.rs` (the idle timeout), `fiber_reads.rs` (the
//! primitives `lua/stream.lua` suspends fibers around), `methods.rs` (the
//! Lua methods), `socket.rs` (the servers and connects of TCP and Unix
//! domain sockets), `pipe.rs` (`pipe`, a consumer writing to another
//! stream), `file.rs` (file streams) and `socket_ref.rs` (how protocols
//! hold a socket's object).
//!
//! May touch: libuv streams and their requests (file requests for file
//! streams); the stream's Lua object.

use std::cell::{Cell, OnceCell, RefCell};
use std::ffi::{c_int, c_void};
use std::net::{SocketAddr, SocketAddrV4};
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{Function, IntoLuaMulti, Lua, LuaString, MultiValue, Result, Table, Value, ffi};

mod fiber_reads;
pub mod file;
mod idle;
mod methods;
mod pipe;
mod read;
pub mod socket;
pub mod socket_ref;
mod write;

use fiber_reads::wake;
pub use methods::{Data, MAX_HELD_PIECES, METHODS, lua_methods, pieces_of};
use write::on_shutdown;

use crate::buffer::Buffer;
use crate::core::boundary::{self, Args};
use crate::core::class::{Class, Method};
use crate::core::errors::uv_message;
use crate::core::lua_raw;
use crate::core::lua_raw::PrivateKey;
use crate::core::memory::{self, OutOfMemory};
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState, Tie};
use crate::core::uv_request::{Callback, UvRequest};
use crate::split::{Inbox, TooLong};

/// Bytes queued for writing past which `write` returns false, and bytes
/// buffered for fiber reads past which reading pauses (unless a fiber
/// waits for a separator).
const HIGH_WATER: usize = 64 * 1024;

/// The longest piece a separator reader buffers unless `setMaxLineSize`
/// says otherwise.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024 * 1024;

/// The error of a stream whose reader waited for a separator too long.
pub fn line_too_long(limit: usize) -> String {
    format!("line too long: more than {limit} bytes without a separator (see setMaxLineSize)")
}

/// How arriving data reaches Lua.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nobody reads yet: reading has not started.
    Idle,
    Strings,
    Buffers,
    /// `onsplitdata` with a separator string.
    Split,
    /// `onsplitdata` with a function.
    SplitWith,
    /// `sync()`: buffered for `read()` and `readsplit()`.
    Fiber,
    /// `syncraw()`: the same, `read()` giving buffers.
    FiberRaw,
    /// A Rust `Consumer` (`set_consumer`).
    Consumer,
}

/// A protocol written in Rust that reads a stream: each chunk reaches it as
/// bytes, with no Lua string made of them, and the stream's events reach
/// it before (and whatever) the Lua handlers of the object say. The stream
/// holds it until the stream is closed.
pub trait Consumer {
    /// Bytes read from `stream` (whose state stays valid for the call:
    /// it is freed only by its close callback, which runs from the loop,
    /// never inside this one).
    fn data(self: Rc<Self>, lua: &Lua, stream: &Stream, bytes: &[u8]) -> Result<()>;
    /// The peer finished writing; the stream is closing gracefully.
    fn end(self: Rc<Self>, _lua: &Lua) -> Result<()> {
        Ok(())
    }
    /// A read or write failed; the stream is closing. True if the error is
    /// handled: else it goes to `onerr`, or stderr.
    fn error(self: Rc<Self>, _lua: &Lua, _message: &str) -> Result<bool> {
        Ok(false)
    }
    /// What was queued for writing is written.
    fn drain(self: Rc<Self>, _lua: &Lua) -> Result<()> {
        Ok(())
    }
    /// Nothing was read or written for the idle timeout.
    fn timeout(self: Rc<Self>, _lua: &Lua) -> Result<()> {
        Ok(())
    }
}

pub struct Stream {
    tie: Tie,
    mode: Cell<Mode>,
    /// uv_read_start is in effect.
    reading: Cell<bool>,
    /// `pause()` was called.
    paused: Cell<bool>,
    /// End of stream seen.
    ended: Cell<bool>,
    /// `close()` was called: shutting down, then closing.
    shutting: Cell<bool>,
    /// A connect is in progress: writes wait in `early_writes`.
    connecting: Cell<bool>,
    /// `deliver_pieces` is running.
    delivering: Cell<bool>,
    /// What only some streams need, allocated on first use: an idle
    /// connection costs a pointer, not these buffers.
    buffers: RefCell<Option<Box<Buffers>>>,
    /// `write` returned false: call `ondrain` once the queue is empty.
    want_drain: Cell<bool>,
    /// The data handler (of `ondata`, `onrawdata` or `onsplitdata`) and
    /// the `ondrain` handler.
    on_data: Handler,
    on_drain: Handler,
    /// The idle timeout's timer, null until the first `setTimeout` (see
    /// idle.rs).
    idle: Cell<*mut idle::IdleTimer>,
    /// The peer and local addresses of a connected socket (none for
    /// pipes); made into the `peername`/`sockname` tables only when read,
    /// which saves two tables per connection that nobody looks at.
    names: OnceCell<Names>,
}

/// The peer and local addresses of a connected socket, as `peername` and
/// `sockname` give them (address, port, family): an IPv4 pair in 12 bytes
/// of the state, any other pair (IPv6, rarer) boxed, so an IPv4
/// connection does not carry two full `SocketAddr`s (64 bytes).
pub enum Names {
    V4 { peer: SocketAddrV4, local: SocketAddrV4 },
    Other(Box<(SocketAddr, SocketAddr)>),
}

impl Names {
    pub fn new(peer: SocketAddr, local: SocketAddr) -> Names {
        match (peer, local) {
            (SocketAddr::V4(peer), SocketAddr::V4(local)) => Names::V4 { peer, local },
            _ => Names::Other(Box::new((peer, local))),
        }
    }

    fn peer(&self) -> SocketAddr {
        match self {
            Names::V4 { peer, .. } => SocketAddr::V4(*peer),
            Names::Other(pair) => pair.0,
        }
    }

    fn local(&self) -> SocketAddr {
        match self {
            Names::V4 { local, .. } => SocketAddr::V4(*local),
            Names::Other(pair) => pair.1,
        }
    }
}

// Private keys of a stream's Lua object.
static SPLITTER: PrivateKey = PrivateKey::new();
static ON_END: PrivateKey = PrivateKey::new();
static ON_ERR: PrivateKey = PrivateKey::new();
static ON_TIMEOUT: PrivateKey = PrivateKey::new();
static WAITER: PrivateKey = PrivateKey::new();
static FAILURE: PrivateKey = PrivateKey::new();

/// A handler that nearly every stream has (`ondata`'s, `ondrain`'s), kept
/// by a registry reference in the state instead of under a private key of
/// the object: an echo server's connection object then holds two keys
/// (its number and the cached `write`) where four doubled its hash part,
/// which costs more than the two registry slots. Dropped by `closed`, so
/// a handler that holds the object (as most do) keeps it no longer than
/// the handle is open.
struct Handler(Cell<c_int>);

impl Handler {
    fn new() -> Handler {
        Handler(Cell::new(ffi::LUA_NOREF))
    }

    /// Keeps `f` instead of the handler before; None keeps nothing.
    fn set(&self, lua: &Lua, f: Option<Function>) -> Result<()> {
        let old = self.0.replace(ffi::LUA_NOREF);
        // SAFETY: runs protected (exec_raw) with `f` (or nil) at index 1:
        // the old reference is dropped (a no-op for none), then `f` is kept
        // by a new one (luaL_ref pops it; nil gets LUA_REFNIL, which holds
        // nothing), whose number is pushed as the result.
        let new = unsafe {
            lua.exec_raw::<c_int>(f, |state| {
                ffi::luaL_unref(state, ffi::LUA_REGISTRYINDEX, old);
                let reference = ffi::luaL_ref(state, ffi::LUA_REGISTRYINDEX);
                ffi::lua_pushinteger(state, reference as ffi::lua_Integer);
            })
        }?;
        self.0.set(new);
        Ok(())
    }

    /// Where the handler is, for `lua_raw::call_handler`.
    fn at(&self) -> lua_raw::HandlerAt {
        lua_raw::HandlerAt::Registry(self.0.get())
    }

    fn get(&self, lua: &Lua) -> Result<Option<Function>> {
        let reference = self.0.get();
        if reference < 0 {
            return Ok(None);
        }
        // SAFETY: pushes one registry value, which exec_raw pops as result.
        unsafe {
            lua.exec_raw((), |state| {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, reference as ffi::lua_Integer);
            })
        }
    }

    /// Calls the handler, if there is one, straight (a data handler gets
    /// the bytes as they arrive, whatever else happened). True if there is
    /// one.
    fn emit(&self, lua: &Lua, args: impl IntoLuaMulti) -> Result<bool> {
        match self.get(lua)? {
            Some(handler) => handler.call::<()>(args).map(|_| true),
            None => Ok(false),
        }
    }

    /// Calls the handler, if there is one, as `notify` calls the others.
    fn notify(&self, lua: &Lua, args: impl IntoLuaMulti) -> Result<bool> {
        match self.get(lua)? {
            Some(handler) => Runtime::of(lua)?.callback(lua, handler, args).map(|_| true),
            None => Ok(false),
        }
    }
}

/// Calls the event handler under `anchor` in `object` (`onerr`, `onend`,
/// `ondrain`, the idle timeout's), if there is one, as every callback is
/// called (`Runtime::callback`): after a callback failed in this turn it
/// waits for the next `go()`. True if there is one.
fn notify(lua: &Lua, object: &Table, anchor: &'static PrivateKey, args: impl IntoLuaMulti) -> Result<bool> {
    match object.raw_get::<Option<Function>>(anchor.value())? {
        Some(handler) => Runtime::of(lua)?.callback(lua, handler, args).map(|_| true),
        None => Ok(false),
    }
}

/// The message for writes and reads on a closed stream.
fn closed_message() -> String {
    uv_message(uv::uv_errno_t_UV_EPIPE, None) + " (the stream is closed)"
}

#[derive(Default)]
struct Buffers {
    /// Bytes read and not yet taken (split and fiber modes).
    inbox: Inbox,
    separator: Vec<u8>,
    /// `setMaxLineSize`; 0 for `DEFAULT_MAX_LINE`.
    max_line: usize,
    /// A fiber waits in `readsplit` for a separator: reading goes on past
    /// the high-water mark (up to `max_line`), or it could never arrive.
    awaiting_separator: bool,
    /// Pieces a fiber `readsplit(fn)`'s split function gave and no read
    /// has taken yet.
    split_pieces: std::collections::VecDeque<Vec<u8>>,
    /// Writes made before the connect finished.
    early_writes: Vec<Written>,
    consumer: Option<Rc<dyn Consumer>>,
    /// A file stream's reads and writes, which are file requests instead
    /// of libuv stream calls (file.rs).
    file: Option<Rc<file::FileIo>>,
}

/// A write waiting for libuv: its bytes and its callback.
struct Written {
    bytes: Vec<u8>,
    callback: Option<Callback>,
}

impl HandleState for Stream {
    fn tie(&self) -> &Tie {
        &self.tie
    }

    fn closed(&self, lua: &Lua, object: &Table) -> Result<()> {
        self.on_data.set(lua, None)?;
        self.on_drain.set(lua, None)?;
        // The consumer holds the object (through its SocketRef): let go,
        // once the buffers are no longer borrowed.
        let consumer = self.buffers.borrow_mut().as_mut().and_then(|b| b.consumer.take());
        drop(consumer);
        // Writes held for a connect that never happened.
        let early = self.take_early_writes();
        for written in early {
            if let Some(callback) = written.callback {
                Runtime::call_later(lua, callback.into_function(lua)?, uv_message(uv::uv_errno_t_UV_ECANCELED, None))?;
            }
        }
        // The names stay readable after the close.
        for field in ["peername", "sockname"] {
            if object.raw_get::<Value>(field)? == Value::Nil {
                object.raw_set(field, self.address(lua, field)?)?;
            }
        }
        wake(object)
    }
}

impl Stream {
    pub fn new(class: &'static Class) -> Stream {
        Stream {
            tie: Tie::new(class),
            mode: Cell::new(Mode::Idle),
            reading: Cell::new(false),
            paused: Cell::new(false),
            ended: Cell::new(false),
            shutting: Cell::new(false),
            connecting: Cell::new(false),
            delivering: Cell::new(false),
            buffers: RefCell::new(None),
            want_drain: Cell::new(false),
            on_data: Handler::new(),
            on_drain: Handler::new(),
            idle: Cell::new(std::ptr::null_mut()),
            names: OnceCell::new(),
        }
    }

    /// The stream of a file (fs.createReadStream, fs.createWriteStream).
    pub(crate) fn of_file(class: &'static Class, io: file::FileIo) -> Stream {
        let stream = Stream::new(class);
        stream.buffers().file = Some(Rc::new(io));
        stream
    }

    /// A file stream's reads and writes (file.rs); None for every other
    /// kind.
    fn file(&self) -> Option<Rc<file::FileIo>> {
        self.buffers.borrow().as_ref().and_then(|b| b.file.clone())
    }

    /// `peername` or `sockname` as a Lua table, nil if unknown.
    pub fn address(&self, lua: &Lua, field: &str) -> Result<Value> {
        let address = match (self.names.get(), field) {
            (Some(names), "peername") => names.peer(),
            (Some(names), "sockname") => names.local(),
            _ => return Ok(Value::Nil),
        };
        Ok(Value::Table(crate::socket_address::address_table(lua, &address)?))
    }

    /// Keeps the addresses of a connected socket, for `peername` and
    /// `sockname` (also after the peer has gone). Set once, when the
    /// socket is connected (accepted, or its connect finished).
    pub fn set_names(&self, names: Names) {
        let _ = self.names.set(names);
    }

    fn buffers(&self) -> std::cell::RefMut<'_, Buffers> {
        std::cell::RefMut::map(self.buffers.borrow_mut(), |b| &mut **b.get_or_insert_with(Box::default))
    }

    fn inbox_len(&self) -> usize {
        self.buffers.borrow().as_ref().map_or(0, |b| b.inbox.len())
    }

    fn max_line(&self) -> usize {
        match self.buffers.borrow().as_ref().map_or(0, |b| b.max_line) {
            0 => DEFAULT_MAX_LINE,
            n => n,
        }
    }

    fn awaiting_separator(&self) -> bool {
        self.buffers.borrow().as_ref().is_some_and(|b| b.awaiting_separator)
    }

    /// The consumer, cloned so that no borrow is held while it runs (it may
    /// write to, pause or close this stream).
    fn consumer(&self) -> Option<Rc<dyn Consumer>> {
        self.buffers.borrow().as_ref().and_then(|b| b.consumer.clone())
    }

    fn take_early_writes(&self) -> Vec<Written> {
        self.buffers.borrow_mut().as_mut().map(|b| std::mem::take(&mut b.early_writes)).unwrap_or_default()
    }

    /// The libuv stream; never called for a file stream, whose handle is
    /// no stream (file.rs).
    fn raw(&self) -> *mut uv::uv_stream_t {
        debug_assert!(self.file().is_none());
        self.tie.handle() as *mut uv::uv_stream_t
    }

    /// Closing or closed: no more reads or writes.
    fn done(&self) -> bool {
        self.shutting.get() || self.tie.closing()
    }

    /// Marks a connect in progress (writes are held until `connected`).
    pub fn set_connecting(&self) {
        self.connecting.set(true);
    }

    /// The connect finished: start what waited for it.
    pub fn connected(&self, lua: &Lua) -> Result<()> {
        self.connecting.set(false);
        let early = self.take_early_writes();
        for written in early {
            self.queue_write(lua, written)?;
        }
        self.update_reading();
        Ok(())
    }

    /// The registry reference of the stream's Lua object, for the raw hot
    /// paths of the protocols built on it (http_lua/server.rs).
    pub(crate) fn object_ref(&self) -> c_int {
        self.tie.object_ref()
    }

    /// `pause()` / `resume()`, for the protocols built on streams in Rust.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.set(paused);
        self.update_reading();
    }

    /// Whether the Rust consumer still gets the data (no Lua reader took
    /// it over): the HTTP server stops reading an upgraded connection only
    /// while nobody else reads it.
    pub(crate) fn reads_for_consumer(&self) -> bool {
        self.mode.get() == Mode::Consumer
    }

    /// Whether Lua reads this stream (a data handler or fiber reads were
    /// set up): process.rs closes a child's unread pipes once it exits.
    pub fn has_reader(&self) -> bool {
        self.mode.get() != Mode::Idle
    }

    /// Closes at once, dropping queued writes (their callbacks get
    /// ECANCELED). Public for process.rs (a child's stdin, once it has
    /// exited) and http_lua/server.rs.
    pub fn destroy(&self) {
        self.release_timer();
        self.reading.set(false);
        match self.file() {
            Some(file) => file.destroy(self),
            None => self.tie.close(),
        }
    }

    /// Closes after the queued writes are sent: a shutdown, then the close.
    /// Also for Rust-level users (http_lua/server.rs).
    pub(crate) fn close_gracefully(&self) {
        if self.done() {
            return;
        }
        // A connect that never finished has nobody to flush to; a file
        // being opened flushes its writes once it is open (file.rs).
        if self.connecting.get() && self.file().is_none() {
            return self.destroy();
        }
        self.shutting.set(true);
        self.update_reading();
        self.release_timer();
        self.shutdown();
    }

    fn shutdown(&self) {
        if let Some(file) = self.file() {
            return file.shutdown(self);
        }
        let started = UvRequest::<uv::uv_shutdown_t, ()>::start((), |req| {
            // SAFETY: the stream is open; `req` lives until `on_shutdown`.
            unsafe { uv::uv_shutdown(req, self.raw(), Some(on_shutdown)) }
        });
        if started.is_err() {
            self.destroy();
        }
    }

    /// A read or write failed: report it (to the consumer, else `onerr`,
    /// else stderr), wake a fiber reader, close.
    pub fn fail(&self, lua: &Lua, object: &Table, message: String) -> Result<()> {
        let quiet = self.done();
        self.destroy();
        object.raw_set(FAILURE.value(), message.as_str())?;
        if !quiet {
            let handled = match self.consumer() {
                Some(consumer) => consumer.error(lua, &message)?,
                None => false,
            };
            if !notify(lua, object, &ON_ERR, message.as_str())? && !handled {
                eprintln!("async: {} error: {message}", self.tie.kind());
            }
        }
        wake(object)
    }

    /// The peer finished: tell the consumer and Lua, then close (flushing
    /// our writes, those made by `onend` included, as a Node.js socket
    /// ends after its 'end' listeners ran).
    fn finish_end(&self, lua: &Lua, object: &Table) -> Result<()> {
        if self.done() {
            return Ok(());
        }
        let told = match self.consumer() {
            Some(consumer) => consumer.end(lua),
            None => Ok(()),
        };
        let told = told.and_then(|()| notify(lua, object, &ON_END, ()).map(drop));
        // A handler that closed or destroyed the stream already did this.
        self.close_gracefully();
        told?;
        wake(object)
    }

    /// Fails the stream because its separator reader's piece grew past the
    /// limit.
    fn fail_too_long(&self, lua: &Lua, object: &Table) -> Result<()> {
        self.fail(lua, object, line_too_long(self.max_line()))
    }

    /// Fails the stream because the bytes it read could not be kept: the
    /// connection that brought them pays, not the process.
    fn fail_out_of_memory(&self, lua: &Lua, object: &Table) -> Result<()> {
        self.fail(lua, object, memory::MESSAGE.to_string())
    }

    /// Makes `consumer` the reader of this stream, and starts reading. A
    /// Lua reader set later (`ondata`, `sync`, ...) takes the data over;
    /// the consumer still hears of the end, errors, drain and timeouts.
    pub(crate) fn set_consumer(&self, consumer: Rc<dyn Consumer>) {
        self.buffers().consumer = Some(consumer);
        self.set_mode(Mode::Consumer);
    }

    /// The limit of separator readers (`setMaxLineSize`; json.rs's option).
    pub(crate) fn set_max_line(&self, bytes: usize) {
        self.buffers().max_line = bytes.max(1);
    }

    /// Closing or closed: writes are refused, reads are over.
    pub(crate) fn is_closing(&self) -> bool {
        self.done()
    }
}

/// `async.handle`: what every stream offers, for reference (`methods`, the
/// names; `highWaterMark`, the queued bytes past which `write` returns
/// false).
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let names = lua.create_sequence_from(METHODS.iter().map(|(name, _)| *name))?;
    for name in ["write", "read", "readsplit", "readline"] {
        names.raw_push(name)?;
    }
    let handle = lua.create_table()?;
    handle.set("methods", names)?;
    handle.set("highWaterMark", HIGH_WATER)?;
    module.set("handle", handle)
}

#[cfg(test)]
mod tests {
    /// Every open connection carries a `Stream` next to its uv_tcp_t: keep
    /// it small (idle connections are measured in bench/tcp). 96 bytes:
    /// 88 since the idle timeout's fields live with its timer, the tie
    /// names its class by a thin pointer, an IPv4 pair of names takes 12
    /// bytes and the open handles are listed by the runtime's table of them
    /// instead of through their ties (184 before all that); then 8 for the
    /// references of the data and drain handlers, which leave the handle
    /// and a uv_tcp_t in the same 352-byte malloc chunk.
    #[test]
    fn a_stream_state_stays_small() {
        assert!(std::mem::size_of::<super::Stream>() <= 96, "Stream is {} bytes", std::mem::size_of::<super::Stream>());
    }
}
