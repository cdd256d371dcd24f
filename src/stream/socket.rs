//! What TCP sockets (tcp.rs) and Unix domain sockets (pipe.rs) share: the
//! listening server handle (each connection accepted into a new stream and
//! handed to the server's callback; `close` and `onclose`), and the end of
//! a client's connect (a failure to the stream's error path, else the
//! stream made ready, its held writes sent, its callback called). A kind
//! of socket says how its streams are made and what is set on one once it
//! is connected (`SocketKind`); binding stays with each kind.
//!
//! May touch: libuv stream handles of servers and sockets, their connect
//! requests; the Lua objects of servers and sockets.

use std::ffi::c_int;

use libuv_sys2 as uv;
use mlua::{Function, Lua, Result, Table};

use crate::core::class::{Class, Method};
use crate::core::errors::{UvError, uv_message};
use crate::core::lua_raw::PrivateKey;
use crate::core::runtime::Runtime;
use crate::core::uv_handle::{self, HandleState, Plain};
use crate::core::uv_request::{Callback, UvRequest};
use crate::stream::Stream;

/// Node's default listen backlog.
pub const BACKLOG: c_int = 511;

/// One kind of connected socket over the stream layer.
pub trait SocketKind: 'static {
    /// Where a connect goes (an address, a path), kept by its request for
    /// the error message.
    type Target: 'static;
    /// How stderr messages name the server side: `"tcp.listen"`.
    const LISTEN: &'static str;
    /// A new socket handle, not yet connected: its object and stream.
    fn new_socket(lua: &Lua) -> Result<(Table, &'static Stream)>;
    /// A socket just accepted or connected: its options and names. The
    /// inner error (the peer went away meanwhile) drops the connection.
    fn ready(lua: &Lua, stream: &Stream, object: &Table) -> Result<std::result::Result<(), UvError>>;
    /// `target` as error messages quote it.
    fn describe(target: &Self::Target) -> String;
}

/// A listening server: its handle, nothing more.
pub type Server = Plain;

/// The methods of every server handle.
pub static SERVER_METHODS: &[(&str, Method)] =
    &[("close", uv_handle::close_method::<Server>), ("onclose", uv_handle::onclose_method)];

// Private key of a server object: its connection callback.
static ON_CONNECTION: PrivateKey = PrivateKey::new();

/// A server handle of `class` whose connections go to `on_connection`,
/// initialised by `init` (`uv_tcp_init`, `uv_pipe_init`); the caller binds
/// it, then calls `start_listening` (or closes it).
pub fn open_server<H>(
    lua: &Lua,
    class: &'static Class,
    on_connection: Function,
    init: impl FnOnce(*mut uv::uv_loop_t, *mut H) -> c_int,
) -> Result<(Table, &'static Server)> {
    let object = lua.create_table()?;
    object.set_metatable(Some(class.metatable(lua)?))?;
    object.raw_set(ON_CONNECTION.value(), on_connection)?;
    let server = uv_handle::open::<Server, H>(lua, &object, Plain::new(class, ()), "listen", init)?;
    Ok((object, server))
}

/// Starts accepting connections of kind `K` on a bound server; a libuv
/// error code if that fails.
pub fn start_listening<K: SocketKind>(server: &Server, backlog: c_int) -> c_int {
    let raw = server.tie.handle() as *mut uv::uv_stream_t;
    // SAFETY: the server handle is open and bound; `on_connection` gets it
    // back while it is open (libuv stops calling when it closes).
    unsafe { uv::uv_listen(raw, backlog, Some(on_connection::<K>)) }
}

extern "C" fn on_connection<K: SocketKind>(raw: *mut uv::uv_stream_t, status: c_int) {
    // SAFETY: listening started on an open server made by `open_server`.
    let server = unsafe { uv_handle::state_from::<Server>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let Some(lua) = rt.lua() else { return };
    if status < 0 {
        eprintln!("async: {}: {}", K::LISTEN, uv_message(status, None));
        return;
    }
    rt.dispatch(|| {
        let Some(server_object) = server.tie.object(&lua)? else { return Ok(()) };
        let (client, stream) = K::new_socket(&lua)?;
        let handle = stream.tie().handle() as *mut uv::uv_stream_t;
        // SAFETY: both handles are open stream handles of this loop and kind.
        let accepted = UvError::check(unsafe { uv::uv_accept(raw, handle) });
        let ready = match accepted {
            Ok(_) => K::ready(&lua, stream, &client)?,
            Err(error) => Err(error),
        };
        if ready.is_err() {
            // Reset before we got to it (ENOTCONN): drop it quietly.
            stream.tie().close();
            return Ok(());
        }
        let on_connection: Function = server_object.raw_get(ON_CONNECTION.value())?;
        rt.callback(&lua, on_connection, client).map(drop)
    });
}

/// The state a connect request keeps: the callback, and the target.
type Connecting<K> = (Option<Callback>, <K as SocketKind>::Target);

/// Starts connecting the socket `object` (its `stream`) to `target` with
/// `start` (a closure calling `uv_tcp_connect` or `uv_pipe_connect2` with
/// the request and completion it is given); `on_connect(client)` once
/// connected. A connect that cannot start fails the stream.
pub fn connect<K: SocketKind>(
    lua: &Lua,
    object: &Table,
    stream: &Stream,
    target: K::Target,
    on_connect: Option<Callback>,
    start: impl FnOnce(*mut uv::uv_connect_t, uv::uv_connect_cb) -> c_int,
) -> Result<()> {
    let started =
        UvRequest::<uv::uv_connect_t, Connecting<K>>::start((on_connect, target), |req| start(req, Some(on_connected::<K>)));
    match started {
        Ok(()) => Ok(()),
        Err((rc, (_, target))) => stream.fail(lua, object, uv_message(rc, Some(&K::describe(&target)))),
    }
}

extern "C" fn on_connected<K: SocketKind>(req: *mut uv::uv_connect_t, status: c_int) {
    // SAFETY: started by `connect`; this is its completion.
    let request = unsafe { UvRequest::<uv::uv_connect_t, Connecting<K>>::finish(req) };
    let raw = request.raw().handle;
    // SAFETY: a connect completes (with ECANCELED if need be) before its
    // handle's close callback, so the state is still there.
    let stream = unsafe { uv_handle::state_from::<Stream>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let (callback, target) = request.state;
    let Some(lua) = rt.lua() else { return };
    if status == uv::uv_errno_t_UV_ECANCELED {
        return;
    }
    let mut connected = false;
    let ready = rt.dispatch(|| {
        let Some(object) = stream.tie().object(&lua)? else { return Ok(()) };
        if status < 0 {
            return stream.fail(&lua, &object, uv_message(status, Some(&K::describe(&target))));
        }
        if let Err(error) = K::ready(&lua, stream, &object)? {
            return stream.fail(&lua, &object, error.message(Some(&K::describe(&target))));
        }
        stream.connected(&lua)?;
        connected = true;
        Ok(())
    });
    if ready
        && connected
        && let Some(callback) = callback
    {
        callback.call(rt, |_| stream.tie().object(&lua));
    }
}
