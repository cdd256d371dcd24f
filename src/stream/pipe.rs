//! `src.pipe(dest[, options])`: what `src` reads is written to `dest`,
//! with backpressure, as Node's `readable.pipe`.
//!
//! The piping reads `src` as its Rust `Consumer` (so the data reaches it
//! as bytes, no Lua string made of them, when `dest` is a stream too):
//! each chunk is written to `dest`; when `dest.write` says false, `src` is
//! paused until `dest`'s `ondrain`. At the end of `src`, `dest` is closed
//! (after what it queued is written) unless `{['end'] = false}`. If `dest`
//! is a stream that closes first (a client went away), `src` is destroyed:
//! its data has nowhere to go.
//!
//! `dest` may be any table with a `write` method that follows the stream
//! convention (returns false past its mark, calls `ondrain` later); a
//! stream of this module is written through the stream layer directly.
//!
//! May touch: the two streams' states and Lua objects.

use std::rc::{Rc, Weak};

use super::*;
use crate::core::options::OptionTable;
use socket_ref::SocketRef;

struct Piping {
    source: SocketRef,
    dest: SocketRef,
    /// Close `dest` at the end of the source.
    end: bool,
}

impl Piping {
    fn pause_source(&self, paused: bool) -> Result<()> {
        self.source.with_stream(|stream| stream.set_paused(paused)).map(drop)
    }
}

impl Consumer for Piping {
    fn data(self: Rc<Self>, lua: &Lua, _: &Stream, bytes: &[u8]) -> Result<()> {
        let Some(dest) = self.dest.get() else { return Ok(()) };
        let accepted = match uv_handle::state_of::<Stream>(&dest)? {
            Some(stream) => stream.write(lua, &[bytes], None)?,
            None => dest.get::<Function>("write")?.call::<Value>(lua.create_string(bytes)?)? != Value::Boolean(false),
        };
        if !accepted {
            self.pause_source(true)?;
        }
        Ok(())
    }

    fn end(self: Rc<Self>, _: &Lua) -> Result<()> {
        let Some(dest) = self.dest.get().filter(|_| self.end) else { return Ok(()) };
        match uv_handle::state_of::<Stream>(&dest)? {
            Some(stream) => stream.close_gracefully(),
            None => {
                if let Some(close) = dest.get::<Option<Function>>("close")? {
                    close.call::<()>(())?;
                }
            }
        }
        Ok(())
    }
}

/// `src.pipe(dest[, {['end'] = false}])` -> `dest`.
pub(super) fn pipe(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (this, source) = methods::this_stream(&args)?;
    let dest = match args.get(1) {
        Value::Table(dest) if matches!(dest.get::<Value>("write")?, Value::Function(_)) => dest,
        _ => return args.bad(1, "stream (a table with a write method)"),
    };
    let options = args.opt_table(2)?;
    let end = OptionTable::new(options.as_ref(), "pipe").boolean("end")?.unwrap_or(true);
    let Some(source) = source else { return dest.into_lua_multi(lua) };
    let piping = Rc::new(Piping { source: SocketRef::new(lua, &this)?, dest: SocketRef::new(lua, &dest)?, end });
    let weak = Rc::downgrade(&piping);
    let resume = Runtime::handler(lua, move |_, ()| match weak.upgrade() {
        Some(piping) => piping.pause_source(false),
        None => Ok(()),
    })?;
    if let Some(stream) = uv_handle::state_of::<Stream>(&dest)? {
        stream.on_drain.set(lua, Some(resume))?;
        let weak: Weak<Piping> = Rc::downgrade(&piping);
        let gone = boundary::internal(lua, move |_, ()| match weak.upgrade() {
            Some(piping) => piping.source.with_stream(Stream::destroy).map(drop),
            None => Ok(()),
        })?;
        uv_handle::when_closed(lua, &dest, gone)?;
    } else if let Some(ondrain) = dest.get::<Option<Function>>("ondrain")? {
        ondrain.call::<()>(resume)?;
    }
    source.set_consumer(piping);
    dest.into_lua_multi(lua)
}
