//! Socket addresses between Rust, C and Lua: `sockaddr` structures read
//! from and written for libuv, the `{address=, port=, family=}` tables of
//! `sockname` and `peername`, and IP literals.
//!
//! May touch: the C structures it is handed; Lua tables it makes.

use std::ffi::c_int;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use mlua::{Lua, Result, Table, Value};

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
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    lua.create_table_from([
        ("address", Value::String(lua.create_string(addr.ip().to_string())?)),
        ("port", Value::Integer(addr.port() as _)),
        ("family", Value::Integer(family as _)),
    ])
}

/// An IP literal, with or without IPv6 brackets.
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    crate::domain::unbracket(host).parse().ok()
}
