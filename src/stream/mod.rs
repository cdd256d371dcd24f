//! The stream layer: what every TCP socket and process pipe offers Lua
//! (`async.handle` in the contract). Reading in one of several modes
//! (`ondata` strings, `onrawdata` buffers, `onsplitdata` pieces, fiber
//! reads after `sync()`), ordered writes with backpressure, an idle
//! timeout, and a close that flushes what is queued.
//!
//! The state of a stream is `Stream`, held in the handle allocation of
//! `uv_handle.rs`; its Lua callbacks are kept in its Lua object under
//! private keys, so they are visible to the garbage collector and go with
//! the object. A kind of stream (tcp.rs, process.rs's pipes) makes the
//! libuv handle and a `Stream`, and lists `METHODS` in its class.
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
//! May touch: libuv streams and their requests; the stream's Lua object.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::net::SocketAddr;
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{AnyUserData, BorrowedBytes, Function, IntoLuaMulti, Lua, LuaString, MultiValue, Result, Table, Value, ffi};

pub mod socket_ref;

use crate::core::boundary::{self, Args};
use crate::buffer::Buffer;
use crate::core::errors::uv_message;
use crate::core::class::Method;
use crate::core::lua_raw;
use crate::core::uv_request::{Callback, Request};
use crate::core::runtime::Runtime;
use crate::split::{Inbox, TooLong};
use crate::core::uv_handle::{self, HandleState, Tie};
use crate::core::lua_raw::PrivateKey;

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
    fn data(self: Rc<Self>, lua: &Lua, bytes: &[u8]) -> Result<()>;
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
    /// What only some streams need, allocated on first use: an idle
    /// connection costs a pointer, not these buffers.
    buffers: RefCell<Option<Box<Buffers>>>,
    /// `write` returned false: call `ondrain` once the queue is empty.
    want_drain: Cell<bool>,
    idle_timer: Cell<*mut uv::uv_timer_t>,
    idle_ms: Cell<u64>,
    /// Loop time at which the stream has been idle for `idle_ms`: moved
    /// by every read and write, without restarting the timer.
    idle_deadline: Cell<u64>,
    /// Loop time at which the running idle timer fires; 0 while stopped.
    /// The timer runs to its due time and is restarted from there if the
    /// deadline moved on (a busy connection restarts it once per
    /// `idle_ms`, not on every read and write).
    timer_due: Cell<u64>,
    /// The peer and local addresses of a connected socket (none for
    /// pipes); made into the `peername`/`sockname` tables only when read,
    /// which saves two tables per connection that nobody looks at.
    pub addresses: Cell<Option<(SocketAddr, SocketAddr)>>,
}

// Private keys of a stream's Lua object.
static ON_DATA: PrivateKey = PrivateKey::new();
static SPLITTER: PrivateKey = PrivateKey::new();
static ON_END: PrivateKey = PrivateKey::new();
static ON_ERR: PrivateKey = PrivateKey::new();
static ON_DRAIN: PrivateKey = PrivateKey::new();
static ON_TIMEOUT: PrivateKey = PrivateKey::new();
static WAITER: PrivateKey = PrivateKey::new();
static FAILURE: PrivateKey = PrivateKey::new();


