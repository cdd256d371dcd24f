//! Name resolution: `async.getAddrInfo`, and `resolve` for the TCP layer
//! (which accepts host names wherever an address is expected).
//!
//! Both go through libuv's `uv_getaddrinfo` (the system resolver on libuv's
//! thread pool). The result list is copied into Rust values and freed in
//! the completion callback.
//!
//! May touch: getaddrinfo requests; the Runtime, to dispatch callbacks.

use std::ffi::{CStr, CString, c_int};
use std::net::SocketAddr;

use libuv_sys2 as uv;
use mlua::{Lua, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::errors::uv_message;
use crate::core::options::OptionTable;
use crate::core::runtime::Runtime;
use crate::core::uv_request::{Callback, UvRequest};
use crate::socket_address::socket_addr;

/// One address found for a name.
pub struct Found {
    pub addr: SocketAddr,
    pub socktype: c_int,
    pub protocol: c_int,
    pub canonname: Option<String>,
}

/// What to ask the resolver for.
#[derive(Clone, Copy, Default)]
pub struct Hints {
    pub family: c_int,
    pub socktype: c_int,
    pub flags: c_int,
}

type Then = Box<dyn FnOnce(&Runtime, std::result::Result<Vec<Found>, String>)>;

/// Looks up `host` (and `port`), then calls `then` from the loop with the
/// addresses or the error, worded `"CODE: message \"host\""`.
pub fn resolve(rt: &Runtime, host: Option<&str>, port: Option<u16>, hints: Hints, then: Then) {
    let node = host.map(CString::new).transpose();
    let (Ok(node), Ok(service)) = (node, CString::new(port.map(|p| p.to_string()).unwrap_or_default())) else {
        let message = format!("EINVAL: invalid host name \"{}\"", host.unwrap_or_default().escape_debug());
        return fail_later(rt, then, message);
    };
    let host = host.unwrap_or("localhost");
    // SAFETY: zeroed addrinfo is the documented "no hints" value.
    let mut c_hints: uv::addrinfo = unsafe { std::mem::zeroed() };
    c_hints.ai_family = hints.family;
    c_hints.ai_socktype = hints.socktype;
    c_hints.ai_flags = hints.flags;
    let state = (then, host.to_string());
    let uv_loop = rt.uv_loop();
    let started = UvRequest::<uv::uv_getaddrinfo_t, (Then, String)>::start(state, |req| {
        let service = if port.is_some() { service.as_ptr() } else { std::ptr::null() };
        let node = node.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
        // SAFETY: `req` lives until `on_resolved`; libuv copies the node
        // (null: the loopback host), service and hints before returning.
        unsafe { uv::uv_getaddrinfo(uv_loop, req, Some(on_resolved), node, service, &c_hints) }
    });
    if let Err((rc, (then, host))) = started {
        then(rt, Err(uv_message(rc, Some(&host))));
    }
}

/// Calls `then` with the error `message` on the next turn of the loop, as
/// a lookup that failed would: never inside the call that asked (its
/// caller may not have set `onerr` yet).
fn fail_later(rt: &Runtime, then: Then, message: String) {
    let pending = std::rc::Rc::new(std::cell::RefCell::new(Some((then, message))));
    let deferred = rt.lua().is_some_and(|lua| {
        let held = pending.clone();
        let later = Runtime::handler(&lua, move |lua, ()| {
            if let Some((then, message)) = held.borrow_mut().take() {
                then(&*Runtime::of(lua)?, Err(message));
            }
            Ok(())
        });
        later.and_then(|later| rt.defer(&lua, later)).is_ok()
    });
    // Without a loop turn to wait for, the error is told at once.
    if !deferred && let Some((then, message)) = pending.borrow_mut().take() {
        then(rt, Err(message));
    }
}

extern "C" fn on_resolved(req: *mut uv::uv_getaddrinfo_t, status: c_int, list: *mut uv::addrinfo) {
    // SAFETY: the request was started by `resolve`; this is its completion.
    let request = unsafe { UvRequest::<uv::uv_getaddrinfo_t, (Then, String)>::finish(req) };
    // SAFETY: the request's loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop(request.raw().loop_) };
    let (then, host) = request.state;
    if status < 0 {
        return then(rt, Err(uv_message(status, Some(&host))));
    }
    let mut found = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list libuv gave us, freed below.
        let info = unsafe { &*entry };
        // SAFETY: ai_addr points at ai_addrlen bytes of a socket address.
        if let Some(addr) = unsafe { socket_addr(info.ai_addr as *const libc::sockaddr) } {
            let canonname = (!info.ai_canonname.is_null())
                // SAFETY: a non-null canonname is a C string of the list.
                .then(|| unsafe { CStr::from_ptr(info.ai_canonname) }.to_string_lossy().into_owned());
            found.push(Found { addr, socktype: info.ai_socktype, protocol: info.ai_protocol, canonname });
        }
        entry = info.ai_next;
    }
    // SAFETY: the list came from this request and is not used after this.
    unsafe { uv::uv_freeaddrinfo(list) };
    then(rt, Ok(found))
}

