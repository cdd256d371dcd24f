//! UDP: `udp.bind` makes a datagram socket, which sends datagrams
//! (`send`), hands the ones that arrive to `onmessage`, and sets the
//! broadcast, TTL and multicast options. It is a handle on the shared
//! core (core/uv_handle.rs), not a stream: each datagram stands alone.
//!
//! Host names in `bind` and `send` are resolved first (dns.rs, IPv4
//! addresses first); a send made while the socket's own name is still
//! being looked up waits for the bind. Datagrams are received into the
//! runtime's read buffer (64 KiB, more than any UDP payload) and copied
//! once, into the Lua string `onmessage` gets. A send without a callback
//! is tried at once from the caller's bytes; only one the kernel does not
//! take at once is copied and queued with libuv.
//!
//! Errors: a send's error goes to its callback (`cb(err)`), else to the
//! socket's `onerr` handler, else to stderr; never to a closed socket.
//!
//! May touch: libuv UDP handles and their send requests; the Lua objects
//! of UDP sockets.

use std::cell::{Cell, RefCell};
use std::ffi::{CString, c_int, c_uint};
use std::net::SocketAddr;

use libuv_sys2 as uv;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Result, Table, Value, ffi};

use crate::core::boundary::{self, Args};
use crate::core::class::{Class, Method};
use crate::core::errors::uv_message;
use crate::core::lua_raw::{self, HandlerAt, PrivateKey};
use crate::core::memory;
use crate::core::options::OptionTable;
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState, Tie};
use crate::core::uv_request::{Callback, UvRequest};
use crate::domain::{Domain, domain_of};
use crate::socket_address::{self, address_table, c_socket_addr, push_address_table, read_address, socket_addr};
use crate::stream::{Data, pieces_of};

static SOCKET: Class = Class { kind: "udp", methods: &[UDP_METHODS], lua_methods: Some(lua_methods) };

static UDP_METHODS: &[(&str, Method)] = &[
    ("send", send),
    ("onmessage", onmessage),
    ("onerr", onerr),
    ("close", uv_handle::close_method::<Socket>),
    ("onclose", uv_handle::onclose_method),
    ("setBroadcast", set_broadcast),
    ("setTTL", set_ttl),
    ("setMulticastTTL", set_multicast_ttl),
    ("setMulticastLoopback", set_multicast_loopback),
    ("setMulticastInterface", set_multicast_interface),
    ("addMembership", add_membership),
    ("dropMembership", drop_membership),
];

// Private keys of a socket object: its event handlers.
static ON_MESSAGE: PrivateKey = PrivateKey::new();
static ON_ERR: PrivateKey = PrivateKey::new();

/// A datagram on its way: its bytes (owned, as libuv sends them later),
/// where to, and the caller's callback.
struct Outgoing {
    bytes: Vec<u8>,
    to: SocketAddr,
    callback: Option<Callback>,
}

struct Socket {
    tie: Tie,
    /// The address bound, once bound: None while its host name is looked
    /// up.
    local: Cell<Option<SocketAddr>>,
    /// Sends made before the bind completed, in order.
    waiting: RefCell<Vec<Outgoing>>,
    /// Whether libuv is receiving for `onmessage`.
    receiving: Cell<bool>,
}

impl HandleState for Socket {
    fn tie(&self) -> &Tie {
        &self.tie
    }

    /// Sends that never started (closed while the bind waited for its
    /// name) complete as cancelled, so that no caller waits forever.
    fn closed(&self, lua: &Lua, _: &Table) -> Result<()> {
        let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        let rt = Runtime::of(lua)?;
        for callback in waiting.into_iter().filter_map(|outgoing| outgoing.callback) {
            rt.callback(lua, callback.into_function(lua)?, uv_message(uv::uv_errno_t_UV_ECANCELED, None))?;
        }
        Ok(())
    }
}

/// The error of a call on a closed socket.
fn closed_message() -> String {
    uv_message(uv::uv_errno_t_UV_EBADF, None) + " (the socket is closed)"
}

impl Socket {
    fn raw(&self) -> *mut uv::uv_udp_t {
        self.tie.handle() as *mut uv::uv_udp_t
    }

