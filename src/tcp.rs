//! TCP: `tcp.listen` (servers) and `tcp.connect` (clients). A connected
//! socket is a stream (stream/) with `sockname` and `peername` fields
//! and `setNoDelay`/`setKeepAlive`; TCP_NODELAY is on from the start.
//!
//! Host names are resolved first (dns.rs), IPv4 addresses tried before
//! IPv6 so that `localhost` reaches a server on 127.0.0.1. A connect that
//! fails reaches the socket's `onerr` handler (or stderr) and never its
//! connect callback; a connection reset before it was accepted is dropped
//! quietly.
//!
//! May touch: libuv TCP handles and connect requests; Lua objects of
//! servers and sockets.

use std::ffi::c_int;
use std::net::SocketAddr;

use libuv_sys2 as uv;
use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::class::{Class, Method};
use crate::core::errors::{UvError, uv_message};
use crate::core::lua_raw::PrivateKey;
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState, Plain, Tie, close_method, onclose_method};
use crate::core::uv_request::{Callback, UvRequest};
use crate::dns::{self, Hints};
use crate::domain::{Domain, domain_of, url_parts};
use crate::socket_address::{self, address_table, c_socket_addr, socket_addr};
use crate::stream::{self, Stream};

static SOCKET: Class = Class { kind: "tcp", methods: &[stream::METHODS, SOCKET_METHODS], lua_methods: Some(stream::lua_methods) };
static SERVER: Class = Class { kind: "tcp.server", methods: &[SERVER_METHODS], lua_methods: None };

static SOCKET_METHODS: &[(&str, Method)] = &[("setNoDelay", set_no_delay), ("setKeepAlive", set_keep_alive)];
static SERVER_METHODS: &[(&str, Method)] = &[("close", close_method::<Server>), ("onclose", onclose_method)];

/// Node's default listen backlog.
const BACKLOG: c_int = 511;

// Private key of a server object: its connection callback.
static ON_CONNECTION: PrivateKey = PrivateKey::new();

/// A listening server: its handle, nothing more.
type Server = Plain;

/// `tcp.protocols[scheme]`, for URLs without a port.
fn protocol_port(lua: &Lua, scheme: &str) -> Option<u16> {
    let protocols: Table =
        lua.named_registry_value::<Table>(crate::core::MODULE_KEY).ok()?.get::<Table>("tcp").ok()?.get("protocols").ok()?;
    protocols.get::<Option<u16>>(scheme).ok().flatten()
}

pub fn domain(lua: &Lua, args: &Args, default_host: &str) -> Result<Domain> {
    domain_of(&args.get(1), args.name(), default_host, |scheme| protocol_port(lua, scheme))
}

/// Resolves `domain` (at once for an IP literal), then calls `then` with
/// the addresses, IPv4 first, or the error.
fn resolve_then(
    rt: &Runtime,
    domain: &Domain,
    then: impl FnOnce(&Runtime, std::result::Result<Vec<SocketAddr>, String>) + 'static,
) {
    if let Some(ip) = socket_address::ip_literal(&domain.host) {
        return then(rt, Ok(vec![SocketAddr::new(ip, domain.port)]));
    }
    let hints = Hints { socktype: libc::SOCK_STREAM, ..Hints::default() };
    dns::resolve(
        rt,
        Some(&domain.host),
        Some(domain.port),
        hints,
        Box::new(move |rt, found| {
            then(
                rt,
                found.map(|found| {
                    let mut addrs: Vec<SocketAddr> = found.into_iter().map(|f| f.addr).collect();
                    addrs.sort_by_key(|a| a.is_ipv6());
                    addrs.dedup();
                    addrs
                }),
            )
        }),
    );
}

fn describe(addr: &SocketAddr) -> String {
    addr.to_string()
}

/// The local or remote address of a TCP handle.
fn tcp_address(handle: *const uv::uv_tcp_t, peer: bool) -> std::result::Result<SocketAddr, UvError> {
    // SAFETY: zeroed storage is valid; libuv writes at most `len` bytes.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as c_int;
    let target = &mut storage as *mut _ as *mut uv::sockaddr;
    // SAFETY: `handle` is an open TCP handle; storage is large enough.
    let rc = unsafe {
        if peer { uv::uv_tcp_getpeername(handle, target, &mut len) } else { uv::uv_tcp_getsockname(handle, target, &mut len) }
    };
    UvError::check(rc)?;
    // SAFETY: libuv filled a socket address of its family.
    unsafe { socket_addr(&storage as *const _ as *const libc::sockaddr) }.ok_or(UvError(uv::uv_errno_t_UV_EAFNOSUPPORT))
}