/// Calls the handler under `anchor` in `object`, if there is one.
fn emit(object: &Table, anchor: &'static PrivateKey, args: impl IntoLuaMulti) -> Result<bool> {
    match object.raw_get::<Option<Function>>(anchor.value())? {
        Some(handler) => handler.call::<()>(args).map(|_| true),
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
    /// Writes made before the connect finished.
    early_writes: Vec<Written>,
    consumer: Option<Rc<dyn Consumer>>,
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
        // The consumer holds the object (through its SocketRef): let go.
        drop(self.buffers.borrow_mut().as_mut().and_then(|b| b.consumer.take()));
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
    pub fn new(kind: &'static str) -> Stream {
        Stream {
            tie: Tie::new(kind),
            mode: Cell::new(Mode::Idle),
            reading: Cell::new(false),
            paused: Cell::new(false),
            ended: Cell::new(false),
            shutting: Cell::new(false),
            connecting: Cell::new(false),
            buffers: RefCell::new(None),
            want_drain: Cell::new(false),
            idle_timer: Cell::new(std::ptr::null_mut()),
            idle_ms: Cell::new(0),
            idle_deadline: Cell::new(0),
            timer_due: Cell::new(0),
            addresses: Cell::new(None),
        }
    }

    /// `peername` or `sockname` as a Lua table, nil if unknown.
    pub fn address(&self, lua: &Lua, field: &str) -> Result<Value> {
        match (self.addresses.get(), field) {
            (Some((peer, _)), "peername") => Ok(Value::Table(crate::dns::address_table(lua, &peer)?)),
            (Some((_, local)), "sockname") => Ok(Value::Table(crate::dns::address_table(lua, &local)?)),
            _ => Ok(Value::Nil),
        }
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

    fn raw(&self) -> *mut uv::uv_stream_t {
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

    /// Starts or stops libuv reading to match the mode, pause, and the
    /// fiber buffer's fill.
    fn update_reading(&self) {
        let want = self.mode.get() != Mode::Idle
            && !self.paused.get()
            && !self.ended.get()
            && !self.done()
            && !self.connecting.get()
            && !(matches!(self.mode.get(), Mode::Fiber | Mode::FiberRaw)
                && self.inbox_len() >= HIGH_WATER
                && !self.awaiting_separator());
        if want == self.reading.get() {
            return;
        }
        // SAFETY: the stream is open (not `done`, or we only stop).
        let rc = unsafe {
            if want { uv::uv_read_start(self.raw(), Some(on_alloc), Some(on_read)) } else { uv::uv_read_stop(self.raw()) }
        };
        self.reading.set(want && rc == 0);
    }

    fn set_mode(&self, mode: Mode) {
        self.mode.set(mode);
        self.update_reading();
    }

    /// Moves the idle deadline to `idle_ms` from now: called on every read
    /// and write. The timer is started only if it is stopped or due after
    /// the new deadline (a shorter timeout was set).
    fn touch(&self) {
        let timer = self.idle_timer.get();
        let ms = self.idle_ms.get();
        if timer.is_null() || ms == 0 {
            return;
        }
        // SAFETY: the timer is open while the stream is (see release_timer);
        // its loop is the stream's.
        let now = unsafe { uv::uv_now((*timer).loop_) };
        let deadline = now.saturating_add(ms);
        self.idle_deadline.set(deadline);
        let due = self.timer_due.get();
        if due == 0 || due > deadline {
            self.start_timer(timer, ms, deadline);
        }
    }

    fn start_timer(&self, timer: *mut uv::uv_timer_t, ms: u64, due: u64) {
        // SAFETY: the timer is open while the stream is (see release_timer).
        unsafe { uv::uv_timer_start(timer, Some(on_idle), ms, 0) };
        self.timer_due.set(due);
    }

    /// The idle timer fired: whether the stream has really been idle for
    /// `idle_ms`; if not, the timer is restarted for the time left.
    fn idle_expired(&self, timer: *mut uv::uv_timer_t) -> bool {
        self.timer_due.set(0);
        if self.idle_ms.get() == 0 || timer != self.idle_timer.get() {
            return false;
        }
        // SAFETY: the timer is open (it just fired); its loop is the stream's.
        let now = unsafe { uv::uv_now((*timer).loop_) };
        let deadline = self.idle_deadline.get();
        if now < deadline {
            self.start_timer(timer, deadline - now, deadline);
            return false;
        }
        true
    }

    fn release_timer(&self) {
        let timer = self.idle_timer.replace(std::ptr::null_mut());
        if !timer.is_null() {
            // SAFETY: the timer was made by `set_idle_timeout` and is closed
            // once; `free_timer` frees it.
            unsafe { uv::uv_close(timer as *mut uv::uv_handle_t, Some(free_timer)) };
        }
    }

    /// The registry reference of the stream's Lua object, for the raw hot
    /// paths of the protocols built on it (http_server.rs).
    pub(crate) fn object_ref(&self) -> c_int {
        self.tie.object_ref()
    }

    /// `pause()` / `resume()`, for the protocols built on streams in Rust.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.set(paused);
        self.update_reading();
    }

    /// Whether Lua reads this stream (a data handler or fiber reads were
    /// set up): process.rs closes a child's unread pipes once it exits.
    pub fn has_reader(&self) -> bool {
        self.mode.get() != Mode::Idle
    }

    /// Closes at once, dropping queued writes (their callbacks get
    /// ECANCELED). Public for process.rs (a child's stdin, once it has
    /// exited) and http_server.rs.
    pub fn destroy(&self) {
        self.release_timer();
        self.reading.set(false);
        self.tie.close();
    }

    /// Closes after the queued writes are sent: a shutdown, then the close.
    /// Also for Rust-level users (http_server.rs).
    pub(crate) fn close_gracefully(&self) {
        if self.done() {
            return;
        }
        if self.connecting.get() {
            return self.destroy();
        }
        self.shutting.set(true);
        self.update_reading();
        self.release_timer();
        self.shutdown();
    }

    fn shutdown(&self) {
        let started = Request::<uv::uv_shutdown_t, ()>::start((), |req| {
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
            if !emit(object, &ON_ERR, message.as_str())? && !handled {
                eprintln!("async: {} error: {message}", self.tie.kind());
            }
        }
        wake(object)
    }

    /// The peer finished: tell the consumer and Lua, then close (flushing
    /// our writes).
    fn finish_end(&self, lua: &Lua, object: &Table) -> Result<()> {
        if self.done() {
            return Ok(());
        }
        self.close_gracefully();
        if let Some(consumer) = self.consumer() {
            consumer.end(lua)?;
        }
        emit(object, &ON_END, ())?;
        wake(object)
    }

    /// Fails the stream because its separator reader's piece grew past the
    /// limit.
    fn fail_too_long(&self, lua: &Lua, object: &Table) -> Result<()> {
        self.fail(lua, object, line_too_long(self.max_line()))
    }

    /// New bytes from the peer, delivered as the mode says.
    fn deliver(&self, lua: &Lua, object: &Table, bytes: &[u8]) -> Result<()> {
        match self.mode.get() {
            Mode::Idle => Ok(()),
            Mode::Consumer => self.deliver_to_consumer(lua, bytes),
            Mode::Strings => self.deliver_string(lua, bytes),
            Mode::Buffers => {
                let buffer = Buffer::lend(lua, bytes)?;
                let outcome = emit(object, &ON_DATA, &buffer);
                Buffer::release(&buffer)?;
                outcome.map(drop)
            }
            Mode::Split => {
                self.buffers().inbox.push(bytes);
                self.deliver_pieces(lua, object)
            }
            Mode::SplitWith => {
                let mut joined = self.buffers().inbox.take_all();
                joined.extend_from_slice(bytes);
                self.deliver_split_with(lua, object, joined)
            }
            Mode::Fiber | Mode::FiberRaw => {
                self.buffers().inbox.push(bytes);
                self.update_reading();
                wake(object)
            }
        }
    }

    fn deliver_to_consumer(&self, lua: &Lua, bytes: &[u8]) -> Result<()> {
        match self.consumer() {
            Some(consumer) => consumer.data(lua, bytes),
            None => Ok(()),
        }
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

    /// The hot path of `ondata`: the Lua C API straight, no mlua values.
    fn deliver_string(&self, lua: &Lua, bytes: &[u8]) -> Result<()> {
        lua_raw::call_handler(lua, self.tie.object_ref(), &ON_DATA, 1, |state, _| {
            // SAFETY: call_handler made room for this one value.
            unsafe { ffi::lua_pushlstring(state, bytes.as_ptr() as *const _, bytes.len()) };
            1
        })
    }

    fn deliver_pieces(&self, lua: &Lua, object: &Table) -> Result<()> {
        let limit = self.max_line();
        while !self.done() && self.mode.get() == Mode::Split {
            let piece = {
                let mut buffers = self.buffers();
                let Buffers { inbox, separator, .. } = &mut *buffers;
                match inbox.next_bounded(separator, limit) {
                    Ok(Some(piece)) => lua.create_string(piece)?,
                    Ok(None) => return Ok(()),
                    Err(TooLong) => {
                        drop(buffers);
                        return self.fail_too_long(lua, object);
                    }
                }
            };
            emit(object, &ON_DATA, piece)?;
        }
        Ok(())
    }

    fn deliver_split_with(&self, lua: &Lua, object: &Table, joined: Vec<u8>) -> Result<()> {
        let Some(split) = object.raw_get::<Option<Function>>(SPLITTER.value())? else { return Ok(()) };
        let (pieces, rest): (Option<Table>, Option<LuaString>) = split.call(lua.create_string(&joined)?)?;
        if let Some(rest) = rest {
            if rest.as_bytes().len() > self.max_line() {
                return self.fail_too_long(lua, object);
            }
            self.buffers().inbox.push(&rest.as_bytes());
        }
        for piece in pieces.iter().flat_map(|t| t.sequence_values::<Value>()) {
            if self.done() || self.mode.get() != Mode::SplitWith {
                break;
            }
            emit(object, &ON_DATA, piece?)?;
        }
        Ok(())
    }

    /// End of stream: what is still buffered goes out first.
    fn end_of_stream(&self, lua: &Lua, object: &Table) -> Result<()> {
        self.ended.set(true);
        self.update_reading();
        match self.mode.get() {
            Mode::Fiber | Mode::FiberRaw if self.inbox_len() > 0 => wake(object),
            Mode::Split | Mode::SplitWith => {
                let rest = self.buffers().inbox.take_all();
                if !rest.is_empty() && !self.done() {
                    emit(object, &ON_DATA, lua.create_string(&rest)?)?;
                }
                self.finish_end(lua, object)
            }
            _ => self.finish_end(lua, object),
        }
    }

    /// Queues a write with libuv; its completion is `on_written`.
    fn queue_write(&self, lua: &Lua, written: Written) -> Result<()> {
        let buf = uv::uv_buf_t { base: written.bytes.as_ptr() as *mut _, len: written.bytes.len() };
        let started = Request::<uv::uv_write_t, Written>::start(written, |req| {
            // SAFETY: the stream is open; the bytes live in the request,
            // which libuv keeps until `on_written`.
            unsafe { uv::uv_write(req, self.raw(), &buf, 1, Some(on_written)) }
        });
        if let Err((rc, written)) = started {
            // Reported on the next turn, not inside the caller's write().
            let message = uv_message(rc, None);
            if let Some(callback) = written.callback {
                Runtime::call_later(lua, callback.into_function(lua)?, message.clone())?;
            }
            if let Some(object) = self.tie.object(lua)? {
                let report = boundary::internal(lua, move |lua, object: Table| {
                    match uv_handle::state_of::<Stream>(&object)? {
                        Some(stream) => stream.fail(lua, &object, message.clone()),
                        None => Ok(()),
                    }
                })?;
                Runtime::call_later(lua, report, object)?;
            }
        }
        Ok(())
    }

    /// Bytes waiting to be written.
    fn queued(&self) -> usize {
        let early: usize = self.buffers.borrow().as_ref().map_or(0, |b| b.early_writes.iter().map(|w| w.bytes.len()).sum());
        if self.tie.closing() {
            return early;
        }
        // SAFETY: the stream is open.
        early + unsafe { uv::uv_stream_get_write_queue_size(self.raw()) }
    }

    /// `write`: try at once, queue the rest; true while under the mark.
    /// Also for Rust-level users (http_server.rs writes a response's pieces
    /// in one vectored write without making Lua strings of them). On a
    /// closing stream it writes nothing and returns false; the callback
    /// gets the error on the next turn.
    pub(crate) fn write(&self, lua: &Lua, pieces: &[&[u8]], callback: Option<Function>) -> Result<bool> {
        if self.done() {
            if let Some(callback) = callback {
                Runtime::call_later(lua, callback, closed_message())?;
            }
            return Ok(false);
        }
        let sent = if callback.is_none() { self.try_now(pieces) } else { 0 };
        self.write_rest(lua, pieces, sent, callback)
    }

    /// Writes what the socket takes without blocking, if nothing is queued
    /// before it; returns the bytes sent.
    fn try_now(&self, pieces: &[&[u8]]) -> usize {
        if self.done() || self.connecting.get() || self.queued() != 0 {
            return 0;
        }
        let buf = |p: &&[u8]| uv::uv_buf_t { base: p.as_ptr() as *mut _, len: p.len() };
        // SAFETY: the stream is open; the bufs point at bytes that outlive
        // this call, and try_write keeps no pointer to them.
        let rc = unsafe {
            if let [piece] = pieces {
                uv::uv_try_write(self.raw(), &buf(piece), 1)
            } else {
                let bufs: Vec<uv::uv_buf_t> = pieces.iter().map(buf).collect();
                uv::uv_try_write(self.raw(), bufs.as_ptr(), bufs.len() as _)
            }
        };
        // An error other than EAGAIN is left to uv_write to report.
        rc.max(0) as usize
    }

    /// Queues what `try_now` did not send (from byte `sent` of `pieces`).
    fn write_rest(&self, lua: &Lua, pieces: &[&[u8]], sent: usize, callback: Option<Function>) -> Result<bool> {
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        self.touch();
        if sent < total || callback.is_some() {
            let mut rest = Vec::with_capacity(total - sent);
            let mut skip = sent;
            for piece in pieces {
                let from = skip.min(piece.len());
                skip -= from;
                rest.extend_from_slice(&piece[from..]);
            }
            let callback = callback.map(|f| Callback::new(lua, f)).transpose()?;
            let written = Written { bytes: rest, callback };
            if self.connecting.get() {
                self.buffers().early_writes.push(written);
            } else {
                self.queue_write(lua, written)?;
            }
        }
        let under = self.queued() < HIGH_WATER;
        if !under {
            self.want_drain.set(true);
        }
        Ok(under)
    }

    /// `setTimeout(ms)` without touching the callback: also for Rust-level
    /// users (http_server.rs switches between header and idle timeouts).
    pub(crate) fn set_idle_timeout(&self, ms: u64) -> Result<()> {
        self.idle_ms.set(ms);
        if self.idle_timer.get().is_null() && ms > 0 && !self.done() {
            // SAFETY: zeroed memory is valid input to uv_timer_init; the
            // timer is freed by `free_timer` after `release_timer` closes it,
            // which happens whenever the stream starts closing.
            let timer = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<uv::uv_timer_t>() }));
            // SAFETY: the stream's loop is initialised; `timer` is fresh.
            unsafe {
                uv::uv_timer_init((*self.tie.handle()).loop_, timer);
                (*timer).data = self as *const Stream as *mut c_void;
            }
            self.idle_timer.set(timer);
        }
        let timer = self.idle_timer.get();
        if !timer.is_null() {
            if ms > 0 {
                self.touch();
            } else {
                // SAFETY: the timer is open (see release_timer).
                unsafe { uv::uv_timer_stop(timer) };
                self.timer_due.set(0);
            }
        }
        Ok(())
    }

    /// The fiber-read primitive: the next chunk (`separator` None) or
    /// piece; `Some(None)` at the end; None when the caller must wait.
    fn take(&self, lua: &Lua, object: &Table, separator: Option<&[u8]>) -> Result<Option<Option<Value>>> {
        if !matches!(self.mode.get(), Mode::Fiber | Mode::FiberRaw) {
            self.set_mode(Mode::Fiber);
        }
        let limit = self.max_line();
        let piece = {
            let mut buffers = self.buffers();
            let Buffers { inbox, awaiting_separator, .. } = &mut *buffers;
            *awaiting_separator = false;
            match separator {
                None if !inbox.is_empty() => Some(inbox.take_all()),
                None => None,
                Some(separator) => match inbox.next_bounded(separator, limit).map(|p| p.map(<[u8]>::to_vec)) {
                    Ok(Some(piece)) => Some(piece),
                    Ok(None) if self.ended.get() && !inbox.is_empty() => Some(inbox.take_all()),
                    Ok(None) => {
                        *awaiting_separator = true;
                        None
                    }
                    Err(TooLong) => {
                        drop(buffers);
                        self.fail_too_long(lua, object)?;
                        return Ok(Some(None));
                    }
                },
            }
        };
        self.update_reading();
        if let Some(piece) = piece {
            if self.ended.get() && self.inbox_len() == 0 {
                self.finish_end(lua, object)?;
            }
            let value = if self.mode.get() == Mode::FiberRaw {
                Value::UserData(Buffer::own(lua, piece)?)
            } else {
                Value::String(lua.create_string(&piece)?)
            };
            return Ok(Some(Some(value)));
        }
        if self.ended.get() {
            self.finish_end(lua, object)?;
            return Ok(Some(None));
        }
        Ok(None)
    }
}

/// Resumes the fiber waiting in `read()` on this stream, if any.
fn wake(object: &Table) -> Result<()> {
    let waiter: Option<Function> = object.raw_get(WAITER.value())?;
    if let Some(waiter) = waiter {
        object.raw_set(WAITER.value(), Value::Nil)?;
        waiter.call::<()>(())?;
    }
    Ok(())
}

extern "C" fn on_alloc(handle: *mut uv::uv_handle_t, _suggested: usize, buf: *mut uv::uv_buf_t) {
    // SAFETY: the handle's loop is a runtime's; `buf` is libuv's to fill.
    unsafe { *buf = Runtime::from_loop((*handle).loop_).read_buffer() };
}

extern "C" fn on_read(raw: *mut uv::uv_stream_t, nread: isize, buf: *const uv::uv_buf_t) {
    // SAFETY: reading was started on an open stream made by `uv_handle::open`
    // with a `Stream` state; libuv stops reading before the close callback.
    let stream = unsafe { uv_handle::state_from::<Stream>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    if nread == 0 {
        return;
    }
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        if nread > 0 {
            stream.touch();
            // SAFETY: libuv filled `nread` bytes of the buffer from on_alloc,
            // which nothing else uses until this callback returns.
            let bytes = unsafe { std::slice::from_raw_parts((*buf).base as *const u8, nread as usize) };
            match stream.mode.get() {
                Mode::Strings => return stream.deliver_string(&lua, bytes),
                Mode::Consumer => return stream.deliver_to_consumer(&lua, bytes),
                _ => {}
            }
            let Some(object) = stream.tie.object(&lua)? else { return Ok(()) };
            return stream.deliver(&lua, &object, bytes);
        }
        let Some(object) = stream.tie.object(&lua)? else { return Ok(()) };
        if nread == uv::uv_errno_t_UV_EOF as isize {
            stream.end_of_stream(&lua, &object)
        } else {
            stream.fail(&lua, &object, uv_message(nread as c_int, None))
        }
    });
}

