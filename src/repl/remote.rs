//! The remote REPL: `repl.listen` (a TCP server whose clients type Lua
//! into this process) and `repl.connect` / `repl.connectn` (clients that
//! forward stdin to one or many such servers and show what they answer).
//!
//! A server's connection is a stream `Consumer` that cuts lines and
//! evaluates each (as the local REPL does, multi-line chunks included).
//! The results, or the error, are printed on the server's console and
//! sent to that client, then its prompt (the original sent them to the
//! console only). `io.write` is wrapped once, to copy its output to every
//! connected client, as the original did.
//!
//! May touch: TCP sockets through tcp.rs and their streams; stdin's
//! stream (clients); the global `io.write` (servers).

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::{Rc, Weak};

use mlua::{Function, Lua, MultiValue, Result, Table, Value};

use super::{
    CHUNK_TOO_LONG, CONTINUATION, Evaluated, PendingChunk, evaluate, exit_process, lines, out, read_stdin, show, text_of,
};
use crate::core::boundary::{self, Args};
use crate::core::runtime::Runtime;
use crate::core::uv_handle;
use crate::split::Inbox;
use crate::stream::socket_ref::SocketRef;
use crate::stream::{Consumer, Stream};

/// The clients of every REPL server of this Lua state, for `io.write`.
#[derive(Default)]
struct Clients(RefCell<Vec<Weak<ServerPeer>>>);

impl Clients {
    fn of(lua: &Lua) -> Result<Rc<Clients>> {
        if let Some(clients) = lua.app_data_ref::<Rc<Clients>>() {
            return Ok(clients.clone());
        }
        let clients = Rc::new(Clients::default());
        lua.set_app_data(clients.clone());
        mirror_io_write(lua, &clients)?;
        Ok(clients)
    }

    fn each(&self, f: impl Fn(&ServerPeer)) {
        self.0.borrow_mut().retain(|peer| peer.strong_count() > 0);
        let peers: Vec<Rc<ServerPeer>> = self.0.borrow().iter().filter_map(Weak::upgrade).collect();
        peers.iter().for_each(|peer| f(peer));
    }
}

/// `io.write(...)` also writes to every REPL client, then flushes stdout.
fn mirror_io_write(lua: &Lua, clients: &Rc<Clients>) -> Result<()> {
    let io: Table = lua.globals().get("io")?;
    let write: Function = io.get("write")?;
    let flush: Function = io.get("flush")?;
    let clients = Rc::downgrade(clients);
    let mirrored = boundary::internal(lua, move |lua, args: MultiValue| {
        if let Some(clients) = clients.upgrade() {
            let mut text = Vec::new();
            for value in args.iter() {
                if let Some(s) = lua.coerce_string(value.clone())? {
                    text.extend_from_slice(&s.as_bytes());
                }
            }
            clients.each(|peer| peer.send(lua, &text));
        }
        let results = write.call::<MultiValue>(args)?;
        flush.call::<()>(())?;
        Ok(results)
    })?;
    io.set("write", mirrored)
}

/// One client of a REPL server.
struct ServerPeer {
    socket: SocketRef,
    prompt: Vec<u8>,
    inbox: RefCell<Inbox>,
    pending: PendingChunk,
}

impl ServerPeer {
    fn send(&self, lua: &Lua, bytes: &[u8]) {
        let _ = self.socket.with_stream(|stream| stream.write(lua, &[bytes], None));
    }

    fn line(&self, lua: &Lua, line: &[u8]) -> Result<()> {
        let chunk = self.pending.with(line);
        let answer = match evaluate(lua, &chunk)? {
            Evaluated::Incomplete if self.pending.keep(chunk) => {
                self.send(lua, CONTINUATION);
                return Ok(());
            }
            Evaluated::Incomplete => {
                show(lua, CHUNK_TOO_LONG)?;
                CHUNK_TOO_LONG.to_string()
            }
            Evaluated::Values(values) => {
                let texts: Result<Vec<String>> = values.iter().map(|value| text_of(lua, value.clone())).collect();
                let answer = match texts {
                    Ok(texts) => texts.join("\t"),
                    Err(error) => boundary::message_of(&error).0,
                };
                show(lua, values)?;
                answer
            }
            Evaluated::Failed(message) => {
                show(lua, message.as_str())?;
                message
            }
        };
        self.send(lua, format!("{answer}\n").as_bytes());
        self.send(lua, &self.prompt);
        Ok(())
    }
}