/// Keeps the addresses of a connected socket for `sockname`/`peername`.
fn set_names(stream: &Stream, handle: *const uv::uv_tcp_t) -> std::result::Result<(), UvError> {
    stream.addresses.set(Some((tcp_address(handle, true)?, tcp_address(handle, false)?)));
    Ok(())
}

/// The socket metatable: the class's, with `sockname` and `peername` made
/// on first read (then cached in the object).
fn socket_metatable(lua: &Lua) -> Result<Table> {
    const KEY: &str = "async.tcp.socket";
    if let Ok(mt) = lua.named_registry_value::<Table>(KEY) {
        return Ok(mt);
    }
    let mt = SOCKET.metatable(lua)?;
    let methods: Function = mt.raw_get("__index")?;
    let index = boundary::internal(lua, move |lua, (object, key): (Table, Value)| {
        if let Value::String(name) = &key {
            let name = name.to_str()?;
            if name == "peername" || name == "sockname" {
                let value = match uv_handle::state_of::<Stream>(&object)? {
                    Some(stream) => stream.address(lua, &name)?,
                    None => Value::Nil,
                };
                object.raw_set(key.clone(), &value)?;
                return Ok(value);
            }
        }
        methods.call::<Value>((object, key))
    })?;
    mt.raw_set("__index", index)?;
    lua.set_named_registry_value(KEY, &mt)?;
    Ok(mt)
}

/// A new, unconnected socket: its object and stream state.
fn new_socket(lua: &Lua) -> Result<(Table, &'static Stream)> {
    let object = lua.create_table()?;
    object.set_metatable(Some(socket_metatable(lua)?))?;
    let stream = uv_handle::open::<Stream, uv::uv_tcp_t>(lua, &object, Stream::new(SOCKET.kind), "tcp", |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_tcp_init(uv_loop, raw) }
    })?;
    Ok((object, stream))
}

fn tcp_handle(tie: &Tie) -> *mut uv::uv_tcp_t {
    tie.handle() as *mut uv::uv_tcp_t
}

// ---- servers ----

/// Binds and listens on the first address that works.
fn bind_and_listen(server: &Server, addrs: &[SocketAddr], backlog: c_int) -> std::result::Result<SocketAddr, String> {
    let mut last = String::from("EADDRNOTAVAIL: no address to listen on");
    for addr in addrs {
        let c_addr = c_socket_addr(addr);
        let raw = tcp_handle(&server.tie);
        // SAFETY: the server handle is open; the address is a valid
        // sockaddr for its family, copied by the kernel.
        let mut rc = unsafe { uv::uv_tcp_bind(raw, &c_addr as *const _ as *const uv::sockaddr, 0) };
        if rc == 0 {
            // SAFETY: as above; `on_connection` gets the server handle.
            rc = unsafe { uv::uv_listen(raw as *mut uv::uv_stream_t, backlog, Some(on_connection)) };
        }
        if rc == 0 {
            return Ok(tcp_address(raw, false).unwrap_or(*addr));
        }
        last = uv_message(rc, Some(&describe(addr)));
    }
    Err(last)
}

/// `tcp.listen(domain, cb)` -> server; `cb(client)` per connection.
fn listen(lua: &Lua, args: Args) -> Result<Table> {
    let domain = domain(lua, &args, "0.0.0.0")?;
    let on_connection = args.function(2)?;
    listen_with(lua, &domain, on_connection)
}

/// A TCP server at `domain` calling `on_connection(client)`: shared by the
/// servers built on TCP (HTTP, JSON, REPL).
pub fn listen_with(lua: &Lua, domain: &Domain, on_connection: Function) -> Result<Table> {
    let object = lua.create_table()?;
    object.set_metatable(Some(SERVER.metatable(lua)?))?;
    object.raw_set(ON_CONNECTION.value(), on_connection)?;
    let server = uv_handle::open::<Server, uv::uv_tcp_t>(lua, &object, Plain::new(SERVER.kind, ()), "listen", |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_tcp_init(uv_loop, raw) }
    })?;
    let backlog = domain.backlog.unwrap_or(BACKLOG);
    let rt = Runtime::of(lua)?;
    if let Some(ip) = socket_address::ip_literal(&domain.host) {
        return match bind_and_listen(server, &[SocketAddr::new(ip, domain.port)], backlog) {
            Ok(local) => match address_table(lua, &local).and_then(|name| object.raw_set("sockname", name)) {
                Ok(()) => Ok(object),
                Err(error) => {
                    // Out of memory: the caller never gets the server, so
                    // it must not stay open.
                    server.tie.close();
                    Err(error)
                }
            },
            Err(message) => {
                server.tie.close();
                boundary::fail(format!("listen: {message}"))
            }
        };
    }
    // A registry key, not a Table: a Table held in Rust takes one of mlua's
    // few thousand reference slots for as long as the lookup lasts.
    let pending = match lua.create_registry_value(&object) {
        Ok(pending) => pending,
        Err(error) => {
            server.tie.close();
            return Err(error);
        }
    };
    resolve_then(&rt, domain, move |rt, outcome| {
        let Some(lua) = rt.lua() else { return };
        rt.dispatch(|| {
            let pending: Table = lua.registry_value(&pending)?;
            // Closed while the name was being looked up: nothing to bind.
            let Some(server) = uv_handle::state_of::<Server>(&pending)?.filter(|s| !s.tie.closing()) else {
                return Ok(());
            };
            match outcome.and_then(|addrs| bind_and_listen(server, &addrs, backlog)) {
                Ok(local) => pending.raw_set("sockname", address_table(&lua, &local)?),
                Err(message) => {
                    server.tie.close();
                    eprintln!("async: tcp.listen: {message}");
                    Ok(())
                }
            }
        });
    });
    Ok(object)
}

