//! The argument readers of the `fs` functions: paths, descriptors,
//! modes, flags, callbacks.
//!
//! May touch: nothing but the arguments.

use super::*;

/// A path argument: the C string for libuv and its text for messages.
pub(super) fn path_arg(args: &Args, i: usize) -> Result<(CString, String)> {
    let s = args.string(i)?;
    let bytes = s.as_bytes().to_vec();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match CString::new(bytes) {
        Ok(c) => Ok((c, text)),
        Err(_) => args.bad(i, "path without zero bytes"),
    }
}

pub(super) fn whole_number(args: &Args, i: usize, what: &str) -> Result<i64> {
    let n = args.number(i)?;
    if n.fract() != 0.0 || n < 0.0 || n > i64::MAX as f64 {
        return args.bad(i, what);
    }
    Ok(n as i64)
}

pub(super) fn fd_arg(args: &Args, i: usize) -> Result<c_int> {
    let fd = whole_number(args, i, "file descriptor")?;
    c_int::try_from(fd).or_else(|_| args.bad(i, "file descriptor"))
}

/// The callback: the first function among arguments `first..=last` (the
/// ones before it are optional). Returns its index and the function; with
/// no callback (it may be left out), the index after `last`, so that every
/// optional argument is read.
pub(super) fn callback_arg(args: &Args, first: usize, last: usize) -> Result<(usize, Option<Function>)> {
    for i in first..=last {
        if let Value::Function(f) = args.get(i) {
            return Ok((i, Some(f)));
        }
    }
    Ok((last + 1, args.opt_function(last)?))
}

/// A mode, read as the original read `fs.open`'s (`tonumber(mode, 8)`):
/// an octal string ("644"), or a number whose decimal digits are the
/// octal digits (644, as Lua has no octal literals); `default` when
/// absent.
pub(super) fn mode_arg(args: &Args, i: usize, default: c_int) -> Result<c_int> {
    let digits = match args.get(i) {
        Value::Nil => return Ok(default),
        Value::String(s) => s.to_string_lossy(),
        _ => whole_number(args, i, "mode")?.to_string(),
    };
    match u32::from_str_radix(digits.trim(), 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode as c_int),
        _ => args.bad(i, "octal mode such as '644' or 644"),
    }
}

/// What the flags accept, for errors.
pub(super) const FLAGS: &str = "flags 'r', 'r+', 'w', 'w+', 'wx', 'wx+', 'a', 'a+', 'ax' or 'ax+'";

/// `fs.open`'s flags.
pub(super) fn flags_arg(args: &Args, i: usize) -> Result<c_int> {
    let text = args.opt_string(i)?.map(|s| s.to_string_lossy());
    match open_flags(text.as_deref().unwrap_or("r")) {
        Some(flags) => Ok(flags),
        None => args.bad(i, FLAGS),
    }
}

/// The `open(2)` flags of a flags string ("r", "w", "a+", ...).
pub(super) fn open_flags(text: &str) -> Option<c_int> {
    let (create, truncate, append, exclusive) = (libc::O_CREAT, libc::O_TRUNC, libc::O_APPEND, libc::O_EXCL);
    let flags = match text {
        "r" => libc::O_RDONLY,
        "r+" => libc::O_RDWR,
        "w" => libc::O_WRONLY | create | truncate,
        "w+" => libc::O_RDWR | create | truncate,
        "wx" => libc::O_WRONLY | create | truncate | exclusive,
        "wx+" => libc::O_RDWR | create | truncate | exclusive,
        "a" => libc::O_WRONLY | create | append,
        "a+" => libc::O_RDWR | create | append,
        "ax" => libc::O_WRONLY | create | append | exclusive,
        "ax+" => libc::O_RDWR | create | append | exclusive,
        _ => return None,
    };
    Some(flags)
}