impl Consumer for ServerPeer {
    fn data(self: Rc<Self>, lua: &Lua, _: &Stream, bytes: &[u8]) -> Result<()> {
        let (lines, stop) = lines(&self.inbox, bytes);
        lines.iter().try_for_each(|line| self.line(lua, line))?;
        // A client that sends an endless line (or more than memory holds)
        // is dropped.
        if stop.is_some() {
            let _ = self.socket.with_stream(Stream::destroy);
        }
        Ok(())
    }

    /// A client that goes away costs nothing: no report.
    fn error(self: Rc<Self>, _: &Lua, _: &str) -> Result<bool> {
        Ok(true)
    }
}

fn is_loopback(address: &str) -> bool {
    address.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `address:port` of a `sockname` / `peername` table.
fn endpoint(table: &Value) -> Result<String> {
    let Value::Table(t) = table else { return Ok("?".into()) };
    Ok(format!("{}:{}", t.get::<String>("address").unwrap_or_default(), t.get::<i64>("port").unwrap_or(0)))
}

/// `repl.listen(domain[, cb])` -> server; `cb(client)` per connection.
pub fn listen(lua: &Lua, args: Args) -> Result<Table> {
    let domain = crate::tcp::domain(lua, &args, "0.0.0.0")?;
    let prompt = match args.get(1) {
        Value::Table(t) => match t.get::<Value>("prompt")? {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Nil => None,
            _ => return boundary::fail("listen: prompt must be a string"),
        },
        _ => None,
    };
    let callback = args.opt_function(2)?;
    let clients = Clients::of(lua)?;
    let on_connection = Runtime::handler(lua, move |lua, client: Table| {
        let prompt = match &prompt {
            Some(p) => p.clone(),
            None => format!("{}> ", endpoint(&client.get::<Value>("sockname")?)?).into_bytes(),
        };
        let io_write: Function = lua.globals().get::<Table>("io")?.get("write")?;
        let mut notice = prompt.clone();
        notice.extend_from_slice(format!("remote client @ {}\n", endpoint(&client.get::<Value>("peername")?)?).as_bytes());
        io_write.call::<()>(lua.create_string(notice)?)?;
        let peer = Rc::new(ServerPeer {
            socket: SocketRef::new(lua, &client)?,
            prompt,
            inbox: RefCell::new(Inbox::default()),
            pending: PendingChunk::default(),
        });
        clients.0.borrow_mut().push(Rc::downgrade(&peer));
        let weak = Rc::downgrade(&peer);
        uv_handle::when_closed(
            lua,
            &client,
            Runtime::handler(lua, move |_, ()| {
                if let Some(peer) = weak.upgrade() {
                    peer.socket.release();
                }
                Ok(())
            })?,
        )?;
        peer.send(lua, &peer.prompt);
        if let Some(stream) = uv_handle::state_of::<Stream>(&client)? {
            stream.set_consumer(peer);
        }
        if let Some(callback) = &callback {
            callback.call::<()>(client)?;
        }
        Ok(())
    })?;
    let server = crate::tcp::listen_with(lua, &domain, on_connection)?;
    if let Value::Table(address) = server.get::<Value>("sockname")? {
        let host: String = address.get::<String>("address").unwrap_or_default();
        if !is_loopback(&host) {
            eprintln!(
                "async: repl.listen: listening on {}: anyone who can connect can run code in this process",
                endpoint(&Value::Table(address))?
            );
        }
    }
    Ok(server)
}

/// How a client shows what a server sends.
#[derive(Clone, Copy)]
enum Show {
    /// As it comes (`connect`).
    Raw,
    /// Line by line, one newline each (`connectn`), or nothing (`mute`).
    Lines { mute: bool },
}

/// The client side of one connection: shows what the server sends.
struct ClientPeer {
    show: Show,
    /// Connections still open, shared by a `connectn` group: the process
    /// ends with the last one.
    open: Rc<RefCell<usize>>,
}

impl Consumer for ClientPeer {
    fn data(self: Rc<Self>, _: &Lua, _: &Stream, bytes: &[u8]) -> Result<()> {
        match self.show {
            Show::Raw => out(bytes),
            Show::Lines { mute: true } => {}
            Show::Lines { mute: false } => {
                if bytes != b"\n" {
                    let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
                    let trimmed = trimmed.strip_prefix(b"\n").unwrap_or(trimmed);
                    let mut line = trimmed.to_vec();
                    line.push(b'\n');
                    out(&line);
                }
            }
        }
        Ok(())
    }

    fn end(self: Rc<Self>, _: &Lua) -> Result<()> {
        self.closed()
    }

    fn error(self: Rc<Self>, _: &Lua, message: &str) -> Result<bool> {
        eprintln!("async: repl: {message}");
        self.closed()?;
        Ok(true)
    }
}

impl ClientPeer {
    fn closed(&self) -> Result<()> {
        let mut open = self.open.borrow_mut();
        *open = open.saturating_sub(1);
        if *open == 0 {
            exit_process();
        }
        Ok(())
    }
}

/// Forwards stdin to the connected servers; its end exits.
struct Forward(RefCell<Vec<SocketRef>>);

impl Consumer for Forward {
    fn data(self: Rc<Self>, lua: &Lua, _: &Stream, bytes: &[u8]) -> Result<()> {
        for socket in self.0.borrow().iter() {
            socket.with_stream(|stream| stream.write(lua, &[bytes], None))?.transpose()?;
        }
        Ok(())
    }

    fn end(self: Rc<Self>, _: &Lua) -> Result<()> {
        exit_process()
    }
}

/// Connects to each of `domains`; `done(client)` once all are connected.
fn connect_all(lua: &Lua, args: &Args, domains: Vec<Value>, show: Show, done: Option<Function>) -> Result<Vec<Table>> {
    let forward = Rc::new(Forward(RefCell::new(Vec::new())));
    let open = Rc::new(RefCell::new(domains.len()));
    let waiting = Rc::new(RefCell::new(domains.len()));
    let mut clients = Vec::new();
    for value in domains {
        let domain = crate::domain::domain_of(&value, args.name(), "127.0.0.1", |_| None)?;
        let (forward, open, waiting, done) = (forward.clone(), open.clone(), waiting.clone(), done.clone());
        let on_connect = Runtime::handler(lua, move |lua, client: Table| {
            if let Some(stream) = uv_handle::state_of::<Stream>(&client)? {
                stream.set_consumer(Rc::new(ClientPeer { show, open: open.clone() }));
            }
            let socket = SocketRef::new(lua, &client)?;
            forward.0.borrow_mut().push(socket);
            let remaining = {
                let mut waiting = waiting.borrow_mut();
                *waiting -= 1;
                *waiting
            };
            if remaining == 0 {
                read_stdin(lua, forward.clone())?;
                if let Some(done) = &done {
                    done.call::<()>(client)?;
                }
            }
            Ok(())
        })?;
        clients.push(crate::tcp::connect_with(lua, &domain, Some(on_connect))?);
    }
    Ok(clients)
}

/// `repl.connect(domain[, cb])` -> client.
pub fn connect(lua: &Lua, args: Args) -> Result<Table> {
    let callback = args.opt_function(2)?;
    let mut clients = connect_all(lua, &args, vec![args.get(1)], Show::Raw, callback)?;
    Ok(clients.remove(0))
}

/// `repl.connectn(domains[, opts][, cb])` -> clients; `opts.mute` hides
/// the answers.
pub fn connectn(lua: &Lua, args: Args) -> Result<Table> {
    let domains: Vec<Value> = args.table(1)?.sequence_values::<Value>().collect::<Result<_>>()?;
    if domains.is_empty() {
        return args.bad(1, "non-empty array of domains");
    }
    let (mute, callback) = match args.get(2) {
        Value::Function(f) => (false, Some(f)),
        Value::Table(opts) => (opts.get::<Value>("mute")?.as_boolean().unwrap_or(false), args.opt_function(3)?),
        Value::Nil => (false, args.opt_function(3)?),
        _ => return args.bad(2, "table or function"),
    };
    let clients = connect_all(lua, &args, domains, Show::Lines { mute }, callback)?;
    lua.create_sequence_from(clients)
}
