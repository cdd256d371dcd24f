//! The HTTP/1.1 client of `async.http`: `request`, `get`, `post` and
//! `closeIdleConnections`, over TCP sockets (tcp.rs) and the core's
//! `serialize_request` and `ResponseParser`.
//!
//! One request at a time per connection. After a response that lets the
//! connection live (keep-alive, body not ended by the close), the
//! connection goes back to a pool per `host:port` and serves the next
//! request to that place; a connection that errored, timed out, or got
//! bytes nobody asked for is closed, never reused. Pooled connections do
//! not keep the loop alive (their handle is unreferenced while idle), and
//! one the server has closed in the meantime leaves the pool when its end
//! arrives; if a reused connection fails before any byte of the response,
//! an idempotent request is sent once more on a new connection.
//!
//! `timeout` (ms, default 60000) is the longest wait without progress:
//! for the connect, for the server to take the request, between bytes of
//! the response.
//!
//! May touch: TCP sockets through tcp.rs and stream/ (and the libuv
//! reference count of their handles); Lua tables of responses.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{Function, IntoLuaMulti, Lua, RegistryKey, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::options::OptionTable;
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState};
use crate::domain::{Domain, domain_of};
use crate::http::{Limits, Response, ResponseParser, serialize_request};
use crate::http_lua::{header_table_pairs, headers_table};
use crate::stream::socket_ref::SocketRef;
use crate::stream::{Consumer, Stream};

const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// A response body past this is an error (`body too large`): a server
/// cannot make the client buffer without end.
const MAX_RESPONSE_BODY: u64 = 1 << 30;
/// Idle connections kept per `host:port`.
const MAX_IDLE_PER_HOST: usize = 16;

/// Idle keep-alive connections by `host:port`.
#[derive(Default)]
struct Pool {
    idle: RefCell<HashMap<String, Vec<Rc<ClientConn>>>>,
}

impl Pool {
    /// An idle connection to `key` that is still open.
    fn take(&self, key: &str) -> Option<Rc<ClientConn>> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(key)?;
        while let Some(conn) = list.pop() {
            if conn.socket.is_held() && !conn.broken.get() {
                return Some(conn);
            }
        }
        None
    }

    fn remove(&self, conn: &Rc<ClientConn>) {
        if let Some(list) = self.idle.borrow_mut().get_mut(&conn.key) {
            list.retain(|c| !Rc::ptr_eq(c, conn));
        }
    }
}

/// What is needed to send a request again on a new connection.
#[derive(Clone)]
struct PendingRequest {
    host: String,
    port: u16,
    method: String,
    bytes: Rc<Vec<u8>>,
    timeout: u64,
}

impl PendingRequest {
    fn idempotent(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE")
    }
}

/// The request a connection is busy with.
struct Exchange {
    /// A registry key, not a Function: thousands of requests may be in
    /// flight, and mlua has only a few thousand slots for Functions.
    callback: RegistryKey,
    outgoing: PendingRequest,
    /// Sent on a connection that served a request before.
    reused: bool,
    /// Some bytes of the response arrived.
    answered: bool,
}

impl Exchange {
    /// Calls the request's `cb(...)` as every callback is called
    /// (`Runtime::callback`).
    fn call_back(&self, lua: &Lua, args: impl IntoLuaMulti) -> Result<()> {
        let callback = lua.registry_value::<Function>(&self.callback)?;
        Runtime::of(lua)?.callback(lua, callback, args).map(drop)
    }
}

struct ClientConn {
    key: String,
    pool: Rc<Pool>,
    /// The socket, until it is closed.
    socket: SocketRef,
    parser: RefCell<ResponseParser>,
    exchange: RefCell<Option<Exchange>>,
    /// Errored, timed out, or out of step: never to be reused.
    broken: Cell<bool>,
}

impl ClientConn {
    /// Whether the loop waits for this connection's handle.
    fn set_referenced(&self, referenced: bool) -> Result<()> {
        self.socket.with_stream(|stream| {
            let handle = stream.tie().handle();
            // SAFETY: the stream is open (state_of found it), so its handle
            // is a live, initialised libuv handle; ref/unref only flip a flag.
            unsafe { if referenced { uv::uv_ref(handle) } else { uv::uv_unref(handle) } }
        })?;
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        self.broken.set(true);
        self.socket.with_stream(|stream| stream.destroy())?;
        Ok(())
    }

    /// Sends `outgoing` on this connection, `callback` to get the answer.
    fn send(self: &Rc<Self>, lua: &Lua, outgoing: PendingRequest, callback: Function, reused: bool) -> Result<()> {
        self.parser.borrow_mut().expect_response(&outgoing.method);
        let bytes = outgoing.bytes.clone();
        let timeout = outgoing.timeout;
        let callback = lua.create_registry_value(callback)?;
        *self.exchange.borrow_mut() = Some(Exchange { callback, outgoing, reused, answered: false });
        self.set_referenced(true)?;
        self.socket
            .with_stream(|stream| -> Result<()> {
                stream.set_idle_timeout(timeout)?;
                stream.write(lua, &[&bytes], None).map(drop)
            })?
            .transpose()?;
        Ok(())
    }

