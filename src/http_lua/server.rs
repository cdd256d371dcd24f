//! `http.listen`: the HTTP server over the HTTP/1.1 core in `http/`.
//!
//! A server is a TCP server (tcp.rs) whose connections each own a
//! `ServerConn`: a `RequestParser` fed by the socket's `ondata`, and the queue
//! of responses still owed, in request order. A connection hands the
//! handler one request at a time: the next pipelined request waits (and
//! reading pauses once one is parsed) until the response before it is
//! written. So whatever the handler writes on the client itself after its
//! `res` follows that response's head on the wire, and a response the
//! handler frames itself (`Transfer-Encoding: chunked`, `ChunkedBody::ByCaller`)
//! can hand the connection over to it: the server then writes nothing more
//! on it, takes no further request (bytes that arrive are dropped, so that
//! the peer's close is still seen), runs no timer on it, and leaves it open
//! for the handler to close, also when the server closes. A response is
//! serialized by the core and handed to the stream as one vectored write
//! (`Stream::write`), without Lua strings of its framing.
//!
//! A `res` that raises for its arguments (a header name or value outside
//! the grammar, a raw line with CR or LF, a bad status, a 1xx included)
//! still answers: the request gets `500` and the connection closes, so no
//! client waits on an answer that will not come, and nothing the handler
//! writes on the client afterwards can pass for a response.
//!
//! Timeouts use the stream's idle timer: `keepAliveTimeout` between
//! requests (the connection is closed quietly), `headersTimeout` from the
//! first byte of a request to the end of its headers (checked against a
//! deadline on every read, so that a trickle of bytes does not extend it)
//! and as the longest silence inside a body (answered `408`). While the
//! handler owes a response, no timer runs. Every error a peer can cause
//! (`400`, `408`, `413`, `431`, `501`, `505`) is answered and then the
//! connection, and only it, is closed.
//!
//! May touch: TCP sockets through tcp.rs and stream/; the Lua tables of
//! requests; the server's own Lua object (a close hook).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::ffi::{CStr, c_char, c_int};
use std::rc::Rc;

use mlua::{Function, Lua, LuaString, Result, Table, Value, WeakLua, ffi};
use rustc_hash::FxHashMap;

use crate::core::boundary::{self, Args};
use crate::core::lua_raw::PrivateKey;
use crate::core::lua_raw::{self, HandlerAt, bytes_at};
use crate::core::memory;
use crate::core::options::OptionTable;
use crate::core::runtime::Runtime;
use crate::core::uv_handle;
use crate::http::{
    self, CONTINUE_RESPONSE, ChunkedBody, DateCache, Event, Limits, ReplyContext, Request, RequestParser, multipart,
};
use crate::http_lua::{HeaderPairs, header_table_pairs, walk_header_table};
use crate::stream::socket_ref::SocketRef;
use crate::stream::{Consumer, Stream};

// Private keys of a connection's client object: the server's handler,
// the connection's raw `res` body, and a decoded request body on its way
// into the request table.
static HANDLER: PrivateKey = PrivateKey::new();
static RESPOND: PrivateKey = PrivateKey::new();
/// Where a client object keeps the id of its connection in `Shared::conns`.
static CONN_ID: PrivateKey = PrivateKey::new();
static DECODED: PrivateKey = PrivateKey::new();

thread_local! {
    static DATE: RefCell<DateCache> = RefCell::new(DateCache::new());
}

/// What becomes of a connection once a response is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// It carries the next request.
    Next,
    Close,
    /// The handler frames the rest of the body itself: the connection is
    /// its own (`ServerConn::hand_over`).
    HandOver,
}

/// Serializes a response into the pieces of one write and hands them to
/// `take`. A `Transfer-Encoding: chunked` body is the handler's to frame,
/// as in the original async.
fn with_response<R>(
    status: u16,
    headers: &[(&[u8], &[u8])],
    body: &[&[u8]],
    context: ReplyContext,
    take: impl FnOnce(&[&[u8]], After) -> R,
) -> std::result::Result<R, http::InvalidMessage> {
    // The date is borrowed only while the response is serialized: `take`
    // writes, which can run Lua code (a finalizer) that answers too.
    let reply = DATE.with(|date| {
        http::serialize_response_with(status, headers, body, context, date.borrow_mut().now(), ChunkedBody::ByCaller)
    })?;
    let pieces: Vec<&[u8]> = reply.message.pieces().iter().map(|p| &p[..]).collect();
    let after = match (reply.hand_over, reply.keep_alive) {
        (true, _) => After::HandOver,
        (false, true) => After::Next,
        (false, false) => After::Close,
    };
    Ok(take(&pieces, after))
}

/// A short plain-text answer to a request the server refuses (or whose
/// `res` failed: 500); the connection closes after it.
fn refusal(status: u16) -> Vec<u8> {
    let text = format!("{}\n", http::reason_phrase(status).unwrap_or("Error"));
    let headers: &[(&[u8], &[u8])] = &[(b"Content-Type", b"text/plain")];
    with_response(status, headers, &[text.as_bytes()], ReplyContext::closing(), |pieces, _| pieces.concat()).unwrap_or_default()
}

/// The headers of a response given none.
const DEFAULT_HEADERS: &[(&[u8], &[u8])] = &[(b"Content-Type", b"text/plain")];

/// What `http.listen`'s third argument may set.
#[derive(Clone, Copy)]
struct Options {
    limits: Limits,
    headers_timeout: u64,
    keep_alive_timeout: u64,
}