fn socktype_name(socktype: c_int) -> Option<&'static str> {
    match socktype {
        libc::SOCK_STREAM => Some("STREAM"),
        libc::SOCK_DGRAM => Some("DGRAM"),
        libc::SOCK_RAW => Some("RAW"),
        _ => None,
    }
}

fn protocol_name(protocol: c_int) -> Option<&'static str> {
    match protocol {
        libc::IPPROTO_TCP => Some("tcp"),
        libc::IPPROTO_UDP => Some("udp"),
        _ => None,
    }
}

/// Reads `[1] = {socktype=, family=, addrconfig=, canonname=}` of
/// getAddrInfo's options. `family` is a name (`INET`, `IPv4`, ...) or the
/// IP version (`4`, `6`), as the original accepted.
fn hints_of(options: &Table) -> Result<Hints> {
    let mut hints = Hints::default();
    let given = match options.get::<Value>(1)? {
        Value::Nil => return Ok(hints),
        Value::Table(given) => given,
        other => {
            return boundary::fail(format!(
                "getAddrInfo: domain[1] (the hints) must be a table, got {}",
                boundary::lua_type_name(&other)
            ));
        }
    };
    let read = OptionTable::new(Some(&given), "getAddrInfo");
    hints.socktype = match read.text("socktype")?.as_deref() {
        None => 0,
        Some("STREAM") | Some("stream") => libc::SOCK_STREAM,
        Some("DGRAM") | Some("dgram") => libc::SOCK_DGRAM,
        Some(other) => return boundary::fail(format!("getAddrInfo: unknown socktype '{other}' (STREAM or DGRAM)")),
    };
    hints.family = match read.text("family")?.as_deref() {
        None => libc::AF_UNSPEC,
        Some("INET") | Some("inet") | Some("IPv4") | Some("4") => libc::AF_INET,
        Some("INET6") | Some("inet6") | Some("IPv6") | Some("6") => libc::AF_INET6,
        Some("UNSPEC") | Some("unspec") | Some("0") => libc::AF_UNSPEC,
        Some(other) => return boundary::fail(format!("getAddrInfo: unknown family '{other}' (INET, INET6, 4 or 6)")),
    };
    if read.boolean("addrconfig")?.unwrap_or(false) {
        hints.flags |= libc::AI_ADDRCONFIG;
    }
    if read.boolean("canonname")?.unwrap_or(false) {
        hints.flags |= libc::AI_CANONNAME;
    }
    Ok(hints)
}

/// `async.getAddrInfo({path=host, port=n, [1]={...}}, cb)`: `cb(results)`,
/// or `cb({}, err)` on failure.
fn get_addr_info(lua: &Lua, args: Args) -> Result<()> {
    let options = args.table(1)?;
    let callback = Callback::new(lua, args.function(2)?)?;
    let read = OptionTable::new(Some(&options), "getAddrInfo");
    // Without a host name, getaddrinfo answers for the loopback host (the
    // original passed the missing `path` on as a null node); with neither
    // a host nor a port there is nothing to look up.
    let host = match read.text("path")? {
        Some(host) => Some(host),
        None => read.text("host")?,
    };
    let port = read.port("port")?;
    if host.is_none() && port.is_none() {
        return boundary::fail("getAddrInfo: the options need a host name in 'path', or a port");
    }
    let hints = hints_of(&options)?;
    let rt = Runtime::of(lua)?;
    resolve(
        &rt,
        host.as_deref(),
        port,
        hints,
        Box::new(move |rt, outcome| {
            callback.call(rt, |lua| {
                let results = lua.create_table()?;
                let error = match outcome {
                    Ok(found) => {
                        for (i, f) in found.iter().enumerate() {
                            let entry = lua.create_table()?;
                            entry.set("addr", f.addr.ip().to_string())?;
                            entry.set("port", f.addr.port())?;
                            entry.set("family", if f.addr.is_ipv4() { "IPv4" } else { "IPv6" })?;
                            entry.set("socktype", socktype_name(f.socktype))?;
                            entry.set("protocol", protocol_name(f.protocol))?;
                            entry.set("canonname", f.canonname.clone())?;
                            results.raw_set(i + 1, entry)?;
                        }
                        None
                    }
                    Err(message) => Some(message),
                };
                Ok((results, error))
            });
        }),
    );
    Ok(())
}

/// `async.getAddrInfo`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    module.set("getAddrInfo", boundary::function(lua, "getAddrInfo", get_addr_info)?)
}
