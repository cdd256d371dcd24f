//! `json.listen` and `json.connect`: newline-delimited compact JSON over
//! TCP (tcp.rs), one message per line, with `json.encode`/`json.decode`
//! (json.rs) for the mapping.
//!
//! Lines are cut by the stream's `onsplitdata('\n')`, so many messages in
//! one read and one message over many reads both work; a trailing `\r` and
//! empty lines are ignored. A peer that sends a line that is not JSON is
//! disconnected (that connection only); the server goes on. Messages that
//! reach a client before it called `receive` wait for it, in order.
//!
//! May touch: TCP sockets through their Lua methods; the Lua objects of
//! JSON servers and clients.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use mlua::{Function, Lua, LuaString, Result, Table, Value};

use crate::runtime::Runtime;
use crate::boundary::{self, Args};
use crate::socket_ref::SocketRef;
use crate::uv_handle;

/// One JSON connection, either side.
struct Peer {
    /// The socket, until it is closed.
    socket: SocketRef,
    encode: Function,
    decode: Function,
    /// The server's `cb(request, reply)`, or the client's `receive` handler.
    receiver: RefCell<Option<Function>>,
    /// Messages that arrived before the client named a receiver.
    waiting: RefCell<VecDeque<Value>>,
    /// A server peer answers through `reply`; a client's receiver gets the
    /// message alone.
    server: bool,
}

impl Peer {
    fn new(lua: &Lua, object: &Table, receiver: Option<Function>, server: bool) -> Result<Rc<Peer>> {
        let json: Table = lua.named_registry_value::<Table>("async.module")?.get("json")?;
        let peer = Rc::new(Peer {
            socket: SocketRef::new(object),
            encode: json.get("encode")?,
            decode: json.get("decode")?,
            receiver: RefCell::new(receiver),
            waiting: RefCell::new(VecDeque::new()),
            server,
        });
        let this = peer.clone();
        let on_line = Runtime::handler(lua, move |lua, line: LuaString| this.on_line(lua, &line.as_bytes()))?;
        let this = peer.clone();
        let on_closed = Runtime::handler(lua, move |_, ()| {
            this.socket.release();
            this.receiver.borrow_mut().take();
            this.waiting.borrow_mut().clear();
            Ok(())
        })?;
        uv_handle::when_closed(lua, object, on_closed)?;
        object.get::<Function>("onsplitdata")?.call::<()>(("\n", on_line))?;
        Ok(peer)
    }

    /// Writes `value` as one line; false once the socket is closed.
    fn send(&self, lua: &Lua, value: Value) -> Result<bool> {
        let text: LuaString = self.encode.call(value)?;
        let Some(socket) = self.socket.get() else { return Ok(false) };
        let line = lua.create_string([&text.as_bytes()[..], b"\n"].concat())?;
        socket.get::<Function>("write")?.call::<bool>(line)
    }

    fn on_line(self: &Rc<Self>, lua: &Lua, line: &[u8]) -> Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        let message = match self.decode.call::<Value>(lua.create_string(line)?) {
            Ok(message) => message,
            Err(_) => {
                // Bad JSON: this peer goes, nothing else does.
                self.socket.call("destroy", ())?;
                return Ok(());
            }
        };
        let receiver = self.receiver.borrow().clone();
        match receiver {
            None => self.waiting.borrow_mut().push_back(message),
            Some(receiver) if self.server => {
                let weak = Rc::downgrade(self);
                let reply = boundary::function(lua, "reply", move |lua, args: Args| match weak.upgrade() {
                    Some(peer) => peer.send(lua, args.get(1)),
                    None => Ok(false),
                })?;
                receiver.call::<()>((message, reply, self.socket.get()))?;
            }
            Some(receiver) => receiver.call::<()>(message)?,
        }
        Ok(())
    }
}

/// `json.listen(domain, cb)` -> server; `cb(request, reply, client)` per
/// message.
fn listen(lua: &Lua, args: Args) -> Result<Table> {
    let domain = crate::tcp::domain(lua, &args, "0.0.0.0")?;
    let callback = args.function(2)?;
    let on_connection = Runtime::handler(lua, move |lua, client: Table| {
        Peer::new(lua, &client, Some(callback.clone()), true).map(drop)
    })?;
    crate::tcp::listen_with(lua, &domain, on_connection)
}

/// `json.connect(domain, cb)` -> client; `cb(client)` once connected, with
/// `client.send(value)`, `client.receive(fn)`, `client.close()`.
fn connect(lua: &Lua, args: Args) -> Result<Table> {
    let domain = crate::tcp::domain(lua, &args, "127.0.0.1")?;
    let callback = args.opt_function(2)?;
    let client = crate::tcp::connect_with(lua, &domain, callback)?;
    let peer = Peer::new(lua, &client, None, false)?;
    let this = peer.clone();
    client.raw_set("send", boundary::function(lua, "send", move |lua, args: Args| this.send(lua, args.get(1)))?)?;
    let this = peer;
    let receive = boundary::function(lua, "receive", move |_, args: Args| {
        let receiver = args.function(1)?;
        *this.receiver.borrow_mut() = Some(receiver.clone());
        loop {
            let next = this.waiting.borrow_mut().pop_front();
            match next {
                Some(message) => receiver.call::<()>(message)?,
                None => return Ok(()),
            }
        }
    })?;
    client.raw_set("receive", receive)?;
    Ok(client)
}

/// Adds `listen` and `connect` to `async.json`.
pub fn install(lua: &Lua, json: &Table) -> Result<()> {
    json.set("listen", boundary::function(lua, "listen", listen)?)?;
    json.set("connect", boundary::function(lua, "connect", connect)?)
}