impl Options {
    fn read(table: Option<Table>) -> Result<Options> {
        let mut options = Options { limits: Limits::default(), headers_timeout: 60_000, keep_alive_timeout: 5_000 };
        let table = OptionTable::new(table.as_ref(), "listen");
        let number = |name: &str| table.non_negative(name);
        if let Some(n) = number("maxBodySize")? {
            // The body becomes one Lua string: a larger limit would let a
            // peer make the server raise inside the loop.
            if n > lua_raw::MAX_STRING_BYTES as f64 {
                return boundary::fail(format!(
                    "listen: maxBodySize must be at most {} (the longest string LuaJIT can hold)",
                    lua_raw::MAX_STRING_BYTES
                ));
            }
            options.limits.max_body_bytes = n as u64;
        }
        if let Some(n) = number("maxHeaderSize")? {
            options.limits.max_header_bytes = n as usize;
        }
        if let Some(n) = number("headersTimeout")? {
            options.headers_timeout = n as u64;
        }
        if let Some(n) = number("keepAliveTimeout")? {
            options.keep_alive_timeout = n as u64;
        }
        Ok(options)
    }
}

/// What the connections of one server share.
struct Shared {
    handler: Function,
    /// The raw `res` of every connection of this server (see
    /// `respond_function`), one function so that LuaJIT's traces through
    /// `res` hold for every connection.
    respond: OnceCell<Function>,
    json_decode: Function,
    options: Options,
    conns: RefCell<FxHashMap<u64, Rc<ServerConn>>>,
    next_conn: Cell<u64>,
    /// The server was closed: connections close once nothing is owed.
    closed: Cell<bool>,
    /// For `respond_fast`, which Lua calls with nothing but the state.
    lua: WeakLua,
}

/// A response owed, in request order.
enum ResponseSlot {
    /// The handler has not called `res` yet; how to frame its answer.
    Owed(ReplyContext),
    /// Serialized, waiting for the responses before it.
    Ready { bytes: Vec<u8>, after: After },
}

struct ServerConn {
    id: u64,
    shared: Rc<Shared>,
    /// The socket, until it is closed.
    socket: SocketRef,
    parser: RefCell<RequestParser>,
    slots: RefCell<VecDeque<ResponseSlot>>,
    /// The number of the request whose response is `slots[0]`.
    first_slot: Cell<u64>,
    /// No more requests are taken: an error, a closing response, a close,
    /// a hand-over.
    stopped: Cell<bool>,
    /// The request whose `res` raised (it got 500): its later `res` calls
    /// do nothing.
    failed: Cell<Option<u64>>,
    /// The handler frames the body of the last response itself and owns
    /// the connection (see `hand_over`).
    handed_over: Cell<bool>,
    /// When the request whose header block is being read began.
    header_started: Cell<Option<u64>>,
    /// Reading is paused (`pause()` on the socket).
    paused: Cell<bool>,
    /// The peer does not read its responses fast enough: the stream's
    /// write queue is past its mark, until `ondrain`.
    backed_up: Cell<bool>,
    /// `pump` is running (see there).
    pumping: Cell<bool>,
}

impl ServerConn {
    fn write(&self, lua: &Lua, pieces: &[&[u8]]) -> Result<()> {
        let under = self.socket.with_stream(|stream| stream.write(lua, pieces, None))?.transpose()?;
        if under == Some(false) {
            self.backed_up.set(true);
        }
        Ok(())
    }

    /// Reads while no parsed request waits for its turn and the peer takes
    /// the responses in: a peer that pipelines without reading holds only
    /// its own connection's buffers.
    fn update_reading(&self) -> Result<()> {
        let (waiting, upgraded) = {
            let parser = self.parser.borrow();
            (!self.slots.borrow().is_empty() && parser.has_events(), parser.is_upgraded())
        };
        // After an upgrade or CONNECT, what the peer sends belongs to
        // another protocol: left in the socket, it costs nothing, unless the
        // handler reads it (`client.ondata`, taking the data over).
        let unread = upgraded && self.socket.with_stream(Stream::reads_for_consumer)?.unwrap_or(false);
        let hold = self.backed_up.get() || waiting || unread;
        if hold != self.paused.get() && !self.stopped.get() {
            self.paused.set(hold);
            // The stream itself, never a method the user may have replaced.
            self.socket.with_stream(|stream| stream.set_paused(hold))?;
        }
        Ok(())
    }

    /// The write queue drained.
    fn on_drain(self: &Rc<Self>, lua: &Lua) -> Result<()> {
        self.backed_up.set(false);
        self.update_reading()?;
        self.pump(lua)?;
        self.update_timer(Runtime::of(lua)?.now())
    }

    fn close(&self) -> Result<()> {
        self.stopped.set(true);
        self.slots.borrow_mut().clear();
        self.socket.with_stream(|stream| stream.close_gracefully())?;
        Ok(())
    }

    /// Nothing owed, nothing read and not yet answered, not handed over:
    /// the connection may close without cutting anything short.
    fn is_idle(&self) -> bool {
        let parser = self.parser.borrow();
        !self.handed_over.get() && self.slots.borrow().is_empty() && parser.is_idle() && !parser.has_events()
    }

    /// A response whose body the handler frames itself went out: the
    /// connection is the handler's. Reading goes on (the bytes are
    /// dropped) so that the peer's close closes it; the server's timer is
    /// off (the handler may set `client.setTimeout` of its own).
    fn hand_over(&self) -> Result<()> {
        self.stopped.set(true);
        self.handed_over.set(true);
        self.slots.borrow_mut().clear();
        let resume = self.paused.replace(false);
        self.socket
            .with_stream(|stream| {
                if resume {
                    stream.set_paused(false);
                }
                stream.set_idle_timeout(0)
            })?
            .transpose()?;
        Ok(())
    }