extern "C" fn on_written(req: *mut uv::uv_write_t, status: c_int) {
    // SAFETY: started by `queue_write`; this is its completion.
    let request = unsafe { Request::<uv::uv_write_t, Written>::finish(req) };
    let raw = request.raw().handle;
    // SAFETY: libuv completes a stream's writes before its close callback,
    // so the stream and its state are still there.
    let stream = unsafe { uv_handle::state_from::<Stream>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let Written { callback, .. } = request.state;
    let message = (status < 0).then(|| uv_message(status, None));
    if let Some(callback) = callback {
        let message = message.clone();
        if !callback.call(rt, |_| Ok(message)) {
            return;
        }
    }
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        let Some(object) = stream.tie.object(&lua)? else { return Ok(()) };
        if let Some(message) = message {
            if status != uv::uv_errno_t_UV_ECANCELED {
                stream.fail(&lua, &object, message)?;
            }
            return Ok(());
        }
        if stream.want_drain.get() && !stream.done() && stream.queued() == 0 {
            stream.want_drain.set(false);
            if let Some(consumer) = stream.consumer() {
                consumer.drain(&lua)?;
            }
            emit(&object, &ON_DRAIN, ())?;
        }
        Ok(())
    });
}

extern "C" fn on_shutdown(req: *mut uv::uv_shutdown_t, _status: c_int) {
    // SAFETY: started by `shutdown`; this is its completion.
    let request = unsafe { Request::<uv::uv_shutdown_t, ()>::finish(req) };
    // SAFETY: a shutdown completes before its stream's close callback.
    let stream = unsafe { uv_handle::state_from::<Stream>(request.raw().handle as *const uv::uv_handle_t) };
    stream.destroy();
}

