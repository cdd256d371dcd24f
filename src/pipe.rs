//! Unix domain sockets: `pipe.listen` (servers) and `pipe.connect`
//! (clients), the local cousins of tcp.rs, with which they share the
//! server and connect code (stream/socket.rs). A connection is a stream
//! handle of kind `pipe` (the kind of a process's pipes too, whose handle
//! this file also makes) with `sockname`/`peername` set to the socket's
//! path when it has one.
//!
//! A path is a file system path, or on Linux a name in the abstract
//! namespace when it starts with a zero byte. Paths are checked before
//! libuv sees them: libuv would cut a long one short (binding a different
//! file) and reads a zero byte as its end. A file already at the path
//! (a stale socket of a process that died) makes `listen` fail with
//! EADDRINUSE: it is never removed here. Closing a server removes the
//! socket file it made (libuv does).
//!
//! May touch: libuv pipe handles and connect requests; Lua objects of
//! pipe servers and sockets.

use std::ffi::c_char;

use libuv_sys2 as uv;
use mlua::{Lua, LuaString, Result, Table};

use crate::core::boundary::{self, Args};
use crate::core::class::Class;
use crate::core::errors::{UvError, uv_message};
use crate::core::uv_handle::{self, HandleState, Tie};
use crate::core::uv_request::Callback;
use crate::stream::socket::{self, SocketKind};
use crate::stream::{self, Stream};

static PIPE: Class = Class { kind: "pipe", methods: &[stream::METHODS], lua_methods: Some(stream::lua_methods) };
static SERVER: Class = Class { kind: "pipe.server", methods: &[socket::SERVER_METHODS], lua_methods: None };

/// The bytes a socket address holds for its path (108 on Linux).
const PATH_CAPACITY: usize = std::mem::size_of::<libc::sockaddr_un>() - std::mem::offset_of!(libc::sockaddr_un, sun_path);

/// A new pipe handle: a stream handle object of kind "pipe", for the
/// sockets here and process.rs's standard streams.
pub fn new_pipe(lua: &Lua) -> Result<(Table, &'static Stream)> {
    let object = lua.create_table()?;
    object.set_metatable(Some(PIPE.metatable(lua)?))?;
    let stream = uv_handle::open::<Stream, uv::uv_pipe_t>(lua, &object, Stream::new(&PIPE), "pipe", |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_pipe_init(uv_loop, raw, 0) }
    })?;
    Ok((object, stream))
}

fn pipe_handle(tie: &Tie) -> *mut uv::uv_pipe_t {
    tie.handle() as *mut uv::uv_pipe_t
}

/// Whether `path` names a socket in Linux's abstract namespace.
fn is_abstract(path: &[u8]) -> bool {
    path.first() == Some(&0)
}

/// A path as messages show it: an abstract name with `@` for its leading
/// zero byte, as `ss` and `netstat` write it; other zero bytes as `\0`.
fn describe(path: &[u8]) -> String {
    let shown = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace('\0', "\\0");
    match path.split_first() {
        Some((0, name)) => format!("@{}", shown(name)),
        _ => shown(path),
    }
}

/// Argument 1 as a socket path, or a clear error naming the function.
fn path_argument(args: &Args) -> Result<LuaString> {
    let path = args.string(1)?;
    let bytes = path.as_bytes();
    let name = args.name();
    if bytes.is_empty() {
        return boundary::fail(format!("{name}: the path is empty"));
    }
    if is_abstract(&bytes) {
        if !cfg!(target_os = "linux") {
            return boundary::fail(format!("{name}: abstract socket names (a path starting with a zero byte) need Linux"));
        }
    } else if bytes.contains(&0) {
        return boundary::fail(format!("{name}: the path '{}' holds a zero byte", describe(&bytes)));
    }
    // A file path needs room for its terminating zero byte.
    let capacity = if is_abstract(&bytes) { PATH_CAPACITY } else { PATH_CAPACITY - 1 };
    if bytes.len() > capacity {
        return boundary::fail(format!(
            "{name}: the path '{}' is {} bytes long, a socket path holds at most {capacity}",
            describe(&bytes),
            bytes.len()
        ));
    }
    drop(bytes);
    Ok(path)
}