    /// What a written response leaves the connection to.
    fn after_written(&self, after: After) -> Result<()> {
        match after {
            After::Next => Ok(()),
            After::Close => self.close(),
            After::HandOver => self.hand_over(),
        }
    }

    /// Queues a response that needs no handler (`100 Continue`, refusals).
    fn push_ready(&self, lua: &Lua, bytes: Vec<u8>, after: After) -> Result<()> {
        self.slots.borrow_mut().push_back(ResponseSlot::Ready { bytes, after });
        self.flush(lua)
    }

    /// Writes the ready responses at the head of the queue.
    fn flush(&self, lua: &Lua) -> Result<()> {
        loop {
            let head = {
                let mut slots = self.slots.borrow_mut();
                match slots.front() {
                    Some(ResponseSlot::Ready { .. }) => {
                        self.first_slot.set(self.first_slot.get() + 1);
                        slots.pop_front()
                    }
                    _ => None,
                }
            };
            let Some(ResponseSlot::Ready { bytes, after }) = head else { break };
            self.write(lua, &[&bytes])?;
            if after != After::Next {
                return self.after_written(after);
            }
        }
        self.after_response()
    }

    /// A response went out: close if the server is gone, resume reading
    /// if it was paused, take the next pipelined request.
    fn after_response(&self) -> Result<()> {
        if self.stopped.get() {
            return Ok(());
        }
        if self.shared.closed.get() && self.is_idle() {
            return self.close();
        }
        self.update_reading()
    }

    /// Sets the stream's idle timer for what the connection waits for.
    fn update_timer(&self, now: u64) -> Result<()> {
        let options = &self.shared.options;
        let ms = if self.stopped.get() || !self.slots.borrow().is_empty() {
            0
        } else if self.parser.borrow().is_idle() {
            options.keep_alive_timeout
        } else if let (Some(start), true) = (self.header_started.get(), options.headers_timeout > 0) {
            start.saturating_add(options.headers_timeout).saturating_sub(now).max(1)
        } else {
            options.headers_timeout
        };
        self.socket.with_stream(|stream| stream.set_idle_timeout(ms))?.transpose()?;
        Ok(())
    }

    /// Bytes from the peer.
    fn on_data(self: &Rc<Self>, lua: &Lua, bytes: &[u8]) -> Result<()> {
        if self.stopped.get() {
            return Ok(());
        }
        let now = Runtime::of(lua)?.now();
        self.parser.borrow_mut().feed(bytes);
        self.pump(lua)?;
        if self.stopped.get() {
            return Ok(());
        }
        let pending = self.parser.borrow().pending_header_bytes() > 0;
        match (pending, self.header_started.get()) {
            (false, _) => self.header_started.set(None),
            (true, None) => self.header_started.set(Some(now)),
            (true, Some(start))
                if self.shared.options.headers_timeout > 0
                    && now.saturating_sub(start) >= self.shared.options.headers_timeout =>
            {
                return self.time_out(lua);
            }
            (true, Some(_)) => {}
        }
        self.update_timer(now)
    }

    /// The idle timer ran out.
    fn time_out(&self, lua: &Lua) -> Result<()> {
        if self.stopped.get() || !self.slots.borrow().is_empty() {
            return Ok(());
        }
        self.stopped.set(true);
        if self.parser.borrow().is_idle() {
            return self.close();
        }
        self.push_ready(lua, refusal(408), After::Close)
    }

    /// Takes the requests parsed so far, one at a time: the next only once
    /// the response before it is written. Not re-entered: a `res` called
    /// inside the handler leaves the next request to the loop below, so
    /// that thousands of pipelined requests answered at once do not nest
    /// one call per request.
    fn pump(self: &Rc<Self>, lua: &Lua) -> Result<()> {
        if self.pumping.replace(true) {
            return Ok(());
        }
        let outcome = self.pump_events(lua);
        self.pumping.set(false);
        outcome
    }

    fn pump_events(self: &Rc<Self>, lua: &Lua) -> Result<()> {
        while !self.stopped.get() {
            if self.backed_up.get() || !self.slots.borrow().is_empty() {
                return self.update_reading();
            }
            let event = self.parser.borrow_mut().next_event();
            match event {
                None => return Ok(()),
                Some(Event::ContinueExpected) => self.push_ready(lua, CONTINUE_RESPONSE.to_vec(), After::Next)?,
                Some(Event::Error(error)) => {
                    self.stopped.set(true);
                    self.push_ready(lua, refusal(error.status()), After::Close)?;
                }
                Some(Event::Message(request)) => self.dispatch(lua, request)?,
            }
        }
        Ok(())
    }

    /// Hands one request to the handler: `handler(req, res, client)`,
    /// called with the Lua C API through `lua_raw::call_handler`.
    fn dispatch(self: &Rc<Self>, lua: &Lua, request: Request) -> Result<()> {
        let decoded = match decoded_body(lua, &self.shared, &request)? {
            Ok(decoded) => decoded,
            Err(status) => {
                self.stopped.set(true);
                return self.push_ready(lua, refusal(status), After::Close);
            }
        };
        let Some(object) = self.socket.with_stream(|stream| stream.object_ref())? else { return Ok(()) };
        if let Some(decoded) = &decoded
            && let Some(client) = self.socket.get()
        {
            client.raw_set(DECODED.value(), decoded)?;
        }
        let number = self.first_slot.get() + self.slots.borrow().len() as u64;
        self.slots.borrow_mut().push_back(ResponseSlot::Owed(request.reply_context()));
        let names = lower_case_names(&request);
        lua_raw::call_handler(lua, object, HandlerAt::Key(&HANDLER), 8, |state, client| {
            // SAFETY: call_handler made room for 8 values, inside its
            // protected call; pushed are the request table, `res` (a Lua
            // closure binding the client and request number to the server's
            // raw `res`, made by the boundary's binder: see
            // `register_lua_binder` on why not a C closure) and the client
            // again: the handler's three arguments.
            unsafe {
                push_request(state, &request, &names, client, decoded.is_some());
                ffi::lua_pushlightuserdata(state, boundary::LUA_BINDER.pointer());
                ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
                ffi::lua_pushlightuserdata(state, RESPOND.pointer());
                ffi::lua_rawget(state, client);
                ffi::lua_pushvalue(state, client);
                ffi::lua_pushnumber(state, number as f64);
                ffi::lua_call(state, 3, 1);
                ffi::lua_pushvalue(state, client);
            }
            3
        })
    }