extern "C" fn on_idle(timer: *mut uv::uv_timer_t) {
    // SAFETY: `data` is the stream that owns the timer; the timer is closed
    // (and so never fires) before the stream is freed.
    let stream = unsafe { &*((*timer).data as *const Stream) };
    if !stream.idle_expired(timer) {
        return;
    }
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*timer).loop_) };
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        if let Some(consumer) = stream.consumer() {
            consumer.timeout(&lua)?;
        }
        match stream.tie.object(&lua)? {
            Some(object) if !stream.tie.closing() => emit(&object, &ON_TIMEOUT, &object).map(drop),
            _ => Ok(()),
        }
    });
}

extern "C" fn free_timer(handle: *mut uv::uv_handle_t) {
    // SAFETY: the timer was boxed by `set_idle_timeout` and is closed now.
    drop(unsafe { Box::from_raw(handle as *mut uv::uv_timer_t) });
}

// ---- methods ----

/// The stream of a method call, or None once it is closed.
fn this_stream(args: &Args) -> Result<(Table, Option<&'static Stream>)> {
    let this = args.this()?;
    let stream = uv_handle::state_of::<Stream>(&this)?.map(|s| {
        // SAFETY: see uv_handle::state_of; the reference is used only
        // during this method call.
        unsafe { &*(s as *const Stream) }
    });
    Ok((this, stream))
}

