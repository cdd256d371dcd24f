//! The stream methods every kind of stream has (`write`, `ondata`,
//! `close`, `pause`, ...), as Lua calls them.
//!
//! May touch: the stream and its Lua object.

use super::*;
use crate::buffer::{self, Refusal, Source};

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
pub(super) fn set_reader(lua: &Lua, args: &Args, mode: Mode) -> Result<MultiValue> {
    let (_, stream) = this_stream(args)?;
    let callback = args.opt_function(1)?;
    if let Some(stream) = stream {
        stream.on_data.set(lua, callback)?;
        stream.set_mode(mode);
    }
    nothing()
}

pub(super) fn ondata(lua: &Lua, args: Args) -> Result<MultiValue> {
    set_reader(lua, &args, Mode::Strings)
}

pub(super) fn onrawdata(lua: &Lua, args: Args) -> Result<MultiValue> {
    set_reader(lua, &args, Mode::Buffers)
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
    if let Some(stream) = stream {
        stream.on_data.set(lua, callback)?;
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

pub(super) fn ondrain(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    let callback = args.opt_function(1)?;
    if let Some(stream) = stream {
        stream.on_drain.set(lua, callback)?;
    }
    nothing()
}

/// Past this many pieces an array is joined into one buffer as it is read:
/// holding every piece as an mlua value would use up mlua's few thousand
/// slots for values held by Rust (a write of 100,000 strings failed so).
pub const MAX_HELD_PIECES: usize = 256;

/// A write's data as read from its argument.
pub enum Data {
    Pieces(Vec<Source>),
    Joined(Vec<u8>),
}

/// What `write` takes: a string, a buffer (ours, or a buffer object of
/// the original's `buffer` module: a table with `ctype` and `length`), or
/// an array of them, written in order as one vectored write. A table that
/// is neither a buffer object nor an array is an error: it must not write
/// nothing and report success.
const WRITABLE: &str = "string, buffer or array of strings";

/// The data of argument 1 of a write: also what a UDP datagram (udp.rs) is
/// made of.
pub fn pieces_of(lua: &Lua, args: &Args) -> Result<Data> {
    let list = match args.get(1) {
        Value::Table(table) if !buffer::is_buffer_object(&table)? => table,
        single => {
            return match Source::of(lua, single)? {
                Ok(source) => Ok(Data::Pieces(vec![source])),
                Err(why) => why.raise(1, args.name(), WRITABLE),
            };
        }
    };
    if list.raw_len() == 0 && !list.is_empty() {
        return Refusal::Type("a table that is neither a buffer object (ctype, length) nor an array").raise(
            1,
            args.name(),
            WRITABLE,
        );
    }
    let item = |n: usize, value: Value| -> Result<Source> {
        match Source::of(lua, value)? {
            Ok(source) => Ok(source),
            Err(why) => why.raise(1, args.name(), &format!("item {n}: string or buffer")),
        }
    };
    let items = list.sequence_values::<Value>().enumerate().map(|(n, value)| item(n + 1, value?));
    if list.raw_len() > MAX_HELD_PIECES {
        let mut joined = Vec::new();
        for source in items {
            memory::append(&mut joined, source?.bytes()?)?;
        }
        return Ok(Data::Joined(joined));
    }
    Ok(Data::Pieces(items.collect::<Result<Vec<Source>>>()?))
}

pub(super) fn write(lua: &Lua, args: Args) -> Result<MultiValue> {
    let (_, stream) = this_stream(&args)?;
    let pieces = pieces_of(lua, &args)?;
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
    // The pieces' bytes, borrowed for the call (Stream::write copies what
    // it queues).
    let slices = pieces.iter().map(Source::bytes).collect::<Result<Vec<&[u8]>>>()?;
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
    ("onclose", uv_handle::onclose_method),
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
    ("pipe", super::pipe::pipe),
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