    fn on_data(self: &Rc<Self>, lua: &Lua, bytes: &[u8]) -> Result<()> {
        let asked = self.exchange.borrow_mut().as_mut().map(|exchange| exchange.answered = true).is_some();
        if !asked {
            // Nobody asked: the connection is out of step.
            self.pool.remove(self);
            return self.destroy();
        }
        self.parser.borrow_mut().feed(bytes);
        self.take_responses(lua)
    }

    fn take_responses(self: &Rc<Self>, lua: &Lua) -> Result<()> {
        loop {
            let next = self.parser.borrow_mut().next_response();
            match next {
                None => return Ok(()),
                Some(Ok(response)) => self.answer(lua, response)?,
                Some(Err(error)) => return self.fail(lua, error.to_string()),
            }
        }
    }

    /// A complete response: back to the pool (or closed), then `cb(res)`.
    fn answer(self: &Rc<Self>, lua: &Lua, response: Response) -> Result<()> {
        let Some(exchange) = self.exchange.borrow_mut().take() else { return Ok(()) };
        let reusable = response.keep_alive && !response.upgrade && self.parser.borrow().is_idle() && !self.broken.get();
        if reusable {
            self.socket.with_stream(|stream| stream.set_idle_timeout(0))?.transpose()?;
            self.set_referenced(false)?;
            let mut idle = self.pool.idle.borrow_mut();
            let list = idle.entry(self.key.clone()).or_default();
            if list.len() < MAX_IDLE_PER_HOST {
                list.push(self.clone());
            } else {
                drop(idle);
                self.socket.with_stream(|stream| stream.close_gracefully())?;
            }
        } else {
            self.broken.set(true);
            self.socket.with_stream(|stream| stream.close_gracefully())?;
        }
        let res = lua.create_table_with_capacity(0, 6)?;
        res.raw_set("status", response.status)?;
        res.raw_set("reason", lua.create_string(response.reason())?)?;
        let (major, minor) = response.version();
        res.raw_set("version_major", major)?;
        res.raw_set("version_minor", minor)?;
        res.raw_set("headers", headers_table(lua, response.headers().iter())?)?;
        res.raw_set("body", lua.create_string(&response.body)?)?;
        exchange.call_back(lua, res)
    }

    /// The request failed on this connection: retry it on a new one if
    /// the connection was a stale pooled one, else `cb(nil, message)`.
    fn fail(self: &Rc<Self>, lua: &Lua, message: String) -> Result<()> {
        self.pool.remove(self);
        self.destroy()?;
        let Some(exchange) = self.exchange.borrow_mut().take() else { return Ok(()) };
        if exchange.reused && !exchange.answered && exchange.outgoing.idempotent() {
            let callback = lua.registry_value::<Function>(&exchange.callback)?;
            return start(lua, &self.pool, exchange.outgoing, callback, false);
        }
        exchange.call_back(lua, (Value::Nil, message))
    }

    fn on_end(self: &Rc<Self>, lua: &Lua) -> Result<()> {
        if self.exchange.borrow().is_none() {
            self.pool.remove(self);
            return self.destroy();
        }
        self.parser.borrow_mut().finish();
        self.take_responses(lua)?;
        if self.exchange.borrow().is_some() {
            self.fail(lua, "ECONNRESET: the server closed the connection before the response".into())?;
        }
        Ok(())
    }
}

/// A connection reads its socket as the stream's consumer.
impl Consumer for ClientConn {
    fn data(self: Rc<Self>, lua: &Lua, stream: &Stream, bytes: &[u8]) -> Result<()> {
        self.socket.lending(stream, || self.on_data(lua, bytes))
    }
    fn end(self: Rc<Self>, lua: &Lua) -> Result<()> {
        self.on_end(lua)
    }
    fn error(self: Rc<Self>, lua: &Lua, message: &str) -> Result<bool> {
        self.fail(lua, message.to_string())?;
        Ok(true)
    }
    fn timeout(self: Rc<Self>, lua: &Lua) -> Result<()> {
        let ms = self.exchange.borrow().as_ref().map_or(0, |e| e.outgoing.timeout);
        // A timed-out request is never retried.
        if let Some(exchange) = self.exchange.borrow_mut().as_mut() {
            exchange.reused = false;
        }
        self.fail(lua, format!("ETIMEDOUT: no progress for {ms} ms"))
    }
}

/// A new connection to `outgoing`'s place, with its handlers.
fn connect(lua: &Lua, pool: &Rc<Pool>, key: String, outgoing: &PendingRequest) -> Result<Rc<ClientConn>> {
    let domain = Domain { host: outgoing.host.clone(), port: outgoing.port, backlog: None };
    let object = crate::tcp::connect_with(lua, &domain, None)?;
    let conn = Rc::new(ClientConn {
        key,
        pool: pool.clone(),
        socket: SocketRef::new(lua, &object)?,
        parser: RefCell::new(ResponseParser::new(Limits { max_header_bytes: 64 * 1024, max_body_bytes: MAX_RESPONSE_BODY })),
        exchange: RefCell::new(None),
        broken: Cell::new(false),
    });
    let this = conn.clone();
    let on_closed = Runtime::handler(lua, move |lua, ()| {
        this.pool.remove(&this);
        this.socket.release();
        let exchange = this.exchange.borrow_mut().take();
        if let Some(exchange) = exchange {
            exchange.call_back(lua, (Value::Nil, "ECONNRESET: the connection closed before the response"))?;
        }
        Ok(())
    })?;
    uv_handle::when_closed(lua, &object, on_closed)?;
    // The stream itself, never methods the user may have replaced.
    if let Some(stream) = uv_handle::state_of::<Stream>(&object)? {
        stream.set_consumer(conn.clone());
    }
    Ok(conn)
}