fn nothing() -> Result<MultiValue> {
    Ok(MultiValue::new())
}

/// `h.ondata(cb)` and its siblings: keep `cb`, then switch mode.
fn set_reader(args: &Args, mode: Mode) -> Result<MultiValue> {
    let (this, stream) = this_stream(args)?;
    this.raw_set(ON_DATA.value(), args.function(1)?)?;
    if let Some(stream) = stream {
        stream.set_mode(mode);
    }
    nothing()
}

fn ondata(_: &Lua, args: Args) -> Result<MultiValue> {
    set_reader(&args, Mode::Strings)
}

fn onrawdata(_: &Lua, args: Args) -> Result<MultiValue> {
    set_reader(&args, Mode::Buffers)
}

fn onsplitdata(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (this, stream) = this_stream(&args)?;
    let callback = args.function(2)?;
    let mode = match args.get(1) {
        Value::Function(split) => {
            this.raw_set(SPLITTER.value(), split)?;
            Mode::SplitWith
        }
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            let separator = args.string(1)?;
            if separator.as_bytes().is_empty() {
                return boundary::fail("onsplitdata: the separator must not be empty");
            }
            if let Some(stream) = stream {
                stream.buffers().separator = separator.as_bytes().to_vec();
            }
            Mode::Split
        }
        _ => return args.bad(1, "string or function"),
    };
    this.raw_set(ON_DATA.value(), callback)?;
    if let Some(stream) = stream {
        stream.set_mode(mode);
        // Pieces already buffered (by fiber reads before) go out now.
        if mode == Mode::Split && stream.inbox_len() > 0 {
            stream.deliver_pieces(lua, &this)?;
        }
    }
    nothing()
}

