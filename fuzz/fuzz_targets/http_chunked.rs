//! The chunked body decoder, through the request parser: the input is
//! what follows `POST /c HTTP/1.1` with `Transfer-Encoding: chunked`, so
//! that every byte of it lands in the decoder (chunk-size lines,
//! extensions, data, trailers) and then in the next request.
//!
//! Input: the header of `common`; byte 3 is the chunk size the body is
//! written back in. Invariants:
//! - nothing panics; the events are the same whole, cut and bytewise;
//! - a body the parser accepts is the one a plain, lenient reading of
//!   the chunks gives (sizes in hex up to whatever follows them, lines
//!   to CRLF): the strict decoder never reads a body other than the one
//!   the framing says;
//! - the body is no longer than the input, and within `max_body_bytes`;
//! - the body, written back as chunks of the chosen size, decodes the
//!   same.

#![no_main]

mod common;

use r#async::fuzzing::{Event, Limits, RequestEvent, RequestParser, checked};
use common::{BYTE_AT_A_TIME, FINISH, Plan, bytewise};
use libfuzzer_sys::fuzz_target;

const HEAD: &[u8] = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some(plan) = Plan::read(data) else { return };
    let finish = plan.has(FINISH);
    let whole = run(plan.limits, &[plan.message], finish);
    let cut = run(plan.limits, &plan.pieces(), finish);
    assert_eq!(whole.1, cut.1, "cut input decoded differently");
    if plan.has(BYTE_AT_A_TIME) {
        assert_eq!(whole.1, run(plan.limits, &bytewise(plan.message), finish).1, "bytewise input decoded differently");
    }
    let Some(Event::Message(upload)) = whole.0.first() else { return };
    assert!(upload.body.len() <= plan.message.len());
    assert!(upload.body.len() as u64 <= plan.limits.max_body_bytes);
    match lenient_decode(plan.message) {
        Lenient::Complete(body) => assert_eq!(upload.body, body, "the decoder read another body than the framing says"),
        Lenient::Incomplete => panic!("the decoder accepted a body that a plain reading finds incomplete"),
        Lenient::Invalid(why) => panic!("the decoder accepted a body that a plain reading refuses: {why}"),
    }
    let size = usize::from(plan.own) + 1;
    let mut written = HEAD.to_vec();
    for chunk in upload.body.chunks(size) {
        written.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        written.extend_from_slice(chunk);
        written.extend_from_slice(b"\r\n");
    }
    written.extend_from_slice(b"0\r\n\r\n");
    let mut parser = RequestParser::new(Limits::default());
    parser.feed(&written);
    match parser.next_event() {
        Some(Event::Message(again)) => assert_eq!(again.body, upload.body, "a re-chunked body decodes differently"),
        other => panic!("a re-chunked body does not decode: {other:?}"),
    }
});

/// The events, and the same described for comparison.
fn run(limits: Limits, pieces: &[&[u8]], finish: bool) -> (Vec<RequestEvent>, Vec<String>) {
    let mut parser = RequestParser::new(limits);
    parser.feed(HEAD);
    let mut events: Vec<RequestEvent> = std::iter::from_fn(|| parser.next_event()).collect();
    for piece in pieces {
        parser.feed(piece);
        events.extend(std::iter::from_fn(|| parser.next_event()));
    }
    if finish {
        parser.finish();
        events.extend(std::iter::from_fn(|| parser.next_event()));
    }
    for (i, event) in events.iter().enumerate() {
        if matches!(event, Event::Error(_)) {
            assert_eq!(i + 1, events.len(), "an error is followed by more events");
        }
    }
    let described = events.iter().map(checked::request_event).collect();
    (events, described)
}

enum Lenient {
    Complete(Vec<u8>),
    Incomplete,
    Invalid(&'static str),
}

/// Chunks read as loosely as the framing allows: a size is the hex digits
/// a line starts with, whatever follows up to CRLF is ignored, data is
/// the next `size` bytes and then CRLF; after the last chunk, lines up to
/// an empty one are trailers.
fn lenient_decode(mut input: &[u8]) -> Lenient {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = memchr::memmem::find(input, b"\r\n") else { return Lenient::Incomplete };
        let line = &input[..line_end];
        input = &input[line_end + 2..];
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Lenient::Invalid("no size");
        }
        let Some(size) = std::str::from_utf8(&line[..digits]).ok().and_then(|hex| u64::from_str_radix(hex, 16).ok())
        else {
            return Lenient::Invalid("size past 64 bits");
        };
        if size == 0 {
            loop {
                let Some(line_end) = memchr::memmem::find(input, b"\r\n") else { return Lenient::Incomplete };
                if line_end == 0 {
                    return Lenient::Complete(body);
                }
                input = &input[line_end + 2..];
            }
        }
        let Ok(size) = usize::try_from(size) else { return Lenient::Incomplete };
        if input.len() < size {
            return Lenient::Incomplete;
        }
        body.extend_from_slice(&input[..size]);
        input = &input[size..];
        match input {
            [b'\r', b'\n', rest @ ..] => input = rest,
            [] | [b'\r'] => return Lenient::Incomplete,
            _ => return Lenient::Invalid("data not followed by CRLF"),
        }
    }
}