    /// `res(...)` for request `number`.
    fn respond(
        self: &Rc<Self>,
        lua: &Lua,
        number: u64,
        serialize: impl FnOnce(&Self, u64, ReplyContext) -> Result<After>,
    ) -> Result<()> {
        let index = number.wrapping_sub(self.first_slot.get());
        let context = match self.slots.borrow().get(index as usize) {
            Some(ResponseSlot::Owed(context)) => *context,
            // Its `res` raised once and it got 500: later calls do nothing.
            _ if self.failed.get() == Some(number) => return Ok(()),
            Some(ResponseSlot::Ready { .. }) => return boundary::fail("res: this request was already answered"),
            None if number < self.first_slot.get() => return boundary::fail("res: this request was already answered"),
            // The connection went away; the answer has nowhere to go.
            None => return Ok(()),
        };
        let after = match serialize(self, index, context) {
            Ok(after) => after,
            Err(error) => {
                self.answer_failed(lua, number)?;
                return Err(error);
            }
        };
        if index == 0 && after != After::Next {
            return self.after_written(after);
        }
        self.flush(lua)?;
        // A response may free the way for requests held back. Inside a
        // pump (the handler answered at once), the pump's caller sets the
        // timer once it is done.
        let nested = self.pumping.get();
        self.pump(lua)?;
        if nested {
            return Ok(());
        }
        self.update_timer(Runtime::of(lua)?.now())
    }

    /// `res`'s arguments as the general path reads them (any body form,
    /// any headers table, a status), serialized by `serialize_answer`.
    fn serialize_arguments(&self, lua: &Lua, index: u64, context: ReplyContext, args: &Args) -> Result<After> {
        let texts = body_pieces(lua, args)?;
        let bytes: Vec<mlua::BorrowedBytes> = texts.iter().map(|s| s.as_bytes()).collect();
        let body: Vec<&[u8]> = bytes.iter().map(|b| &b[..]).collect();
        let given = header_pairs(args)?;
        let status = match args.opt_number(3)? {
            None => 200,
            Some(n) if (100.0..=999.0).contains(&n) && n.fract() == 0.0 => n as u16,
            Some(_) => return args.bad(3, "status code (100 to 999)"),
        };
        self.serialize_answer(lua, index, context, status, given.as_ref(), &body)
    }

    /// Serializes an answer to the request in slot `index`: written at
    /// once when it is first in line, else kept in its slot. No headers
    /// table is `DEFAULT_HEADERS`.
    fn serialize_answer(
        &self,
        lua: &Lua,
        index: u64,
        context: ReplyContext,
        status: u16,
        given: Option<&HeaderPairs>,
        body: &[&[u8]],
    ) -> Result<After> {
        let headers: Vec<(&[u8], &[u8])> = match given {
            Some(pairs) => pairs.iter().map(|(n, v)| (&n[..], &v[..])).collect(),
            None => Vec::new(),
        };
        let headers = if given.is_some() { &headers[..] } else { DEFAULT_HEADERS };
        let written = with_response(status, headers, body, context, |pieces, after| -> Result<After> {
            if index == 0 {
                self.slots.borrow_mut().pop_front();
                self.first_slot.set(self.first_slot.get() + 1);
                self.write(lua, pieces)?;
            } else {
                let bytes = memory::join(pieces)?;
                if let Some(slot) = self.slots.borrow_mut().get_mut(index as usize) {
                    *slot = ResponseSlot::Ready { bytes, after };
                }
            }
            Ok(after)
        });
        match written {
            Ok(outcome) => outcome,
            Err(invalid) => boundary::fail(format!("res: {invalid}")),
        }
    }

    /// `res` raised for request `number` before answering it: the request
    /// gets `500` and the connection closes after it.
    fn answer_failed(&self, lua: &Lua, number: u64) -> Result<()> {
        self.failed.set(Some(number));
        let answer = refusal(500);
        {
            let index = number.wrapping_sub(self.first_slot.get());
            let mut slots = self.slots.borrow_mut();
            match slots.get_mut(index as usize) {
                Some(slot @ ResponseSlot::Owed(_)) => *slot = ResponseSlot::Ready { bytes: answer, after: After::Close },
                _ => return Ok(()),
            }
        }
        self.stopped.set(true);
        self.flush(lua)
    }
}

