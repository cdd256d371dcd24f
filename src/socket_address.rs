//! Socket addresses between Rust, C and Lua: `sockaddr` structures read
//! from and written for libuv, the `{address=, port=, family=}` tables of
//! `sockname` and `peername`, and IP literals.
//!
//! May touch: the C structures it is handed; Lua tables it makes.
//! Calls no libuv function itself (`read_address` runs the caller's).

use std::ffi::{c_char, c_int};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use libuv_sys2 as uv;
use mlua::{Lua, Result, Table, ffi};

use crate::core::errors::UvError;

/// A socket address read from C.
///
/// # Safety
/// `sa` is null or points at a socket address of its family's size.
pub unsafe fn socket_addr(sa: *const libc::sockaddr) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: per the contract, the family tells the size.
    unsafe {
        match (*sa).sa_family as c_int {
            libc::AF_INET => {
                let v4 = &*(sa as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(v4.sin_port))))
            }
            libc::AF_INET6 => {
                let v6 = &*(sa as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(v6.sin6_port), v6.sin6_flowinfo, v6.sin6_scope_id)))
            }
            _ => None,
        }
    }
}

/// A socket address for C calls (`uv_tcp_bind`, `uv_tcp_connect`).
pub fn c_socket_addr(addr: &SocketAddr) -> libc::sockaddr_storage {
    // SAFETY: zeroed sockaddr_storage is valid; each arm writes a complete
    // sockaddr of its family at its start, which the storage is sized for.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        match addr {
            SocketAddr::V4(a) => {
                let v4 = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in);
                v4.sin_family = libc::AF_INET as _;
                v4.sin_port = a.port().to_be();
                v4.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            }
            SocketAddr::V6(a) => {
                let v6 = &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6);
                v6.sin6_family = libc::AF_INET6 as _;
                v6.sin6_port = a.port().to_be();
                v6.sin6_addr.s6_addr = a.ip().octets();
                v6.sin6_flowinfo = a.flowinfo();
                v6.sin6_scope_id = a.scope_id();
            }
        }
        storage
    }
}

/// `{address=, port=, family=}` as sockname/peername carry it (family the
/// numeric address family, as the original gave it).
pub fn address_table(lua: &Lua, addr: &SocketAddr) -> Result<Table> {
    // SAFETY: exec_raw runs the pushes protected, with room for them, and
    // takes the one table they leave as its result.
    unsafe { lua.exec_raw((), |state| push_address_table(state, addr)) }
}

/// Pushes the table `address_table` makes, with the Lua C API: for the
/// hot path of a UDP socket's `onmessage`, which runs under its own
/// protected call.
///
/// # Safety
/// `state` is a live state with two free stack slots, running under a
/// protected call (the pushes allocate, and may raise out of memory).
pub unsafe fn push_address_table(state: *mut ffi::lua_State, addr: &SocketAddr) {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let ip = addr.ip().to_string();
    // SAFETY: per the contract; Lua copies the address text, and the field
    // names are static C strings.
    unsafe {
        ffi::lua_createtable(state, 0, 3);
        ffi::lua_pushlstring(state, ip.as_ptr() as *const c_char, ip.len());
        ffi::lua_setfield(state, -2, c"address".as_ptr());
        ffi::lua_pushinteger(state, addr.port() as _);
        ffi::lua_setfield(state, -2, c"port".as_ptr());
        ffi::lua_pushinteger(state, family as _);
        ffi::lua_setfield(state, -2, c"family".as_ptr());
    }
}

/// The address a libuv `get*name` call writes: `get(target, len)` is that
/// call, given storage large enough for any family.
pub fn read_address(get: impl FnOnce(*mut uv::sockaddr, *mut c_int) -> c_int) -> std::result::Result<SocketAddr, UvError> {
    // SAFETY: zeroed storage is valid; the call writes at most `len` bytes.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as c_int;
    UvError::check(get(&mut storage as *mut _ as *mut uv::sockaddr, &mut len))?;
    // SAFETY: the call filled a socket address of its family.
    unsafe { socket_addr(&storage as *const _ as *const libc::sockaddr) }.ok_or(UvError(uv::uv_errno_t_UV_EAFNOSUPPORT))
}

/// An IP literal, with or without IPv6 brackets.
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    crate::domain::unbracket(host).parse().ok()
}