/// The path a pipe socket is bound to (`peer`: its peer's), if any.
fn pipe_name(handle: *const uv::uv_pipe_t, peer: bool) -> std::result::Result<Option<Vec<u8>>, UvError> {
    let mut buffer = [0u8; PATH_CAPACITY + 1];
    let mut size = buffer.len();
    let place = buffer.as_mut_ptr() as *mut c_char;
    // SAFETY: `handle` is an open pipe handle; libuv writes at most `size`
    // bytes into the buffer and sets `size` to the name's length.
    let rc = unsafe {
        if peer { uv::uv_pipe_getpeername(handle, place, &mut size) } else { uv::uv_pipe_getsockname(handle, place, &mut size) }
    };
    UvError::check(rc)?;
    Ok((size > 0).then(|| buffer[..size.min(buffer.len())].to_vec()))
}

/// Unix domain sockets for the shared server and connect code.
struct Pipe;

impl SocketKind for Pipe {
    type Target = Vec<u8>;
    const LISTEN: &'static str = "pipe.listen";

    fn new_socket(lua: &Lua) -> Result<(Table, &'static Stream)> {
        new_pipe(lua)
    }

    /// Sets `sockname` and `peername` (those the socket has).
    fn ready(lua: &Lua, stream: &Stream, object: &Table) -> Result<std::result::Result<(), UvError>> {
        let handle = pipe_handle(stream.tie());
        let names = pipe_name(handle, false).and_then(|local| Ok((local, pipe_name(handle, true)?)));
        let (local, peer) = match names {
            Ok(names) => names,
            Err(error) => return Ok(Err(error)),
        };
        for (field, name) in [("sockname", local), ("peername", peer)] {
            if let Some(name) = name {
                object.raw_set(field, lua.create_string(name)?)?;
            }
        }
        Ok(Ok(()))
    }

    fn describe(path: &Vec<u8>) -> String {
        describe(path)
    }
}

/// `pipe.listen(path, cb)` -> server; `cb(client)` per connection.
fn listen(lua: &Lua, args: Args) -> Result<Table> {
    let path = path_argument(&args)?;
    let on_connection = args.function(2)?;
    let (object, server) = socket::open_server::<uv::uv_pipe_t>(lua, &SERVER, on_connection, |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop.
        unsafe { uv::uv_pipe_init(uv_loop, raw, 0) }
    })?;
    let bytes = path.as_bytes();
    let handle = pipe_handle(server.tie());
    // SAFETY: the handle is open; libuv copies the name (checked by
    // `path_argument`, so it is not cut short) before returning.
    let mut rc = unsafe { uv::uv_pipe_bind2(handle, bytes.as_ptr() as *const c_char, bytes.len(), uv::UV_PIPE_NO_TRUNCATE as _) };
    if rc == 0 {
        rc = socket::start_listening::<Pipe>(server, socket::BACKLOG);
    }
    if rc != 0 {
        server.tie().close();
        return boundary::fail(format!("listen: {}", uv_message(rc, Some(&describe(&bytes)))));
    }
    drop(bytes);
    if let Err(error) = object.raw_set("sockname", path) {
        // Out of memory: the caller never gets the server.
        server.tie().close();
        return Err(error);
    }
    Ok(object)
}

/// `pipe.connect(path[, cb])` -> client; `cb(client)` once connected.
fn connect(lua: &Lua, args: Args) -> Result<Table> {
    let path = path_argument(&args)?.as_bytes().to_vec();
    let on_connect = args.opt_function(2)?.map(|f| Callback::new(lua, f)).transpose()?;
    let (object, stream) = new_pipe(lua)?;
    stream.set_connecting();
    let handle = pipe_handle(stream.tie());
    let name = path.as_ptr() as *const c_char;
    let length = path.len();
    socket::connect::<Pipe>(lua, &object, stream, path, on_connect, |req, on_connected| {
        // SAFETY: the socket is open; `req` lives until `on_connected`;
        // the name (moved into the request, its heap bytes unmoved) is
        // copied by libuv before it returns.
        unsafe { uv::uv_pipe_connect2(req, handle, name, length, uv::UV_PIPE_NO_TRUNCATE as _, on_connected) }
    })?;
    Ok(object)
}

/// `async.pipe`: `listen`, `connect`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let pipe = lua.create_table()?;
    pipe.set("listen", boundary::function(lua, "listen", listen)?)?;
    pipe.set("connect", boundary::function(lua, "connect", connect)?)?;
    module.set("pipe", pipe)
}