    /// Binds to the first of `addrs` (IPv4 first); the address bound.
    fn bind(&self, addrs: &[SocketAddr], flags: c_uint) -> std::result::Result<SocketAddr, String> {
        let Some(addr) = addrs.first() else { return Err("EADDRNOTAVAIL: no address to bind".into()) };
        let c_addr = c_socket_addr(addr);
        // SAFETY: the socket is open (callers check `closing`); the kernel
        // copies the address.
        let rc = unsafe { uv::uv_udp_bind(self.raw(), &c_addr as *const _ as *const uv::sockaddr, flags) };
        if rc < 0 {
            return Err(uv_message(rc, Some(&addr.to_string())));
        }
        let raw = self.raw();
        // SAFETY: the socket is open and bound; `target` has room for `len`.
        let local = read_address(|target, len| unsafe { uv::uv_udp_getsockname(raw, target, len) }).unwrap_or(*addr);
        self.local.set(Some(local));
        Ok(local)
    }

    /// Receives while the socket is bound and open and has an `onmessage`.
    fn update_receiving(&self, object: &Table) -> Result<()> {
        let want = !self.tie.closing()
            && self.local.get().is_some()
            && object.raw_get::<Option<Function>>(ON_MESSAGE.value())?.is_some();
        if want == self.receiving.get() {
            return Ok(());
        }
        // SAFETY: the socket is open (not closing) or we only stop.
        let rc = unsafe {
            if want {
                uv::uv_udp_recv_start(self.raw(), Some(on_alloc), Some(on_received))
            } else {
                uv::uv_udp_recv_stop(self.raw())
            }
        };
        if rc < 0 {
            return boundary::fail(format!("onmessage: {}", uv_message(rc, None)));
        }
        self.receiving.set(want);
        Ok(())
    }

    /// Sends `pieces` to `to` at once if the kernel takes them; false if
    /// they must be queued (sends are queued, or the kernel would block),
    /// or if the send fails, which the queued send then reports.
    fn try_send(&self, pieces: &[&[u8]], to: &SocketAddr) -> bool {
        if self.tie.closing() || self.local.get().is_none() {
            return false;
        }
        let buf = |p: &&[u8]| uv::uv_buf_t { base: p.as_ptr() as *mut _, len: p.len() };
        let c_addr = c_socket_addr(to);
        let addr = &c_addr as *const _ as *const uv::sockaddr;
        // SAFETY: the socket is open and bound; the bufs point at bytes
        // that outlive this call, and try_send keeps no pointer to them.
        let rc = unsafe {
            if let [piece] = pieces {
                uv::uv_udp_try_send(self.raw(), &buf(piece), 1, addr)
            } else {
                let bufs: Vec<uv::uv_buf_t> = pieces.iter().map(buf).collect();
                uv::uv_udp_try_send(self.raw(), bufs.as_ptr(), bufs.len() as c_uint, addr)
            }
        };
        rc >= 0
    }

    /// Queues a datagram with libuv (or until the bind completes); its
    /// completion is `on_sent`.
    fn transmit(&self, lua: &Lua, object: &Table, outgoing: Outgoing) -> Result<()> {
        if self.local.get().is_none() {
            self.waiting.borrow_mut().push(outgoing);
            return Ok(());
        }
        let buf = uv::uv_buf_t { base: outgoing.bytes.as_ptr() as *mut _, len: outgoing.bytes.len() };
        let c_addr = c_socket_addr(&outgoing.to);
        let raw = self.raw();
        let started = UvRequest::<uv::uv_udp_send_t, Outgoing>::start(outgoing, |req| {
            // SAFETY: the socket is open (callers check `closing`); the
            // bytes live in the request, which libuv keeps until
            // `on_sent`; libuv copies the address.
            unsafe { uv::uv_udp_send(req, raw, &buf, 1, &c_addr as *const _ as *const uv::sockaddr, Some(on_sent)) }
        });
        match started {
            Ok(()) => Ok(()),
            Err((rc, outgoing)) => {
                let callback = outgoing.callback.map(|c| c.into_function(lua)).transpose()?;
                report_later(lua, object, callback, uv_message(rc, Some(&outgoing.to.to_string())))
            }
        }
    }
}

/// The socket behind a socket object, unless it is closed or closing.
fn open_socket(object: &Table) -> Result<Option<&'static Socket>> {
    Ok(uv_handle::state_of::<Socket>(object)?.filter(|s| !s.tie.closing()).map(|s| {
        // SAFETY: see uv_handle::state_of; the reference is used only
        // during the current call.
        unsafe { &*(s as *const Socket) }
    }))
}