/// The raw body of the server's `res` functions (bound to their client
/// and request in `dispatch`): the client object and the request number
/// first, then the caller's arguments. It is `respond_fast` over the
/// general path (upvalue 1) and the server (upvalue 2, see `push_server`).
fn respond_function(lua: &Lua, shared: &Rc<Shared>) -> Result<Function> {
    let server = Rc::downgrade(shared);
    let general = boundary::raw_function(lua, "res", 2, move |lua, args| {
        let number = match args.bound_nth(1) {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return boundary::fail("res: bad request"),
        };
        let Value::Table(client) = args.bound_nth(0) else { return boundary::fail("res: bad request") };
        let id = client.raw_get::<Option<f64>>(CONN_ID.value())?;
        let conn = match (server.upgrade(), id) {
            (Some(shared), Some(id)) => shared.conns.borrow().get(&(id as u64)).cloned(),
            _ => None,
        };
        match conn {
            Some(conn) => {
                conn.respond(lua, number as u64, |conn, index, context| conn.serialize_arguments(lua, index, context, &args))
            }
            // The connection went away; the answer has nowhere to go.
            None => Ok(()),
        }
    })?;
    let server = Rc::downgrade(shared);
    // SAFETY: exec_raw pushed `general`; push_server pushes one value, and
    // the closure takes both.
    unsafe {
        lua.exec_raw(general, |state| {
            push_server(state, server);
            ffi::lua_pushcclosure(state, respond_fast, 2);
        })
    }
}

/// Registry key of the metatable of server userdata (see `push_server`).
static SERVER_META: PrivateKey = PrivateKey::new();

/// Pushes a full userdata holding `server`, for `respond_fast` to find
/// its server by: a Weak, so that a `res` kept by the program does not
/// keep the server's state. Its metatable (one for all, in the registry)
/// drops the Weak when the userdata is collected, and marks the userdata
/// as ours: `server_at` trusts no other (`debug.setupvalue` can put any
/// value in an upvalue).
///
/// # Safety
/// Runs inside a protected call (it allocates), with four free slots.
unsafe fn push_server(state: *mut ffi::lua_State, server: std::rc::Weak<Shared>) {
    // SAFETY: the userdata is sized and aligned for a Weak (Lua aligns
    // userdata for any scalar), written once here before anything else
    // can see it; if making the metatable raises, the Weak is leaked,
    // never read uninitialised.
    unsafe {
        let slot = ffi::lua_newuserdata(state, std::mem::size_of::<std::rc::Weak<Shared>>()) as *mut std::rc::Weak<Shared>;
        std::ptr::write(slot, server);
        ffi::lua_pushlightuserdata(state, SERVER_META.pointer());
        ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
        if ffi::lua_type(state, -1) != ffi::LUA_TTABLE {
            ffi::lua_pop(state, 1);
            ffi::lua_createtable(state, 0, 2);
            ffi::lua_pushcfunction(state, drop_server);
            ffi::lua_setfield(state, -2, c"__gc".as_ptr());
            ffi::lua_pushboolean(state, 0);
            ffi::lua_setfield(state, -2, c"__metatable".as_ptr());
            ffi::lua_pushlightuserdata(state, SERVER_META.pointer());
            ffi::lua_pushvalue(state, -2);
            ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX);
        }
        ffi::lua_setmetatable(state, -2);
    }
}

/// The Weak inside the server userdata at `index`, unless the value there
/// is anything else.
///
/// # Safety
/// `index` is a valid index (not a pseudo-index other than an upvalue's)
/// of the live `state`, with two free slots; nothing here raises.
unsafe fn server_at<'a>(state: *mut ffi::lua_State, index: c_int) -> Option<&'a std::rc::Weak<Shared>> {
    // SAFETY: per the contract; a raw read of the registry with a light
    // userdata key neither allocates nor calls a metamethod. A userdata
    // with our metatable was made by push_server, and its size is checked
    // too, so the pointer is to a live Weak (drop_server leaves an empty
    // one behind) for as long as the userdata is on the stack.
    unsafe {
        if ffi::lua_type(state, index) != ffi::LUA_TUSERDATA
            || ffi::lua_objlen(state, index) != std::mem::size_of::<std::rc::Weak<Shared>>()
            || ffi::lua_getmetatable(state, index) == 0
        {
            return None;
        }
        ffi::lua_pushlightuserdata(state, SERVER_META.pointer());
        ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
        let ours = ffi::lua_rawequal(state, -1, -2) != 0;
        ffi::lua_pop(state, 2);
        ours.then(|| &*(ffi::lua_touserdata(state, index) as *const std::rc::Weak<Shared>))
    }
}

/// `__gc` of server userdata: drops its Weak, leaving an empty one (a
/// second call, which only `debug` can make, drops nothing).
unsafe extern "C-unwind" fn drop_server(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: server_at checks that argument 1 is a server userdata; the
    // Weak is replaced, not dropped in place, so it is never dropped twice.
    unsafe {
        if server_at(state, 1).is_some() {
            let slot = ffi::lua_touserdata(state, 1) as *mut std::rc::Weak<Shared>;
            drop(std::ptr::replace(slot, std::rc::Weak::new()));
        }
    }
    0
}

