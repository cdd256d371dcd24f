//! Fiber reads (`read`, `readsplit`, `readline`): the Rust primitives
//! that `lua/stream.lua` suspends a fiber around (LuaJIT cannot yield
//! across a C call), and the waking of a waiting fiber.
//!
//! May touch: the stream's read buffer and Lua object.

use super::*;

/// What a fiber read waits for.
pub(super) enum Until<'a> {
    /// `read()`: the next chunk.
    Chunk,
    /// `readsplit(sep)`: the next piece ended by `sep`.
    Separator(&'a [u8]),
    /// `readsplit(fn)`: the next piece of those `fn(data) -> pieces,
    /// leftover` cuts, as `onsplitdata(fn)` does.
    Splitter(&'a Function),
}

impl Stream {
    /// The fiber-read primitive: the next chunk or piece; `Some(None)` at
    /// the end; None when the caller must wait.
    pub(super) fn take(&self, lua: &Lua, object: &Table, until: Until) -> Result<Option<Option<Value>>> {
        if !matches!(self.mode.get(), Mode::Fiber | Mode::FiberRaw) {
            self.set_mode(Mode::Fiber);
        }
        if let Until::Splitter(split) = until {
            self.split_with(lua, object, split)?;
        }
        let limit = self.max_line();
        let piece = {
            let mut buffers = self.buffers();
            let Buffers { inbox, awaiting_separator, split_pieces, .. } = &mut *buffers;
            *awaiting_separator = false;
            match until {
                Until::Chunk if !inbox.is_empty() => Some(inbox.take_all()),
                Until::Chunk => None,
                Until::Splitter(_) => match split_pieces.pop_front() {
                    Some(piece) => Some(piece),
                    None if self.ended.get() && !inbox.is_empty() => Some(inbox.take_all()),
                    None => {
                        *awaiting_separator = true;
                        None
                    }
                },
                Until::Separator(separator) => match inbox.next_bounded(separator, limit).map(|p| p.map(memory::copy)) {
                    Ok(Some(piece)) => Some(piece?),
                    Ok(None) if self.ended.get() && !inbox.is_empty() => Some(inbox.take_all()),
                    Ok(None) => {
                        *awaiting_separator = true;
                        None
                    }
                    Err(TooLong) => {
                        drop(buffers);
                        self.fail_too_long(lua, object)?;
                        return Ok(Some(None));
                    }
                },
            }
        };
        self.update_reading();
        if let Some(piece) = piece {
            if self.ended.get() && self.inbox_len() == 0 {
                self.finish_end(lua, object)?;
            }
            let value = if self.mode.get() == Mode::FiberRaw {
                Value::UserData(Buffer::own(lua, piece)?)
            } else {
                Value::String(lua.create_string(&piece)?)
            };
            return Ok(Some(Some(value)));
        }
        if self.ended.get() {
            self.finish_end(lua, object)?;
            return Ok(Some(None));
        }
        Ok(None)
    }
}

impl Stream {
    /// Hands the buffered bytes to `split` when no piece it made is left,
    /// keeping the pieces it gives and its leftover (held to the line
    /// limit, as `onsplitdata(fn)` holds it).
    fn split_with(&self, lua: &Lua, object: &Table, split: &Function) -> Result<()> {
        let joined = {
            let mut buffers = self.buffers();
            if !buffers.split_pieces.is_empty() || buffers.inbox.is_empty() {
                return Ok(());
            }
            buffers.inbox.take_all()
        };
        // No borrow is held while Lua runs: `split` may use the stream, and
        // so may a finalizer run by reading its pieces (a number among them
        // becomes a string).
        let (pieces, rest): (Option<Table>, Option<LuaString>) = split.call(lua.create_string(&joined)?)?;
        let mut taken = Vec::new();
        for piece in pieces.iter().flat_map(|t| t.sequence_values::<LuaString>()) {
            taken.push(memory::copy(&piece?.as_bytes())?);
        }
        if let Some(rest) = rest {
            if rest.as_bytes().len() > self.max_line() {
                return self.fail_too_long(lua, object);
            }
            if self.buffers().inbox.push(&rest.as_bytes()).is_err() {
                return self.fail_out_of_memory(lua, object);
            }
        }
        self.buffers().split_pieces.extend(taken);
        Ok(())
    }
}

/// Resumes the fiber waiting in `read()` on this stream, if any.
pub(super) fn wake(object: &Table) -> Result<()> {
    let waiter: Option<Function> = object.raw_get(WAITER.value())?;
    if let Some(waiter) = waiter {
        object.raw_set(WAITER.value(), Value::Nil)?;
        waiter.call::<()>(())?;
    }
    Ok(())
}

/// The fiber-read primitive for stream.lua: `piece`, `nil, err` at the
/// end, or `false` when the fiber must wait.
pub(super) fn take(lua: &Lua, args: Args) -> Result<MultiValue> {
    let this = args.table(1)?;
    let (separator, splitter) = match args.get(2) {
        Value::Function(f) => (None, Some(f)),
        _ => (args.opt_string(2)?, None),
    };
    let separator = separator.as_ref().map(|s| s.as_bytes());
    if separator.as_ref().is_some_and(|s| s.is_empty()) {
        return boundary::fail("readsplit: the separator must not be empty");
    }
    let until = match (&separator, &splitter) {
        (_, Some(split)) => Until::Splitter(split),
        (Some(separator), None) => Until::Separator(separator),
        (None, None) => Until::Chunk,
    };
    let Some(stream) = uv_handle::state_of::<Stream>(&this)? else {
        return (Value::Nil, this.raw_get::<Value>(FAILURE.value())?).into_lua_multi(lua);
    };
    match stream.take(lua, &this, until)? {
        Some(Some(piece)) => piece.into_lua_multi(lua),
        Some(None) => (Value::Nil, this.raw_get::<Value>(FAILURE.value())?).into_lua_multi(lua),
        None => false.into_lua_multi(lua),
    }
}

/// Registers `wake` to be called when data, the end, or an error arrives;
/// `park(h, nil)` forgets the one registered (its fiber could not wait).
pub(super) fn park(_: &Lua, args: Args) -> Result<()> {
    let this = args.table(1)?;
    if args.get(2) == Value::Nil {
        return this.raw_set(WAITER.value(), Value::Nil);
    }
    if this.raw_get::<Value>(WAITER.value())? != Value::Nil {
        return boundary::fail("read: another fiber is already reading this stream");
    }
    this.raw_set(WAITER.value(), args.function(2)?)
}