/// Sends `outgoing` on a pooled connection if `may_reuse` and one is idle,
/// else on a new one.
fn start(lua: &Lua, pool: &Rc<Pool>, outgoing: PendingRequest, callback: Function, may_reuse: bool) -> Result<()> {
    let key = format!("{}:{}", outgoing.host, outgoing.port);
    if may_reuse && let Some(conn) = pool.take(&key) {
        return conn.send(lua, outgoing, callback, true);
    }
    let conn = connect(lua, pool, key, &outgoing)?;
    conn.send(lua, outgoing, callback, false)
}

/// Splits an `http://` URL into where to connect, the Host header value
/// and the request target.
fn split_url(lua: &Lua, url: &str) -> Result<(Domain, String, String)> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return boundary::fail(format!("request: cannot read '{url}' as http://host[:port]/path"));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return boundary::fail(format!("request: only http:// URLs are supported, not '{scheme}://'"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let after = rest[end..].split('#').next().unwrap_or("");
    let target = match after.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{after}"),
        Some(_) => after.to_string(),
    };
    let domain =
        domain_of(&Value::String(lua.create_string(url)?), "request", "127.0.0.1", |scheme| (scheme == "http").then_some(80))?;
    Ok((domain, authority.to_string(), target))
}

/// `http.request({url=, method=, headers=, body=, timeout=}, cb)`:
/// `cb(res)` with `res.status`, `res.headers`, `res.body`, or `cb(nil, err)`.
fn request(lua: &Lua, pool: &Rc<Pool>, options: Table, callback: Function) -> Result<()> {
    let url: String = match options.get::<Value>("url")? {
        Value::String(s) => s.to_str()?.to_string(),
        _ => return boundary::fail("request: url (a string) is required"),
    };
    let (domain, host, target) = split_url(lua, &url)?;
    let read = OptionTable::new(Some(&options), "request");
    let method = read.text("method")?.map_or_else(|| "GET".to_string(), |m| m.to_ascii_uppercase());
    let given = match read.table("headers")? {
        None => Vec::new(),
        Some(t) => header_table_pairs(&t, "request")?,
    };
    let body = read.string("body")?;
    let timeout = read.positive("timeout")?.map_or(DEFAULT_TIMEOUT_MS, |ms| ms.ceil() as u64);
    let headers: Vec<(&[u8], &[u8])> = given.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let body_bytes = body.as_ref().map(|b| b.as_bytes());
    let pieces: Vec<&[u8]> = body_bytes.iter().map(|b| &b[..]).collect();
    let message = match serialize_request(&method, target.as_bytes(), host.as_bytes(), &headers, &pieces) {
        Ok(message) => message,
        Err(invalid) => return boundary::fail(format!("request: {invalid}")),
    };
    let outgoing = PendingRequest { host: domain.host, port: domain.port, method, bytes: Rc::new(message.to_vec()?), timeout };
    start(lua, pool, outgoing, callback, true)
}

/// `async.http.request`, `get`, `post`, `closeIdleConnections`.
pub fn install(lua: &Lua, http_table: &Table) -> Result<()> {
    let pool = Rc::new(Pool::default());
    let p = pool.clone();
    http_table.set(
        "request",
        boundary::function(lua, "request", move |lua, args: Args| request(lua, &p, args.table(1)?, args.function(2)?))?,
    )?;
    let p = pool.clone();
    http_table.set(
        "get",
        boundary::function(lua, "get", move |lua, args: Args| {
            let options = lua.create_table_from([("url", Value::String(args.string(1)?))])?;
            request(lua, &p, options, args.function(2)?)
        })?,
    )?;
    let p = pool.clone();
    http_table.set(
        "post",
        boundary::function(lua, "post", move |lua, args: Args| {
            let options = lua.create_table_from([
                ("url", Value::String(args.string(1)?)),
                ("method", Value::String(lua.create_string("POST")?)),
                ("body", Value::String(args.string(2)?)),
            ])?;
            request(lua, &p, options, args.function(3)?)
        })?,
    )?;
    let p = pool;
    http_table.set(
        "closeIdleConnections",
        boundary::function(lua, "closeIdleConnections", move |_, _: Args| {
            let all: Vec<Rc<ClientConn>> = p.idle.borrow_mut().drain().flat_map(|(_, list)| list).collect();
            for conn in all {
                conn.broken.set(true);
                conn.socket.with_stream(|stream| stream.close_gracefully())?;
            }
            Ok(())
        })?,
    )?;
    Ok(())
}