/// The open socket of a method call, or an error naming the method.
fn this_socket(args: &Args) -> Result<&'static Socket> {
    match open_socket(&args.this()?)? {
        Some(socket) => Ok(socket),
        None => boundary::fail(format!("{}: {}", args.name(), closed_message())),
    }
}

/// Gives `message` to `callback`, or else to the socket's `onerr` handler,
/// or else to stderr; nothing but `callback` once the socket is closed.
fn report(lua: &Lua, object: &Table, callback: Option<Function>, message: String) -> Result<()> {
    let rt = Runtime::of(lua)?;
    if let Some(callback) = callback {
        return rt.callback(lua, callback, message).map(drop);
    }
    if open_socket(object)?.is_none() {
        return Ok(());
    }
    match object.raw_get::<Option<Function>>(ON_ERR.value())? {
        Some(handler) => rt.callback(lua, handler, message).map(drop),
        None => {
            eprintln!("async: udp: {message}");
            Ok(())
        }
    }
}

/// `report` on the next turn: for errors found inside the caller's call.
fn report_later(lua: &Lua, object: &Table, callback: Option<Function>, message: String) -> Result<()> {
    let later = boundary::internal(lua, move |lua, (object, callback): (Table, Option<Function>)| {
        report(lua, &object, callback, message.clone())
    })?;
    Runtime::call_later(lua, later, (object.clone(), callback))
}

// ---- binding ----

/// `udp.bind(domain)` -> socket: bound to `domain` (`{host=, port=,
/// reuseAddr=}`, host 0.0.0.0 by default, or `'udp://host:port'`).
fn bind(lua: &Lua, args: Args) -> Result<Table> {
    let value = args.get(1);
    let domain = domain_of(&value, "bind", "0.0.0.0", |_| None)?;
    let options = match &value {
        Value::Table(t) => Some(t),
        _ => None,
    };
    let reuse = OptionTable::new(options, "bind").boolean("reuseAddr")?.unwrap_or(false);
    let flags = if reuse { uv::uv_udp_flags_UV_UDP_REUSEADDR } else { 0 };
    let object = lua.create_table()?;
    object.set_metatable(Some(SOCKET.metatable(lua)?))?;
    let state =
        Socket { tie: Tie::new(&SOCKET), local: Cell::new(None), waiting: RefCell::new(Vec::new()), receiving: Cell::new(false) };
    let socket = uv_handle::open::<Socket, uv::uv_udp_t>(lua, &object, state, "bind", |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_udp_init(uv_loop, raw) }
    })?;
    if let Some(ip) = socket_address::ip_literal(&domain.host) {
        return uv_handle::or_close(&socket.tie, || {
            let local =
                socket.bind(&[SocketAddr::new(ip, domain.port)], flags).or_else(|m| boundary::fail(format!("bind: {m}")))?;
            object.raw_set("sockname", address_table(lua, &local)?)?;
            Ok(object.clone())
        });
    }
    let pending = uv_handle::or_close(&socket.tie, || lua.create_registry_value(&object))?;
    crate::tcp::resolve_then(&*Runtime::of(lua)?, &domain, libc::SOCK_DGRAM, move |rt, outcome| {
        let Some(lua) = rt.lua() else { return };
        rt.dispatch(|| {
            let object: Table = lua.registry_value(&pending)?;
            // Closed while the name was looked up: its sends are cancelled
            // by its close.
            let Some(socket) = open_socket(&object)? else { return Ok(()) };
            match outcome.and_then(|addrs| socket.bind(&addrs, flags)) {
                Ok(local) => bound_late(&lua, &object, socket, local),
                Err(message) => {
                    let message = format!("bind: {message}");
                    let waiting = std::mem::take(&mut *socket.waiting.borrow_mut());
                    for callback in waiting.into_iter().filter_map(|outgoing| outgoing.callback) {
                        report(&lua, &object, Some(callback.into_function(&lua)?), message.clone())?;
                    }
                    report(&lua, &object, None, message)?;
                    socket.tie.close();
                    Ok(())
                }
            }
        });
    });
    Ok(object)
}

