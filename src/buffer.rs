//! The buffer object of raw reads (`onrawdata`, `syncraw`): bytes without
//! a Lua string made of them. `#buf`, `buf:toString()`, `buf:clone()`, and
//! `buf:pointer()` (a light userdata for LuaJIT FFI users:
//! `ffi.cast('const char *', buf:pointer())`).
//!
//! A buffer given to `onrawdata` borrows the read buffer and is valid only
//! during the callback: afterwards it is emptied, so a late use raises an
//! error instead of reading reused memory. `clone()` makes an owned copy
//! that stays valid.
//!
//! May touch: its own bytes. Never libuv.

use std::ffi::c_void;

use mlua::{AnyUserData, LightUserData, Lua, MetaMethod, Result, UserData, UserDataMethods};

use crate::boundary::fail;

pub enum Buffer {
    /// Borrowed bytes, valid until `release`.
    Borrowed(*const u8, usize),
    Owned(Vec<u8>),
    Released,
}

impl Buffer {
    pub fn bytes(&self) -> Result<&[u8]> {
        match self {
            // SAFETY: a borrowed buffer is made over bytes that stay valid
            // until `release`, which replaces it with `Released`.
            Buffer::Borrowed(ptr, len) => Ok(unsafe { std::slice::from_raw_parts(*ptr, *len) }),
            Buffer::Owned(bytes) => Ok(bytes),
            Buffer::Released => fail("buffer used after its callback returned (use buf:clone() to keep it)"),
        }
    }

    /// A buffer object over `bytes`, which must stay valid until `release`.
    pub fn lend(lua: &Lua, bytes: &[u8]) -> Result<AnyUserData> {
        lua.create_userdata(Buffer::Borrowed(bytes.as_ptr(), bytes.len()))
    }

    pub fn own(lua: &Lua, bytes: Vec<u8>) -> Result<AnyUserData> {
        lua.create_userdata(Buffer::Owned(bytes))
    }

    /// Ends the loan of a buffer made by `lend`.
    pub fn release(buffer: &AnyUserData) -> Result<()> {
        *buffer.borrow_mut::<Buffer>()? = Buffer::Released;
        Ok(())
    }
}

impl UserData for Buffer {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(this.bytes()?.len()));
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("buffer ({} bytes)", this.bytes().map_or(0, |b| b.len())))
        });
        methods.add_method("toString", |lua, this, ()| lua.create_string(this.bytes()?));
        methods.add_method("clone", |_, this, ()| Ok(Buffer::Owned(this.bytes()?.to_vec())));
        methods.add_method("pointer", |_, this, ()| {
            Ok(LightUserData(this.bytes()?.as_ptr() as *mut c_void))
        });
    }
}
