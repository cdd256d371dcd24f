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

use mlua::{Function, Lua, LuaString, RegistryKey, Result, Table, Value};

use crate::runtime::Runtime;
use crate::boundary::{self, Args};
use crate::socket_ref::SocketRef;
use crate::uv_handle;

/// One JSON connection, either side. Lua values are kept as registry
/// keys, never as mlua handles: those take one of mlua's few thousand
/// slots each, which would cap the number of peers and waiting messages.
struct Peer {
    /// The socket, until it is closed.
    socket: SocketRef,
    encode: RegistryKey,
    decode: RegistryKey,
    /// The server's `cb(request, reply)`, or the client's `receive` handler.
    receiver: RefCell<Option<RegistryKey>>,
    /// Messages that arrived before the client named a receiver.
    waiting: RefCell<VecDeque<RegistryKey>>,
    /// A server peer answers through `reply`; a client's receiver gets the
    /// message alone.
    server: bool,
}

impl Peer {
    fn new(lua: &Lua, object: &Table, receiver: Option<Function>, server: bool) -> Result<Rc<Peer>> {
        let json: Table = lua.named_registry_value::<Table>("async.module")?.get("json")?;
        let peer = Rc::new(Peer {
            socket: SocketRef::new(lua, object)?,
            encode: lua.create_registry_value(json.get::<Function>("encode")?)?,
            decode: lua.create_registry_value(json.get::<Function>("decode")?)?,
            receiver: RefCell::new(receiver.map(|f| lua.create_registry_value(f)).transpose()?),
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
        let text: LuaString = lua.registry_value::<Function>(&self.encode)?.call(value)?;
        let text = text.as_bytes();
        // The stream itself, never a `write` the user may have replaced.
        let sent = self.socket.with_stream(|stream| stream.write(lua, &[&text, b"\n"], None))?;
        Ok(sent.transpose()?.unwrap_or(false))
    }

    fn on_line(self: &Rc<Self>, lua: &Lua, line: &[u8]) -> Result<()> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        let decode = lua.registry_value::<Function>(&self.decode)?;
        let message = match decode.call::<Value>(lua.create_string(line)?) {
            Ok(message) => message,
            Err(_) => {
                // Bad JSON: this peer goes, nothing else does.
                self.socket.with_stream(|stream| stream.destroy())?;
                return Ok(());
            }
        };
        let receiver = match self.receiver.borrow().as_ref() {
            Some(key) => Some(lua.registry_value::<Function>(key)?),
            None => None,
        };
        match receiver {
            None => self.waiting.borrow_mut().push_back(lua.create_registry_value(message)?),
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
    let receive = boundary::function(lua, "receive", move |lua, args: Args| {
        let receiver = args.function(1)?;
        *this.receiver.borrow_mut() = Some(lua.create_registry_value(&receiver)?);
        loop {
            let next = this.waiting.borrow_mut().pop_front();
            match next {
                Some(message) => receiver.call::<()>(lua.registry_value::<Value>(&message)?)?,
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