fn set_handler(args: &Args, anchor: &'static PrivateKey) -> Result<MultiValue> {
    let this = args.this()?;
    this.raw_set(anchor.value(), args.opt_function(1)?)?;
    nothing()
}

fn onend(_: &Lua, args: Args) -> Result<MultiValue> {
    set_handler(&args, &ON_END)
}

fn onerr(_: &Lua, args: Args) -> Result<MultiValue> {
    set_handler(&args, &ON_ERR)
}

fn onclose(_: &Lua, args: Args) -> Result<MultiValue> {
    uv_handle::set_onclose(&args.this()?, args.opt_function(1)?)?;
    nothing()
}

fn ondrain(_: &Lua, args: Args) -> Result<MultiValue> {
    set_handler(&args, &ON_DRAIN)
}

/// A write's data: a string, a buffer, or an array of them.
enum Piece {
    Text(LuaString),
    Raw(AnyUserData),
}

/// Past this many pieces an array is joined into one buffer as it is read:
/// holding every piece as an mlua value would use up mlua's few thousand
/// slots for values held by Rust (a write of 100,000 strings failed so).
pub(crate) const MAX_HELD_PIECES: usize = 256;

/// A write's data as read from its argument.
enum Data {
    Pieces(Vec<Piece>),
    Joined(Vec<u8>),
}

