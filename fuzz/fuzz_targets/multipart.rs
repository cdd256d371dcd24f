//! `multipart/form-data`: the boundary out of a Content-Type, and a body
//! split into parts.
//!
//! Input: byte 0 gives the boundary's length (1 + its low six bits); the
//! boundary's bytes follow, then the body. With the high bit of byte 0
//! set, everything after byte 0 is also read as a Content-Type value.
//! Invariants:
//! - nothing panics;
//! - a boundary found in a Content-Type is a non-empty piece of it;
//! - every part borrows from the body, in order and without overlap, and
//!   there are no more parts than delimiters fit in the body;
//! - parts written back as a form (when their names and data allow it)
//!   read back the same.

#![no_main]

use r#async::fuzzing::multipart::{Part, form_data_boundary, parse_form_data};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    if first & 0x80 != 0
        && let Some(boundary) = form_data_boundary(rest)
    {
        assert!(!boundary.is_empty(), "an empty boundary");
        assert!(within(rest, boundary), "the boundary is not a piece of the Content-Type");
    }
    let length = usize::from(first & 0x3f) + 1;
    if rest.len() < length {
        return;
    }
    let (boundary, body) = rest.split_at(length);
    let Ok(parts) = parse_form_data(body, boundary) else { return };
    assert!(parts.len() <= body.len() / (boundary.len() + 2), "{} parts in {} bytes", parts.len(), body.len());
    let mut last_end = body.as_ptr() as usize;
    for part in &parts {
        for piece in [Some(part.name), part.filename, part.content_type, Some(part.data)].into_iter().flatten() {
            assert!(within(body, piece), "a part that does not borrow from the body");
        }
        let start = part.data.as_ptr() as usize;
        assert!(start >= last_end, "parts out of order or overlapping");
        last_end = start + part.data.len();
    }
    write_back(&parts, boundary);
});

fn within(whole: &[u8], piece: &[u8]) -> bool {
    let start = piece.as_ptr() as usize;
    let whole_start = whole.as_ptr() as usize;
    start >= whole_start && start + piece.len() <= whole_start + whole.len()
}

/// Writes the parts as a form (the plainest one: no preamble, one line of
/// `Content-Disposition`, `Content-Type` when given) and reads it back.
/// Left out when the form cannot say the same thing: a quote in a name,
/// a byte no header may hold, or data that a delimiter straddles (its
/// tail and the next delimiter would make one).
fn write_back(parts: &[Part<'_>], boundary: &[u8]) {
    let delimiter = [b"\r\n--", boundary].concat();
    let quotable = |text: &[u8]| text.iter().all(|&b| b != b'"' && b != b'\r' && b != b'\n' && b != 0);
    let header_safe = |text: &[u8]| text.iter().all(|&b| b == b'\t' || b >= b' ' && b != 0x7f);
    let straddled = |data: &[u8]| {
        let joined = [data, delimiter.as_slice()].concat();
        memchr::memmem::find_iter(&joined, &delimiter).any(|at| at < data.len() && at + delimiter.len() > data.len())
    };
    for part in parts {
        if !quotable(part.name) || !header_safe(part.name) || straddled(part.data) {
            return;
        }
        if part.filename.is_some_and(|f| !quotable(f) || !header_safe(f)) {
            return;
        }
        if part.content_type.is_some_and(|t| !header_safe(t)) {
            return;
        }
    }
    let mut form = Vec::new();
    for part in parts {
        form.extend_from_slice(&delimiter[2..]);
        form.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        form.extend_from_slice(part.name);
        form.push(b'"');
        if let Some(filename) = part.filename {
            form.extend_from_slice(b"; filename=\"");
            form.extend_from_slice(filename);
            form.push(b'"');
        }
        if let Some(content_type) = part.content_type {
            form.extend_from_slice(b"\r\nContent-Type: ");
            form.extend_from_slice(content_type);
        }
        form.extend_from_slice(b"\r\n\r\n");
        form.extend_from_slice(part.data);
        form.extend_from_slice(b"\r\n");
    }
    form.extend_from_slice(&delimiter[2..]);
    form.extend_from_slice(b"--\r\n");
    let again = parse_form_data(&form, boundary).unwrap_or_else(|error| {
        panic!("a written form does not read back ({error}): {:?}", form.escape_ascii().to_string())
    });
    assert_eq!(again, parts, "a written form reads back differently");
}