/// `res` on its hot path, against the Lua C API: a string body, and a
/// headers table or none (what nearly every handler passes). It skips
/// mlua's generic call (a value for each argument, each dropped after:
/// about a tenth of a request's instructions); anything else goes to the
/// general path (upvalue 1), whose results it returns as they are. Either
/// way it returns what a raw function does (`true` or `false, message,
/// level`), which the binder's Lua closure turns into an error.
unsafe extern "C-unwind" fn respond_fast(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this as the C closure made by respond_function
    // (upvalue 1 the general path, upvalue 2 checked by server_at) with
    // the binder's arguments. Argument types are checked before anything
    // is read; the body string and headers table stay on the stack (so
    // alive) while their bytes are used. Nothing on the fast path raises a
    // Lua error: walk_header_table raises nothing, respond's Lua work runs
    // under protected calls, and a panic is caught before it could reach
    // Lua. The general path's call may raise (out of memory): it unwinds
    // through this frame, which owns nothing then.
    unsafe {
        let top = ffi::lua_gettop(state);
        let simple = (3..=4).contains(&top)
            && ffi::lua_type(state, 1) == ffi::LUA_TTABLE
            && ffi::lua_type(state, 2) == ffi::LUA_TNUMBER
            && ffi::lua_type(state, 3) == ffi::LUA_TSTRING
            && (top == 3 || matches!(ffi::lua_type(state, 4), ffi::LUA_TTABLE | ffi::LUA_TNIL));
        let server = if simple { server_at(state, ffi::lua_upvalueindex(2)).and_then(|weak| weak.upgrade()) } else { None };
        let Some((server, lua)) = server.and_then(|server| server.lua.try_upgrade().map(|lua| (server, lua))) else {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
            ffi::lua_insert(state, 1);
            ffi::lua_call(state, top, ffi::LUA_MULTRET);
            return ffi::lua_gettop(state);
        };
        ffi::lua_pushlightuserdata(state, CONN_ID.pointer());
        ffi::lua_rawget(state, 1);
        let id = (ffi::lua_type(state, -1) == ffi::LUA_TNUMBER).then(|| ffi::lua_tonumber(state, -1) as u64);
        ffi::lua_pop(state, 1);
        let number = ffi::lua_tonumber(state, 2) as u64;
        let body = [bytes_at(state, 3)];
        let has_headers = top == 4 && ffi::lua_type(state, 4) == ffi::LUA_TTABLE;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let conn = id.and_then(|id| server.conns.borrow().get(&id).cloned());
            let Some(conn) = conn else { return Ok(()) };
            conn.respond(&lua, number, |conn, index, context| {
                let given = match has_headers {
                    true => Some(walk_header_table(state, 4).or_else(|message| boundary::fail(format!("res: {message}")))?),
                    false => None,
                };
                conn.serialize_answer(&lua, index, context, 200, given.as_ref(), &body)
            })
        }));
        let (message, level) = match outcome {
            Ok(Ok(())) => {
                ffi::lua_pushboolean(state, 1);
                return 1;
            }
            Ok(Err(error)) => boundary::message_of(&error),
            Err(panic) => (format!("internal error in 'res': {}", boundary::panic_text(&panic)), 2),
        };
        boundary::push_failure_at(state, &message, level)
    }
}

/// The body argument of `res`: a string, an array of strings, or nil.
fn body_pieces(lua: &Lua, args: &Args) -> Result<Vec<LuaString>> {
    match args.get(1) {
        // A long array is joined as it is read: holding each piece as an
        // mlua value would use up mlua's slots for values held by Rust.
        Value::Table(list) if list.raw_len() > crate::stream::MAX_HELD_PIECES => {
            let mut joined = Vec::new();
            for value in list.sequence_values::<Value>() {
                match value? {
                    Value::String(s) => memory::append(&mut joined, &s.as_bytes())?,
                    _ => return args.bad(1, "array of strings"),
                }
            }
            Ok(vec![lua.create_string(&joined)?])
        }
        Value::Nil => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Integer(_) | Value::Number(_) => Ok(vec![args.string(1)?]),
        Value::Table(list) => {
            let mut pieces = Vec::with_capacity(list.raw_len());
            for value in list.sequence_values::<Value>() {
                match value? {
                    Value::String(s) => pieces.push(s),
                    _ => return args.bad(1, "array of strings"),
                }
            }
            Ok(pieces)
        }
        _ => args.bad(1, "string or array of strings"),
    }
}

fn header_pairs(args: &Args) -> Result<Option<HeaderPairs<'static>>> {
    match args.get(2) {
        Value::Nil => Ok(None),
        Value::Table(table) => header_table_pairs(&table, "res").map(Some),
        _ => args.bad(2, "table"),
    }
}

/// Whether a Content-Type value names `media` (parameters ignored).
fn is_media_type(content_type: &[u8], media: &str) -> bool {
    let essence = content_type.split(|&b| b == b';').next().unwrap_or(b"");
    essence.trim_ascii().eq_ignore_ascii_case(media.as_bytes())
}

/// The body of a POST that the server decodes (JSON, multipart form
/// data), None for a body given as a string, or the status to refuse the
/// request with (a body that does not decode as its Content-Type says).
fn decoded_body(lua: &Lua, shared: &Shared, request: &Request) -> Result<std::result::Result<Option<Value>, u16>> {
    if request.method() != "POST" {
        return Ok(Ok(None));
    }
    let headers = request.headers();
    let content_type = headers.get("content-type").unwrap_or(b"");
    if !request.body.is_empty() && is_media_type(content_type, "application/json") {
        return Ok(match shared.json_decode.call::<Value>(lua.create_string(&request.body)?) {
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(400),
        });
    }
    if !is_media_type(content_type, "multipart/form-data") {
        return Ok(Ok(None));
    }
    let Some(boundary) = multipart::form_data_boundary(content_type) else { return Ok(Err(400)) };
    let Ok(parts) = multipart::parse_form_data(&request.body, boundary) else { return Ok(Err(400)) };
    let form = lua.create_table()?;
    for part in parts {
        let entry = lua.create_table_with_capacity(0, 3)?;
        entry.raw_set("data", lua.create_string(part.data)?)?;
        if let Some(filename) = part.filename {
            entry.raw_set("filename", lua.create_string(filename)?)?;
        }
        if let Some(content_type) = part.content_type {
            entry.raw_set("content-type", lua.create_string(content_type)?)?;
        }
        form.raw_set(lua.create_string(part.name)?, entry)?;
    }
    Ok(Ok(Some(Value::Table(form))))
}

