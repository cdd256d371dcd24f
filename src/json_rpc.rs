//! `json.listen` and `json.connect`: newline-delimited compact JSON over
//! TCP (tcp.rs), one message per line, with `json.encode`/`json.decode`
//! (json.rs) for the mapping.
//!
//! A peer reads its socket as the stream's `Consumer` and cuts lines
//! itself, so many messages in one read and one message over many reads
//! both work; a trailing `\r` and empty lines are ignored. A peer that
//! sends a line that is not JSON is disconnected (that connection only);
//! the server goes on. So is one that sends more than `maxLineSize` bytes
//! (an option of `listen` and `connect`, 16 MiB by default) without a
//! newline, with a "line too long" error on its socket (`onerr`, else
//! stderr). Messages that reach a client before it called `receive` wait
//! for it, in order.
//!
//! May touch: TCP sockets through their stream state (stream/); the Lua
//! objects of JSON servers and clients.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use mlua::{Function, Lua, LuaString, RegistryKey, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::memory::{self, OutOfMemory};
use crate::core::options::OptionTable;
use crate::core::runtime::Runtime;
use crate::core::uv_handle;
use crate::split::{Inbox, TooLong};
use crate::stream::socket_ref::SocketRef;
use crate::stream::{self, Consumer, Stream};

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
    /// A server peer's `reply`, made once: every request of the peer is
    /// answered on the same socket, so one function serves them all.
    reply: RefCell<Option<RegistryKey>>,
    /// Messages that arrived before the client named a receiver.
    waiting: RefCell<VecDeque<RegistryKey>>,
    /// A server peer answers through `reply`; a client's receiver gets the
    /// message alone.
    server: bool,
    /// Bytes of the line being received.
    inbox: RefCell<Inbox>,
    max_line: usize,
}

impl Consumer for Peer {
    fn data(self: Rc<Self>, lua: &Lua, _: &Stream, bytes: &[u8]) -> Result<()> {
        if self.inbox.borrow_mut().push(bytes).is_err() {
            return self.fail(lua, memory::MESSAGE.to_string());
        }
        loop {
            // Copied out: the inbox is not borrowed while Lua runs.
            let next = self.inbox.borrow_mut().next_bounded(b"\n", self.max_line).map(|line| line.map(memory::copy));
            let line = match next {
                Ok(Some(Ok(line))) => line,
                Ok(Some(Err(OutOfMemory))) => return self.fail(lua, memory::MESSAGE.to_string()),
                Ok(None) => return Ok(()),
                Err(TooLong) => return self.fail(lua, stream::line_too_long(self.max_line)),
            };
            if !self.is_open()? {
                return Ok(());
            }
            self.on_line(lua, &line)?;
        }
    }

    /// A last message without its newline.
    fn end(self: Rc<Self>, lua: &Lua) -> Result<()> {
        let rest = self.inbox.borrow_mut().take_all();
        if rest.is_empty() { Ok(()) } else { self.on_line(lua, &rest) }
    }
}

/// The options of `listen` and `connect`: `maxLineSize`.
fn max_line_option(args: &Args) -> Result<usize> {
    let table = args.opt_table(3)?;
    let options = OptionTable::new(table.as_ref(), args.name());
    Ok(options.positive("maxLineSize")?.map_or(stream::DEFAULT_MAX_LINE, |n| n.max(1.0) as usize))
}

impl Peer {
    fn new(lua: &Lua, object: &Table, receiver: Option<Function>, server: bool, max_line: usize) -> Result<Rc<Peer>> {
        let (encode, decode) = crate::json::functions(lua)?;
        let peer = Rc::new(Peer {
            socket: SocketRef::new(lua, object)?,
            encode: lua.create_registry_value(encode)?,
            decode: lua.create_registry_value(decode)?,
            receiver: RefCell::new(receiver.map(|f| lua.create_registry_value(f)).transpose()?),
            reply: RefCell::new(None),
            waiting: RefCell::new(VecDeque::new()),
            server,
            inbox: RefCell::new(Inbox::default()),
            max_line,
        });
        let this = peer.clone();
        let on_closed = Runtime::handler(lua, move |_, ()| {
            this.socket.release();
            this.receiver.borrow_mut().take();
            this.reply.borrow_mut().take();
            this.waiting.borrow_mut().clear();
            Ok(())
        })?;
        uv_handle::when_closed(lua, object, on_closed)?;
        if let Some(stream) = uv_handle::state_of::<Stream>(object)? {
            stream.set_consumer(peer.clone());
        }
        Ok(peer)
    }

