//! The buffer object of raw reads (`onrawdata`, `syncraw`): bytes without
//! a Lua string made of them. `#buf`, `buf:toString()`, `buf:clone()`, and
//! `buf:pointer()` (a light userdata for LuaJIT FFI users:
//! `ffi.cast('const char *', buf:pointer())`).
//!
//! Their errors are plain strings at the caller's line, like every other
//! error of the module (`spec.lua:9: buffer used after its callback
//! returned ...`).
//!
//! A buffer given to `onrawdata` borrows the read buffer and is valid only
//! during the callback: afterwards it is emptied, so a late use raises an
//! error instead of reading reused memory. `clone()` makes an owned copy
//! that stays valid.
//!
//! May touch: its own bytes. Never libuv.

use std::ffi::c_void;

use mlua::{
    AnyUserData, Function, IntoLuaMulti, LightUserData, Lua, MetaMethod, Result, UserData, UserDataFields, UserDataMethods,
    UserDataRef, Value,
};

use crate::core::boundary::{self, Args, fail};

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

/// The buffer a method was called on (argument 1), or the error saying
/// what it was called on instead.
fn this(args: &Args) -> Result<UserDataRef<Buffer>> {
    match args.get(1) {
        Value::UserData(buffer) => buffer.borrow::<Buffer>().or_else(|_| args.bad(1, "buffer")),
        _ => args.bad(1, "buffer"),
    }
}

/// A method of buffers, made at the boundary so that its errors are plain
/// strings at the caller's line (`buf:toString()` on a released buffer).
fn method<R: IntoLuaMulti>(lua: &Lua, name: &'static str, f: impl Fn(&Lua, &Buffer) -> Result<R> + 'static) -> Result<Function> {
    boundary::function(lua, name, move |lua, args| f(lua, &*this(&args)?))
}

impl UserData for Buffer {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        // Methods go in an `__index` table and `#buf` is a boundary
        // function too: mlua's own methods would raise its error objects.
        fields.add_meta_field_with("__index", |lua| {
            let methods = lua.create_table()?;
            methods.raw_set("toString", method(lua, "toString", |lua, this| lua.create_string(this.bytes()?))?)?;
            methods.raw_set("clone", method(lua, "clone", |_, this| Ok(Buffer::Owned(this.bytes()?.to_vec())))?)?;
            methods.raw_set(
                "pointer",
                method(lua, "pointer", |_, this| Ok(LightUserData(this.bytes()?.as_ptr() as *mut c_void)))?,
            )?;
            Ok(methods)
        });
        fields.add_meta_field_with("__len", |lua| method(lua, "__len", |_, this| Ok(this.bytes()?.len())));
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("buffer ({} bytes)", this.bytes().map_or(0, |b| b.len())))
        });
    }
}