/// The header names of a request in lower case, one after another.
fn lower_case_names(request: &Request) -> Vec<u8> {
    let headers = request.headers();
    let mut names = Vec::with_capacity(headers.iter().map(|(name, _)| name.len()).sum());
    for (name, _) in headers.iter() {
        names.extend(name.iter().map(u8::to_ascii_lowercase));
    }
    names
}

/// Pushes the string `bytes`.
///
/// # Safety
/// `state` is a live state with a free stack slot.
unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    // SAFETY: per the contract; Lua copies the bytes.
    unsafe {
        ffi::lua_pushlstring(state, bytes.as_ptr() as *const c_char, bytes.len());
    }
}

/// The field names of a request table, by their place in `REQUEST_KEYS`.
#[derive(Clone, Copy)]
enum Key {
    Method,
    Url,
    Path,
    Query,
    Fragment,
    Headers,
    VersionMajor,
    VersionMinor,
    ShouldKeepAlive,
    Upgrade,
    Body,
}

const KEY_NAMES: [&CStr; 11] = [
    c"method",
    c"url",
    c"path",
    c"query",
    c"fragment",
    c"headers",
    c"version_major",
    c"version_minor",
    c"should_keep_alive",
    c"upgrade",
    c"body",
];

/// Registry key of an array of the `KEY_NAMES` strings: pushing a string
/// kept there is a copy, where `lua_pushstring` hashes and looks up its
/// text each time (about a tenth of a request's instructions for the
/// eleven names).
static REQUEST_KEYS: PrivateKey = PrivateKey::new();

/// Stores the `REQUEST_KEYS` array in the registry.
pub(super) fn register_request_keys(lua: &Lua) -> Result<()> {
    let names = lua.create_table()?;
    for (i, name) in KEY_NAMES.iter().enumerate() {
        names.raw_set(i + 1, lua.create_string(name.to_bytes())?)?;
    }
    let key = mlua::LightUserData(REQUEST_KEYS.pointer());
    // SAFETY: exec_raw pushed the key and the array; lua_rawset on the
    // registry takes both and cannot fail (a light userdata key).
    unsafe { lua.exec_raw::<()>((key, names), |state| ffi::lua_rawset(state, ffi::LUA_REGISTRYINDEX)) }
}

/// Sets `t[key] = value` in the table `t` on top of the stack; `value`
/// pushes one value. `keys` is the absolute index of the `REQUEST_KEYS`
/// array (or of anything else, when the registry lost it: then the name
/// is pushed from its text).
///
/// # Safety
/// `state` is a live state with a table on top and two free stack slots;
/// `value` pushes exactly one value.
unsafe fn set_field(state: *mut ffi::lua_State, keys: c_int, key: Key, value: impl FnOnce()) {
    // SAFETY: per the contract: key and value are pushed, then popped by
    // lua_rawset; a raw read of an array raises nothing.
    unsafe {
        let kept = ffi::lua_type(state, keys) == ffi::LUA_TTABLE && {
            ffi::lua_rawgeti(state, keys, key as ffi::lua_Integer + 1);
            ffi::lua_type(state, -1) == ffi::LUA_TSTRING || {
                ffi::lua_pop(state, 1);
                false
            }
        };
        if !kept {
            ffi::lua_pushstring(state, KEY_NAMES[key as usize].as_ptr());
        }
        value();
        ffi::lua_rawset(state, -3);
    }
}

/// Pushes the `req` table: method, url (path, query, fragment), headers
/// (lower-case names, the last of duplicates wins), version, keep-alive
/// and upgrade flags, body (the string, or the decoded body that
/// `dispatch` stored under `DECODED` in the object at `client`, which is
/// then cleared). `names` is `lower_case_names(request)`.
///
/// # Safety
/// `state` is a live state, inside a protected call, with six free stack
/// slots; `client` is the absolute index of the client object.
unsafe fn push_request(state: *mut ffi::lua_State, request: &Request, names: &[u8], client: c_int, decoded: bool) {
    // SAFETY: per the contract. The key array is pushed first and removed
    // last; each nested table is pushed, filled and popped into its
    // parent, so at most six slots are used at once. Nothing here can
    // panic (`split_at` is given a length within `rest`).
    unsafe {
        ffi::lua_pushlightuserdata(state, REQUEST_KEYS.pointer());
        ffi::lua_rawget(state, ffi::LUA_REGISTRYINDEX);
        let keys = ffi::lua_gettop(state);
        // Sized for its eight fields: LuaJIT rounds a hash part up to a
        // power of two, so one more would double it (the request table is
        // most of what a request allocates in Lua).
        ffi::lua_createtable(state, 0, 8);
        set_field(state, keys, Key::Method, || push_bytes(state, request.method().as_bytes()));
        set_field(state, keys, Key::Url, || {
            let (query, fragment) = (request.query(), request.fragment());
            ffi::lua_createtable(state, 0, 1 + query.is_some() as c_int + fragment.is_some() as c_int);
            set_field(state, keys, Key::Path, || push_bytes(state, request.path()));
            if let Some(query) = query {
                set_field(state, keys, Key::Query, || push_bytes(state, query));
            }
            if let Some(fragment) = fragment {
                set_field(state, keys, Key::Fragment, || push_bytes(state, fragment));
            }
        });
        let headers = request.headers();
        set_field(state, keys, Key::Headers, || {
            ffi::lua_createtable(state, 0, headers.len() as c_int);
            let mut rest = names;
            for (name, value) in headers.iter() {
                let (lower, after) = rest.split_at(name.len().min(rest.len()));
                rest = after;
                push_bytes(state, lower);
                push_bytes(state, value);
                ffi::lua_rawset(state, -3);
            }
        });
        let (major, minor) = request.version();
        set_field(state, keys, Key::VersionMajor, || ffi::lua_pushnumber(state, major as f64));
        set_field(state, keys, Key::VersionMinor, || ffi::lua_pushnumber(state, minor as f64));
        set_field(state, keys, Key::ShouldKeepAlive, || ffi::lua_pushboolean(state, request.should_keep_alive as c_int));
        set_field(state, keys, Key::Upgrade, || ffi::lua_pushboolean(state, request.upgrade as c_int));
        set_field(state, keys, Key::Body, || {
            if decoded {
                ffi::lua_pushlightuserdata(state, DECODED.pointer());
                ffi::lua_rawget(state, client);
                ffi::lua_pushlightuserdata(state, DECODED.pointer());
                ffi::lua_pushnil(state);
                ffi::lua_rawset(state, client);
            } else {
                push_bytes(state, &request.body);
            }
        });
        ffi::lua_remove(state, keys);
    }
}