fn pieces_of(args: &Args) -> Result<Data> {
    let piece = |value: Value| -> Option<Piece> {
        match value {
            Value::String(s) => Some(Piece::Text(s)),
            Value::UserData(u) if u.is::<Buffer>() => Some(Piece::Raw(u)),
            _ => None,
        }
    };
    match args.get(1) {
        Value::Table(list) if list.raw_len() > MAX_HELD_PIECES => {
            let mut joined = Vec::new();
            for value in list.sequence_values::<Value>() {
                match piece(value?) {
                    Some(Piece::Text(s)) => joined.extend_from_slice(&s.as_bytes()),
                    Some(Piece::Raw(u)) => joined.extend_from_slice(u.borrow::<Buffer>()?.bytes()?),
                    None => return args.bad(1, "array of strings"),
                }
            }
            Ok(Data::Joined(joined))
        }
        Value::Table(list) => {
            let mut pieces = Vec::with_capacity(list.raw_len());
            for value in list.sequence_values::<Value>() {
                match piece(value?) {
                    Some(p) => pieces.push(p),
                    None => return args.bad(1, "array of strings"),
                }
            }
            Ok(Data::Pieces(pieces))
        }
        Value::Integer(_) | Value::Number(_) => Ok(Data::Pieces(vec![Piece::Text(args.string(1)?)])),
        other => match piece(other) {
            Some(p) => Ok(Data::Pieces(vec![p])),
            None => args.bad(1, "string, buffer or array of strings"),
        },
    }
}

fn write(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    let pieces = pieces_of(&args)?;
    let callback = args.opt_function(2)?;
    // A closing stream is Stream::write's to answer; a closed one has no
    // state left.
    let Some(stream) = stream else {
        if let Some(callback) = callback {
            Runtime::call_later(lua, callback, closed_message())?;
        }
        return false.into_lua_multi(lua);
    };
    let pieces = match pieces {
        Data::Joined(bytes) => return stream.write(lua, &[&bytes], callback)?.into_lua_multi(lua),
        Data::Pieces(pieces) => pieces,
    };
    // The pieces' bytes, borrowed for the call.
    enum Held {
        Text(BorrowedBytes),
        Raw(mlua::UserDataRef<Buffer>),
    }
    let held = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(s) => Ok(Held::Text(s.as_bytes())),
            Piece::Raw(u) => Ok(Held::Raw(u.borrow::<Buffer>()?)),
        })
        .collect::<Result<Vec<Held>>>()?;
    let slices = held
        .iter()
        .map(|held| match held {
            Held::Text(bytes) => Ok(&bytes[..]),
            Held::Raw(buffer) => buffer.bytes(),
        })
        .collect::<Result<Vec<&[u8]>>>()?;
    stream.write(lua, &slices, callback)?.into_lua_multi(lua)
}

fn close(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (this, stream) = this_stream(&args)?;
    if let Some(callback) = args.opt_function(1)? {
        uv_handle::when_closed(lua, &this, callback)?;
    }
    if let Some(stream) = stream {
        stream.close_gracefully();
    }
    nothing()
}

fn destroy(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.destroy();
    }
    nothing()
}

fn sync(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_mode(Mode::Fiber);
    }
    nothing()
}

fn syncraw(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_mode(Mode::FiberRaw);
    }
    nothing()
}

fn pause(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_paused(true);
    }
    nothing()
}

fn resume(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_paused(false);
    }
    nothing()
}

/// `h.setMaxLineSize(bytes)`: the longest piece `onsplitdata`, `readsplit`
/// and `readline` wait for (16 MiB by default); a longer one fails the
/// stream with "line too long".
fn set_max_line_size(_: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    let bytes = args.number(1)?;
    if bytes.is_nan() || bytes < 1.0 {
        return args.bad(1, "positive number");
    }
    if let Some(stream) = stream {
        stream.set_max_line(bytes.min(usize::MAX as f64) as usize);
    }
    nothing()
}

fn write_queue_size(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    stream.map_or(0, |s| s.queued()).into_lua_multi(lua)
}

/// `h.setTimeout(ms, cb)`: `cb(h)` after `ms` without reads or writes;
/// `setTimeout(0)` turns it off. The stream stays open: `cb` decides.
fn set_timeout(_: &Lua, args: Args) -> Result<MultiValue> {
    let (this, stream) = this_stream(&args)?;
    let ms = args.number(1)?;
    if !(ms >= 0.0 && ms.is_finite()) {
        return args.bad(1, "non-negative number");
    }
    if let Some(callback) = args.opt_function(2)? {
        this.raw_set(ON_TIMEOUT.value(), callback)?;
    }
    if let Some(stream) = stream {
        stream.set_idle_timeout(ms as u64)?;
    }
    nothing()
}

