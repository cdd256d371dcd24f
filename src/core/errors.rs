//! How OS and libuv errors are carried and worded for Lua: Rust code holds
//! a failed libuv call as a `UvError` (its negative errno) until it reaches
//! Lua, where it becomes `"CODE: message"`, with the path or address in
//! quotes where there is one, e.g. `ENOENT: no such file or directory
//! "/x"`: raised as an error, or given to a callback as its `err`.
//!
//! May touch: libuv's error tables only.

use std::ffi::{CStr, c_int};

use libuv_sys2 as uv;

/// The libuv error name for `code` (a negative errno), e.g. "ENOENT".
pub fn uv_name(code: i32) -> String {
    // SAFETY: uv_err_name returns a static string for known codes and a
    // leaked one for unknown codes; either stays valid.
    unsafe { CStr::from_ptr(uv::uv_err_name(code)) }.to_string_lossy().into_owned()
}

/// `"CODE: message"`, followed by ` "where"` when given.
pub fn uv_message(code: i32, place: Option<&str>) -> String {
    // SAFETY: as for uv_name; uv_strerror returns a string that stays valid.
    let text = unsafe { CStr::from_ptr(uv::uv_strerror(code)) }.to_string_lossy();
    match place {
        Some(place) => format!("{}: {} \"{}\"", uv_name(code), text, place),
        None => format!("{}: {}", uv_name(code), text),
    }
}

/// A libuv or OS error code (a negative errno, as libuv returns them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UvError(pub c_int);

impl UvError {
    /// A libuv return code: negative is an error, anything else success.
    pub fn check(rc: c_int) -> Result<c_int, UvError> {
        if rc < 0 { Err(UvError(rc)) } else { Ok(rc) }
    }

    /// `"CODE: message"`, followed by ` "place"` when given.
    pub fn message(self, place: Option<&str>) -> String {
        uv_message(self.0, place)
    }
}

impl std::fmt::Display for UvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(None))
    }
}

impl std::error::Error for UvError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_code_and_the_place() {
        assert_eq!(uv_message(-2, Some("/x")), "ENOENT: no such file or directory \"/x\"");
        assert_eq!(uv_message(-111, None), "ECONNREFUSED: connection refused");
    }

    #[test]
    fn return_codes_are_checked_by_sign() {
        assert_eq!(UvError::check(0), Ok(0));
        assert_eq!(UvError::check(5), Ok(5));
        assert_eq!(UvError::check(-2).map_err(|e| e.to_string()), Err("ENOENT: no such file or directory".to_string()));
    }
}