/// A socket whose name was looked up is bound: name it, receive, and send
/// what waited.
fn bound_late(lua: &Lua, object: &Table, socket: &Socket, local: SocketAddr) -> Result<()> {
    object.raw_set("sockname", address_table(lua, &local)?)?;
    socket.update_receiving(object)?;
    let waiting = std::mem::take(&mut *socket.waiting.borrow_mut());
    for outgoing in waiting {
        if socket.tie.closing() {
            break; // closed by a callback: the rest are dropped
        }
        socket.transmit(lua, object, outgoing)?;
    }
    Ok(())
}

// ---- sending ----

/// Where a send goes: `{host=, port=}`, the `{address=, port=}` table
/// `onmessage` gives, or `'udp://host:port'`.
fn destination(args: &Args, i: usize) -> Result<Domain> {
    match args.get(i) {
        Value::Table(t) => {
            let options = OptionTable::new(Some(&t), args.name());
            let host = match options.text("host")? {
                Some(host) => host,
                None => options.text("address")?.unwrap_or_else(|| "127.0.0.1".into()),
            };
            let Some(port) = options.port("port")? else {
                return boundary::fail(format!("{}: the destination needs a port", args.name()));
            };
            Ok(Domain { host: crate::domain::unbracket(&host).to_string(), port, backlog: None })
        }
        value @ Value::String(_) => domain_of(&value, args.name(), "127.0.0.1", |_| None),
        _ => args.bad(i, "table or string"),
    }
}

/// `sock.send(data, to[, cb])`: one datagram of `data` (a string, a
/// buffer, or an array of them) to `to`; `cb(err)` once sent. True if the
/// datagram was sent or queued.
fn send(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    let data = pieces_of(lua, &args)?;
    let to = destination(&args, 2)?;
    let callback = args.opt_function(3)?;
    let Some(socket) = open_socket(&this)? else {
        let Some(callback) = callback else { return boundary::fail(format!("send: {}", closed_message())) };
        Runtime::call_later(lua, callback, closed_message())?;
        return false.into_lua_multi(lua);
    };
    let literal = socket_address::ip_literal(&to.host).map(|ip| SocketAddr::new(ip, to.port));
    let bytes = match data {
        Data::Joined(bytes) => bytes,
        Data::Pieces(pieces) => {
            let slices = pieces.iter().map(|p| p.bytes()).collect::<Result<Vec<&[u8]>>>()?;
            if callback.is_none()
                && let Some(addr) = &literal
                && socket.try_send(&slices, addr)
            {
                return true.into_lua_multi(lua);
            }
            memory::join(&slices)?
        }
    };
    let callback = callback.map(|f| Callback::new(lua, f)).transpose()?;
    if let Some(addr) = literal {
        socket.transmit(lua, &this, Outgoing { bytes, to: addr, callback })?;
        return true.into_lua_multi(lua);
    }
    let pending = lua.create_registry_value(&this)?;
    let same_family = socket.local.get().map(|local| local.is_ipv6());
    crate::tcp::resolve_then(&*Runtime::of(lua)?, &to, libc::SOCK_DGRAM, move |rt, outcome| {
        let Some(lua) = rt.lua() else { return };
        rt.dispatch(|| {
            let object: Table = lua.registry_value(&pending)?;
            let found = outcome.and_then(|addrs| {
                let first = addrs.first().copied();
                addrs
                    .into_iter()
                    .find(|a| Some(a.is_ipv6()) == same_family)
                    .or(first)
                    .ok_or_else(|| "EADDRNOTAVAIL: no address found".to_string())
            });
            let message = match (open_socket(&object)?, found) {
                (Some(socket), Ok(to)) => return socket.transmit(&lua, &object, Outgoing { bytes, to, callback }),
                (None, _) => closed_message(),
                (Some(_), Err(message)) => message,
            };
            let callback = callback.map(|c| c.into_function(&lua)).transpose()?;
            report(&lua, &object, callback, message)
        });
    });
    true.into_lua_multi(lua)
}

/// The methods this module makes itself: `send`, a raw hot path over the
/// general method.
fn lua_methods(lua: &Lua) -> Result<Table> {
    const KEY: &str = "async.udp.lua_methods";
    if let Ok(methods) = lua.named_registry_value::<Table>(KEY) {
        return Ok(methods);
    }
    let methods = lua.create_table()?;
    let general = boundary::raw_function(lua, "send", 1, send)?;
    methods.raw_set("send", boundary::self_binding(lua, send_fast, general)?)?;
    lua.set_named_registry_value(KEY, &methods)?;
    Ok(methods)
}