/// The fiber-read primitive for stream.lua: `piece`, `nil, err` at the
/// end, or `false` when the fiber must wait.
fn take(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.table(1)?;
    let separator = args.opt_string(2)?;
    let separator = separator.as_ref().map(|s| s.as_bytes());
    if separator.as_ref().is_some_and(|s| s.is_empty()) {
        return boundary::fail("readsplit: the separator must not be empty");
    }
    let Some(stream) = uv_handle::state_of::<Stream>(&this)? else {
        return (Value::Nil, this.raw_get::<Value>(FAILURE.value())?).into_lua_multi(lua);
    };
    match stream.take(lua, &this, separator.as_deref())? {
        Some(Some(piece)) => piece.into_lua_multi(lua),
        Some(None) => (Value::Nil, this.raw_get::<Value>(FAILURE.value())?).into_lua_multi(lua),
        None => false.into_lua_multi(lua),
    }
}

/// Registers `wake` to be called when data, the end, or an error arrives.
fn park(_: &Lua, args: Args) -> Result<()> {
    let this = args.table(1)?;
    if this.raw_get::<Value>(WAITER.value())? != Value::Nil {
        return boundary::fail("read: another fiber is already reading this stream");
    }
    this.raw_set(WAITER.value(), args.function(2)?)
}

/// `write` on its hot path, against the Lua C API: one string, no
/// callback, nothing queued. A reply written from `ondata` is then one
/// try_write and no mlua call at all. Anything else, and the rest of a
/// partial write, goes to the general method (upvalue 1).
unsafe extern "C-unwind" fn write_fast(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the whole block runs only in the bound form made by
    // `boundary::bind` (upvalue 1 the general method, upvalue 2 the handle
    // object), with the caller's arguments; a state pointer comes only from
    // a live token of a stream (see uv_handle::token_state).
    // A Lua error (only out-of-memory here, or one raised by call_bound)
    // unwinds through a frame that owns nothing.
    unsafe {
        let object = ffi::lua_upvalueindex(2);
        let simple = ffi::lua_gettop(state) == 1
            && ffi::lua_type(state, 1) == ffi::LUA_TSTRING
            && ffi::lua_type(state, object) == ffi::LUA_TTABLE;
        if simple {
            ffi::lua_pushlightuserdata(state, crate::core::class::STATE.pointer());
            ffi::lua_rawget(state, object);
            let stream = uv_handle::token_state::<Stream>(state, -1);
            ffi::lua_pop(state, 1);
            if let Some(stream) = stream.as_ref().filter(|s| !s.done()) {
                let mut len = 0;
                let data = ffi::lua_tolstring(state, 1, &mut len) as *const u8;
                let bytes = std::slice::from_raw_parts(data, len);
                let sent = stream.try_now(&[bytes]);
                let under = if sent == len {
                    stream.touch();
                    Some(stream.queued() < HIGH_WATER)
                } else {
                    let rt = Runtime::from_loop((*stream.tie.handle()).loop_);
                    rt.lua().and_then(|lua| stream.write_rest(&lua, &[bytes], sent, None).ok())
                };
                if let Some(under) = under {
                    ffi::lua_pushboolean(state, under as c_int);
                    return 1;
                }
            }
        }
        boundary::call_bound(state)
    }
}

/// The stream methods every kind of stream has.
pub static METHODS: &[(&str, Method)] = &[
    ("ondata", ondata),
    ("onrawdata", onrawdata),
    ("onsplitdata", onsplitdata),
    ("onend", onend),
    ("onerr", onerr),
    ("onclose", onclose),
    ("ondrain", ondrain),
    ("close", close),
    ("destroy", destroy),
    ("sync", sync),
    ("syncraw", syncraw),
    ("pause", pause),
    ("resume", resume),
    ("writeQueueSize", write_queue_size),
    ("setTimeout", set_timeout),
    ("setMaxLineSize", set_max_line_size),
];

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

/// The methods this layer makes itself: `read`, `readsplit`, `readline`
/// (Lua, because they suspend a fiber) and `write` (a raw hot path).
pub fn lua_methods(lua: &Lua) -> Result<Table> {
    const KEY: &str = "async.stream.lua_methods";
    if let Ok(methods) = lua.named_registry_value::<Table>(KEY) {
        return Ok(methods);
    }
    // Unwrapped: stream.lua raises their errors at the reader's line.
    let take = boundary::raw_function(lua, "read", 0, take)?;
    let park = boundary::raw_function(lua, "read", 0, park)?;
    let methods: Table = lua.load(include_str!("../lua/stream.lua")).set_name("=async.stream").call((take, park))?;
    let general = boundary::raw_function(lua, "write", 1, write)?;
    methods.raw_set("write", boundary::self_binding(lua, write_fast, general)?)?;
    lua.set_named_registry_value(KEY, &methods)?;
    Ok(methods)
}

#[cfg(test)]
mod tests {
    /// Every open connection carries a `Stream` next to its uv_tcp_t: keep
    /// it small (idle connections are measured in bench/tcp).
    #[test]
    fn a_stream_state_stays_small() {
        assert!(std::mem::size_of::<super::Stream>() <= 168, "Stream is {} bytes", std::mem::size_of::<super::Stream>());
    }
}