    /// Fails the socket with `message` (`onerr`, else stderr): this
    /// connection only.
    fn fail(&self, lua: &Lua, message: String) -> Result<()> {
        let Some(object) = self.socket.get() else { return Ok(()) };
        let Some(stream) = uv_handle::state_of::<Stream>(&object)? else { return Ok(()) };
        stream.fail(lua, &object, message)
    }

    /// Whether the socket still takes messages.
    fn is_open(&self) -> Result<bool> {
        Ok(self.socket.with_stream(|stream| !stream.is_closing())?.unwrap_or(false))
    }

    /// Writes `value` as one line; false once the socket is closed.
    fn send(&self, lua: &Lua, value: Value) -> Result<bool> {
        let encode = lua.registry_value::<Function>(&self.encode)?;
        let text: LuaString = match encode.call(value) {
            Ok(text) => text,
            Err(error) => return boundary::fail(boundary::plain_message(&error)),
        };
        let text = text.as_bytes();
        // The stream itself, never a `write` the user may have replaced.
        let sent = self.socket.with_stream(|stream| stream.write(lua, &[&text, b"\n"], None))?;
        Ok(sent.transpose()?.unwrap_or(false))
    }

    /// The peer's `reply(value)`: sends `value` as one line, false once
    /// the socket is closed.
    fn reply_function(self: &Rc<Self>, lua: &Lua) -> Result<Function> {
        if let Some(key) = self.reply.borrow().as_ref() {
            return lua.registry_value(key);
        }
        let weak = Rc::downgrade(self);
        let reply = boundary::function(lua, "reply", move |lua, args: Args| match weak.upgrade() {
            Some(peer) => peer.send(lua, args.get(1)),
            None => Ok(false),
        })?;
        *self.reply.borrow_mut() = Some(lua.create_registry_value(&reply)?);
        Ok(reply)
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
            None => {
                let message = lua.create_registry_value(message)?;
                self.waiting.borrow_mut().push_back(message);
            }
            Some(receiver) if self.server => {
                let reply = self.reply_function(lua)?;
                receiver.call::<()>((message, reply, self.socket.get()))?;
            }
            Some(receiver) => receiver.call::<()>(message)?,
        }
        Ok(())
    }
}

/// `json.listen(domain, cb, [options])` -> server; `cb(request, reply,
/// client)` per message.
fn listen(lua: &Lua, args: Args) -> Result<Table> {
    let domain = crate::tcp::domain(lua, &args, "0.0.0.0")?;
    let callback = args.function(2)?;
    let max_line = max_line_option(&args)?;
    let on_connection = Runtime::handler(lua, move |lua, client: Table| {
        Peer::new(lua, &client, Some(callback.clone()), true, max_line).map(drop)
    })?;
    crate::tcp::listen_with(lua, &domain, on_connection)
}

/// `json.connect(domain, cb, [options])` -> client; `cb(client)` once
/// connected, with `client.send(value)`, `client.receive(fn)`,
/// `client.close()`.
fn connect(lua: &Lua, args: Args) -> Result<Table> {
    let domain = crate::tcp::domain(lua, &args, "127.0.0.1")?;
    let callback = args.opt_function(2)?;
    let max_line = max_line_option(&args)?;
    let client = crate::tcp::connect_with(lua, &domain, callback)?;
    let peer = Peer::new(lua, &client, None, false, max_line)?;
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