/// `send` on its hot path, against the Lua C API: a string to a plain
/// table holding an IP address and a numeric port (the `from` of
/// `onmessage`: an echo's reply), no callback, the socket bound and no
/// send queued. That is one try_send and no mlua call. Anything else, and
/// a datagram the kernel does not take at once, goes to the general
/// method (upvalue 1), which does the same checks and more.
unsafe extern "C-unwind" fn send_fast(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the whole block runs only in the bound form made by
    // `boundary::bind` (upvalue 1 the general method, upvalue 2 the socket
    // object), with the caller's arguments; a state pointer comes only from
    // the table of open handles, for a number naming a live UDP socket (see
    // uv_handle::state_at). Each push uses one of the LUA_MINSTACK slots
    // (state_at's one above the value it reads) and is popped before the
    // next. A
    // Lua error (out of memory in a push, or one call_bound raises)
    // unwinds through frames that own nothing.
    unsafe {
        let object = ffi::lua_upvalueindex(2);
        let simple = ffi::lua_gettop(state) == 2
            && ffi::lua_type(state, 1) == ffi::LUA_TSTRING
            && ffi::lua_type(state, 2) == ffi::LUA_TTABLE
            && ffi::lua_type(state, object) == ffi::LUA_TTABLE;
        if simple {
            ffi::lua_pushlightuserdata(state, crate::core::class::STATE.pointer());
            ffi::lua_rawget(state, object);
            let socket = uv_handle::state_at::<Socket>(state, -1);
            ffi::lua_pop(state, 1);
            if let Some(socket) = socket.as_ref()
                && let Some(to) = literal_destination(state, 2)
                && socket.try_send(&[lua_raw::bytes_at(state, 1)], &to)
            {
                ffi::lua_pushboolean(state, 1);
                return 1;
            }
        }
        boundary::call_bound(state)
    }
}

/// The destination in the table at `index` if `destination` would read it
/// as an IP literal and a port, with no lookup and no metamethod: a table
/// without a metatable whose `host` (or, without one, `address`) is an IP
/// string and whose `port` is a whole number from 0 to 65535.
///
/// # Safety
/// `index` (positive) holds a table on the live `state`'s stack, with two
/// free slots; a push may raise out of memory (a Lua error).
unsafe fn literal_destination(state: *mut ffi::lua_State, index: c_int) -> Option<SocketAddr> {
    // SAFETY: per the contract; every value pushed is popped before this
    // returns, and the host's bytes are read while it is on the stack.
    unsafe {
        if ffi::lua_getmetatable(state, index) != 0 {
            ffi::lua_pop(state, 1);
            return None;
        }
        let field = |name: &str| {
            ffi::lua_pushlstring(state, name.as_ptr() as *const _, name.len());
            ffi::lua_rawget(state, index);
        };
        field("host");
        if ffi::lua_type(state, -1) == ffi::LUA_TNIL {
            ffi::lua_pop(state, 1);
            field("address");
        }
        let ip = match ffi::lua_type(state, -1) {
            ffi::LUA_TSTRING => std::str::from_utf8(lua_raw::bytes_at(state, -1)).ok().and_then(socket_address::ip_literal),
            _ => None,
        };
        ffi::lua_pop(state, 1);
        field("port");
        let port = match ffi::lua_type(state, -1) {
            ffi::LUA_TNUMBER => Some(ffi::lua_tonumber(state, -1)),
            _ => None,
        };
        ffi::lua_pop(state, 1);
        let port = port.filter(|p| p.fract() == 0.0 && (0.0..=65535.0).contains(p))?;
        Some(SocketAddr::new(ip?, port as u16))
    }
}

