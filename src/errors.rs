//! How OS and libuv errors are worded for Lua: `"CODE: message"`, with the
//! path or address in quotes where there is one, e.g.
//! `ENOENT: no such file or directory "/x"`.
//!
//! May touch: libuv's error tables only.

use std::ffi::CStr;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_code_and_the_place() {
        assert_eq!(uv_message(-2, Some("/x")), "ENOENT: no such file or directory \"/x\"");
        assert_eq!(uv_message(-111, None), "ECONNREFUSED: connection refused");
    }
}
