//! The stream methods every kind of stream has (`write`, `ondata`,
//! `close`, `pause`, ...), as Lua calls them.
//!
//! May touch: the stream and its Lua object.

use super::*;

/// The stream of a method call, or None once it is closed.
pub(super) fn this_stream(args: &Args) -> Result<(Table, Option<&'static Stream>)> {
    let this = args.this()?;
    let stream = uv_handle::state_of::<Stream>(&this)?.map(|s| {
        // SAFETY: see uv_handle::state_of; the reference is used only
        // during this method call.
        unsafe { &*(s as *const Stream) }
    });
    Ok((this, stream))
}

pub(super) fn nothing() -> Result<MultiValue> {
    Ok(MultiValue::new())
}

/// `h.ondata(cb)` and its siblings: keep `cb`, then switch mode. As in
/// the original, `cb` may be left out: the stream is read and the data
/// dropped.
pub(super) fn set_reader(args: &Args, mode: Mode) -> Result<MultiValue> {
    let (this, stream) = this_stream(args)?;
    this.raw_set(ON_DATA.value(), args.opt_function(1)?)?;
    if let Some(stream) = stream {
        stream.set_mode(mode);
    }
    nothing()
}

pub(super) fn ondata(_: &Lua, args: Args) -> Result<MultiValue> {
    set_reader(&args, Mode::Strings)
}

pub(super) fn onrawdata(_: &Lua, args: Args) -> Result<MultiValue> {
    set_reader(&args, Mode::Buffers)
}

pub(super) fn onsplitdata(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (this, stream) = this_stream(&args)?;
    let callback = args.opt_function(2)?;
    let mode = match args.get(1) {
        Value::Function(split) => {
            this.raw_set(SPLITTER.value(), split)?;
            Mode::SplitWith
        }
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            let separator = args.string(1)?;
            if separator.as_bytes().is_empty() {
                return boundary::fail("onsplitdata: the separator must not be empty");
            }
            if let Some(stream) = stream {
                stream.buffers().separator = separator.as_bytes().to_vec();
            }
            Mode::Split
        }
        _ => return args.bad(1, "string or function"),
    };
    this.raw_set(ON_DATA.value(), callback)?;
    if let Some(stream) = stream {
        stream.set_mode(mode);
        // Pieces already buffered (by fiber reads before) go out now.
        if mode == Mode::Split && stream.inbox_len() > 0 {
            stream.deliver_pieces(lua, &this)?;
        }
    }
    nothing()
}

pub(super) fn set_handler(args: &Args, anchor: &'static PrivateKey) -> Result<MultiValue> {
    let this = args.this()?;
    this.raw_set(anchor.value(), args.opt_function(1)?)?;
    nothing()
}

pub(super) fn onend(_: &Lua, args: Args) -> Result<MultiValue> {
    set_handler(&args, &ON_END)
}

pub(super) fn onerr(_: &Lua, args: Args) -> Result<MultiValue> {
    set_handler(&args, &ON_ERR)
}

pub(super) fn onclose(_: &Lua, args: Args) -> Result<MultiValue> {
    uv_handle::set_onclose(&args.this()?, args.opt_function(1)?)?;
    nothing()
}

pub(super) fn ondrain(_: &Lua, args: Args) -> Result<MultiValue> {
    set_handler(&args, &ON_DRAIN)
}

/// A write's data: a string, a buffer, or an array of them.
pub(super) enum Piece {
    Text(LuaString),
    Raw(AnyUserData),
}

/// Past this many pieces an array is joined into one buffer as it is read:
/// holding every piece as an mlua value would use up mlua's few thousand
/// slots for values held by Rust (a write of 100,000 strings failed so).
pub const MAX_HELD_PIECES: usize = 256;

/// A write's data as read from its argument.
pub(super) enum Data {
    Pieces(Vec<Piece>),
    Joined(Vec<u8>),
}

pub(super) fn pieces_of(args: &Args) -> Result<Data> {
    let piece = |value: Value| -> Option<Piece> {
        match value {
            Value::String(s) => Some(Piece::Text(s)),
            Value::UserData(u) if u.is::<Buffer>() => Some(Piece::Raw(u)),
            _ => None,
        }
    };
    match args.get(1) {
        Value::Table(list) if list.raw_len() > MAX_HELD_PIECES => {
            let mut joined = Vec::new();
            for value in list.sequence_values::<Value>() {
                match piece(value?) {
                    Some(Piece::Text(s)) => joined.extend_from_slice(&s.as_bytes()),
                    Some(Piece::Raw(u)) => joined.extend_from_slice(u.borrow::<Buffer>()?.bytes()?),
                    None => return args.bad(1, "array of strings"),
                }
            }
            Ok(Data::Joined(joined))
        }
        Value::Table(list) => {
            let mut pieces = Vec::with_capacity(list.raw_len());
            for value in list.sequence_values::<Value>() {
                match piece(value?) {
                    Some(p) => pieces.push(p),
                    None => return args.bad(1, "array of strings"),
                }
            }
            Ok(Data::Pieces(pieces))
        }
        Value::Integer(_) | Value::Number(_) => Ok(Data::Pieces(vec![Piece::Text(args.string(1)?)])),
        other => match piece(other) {
            Some(p) => Ok(Data::Pieces(vec![p])),
            None => args.bad(1, "string, buffer or array of strings"),
        },
    }
}