extern "C" fn on_sent(req: *mut uv::uv_udp_send_t, status: c_int) {
    // SAFETY: started by `transmit`; this is its completion.
    let request = unsafe { UvRequest::<uv::uv_udp_send_t, Outgoing>::finish(req) };
    let raw = request.raw().handle;
    // SAFETY: libuv completes a socket's sends (ECANCELED when it closes)
    // before its close callback, so the state is still there.
    let socket = unsafe { uv_handle::state_from::<Socket>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let Outgoing { to, callback, .. } = request.state;
    let message = (status < 0).then(|| uv_message(status, Some(&to.to_string())));
    if let Some(callback) = callback {
        callback.call(rt, |_| Ok(message));
        return;
    }
    let (Some(message), Some(lua)) = (message, rt.lua()) else { return };
    rt.dispatch(|| match socket.tie.object(&lua)? {
        Some(object) => report(&lua, &object, None, message),
        None => Ok(()),
    });
}

// ---- receiving ----

extern "C" fn on_alloc(handle: *mut uv::uv_handle_t, _suggested: usize, buf: *mut uv::uv_buf_t) {
    // SAFETY: the handle's loop is a runtime's; `buf` is libuv's to fill.
    unsafe { *buf = Runtime::from_loop((*handle).loop_).read_buffer() };
}

extern "C" fn on_received(raw: *mut uv::uv_udp_t, nread: isize, buf: *const uv::uv_buf_t, from: *const uv::sockaddr, _: c_uint) {
    // Nothing more to read (libuv says so with no address and no bytes).
    if nread == 0 && from.is_null() {
        return;
    }
    // SAFETY: receiving was started on an open socket made by `bind`;
    // libuv stops receiving when it closes, before its close callback.
    let socket = unsafe { uv_handle::state_from::<Socket>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let Some(lua) = rt.lua() else { return };
    if nread < 0 {
        let message = uv_message(nread as c_int, None);
        rt.dispatch(|| match socket.tie.object(&lua)? {
            Some(object) => report(&lua, &object, None, message),
            None => Ok(()),
        });
        return;
    }
    // SAFETY: with bytes, libuv gives the sender's address, of its family.
    let Some(sender) = (unsafe { socket_addr(from as *const libc::sockaddr) }) else { return };
    if rt.failing() {
        // A callback failed in this turn: the datagram waits for the next
        // `go()`, as every callback does (the policy of runtime.rs).
        // SAFETY: as below: the filled part of the read buffer.
        let data = unsafe { std::slice::from_raw_parts((*buf).base as *const u8, nread as usize) };
        rt.dispatch(|| deliver_later(&lua, socket, data, &sender));
        return;
    }
    rt.dispatch(|| {
        lua_raw::call_handler(&lua, socket.tie.object_ref(), HandlerAt::Key(&ON_MESSAGE), 2, |state, _| {
            // SAFETY: libuv filled `nread` bytes of the read buffer that
            // on_alloc handed it, which nothing else uses until this
            // callback returns; Lua copies them into the string. The pushes
            // run protected, in the room call_handler made.
            unsafe {
                ffi::lua_pushlstring(state, (*buf).base as *const _, nread as usize);
                push_address_table(state, &sender);
            }
            2
        })
    });
}

/// Hands a datagram to `onmessage` on the next `go()`, unless the socket
/// is closed by then.
fn deliver_later(lua: &Lua, socket: &Socket, data: &[u8], sender: &SocketAddr) -> Result<()> {
    let Some(object) = socket.tie.object(lua)? else { return Ok(()) };
    let later = boundary::internal(lua, |lua, (object, data, from): (Table, Value, Table)| {
        if open_socket(&object)?.is_none() {
            return Ok(());
        }
        match object.raw_get::<Option<Function>>(ON_MESSAGE.value())? {
            Some(handler) => Runtime::of(lua)?.callback(lua, handler, (data, from)).map(drop),
            None => Ok(()),
        }
    })?;
    Runtime::call_later(lua, later, (object, Value::String(lua.create_string(data)?), address_table(lua, sender)?))
}

// ---- handlers and options ----

/// `sock.onmessage(cb)`: `cb(data, from)` per datagram, `from` its
/// sender's `{address=, port=, family=}`; `onmessage(nil)` stops receiving.
fn onmessage(_: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.this()?;
    this.raw_set(ON_MESSAGE.value(), args.opt_function(1)?)?;
    if let Some(socket) = open_socket(&this)? {
        socket.update_receiving(&this)?;
    }
    Ok(MultiValue::new())
}

/// `sock.onerr(cb)`: `cb(err)` for errors no send callback takes.
fn onerr(_: &Lua, args: Args) -> Result<MultiValue> {
    args.this()?.raw_set(ON_ERR.value(), args.opt_function(1)?)?;
    Ok(MultiValue::new())
}

/// Applies a socket option with `set`, raising its error as
/// `"name: CODE: message"`; true.
fn set_option(lua: &Lua, args: &Args, set: impl FnOnce(*mut uv::uv_udp_t) -> c_int) -> Result<MultiValue> {
    let socket = this_socket(args)?;
    let rc = set(socket.raw());
    if rc < 0 {
        return boundary::fail(format!("{}: {}", args.name(), uv_message(rc, None)));
    }
    true.into_lua_multi(lua)
}

/// A flag argument: a boolean, or nil for true.
fn flag(args: &Args, i: usize) -> Result<c_int> {
    match args.get(i) {
        Value::Nil => Ok(1),
        Value::Boolean(on) => Ok(on as c_int),
        _ => args.bad(i, "boolean"),
    }
}

/// An address argument as a C string (for libuv's multicast calls).
fn address_arg(args: &Args, i: usize) -> Result<Option<CString>> {
    let Some(text) = args.opt_string(i)? else { return Ok(None) };
    match CString::new(text.as_bytes().to_vec()) {
        Ok(text) => Ok(Some(text)),
        Err(_) => args.bad(i, "address without NUL"),
    }
}

/// `sock.setBroadcast([on=true])`.
fn set_broadcast(lua: &Lua, args: Args) -> Result<MultiValue> {
    let on = flag(&args, 1)?;
    // SAFETY: `set_option` passes an open socket.
    set_option(lua, &args, |raw| unsafe { uv::uv_udp_set_broadcast(raw, on) })
}

/// `sock.setMulticastLoopback([on=true])`.
fn set_multicast_loopback(lua: &Lua, args: Args) -> Result<MultiValue> {
    let on = flag(&args, 1)?;
    // SAFETY: `set_option` passes an open socket.
    set_option(lua, &args, |raw| unsafe { uv::uv_udp_set_multicast_loop(raw, on) })
}

/// `sock.setTTL(hops)`, 1 to 255.
fn set_ttl(lua: &Lua, args: Args) -> Result<MultiValue> {
    let ttl = args.whole_in(1, 1, 255, "whole number from 1 to 255")? as c_int;
    // SAFETY: `set_option` passes an open socket.
    set_option(lua, &args, |raw| unsafe { uv::uv_udp_set_ttl(raw, ttl) })
}

/// `sock.setMulticastTTL(hops)`, 0 to 255.
fn set_multicast_ttl(lua: &Lua, args: Args) -> Result<MultiValue> {
    let ttl = args.whole_in(1, 0, 255, "whole number from 0 to 255")? as c_int;
    // SAFETY: `set_option` passes an open socket.
    set_option(lua, &args, |raw| unsafe { uv::uv_udp_set_multicast_ttl(raw, ttl) })
}

/// `sock.setMulticastInterface(address)`: the interface multicast
/// datagrams leave from.
fn set_multicast_interface(lua: &Lua, args: Args) -> Result<MultiValue> {
    let Some(interface) = address_arg(&args, 1)? else { return args.bad(1, "string") };
    // SAFETY: `set_option` passes an open socket; libuv reads the string
    // during the call.
    set_option(lua, &args, |raw| unsafe { uv::uv_udp_set_multicast_interface(raw, interface.as_ptr()) })
}

/// `addMembership`/`dropMembership(group[, interface])`.
fn membership(lua: &Lua, args: &Args, change: uv::uv_membership) -> Result<MultiValue> {
    let Some(group) = address_arg(args, 1)? else { return args.bad(1, "string") };
    let interface = address_arg(args, 2)?;
    let interface = interface.as_ref().map_or(std::ptr::null(), |i| i.as_ptr());
    // SAFETY: `set_option` passes an open socket; libuv reads the strings
    // (the interface possibly null: any) during the call.
    set_option(lua, args, |raw| unsafe { uv::uv_udp_set_membership(raw, group.as_ptr(), interface, change) })
}

fn add_membership(lua: &Lua, args: Args) -> Result<MultiValue> {
    membership(lua, &args, uv::uv_membership_UV_JOIN_GROUP)
}

fn drop_membership(lua: &Lua, args: Args) -> Result<MultiValue> {
    membership(lua, &args, uv::uv_membership_UV_LEAVE_GROUP)
}

/// `async.udp`: `bind`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let udp = lua.create_table()?;
    udp.set("bind", boundary::function(lua, "bind", bind)?)?;
    module.set("udp", udp)
}
