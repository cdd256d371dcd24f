//! `fs.createReadStream` and `fs.createWriteStream`: their arguments. The
//! streams themselves are the stream layer's (stream/file.rs).
//!
//! May touch: nothing but the arguments and the new stream's Lua object.

use super::*;
use crate::core::class::Class;
use crate::core::options::OptionTable;
use crate::stream::{self, file};

static FILE_STREAM: Class = Class { kind: "file", methods: &[stream::METHODS], lua_methods: Some(stream::lua_methods) };

/// A read stream's default chunk, as Node's.
const DEFAULT_CHUNK: usize = 64 * 1024;

/// The largest chunk (what Linux moves in one read).
const MAX_CHUNK: f64 = 0x7fff_f000 as f64;

fn whole_option(options: &OptionTable, name: &str) -> Result<Option<u64>> {
    match options.non_negative(name)? {
        Some(n) if n.fract() != 0.0 || n > u64::MAX as f64 => options.bad(name, "a whole number"),
        n => Ok(n.map(|n| n as u64)),
    }
}

fn new_stream(lua: &Lua, what: &'static str, path: CString, flags: c_int, io: file::FileIo) -> Result<Table> {
    let object = lua.create_table()?;
    object.set_metatable(Some(FILE_STREAM.metatable(lua)?))?;
    file::open(lua, &object, what, &FILE_STREAM, path, flags, io)?;
    Ok(object)
}

/// `fs.createReadStream(path[, {start=, ['end']=, highWaterMark=}])`.
pub(super) fn create_read_stream(lua: &Lua, args: Args) -> Result<Table> {
    let (path, text) = path_arg(&args, 1)?;
    let table = args.opt_table(2)?;
    let options = OptionTable::new(table.as_ref(), "createReadStream");
    let start = whole_option(&options, "start")?.unwrap_or(0);
    let end = whole_option(&options, "end")?;
    if end.is_some_and(|end| end < start) {
        return boundary::fail("createReadStream: end must not be before start");
    }
    let chunk = match options.positive("highWaterMark")? {
        Some(n) if n.fract() != 0.0 || n > MAX_CHUNK => return options.bad("highWaterMark", "a whole number of bytes"),
        n => n.map_or(DEFAULT_CHUNK, |n| n as usize),
    };
    let io = file::FileIo::new(text, Some(file::ReadRange { start, end, chunk }))?;
    new_stream(lua, "createReadStream", path, libc::O_RDONLY, io)
}

/// `fs.createWriteStream(path[, {flags='w'}])`.
pub(super) fn create_write_stream(lua: &Lua, args: Args) -> Result<Table> {
    let (path, text) = path_arg(&args, 1)?;
    let table = args.opt_table(2)?;
    let options = OptionTable::new(table.as_ref(), "createWriteStream");
    let flags = match options.text("flags")? {
        None => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        Some(text) => match open_flags(&text) {
            Some(flags) if flags & libc::O_ACCMODE != libc::O_RDONLY => flags,
            _ => {
                let expected = "'r+', 'w', 'w+', 'wx', 'wx+', 'a', 'a+', 'ax' or 'ax+'";
                return boundary::fail(format!("createWriteStream: flags must be {expected}, got '{text}'"));
            }
        },
    };
    new_stream(lua, "createWriteStream", path, flags, file::FileIo::new(text, None)?)
}