/// A connection reads its socket as the stream's consumer.
impl Consumer for ServerConn {
    fn data(self: Rc<Self>, lua: &Lua, stream: &Stream, bytes: &[u8]) -> Result<()> {
        self.socket.lending(stream, || self.on_data(lua, bytes))
    }
    /// A peer that resets is ordinary for a server: no report on stderr.
    fn error(self: Rc<Self>, _: &Lua, _: &str) -> Result<bool> {
        Ok(true)
    }
    fn drain(self: Rc<Self>, lua: &Lua) -> Result<()> {
        self.on_drain(lua)
    }
    fn timeout(self: Rc<Self>, lua: &Lua) -> Result<()> {
        self.time_out(lua)
    }
}

/// A new connection: its state, and its reading wired to it.
fn accept(lua: &Lua, shared: &Rc<Shared>, client: Table) -> Result<()> {
    let id = shared.next_conn.get();
    shared.next_conn.set(id + 1);
    let conn = Rc::new(ServerConn {
        id,
        shared: shared.clone(),
        socket: SocketRef::new(lua, &client)?,
        parser: RefCell::new(RequestParser::new(shared.options.limits)),
        slots: RefCell::new(VecDeque::new()),
        first_slot: Cell::new(0),
        stopped: Cell::new(false),
        failed: Cell::new(None),
        handed_over: Cell::new(false),
        header_started: Cell::new(None),
        paused: Cell::new(false),
        backed_up: Cell::new(false),
        pumping: Cell::new(false),
    });
    shared.conns.borrow_mut().insert(id, conn.clone());
    client.raw_set(HANDLER.value(), &shared.handler)?;
    client.raw_set(RESPOND.value(), shared.respond.get())?;
    client.raw_set(CONN_ID.value(), id as f64)?;
    let weak = Rc::downgrade(&conn);
    let on_closed = Runtime::handler(lua, move |_, ()| {
        if let Some(conn) = weak.upgrade() {
            conn.stopped.set(true);
            conn.socket.release();
            conn.slots.borrow_mut().clear();
            conn.shared.conns.borrow_mut().remove(&conn.id);
        }
        Ok(())
    })?;
    uv_handle::when_closed(lua, &client, on_closed)?;
    // Bytes go straight to the connection's parser: no Lua string of them,
    // and no method looked up on the object (the user may replace them).
    if let Some(stream) = uv_handle::state_of::<Stream>(&client)? {
        stream.set_idle_timeout(shared.options.keep_alive_timeout)?;
        stream.set_consumer(conn);
    }
    Ok(())
}

/// `http.listen(domain, handler, [options])` -> server.
pub fn listen(lua: &Lua, args: Args) -> Result<Table> {
    let domain = crate::tcp::domain(lua, &args, "0.0.0.0")?;
    let handler = args.function(2)?;
    let options = Options::read(args.opt_table(3)?)?;
    let (_, json_decode) = crate::json::functions(lua)?;
    let shared = Rc::new(Shared {
        handler,
        respond: OnceCell::new(),
        json_decode,
        options,
        conns: RefCell::new(FxHashMap::default()),
        next_conn: Cell::new(0),
        closed: Cell::new(false),
        lua: lua.weak(),
    });
    let _ = shared.respond.set(respond_function(lua, &shared)?);
    let accepting = shared.clone();
    let on_connection = Runtime::handler(lua, move |lua, client: Table| accept(lua, &accepting, client))?;
    let server = crate::tcp::listen_with(lua, &domain, on_connection)?;
    // Once the server is closed, idle keep-alive connections close too, and
    // busy ones after their last response, so that the loop can end.
    let closing = Rc::downgrade(&shared);
    let on_server_closed = Runtime::handler(lua, move |_, ()| {
        if let Some(shared) = closing.upgrade() {
            shared.closed.set(true);
            let conns: Vec<Rc<ServerConn>> = shared.conns.borrow().values().cloned().collect();
            for conn in conns {
                if conn.is_idle() {
                    conn.close()?;
                }
            }
        }
        Ok(())
    })?;
    uv_handle::when_closed(lua, &server, on_server_closed)?;
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_ignore_parameters_and_case() {
        assert!(is_media_type(b"application/json", "application/json"));
        assert!(is_media_type(b"Application/JSON; charset=utf-8", "application/json"));
        assert!(!is_media_type(b"application/jsonx", "application/json"));
        assert!(!is_media_type(b"", "application/json"));
    }

    #[test]
    fn refusals_close_the_connection() {
        let text = String::from_utf8(refusal(431)).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nRequest Header Fields Too Large\n"), "{text}");
    }
}