extern "C" fn on_connection(raw: *mut uv::uv_stream_t, status: c_int) {
    // SAFETY: listening started on an open server made by `listen_with`.
    let server = unsafe { uv_handle::state_from::<Server>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let Some(lua) = rt.lua() else { return };
    if status < 0 {
        eprintln!("async: tcp.listen: {}", uv_message(status, None));
        return;
    }
    rt.dispatch(|| {
        let Some(server_object) = server.tie.object(&lua)? else { return Ok(()) };
        let (client, stream) = new_socket(&lua)?;
        let handle = tcp_handle(stream.tie());
        // SAFETY: both handles are open TCP handles of this loop.
        let mut rc = unsafe { uv::uv_accept(raw, handle as *mut uv::uv_stream_t) };
        if rc == 0 {
            // SAFETY: the client is open and connected.
            unsafe { uv::uv_tcp_nodelay(handle, 1) };
            rc = set_names(stream, handle).err().map_or(0, |e| e.0);
        }
        if rc != 0 {
            // Reset before we got to it (ENOTCONN): drop it quietly.
            stream.tie().close();
            return Ok(());
        }
        let on_connection: Function = server_object.raw_get(ON_CONNECTION.value())?;
        rt.callback(&lua, on_connection, client).map(drop)
    });
}

// ---- clients ----

/// `tcp.connect(domain, cb)` -> client; `cb(client)` once connected.
fn connect(lua: &Lua, args: Args) -> Result<Table> {
    let domain = domain(lua, &args, "127.0.0.1")?;
    let callback = args.opt_function(2)?;
    connect_with(lua, &domain, callback)
}

/// A TCP client to `domain`, `on_connect(client)` once connected: shared
/// by the clients built on TCP.
pub fn connect_with(lua: &Lua, domain: &Domain, on_connect: Option<Function>) -> Result<Table> {
    let (object, stream) = new_socket(lua)?;
    stream.set_connecting();
    let on_connect = on_connect.map(|f| Callback::new(lua, f)).transpose()?;
    let pending = lua.create_registry_value(&object)?;
    let rt = Runtime::of(lua)?;
    resolve_then(&rt, domain, move |rt, outcome| {
        let Some(lua) = rt.lua() else { return }; // the Lua state is closing
        rt.dispatch(|| {
            let pending: Table = lua.registry_value(&pending)?;
            // Closed or timed out while the name was being looked up:
            // connecting a closing handle would trip libuv's assertions.
            let Some(stream) = uv_handle::state_of::<Stream>(&pending)?.filter(|s| !s.tie().closing()) else {
                return Ok(());
            };
            let addr = match outcome {
                Ok(addrs) if !addrs.is_empty() => addrs[0],
                Ok(_) => return stream.fail(&lua, &pending, "EADDRNOTAVAIL: no address found".into()),
                Err(message) => return stream.fail(&lua, &pending, message),
            };
            let c_addr = c_socket_addr(&addr);
            let handle = tcp_handle(stream.tie());
            let started = UvRequest::<uv::uv_connect_t, (Option<Callback>, SocketAddr)>::start((on_connect, addr), |req| {
                // SAFETY: the socket is open; libuv copies the address;
                // `req` lives until `on_connect`.
                unsafe { uv::uv_tcp_connect(req, handle, &c_addr as *const _ as *const uv::sockaddr, Some(on_connected)) }
            });
            match started {
                Ok(()) => Ok(()),
                Err((rc, _)) => stream.fail(&lua, &pending, uv_message(rc, Some(&describe(&addr)))),
            }
        });
    });
    Ok(object)
}

extern "C" fn on_connected(req: *mut uv::uv_connect_t, status: c_int) {
    // SAFETY: started by `connect_with`; this is its completion.
    let request = unsafe { UvRequest::<uv::uv_connect_t, (Option<Callback>, SocketAddr)>::finish(req) };
    let raw = request.raw().handle;
    // SAFETY: a connect completes (with ECANCELED if need be) before its
    // handle's close callback, so the state is still there.
    let stream = unsafe { uv_handle::state_from::<Stream>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let (callback, addr) = request.state;
    let Some(lua) = rt.lua() else { return };
    if status == uv::uv_errno_t_UV_ECANCELED {
        return;
    }
    let ready = rt.dispatch(|| {
        let Some(object) = stream.tie().object(&lua)? else { return Ok(()) };
        if status < 0 {
            return stream.fail(&lua, &object, uv_message(status, Some(&describe(&addr))));
        }
        let handle = raw as *mut uv::uv_tcp_t;
        // SAFETY: the socket is open and connected.
        unsafe { uv::uv_tcp_nodelay(handle, 1) };
        if let Err(error) = set_names(stream, handle) {
            return stream.fail(&lua, &object, error.message(Some(&describe(&addr))));
        }
        stream.connected(&lua)
    });
    if ready
        && status >= 0
        && let Some(callback) = callback
    {
        callback.call(rt, |_| stream.tie().object(&lua));
    }
}

// ---- socket options ----

fn socket_of(args: &Args) -> Result<Option<*mut uv::uv_tcp_t>> {
    let this = args.this()?;
    Ok(uv_handle::state_of::<Stream>(&this)?.map(|s| tcp_handle(s.tie())))
}

/// `setNoDelay([enable=true])`.
fn set_no_delay(lua: &Lua, args: Args) -> Result<MultiValue> {
    let enable = !matches!(args.get(1), Value::Boolean(false));
    if let Some(handle) = socket_of(&args)? {
        // SAFETY: the socket is open.
        let rc = unsafe { uv::uv_tcp_nodelay(handle, enable as c_int) };
        if rc != 0 {
            return boundary::fail(format!("setNoDelay: {}", uv_message(rc, None)));
        }
    }
    true.into_lua_multi(lua)
}

/// `setKeepAlive([enable=true[, delaySeconds=60]])`.
fn set_keep_alive(lua: &Lua, args: Args) -> Result<MultiValue> {
    let enable = !matches!(args.get(1), Value::Boolean(false));
    let delay = args.opt_number(2)?.unwrap_or(60.0).max(1.0) as u32;
    if let Some(handle) = socket_of(&args)? {
        // SAFETY: the socket is open.
        let rc = unsafe { uv::uv_tcp_keepalive(handle, enable as c_int, delay) };
        if rc != 0 {
            return boundary::fail(format!("setKeepAlive: {}", uv_message(rc, None)));
        }
    }
    true.into_lua_multi(lua)
}

/// `tcp.parseUrl(url)`, as the original had it: a table is given back as
/// it is; a URL string becomes `{schema=, host=, port=, path=, query=,
/// fragment=, userinfo=}`, the port from `tcp.protocols` when the URL has
/// none.
fn parse_url(lua: &Lua, args: Args) -> Result<Value> {
    if let Value::Table(t) = args.get(1) {
        return Ok(Value::Table(t));
    }
    let url = args.string(1)?.to_str()?.to_string();
    let Some(parts) = url_parts(&url) else {
        return boundary::fail(format!("parseUrl: cannot read '{url}' as scheme://host:port/"));
    };
    let port = match parts.port {
        Some(p) => match p.parse::<u16>() {
            Ok(p) => Some(p),
            Err(_) => return boundary::fail(format!("parseUrl: bad port '{p}' in '{url}'")),
        },
        None => protocol_port(lua, &parts.scheme.to_ascii_lowercase()),
    };
    let parsed = lua.create_table()?;
    parsed.set("schema", parts.scheme)?;
    parsed.set("host", parts.host)?;
    parsed.set("port", port)?;
    parsed.set("path", parts.path)?;
    parsed.set("query", parts.query)?;
    parsed.set("fragment", parts.fragment)?;
    parsed.set("userinfo", parts.userinfo)?;
    Ok(Value::Table(parsed))
}

/// `async.tcp`: `listen`, `connect`, `protocols`, `parseUrl`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let tcp = lua.create_table()?;
    tcp.set("parseUrl", boundary::function(lua, "parseUrl", parse_url)?)?;
    tcp.set("listen", boundary::function(lua, "listen", listen)?)?;
    tcp.set("connect", boundary::function(lua, "connect", connect)?)?;
    tcp.set("protocols", lua.create_table_from([("http", 80), ("https", 443)])?)?;
    module.set("tcp", tcp)
}
