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
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState, Tie};
use crate::core::uv_request::Callback;
use crate::dns::{self, Hints};
use crate::domain::{Domain, domain_of, url_parts};
use crate::socket_address::{self, address_table, c_socket_addr, read_address};
use crate::stream::socket::{self, Server, SocketKind};
use crate::stream::{self, Names, Stream};

static SOCKET: Class = Class { kind: "tcp", methods: &[stream::METHODS, SOCKET_METHODS], lua_methods: Some(stream::lua_methods) };
static SERVER: Class = Class { kind: "tcp.server", methods: &[socket::SERVER_METHODS], lua_methods: None };

static SOCKET_METHODS: &[(&str, Method)] = &[("setNoDelay", set_no_delay), ("setKeepAlive", set_keep_alive)];

/// TCP for the shared server and connect code (stream/socket.rs).
struct Tcp;

impl SocketKind for Tcp {
    type Target = SocketAddr;
    const LISTEN: &'static str = "tcp.listen";

    fn new_socket(lua: &Lua) -> Result<(Table, &'static Stream)> {
        new_socket(lua)
    }

    fn ready(_: &Lua, stream: &Stream, _: &Table) -> Result<std::result::Result<(), UvError>> {
        let handle = tcp_handle(stream.tie());
        // SAFETY: the socket is open and connected.
        unsafe { uv::uv_tcp_nodelay(handle, 1) };
        Ok(set_names(stream, handle))
    }

    fn describe(addr: &SocketAddr) -> String {
        describe(addr)
    }
}

/// `tcp.protocols[scheme]`, for URLs without a port.
fn protocol_port(lua: &Lua, scheme: &str) -> Option<u16> {
    let protocols: Table =
        lua.named_registry_value::<Table>(crate::core::MODULE_KEY).ok()?.get::<Table>("tcp").ok()?.get("protocols").ok()?;
    protocols.get::<Option<u16>>(scheme).ok().flatten()
}

pub fn domain(lua: &Lua, args: &Args, default_host: &str) -> Result<Domain> {
    domain_of(&args.get(1), args.name(), default_host, |scheme| protocol_port(lua, scheme))
}

/// Resolves `domain` (at once for an IP literal) for sockets of
/// `socktype` (`SOCK_STREAM`, `SOCK_DGRAM`), then calls `then` with the
/// addresses, IPv4 first, or the error. Also udp.rs's.
pub fn resolve_then(
    rt: &Runtime,
    domain: &Domain,
    socktype: c_int,
    then: impl FnOnce(&Runtime, std::result::Result<Vec<SocketAddr>, String>) + 'static,
) {
    if let Some(ip) = socket_address::ip_literal(&domain.host) {
        return then(rt, Ok(vec![SocketAddr::new(ip, domain.port)]));
    }
    let hints = Hints { socktype, ..Hints::default() };
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
    read_address(|target, len| {
        // SAFETY: `handle` is an open TCP handle; `target` has room for
        // `len` bytes.
        unsafe { if peer { uv::uv_tcp_getpeername(handle, target, len) } else { uv::uv_tcp_getsockname(handle, target, len) } }
    })
}

/// Keeps the addresses of a connected socket for `sockname`/`peername`.
fn set_names(stream: &Stream, handle: *const uv::uv_tcp_t) -> std::result::Result<(), UvError> {
    stream.set_names(Names::new(tcp_address(handle, true)?, tcp_address(handle, false)?));
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
    let stream = uv_handle::open::<Stream, uv::uv_tcp_t>(lua, &object, Stream::new(&SOCKET), "tcp", |uv_loop, raw| {
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
        let raw = tcp_handle(server.tie());
        // SAFETY: the server handle is open; the address is a valid
        // sockaddr for its family, copied by the kernel.
        let mut rc = unsafe { uv::uv_tcp_bind(raw, &c_addr as *const _ as *const uv::sockaddr, 0) };
        if rc == 0 {
            rc = socket::start_listening::<Tcp>(server, backlog);
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
    let (object, server) = socket::open_server::<uv::uv_tcp_t>(lua, &SERVER, on_connection, |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_tcp_init(uv_loop, raw) }
    })?;
    let backlog = domain.backlog.unwrap_or(socket::BACKLOG);
    let rt = Runtime::of(lua)?;
    if let Some(ip) = socket_address::ip_literal(&domain.host) {
        return uv_handle::or_close(server.tie(), || {
            let local = bind_and_listen(server, &[SocketAddr::new(ip, domain.port)], backlog)
                .or_else(|message| boundary::fail(format!("listen: {message}")))?;
            object.raw_set("sockname", address_table(lua, &local)?)?;
            Ok(object.clone())
        });
    }
    // A registry key, not a Table: a Table held in Rust takes one of mlua's
    // few thousand reference slots for as long as the lookup lasts.
    let pending = uv_handle::or_close(server.tie(), || lua.create_registry_value(&object))?;
    resolve_then(&rt, domain, libc::SOCK_STREAM, move |rt, outcome| {
        let Some(lua) = rt.lua() else { return };
        rt.dispatch(|| {
            let pending: Table = lua.registry_value(&pending)?;
            // Closed while the name was being looked up: nothing to bind.
            let Some(server) = uv_handle::state_of::<Server>(&pending)?.filter(|s| !s.tie().closing()) else {
                return Ok(());
            };
            match outcome.and_then(|addrs| bind_and_listen(server, &addrs, backlog)) {
                Ok(local) => pending.raw_set("sockname", address_table(&lua, &local)?),
                Err(message) => {
                    server.tie().close();
                    eprintln!("async: tcp.listen: {message}");
                    Ok(())
                }
            }
        });
    });
    Ok(object)
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
    resolve_then(&rt, domain, libc::SOCK_STREAM, move |rt, outcome| {
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
            socket::connect::<Tcp>(&lua, &pending, stream, addr, on_connect, |req, on_connected| {
                // SAFETY: the socket is open; libuv copies the address;
                // `req` lives until `on_connected`.
                unsafe { uv::uv_tcp_connect(req, handle, &c_addr as *const _ as *const uv::sockaddr, on_connected) }
            })
        });
    });
    Ok(object)
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