pub(super) fn write(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    let pieces = pieces_of(&args)?;
    let callback = args.opt_function(2)?;
    // A closing stream is Stream::write's to answer; a closed one has no
    // state left.
    let Some(stream) = stream else {
        if let Some(callback) = callback {
            Runtime::call_later(lua, callback, closed_message())?;
        }
        return false.into_lua_multi(lua);
    };
    let pieces = match pieces {
        Data::Joined(bytes) => return stream.write(lua, &[&bytes], callback)?.into_lua_multi(lua),
        Data::Pieces(pieces) => pieces,
    };
    // The pieces' bytes, borrowed for the call.
    enum Held {
        Text(BorrowedBytes),
        Raw(mlua::UserDataRef<Buffer>),
    }
    let held = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(s) => Ok(Held::Text(s.as_bytes())),
            Piece::Raw(u) => Ok(Held::Raw(u.borrow::<Buffer>()?)),
        })
        .collect::<Result<Vec<Held>>>()?;
    let slices = held
        .iter()
        .map(|held| match held {
            Held::Text(bytes) => Ok(&bytes[..]),
            Held::Raw(buffer) => buffer.bytes(),
        })
        .collect::<Result<Vec<&[u8]>>>()?;
    stream.write(lua, &slices, callback)?.into_lua_multi(lua)
}

pub(super) fn close(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (this, stream) = this_stream(&args)?;
    if let Some(callback) = args.opt_function(1)? {
        uv_handle::when_closed(lua, &this, callback)?;
    }
    if let Some(stream) = stream {
        stream.close_gracefully();
    }
    nothing()
}

pub(super) fn destroy(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.destroy();
    }
    nothing()
}

pub(super) fn sync(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_mode(Mode::Fiber);
    }
    nothing()
}

pub(super) fn syncraw(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_mode(Mode::FiberRaw);
    }
    nothing()
}

pub(super) fn pause(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_paused(true);
    }
    nothing()
}

pub(super) fn resume(_: &Lua, args: Args) -> Result<MultiValue> {
    if let (_, Some(stream)) = this_stream(&args)? {
        stream.set_paused(false);
    }
    nothing()
}

/// `h.setMaxLineSize(bytes)`: the longest piece `onsplitdata`, `readsplit`
/// and `readline` wait for (16 MiB by default); a longer one fails the
/// stream with "line too long".
pub(super) fn set_max_line_size(_: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    let bytes = args.number(1)?;
    if bytes.is_nan() || bytes < 1.0 {
        return args.bad(1, "positive number");
    }
    if let Some(stream) = stream {
        stream.set_max_line(bytes.min(usize::MAX as f64) as usize);
    }
    nothing()
}

pub(super) fn write_queue_size(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    stream.map_or(0, |s| s.queued()).into_lua_multi(lua)
}

/// `h.setTimeout(ms, cb)`: `cb(h)` after `ms` without reads or writes;
/// `setTimeout(0)` turns it off. The stream stays open: `cb` decides.
pub(super) fn set_timeout(_: &Lua, args: Args) -> Result<MultiValue> {
    let (this, stream) = this_stream(&args)?;
    let ms = args.number(1)?;
    if !(ms >= 0.0 && ms.is_finite()) {
        return args.bad(1, "non-negative number");
    }
    if let Some(callback) = args.opt_function(2)? {
        this.raw_set(ON_TIMEOUT.value(), callback)?;
    }
    if let Some(stream) = stream {
        stream.set_idle_timeout(ms as u64)?;
    }
    nothing()
}

/// The stream methods every kind of stream has.
pub static METHODS: &[(&str, Method)] = &[
    ("ondata", ondata),
    ("onrawdata", onrawdata),
    ("onsplitdata", onsplitdata),
    ("onend", onend),
    ("onerr", onerr),
    ("onclose", onclose),
    ("ondrain", ondrain),
    ("close", close),
    ("destroy", destroy),
    ("sync", sync),
    ("syncraw", syncraw),
    ("pause", pause),
    ("resume", resume),
    ("writeQueueSize", write_queue_size),
    ("setTimeout", set_timeout),
    ("setMaxLineSize", set_max_line_size),
];

/// The methods this layer makes itself: `read`, `readsplit`, `readline`
/// (Lua, because they suspend a fiber) and `write` (a raw hot path).
pub fn lua_methods(lua: &Lua) -> Result<Table> {
    const KEY: &str = "async.stream.lua_methods";
    if let Ok(methods) = lua.named_registry_value::<Table>(KEY) {
        return Ok(methods);
    }
    // Unwrapped: stream.lua raises their errors at the reader's line.
    let take = boundary::raw_function(lua, "read", 0, super::fiber_reads::take)?;
    let park = boundary::raw_function(lua, "read", 0, super::fiber_reads::park)?;
    let methods: Table = lua.load(include_str!("../lua/stream.lua")).set_name("=async.stream").call((take, park))?;
    let general = boundary::raw_function(lua, "write", 1, write)?;
    methods.raw_set("write", boundary::self_binding(lua, super::write::write_fast, general)?)?;
    lua.set_named_registry_value(KEY, &methods)?;
    Ok(methods)
}
