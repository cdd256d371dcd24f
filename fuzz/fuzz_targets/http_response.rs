//! The response parser, fed a connection's bytes in pieces, after the
//! requests the input chooses.
//!
//! Input: the header of `common`; its byte 3 holds the methods of up to
//! four requests sent (two bits each: GET, HEAD, CONNECT, POST) and the
//! high nibble of the flags how many (0 to 4). Invariants:
//! - nothing panics, however the bytes are cut;
//! - the results are the same whole, cut, and (with `BYTE_AT_A_TIME`)
//!   one byte at a time; so are the upgrade bytes;
//! - no more responses than requests; an error is the last result; no
//!   interim (1xx but 101) response is handed over; no body where the
//!   method or status forbids one; a response that ends the connection is
//!   the last one; bodies within `max_body_bytes`, and all bodies and
//!   upgrade bytes together no longer than the input;
//! - a response read is written back by `serialize_response` and reads
//!   back the same (status, headers, body).

#![no_main]

mod common;

use r#async::fuzzing::{Limits, ParseError, ReplyContext, Response, ResponseParser, checked, serialize_response};
use common::{BYTE_AT_A_TIME, CHUNKED, FINISH, Plan, bytewise, is_framing_header};
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 4] = ["GET", "HEAD", "CONNECT", "POST"];

fuzz_target!(|data: &[u8]| {
    let Some(plan) = Plan::read(data) else { return };
    let count = usize::from(plan.flags >> 4) % 5;
    let methods: Vec<&str> = (0..count).map(|i| METHODS[usize::from(plan.own >> (2 * i)) & 3]).collect();
    let finish = plan.has(FINISH);
    let whole = run(&methods, plan.limits, &[plan.message], finish);
    let cut = run(&methods, plan.limits, &plan.pieces(), finish);
    assert_eq!(whole.described, cut.described, "cut input parsed differently");
    assert_eq!(whole.upgrade_bytes, cut.upgrade_bytes);
    if plan.has(BYTE_AT_A_TIME) {
        let bytes = run(&methods, plan.limits, &bytewise(plan.message), finish);
        assert_eq!(whole.described, bytes.described, "input fed bytewise parsed differently");
        assert_eq!(whole.upgrade_bytes, bytes.upgrade_bytes);
    }
    let mut body_bytes = 0;
    for response in whole.results.iter().flatten() {
        body_bytes += response.body.len();
        write_back(response, plan.has(CHUNKED));
    }
    assert!(body_bytes + whole.upgrade_bytes.len() <= plan.message.len(), "more bytes out than in");
});

struct Run {
    results: Vec<Result<Response, ParseError>>,
    described: Vec<String>,
    upgrade_bytes: Vec<u8>,
}

fn run(methods: &[&str], limits: Limits, pieces: &[&[u8]], finish: bool) -> Run {
    let (results, upgrade_bytes) = checked::read_responses(methods, limits, pieces, finish);
    let described = results.iter().map(checked::response).collect();
    Run { results, described, upgrade_bytes }
}


/// A response read is written back and reads back the same. Statuses the
/// writer refuses by design (below 200: not final), and those that carry
/// no body or switch protocols, are left out.
fn write_back(response: &Response, chunked: bool) {
    if response.upgrade || response.status < 200 || matches!(response.status, 204 | 304) {
        return;
    }
    let kept: Vec<(&[u8], &[u8])> = response.headers().iter().filter(|(name, _)| !is_framing_header(name)).collect();
    let mut given = kept.clone();
    if chunked {
        given.push((b"Transfer-Encoding", b"chunked"));
    }
    let body: Vec<&[u8]> = response.body.chunks(5).collect();
    let context = ReplyContext { head_request: false, version_minor: 1, keep_alive: true };
    let reply = serialize_response(response.status, &given, &body, context, "Thu, 01 Jan 1970 00:00:00 GMT")
        .unwrap_or_else(|error| panic!("a response the parser accepted cannot be written: {error}"));
    assert!(reply.keep_alive);
    let written = reply.message.to_vec().expect("a fuzzed response fits in memory");
    let mut parser = ResponseParser::new(Limits { max_header_bytes: 1 << 30, max_body_bytes: 1 << 30 });
    parser.expect_response("GET");
    parser.feed(&written);
    let again = match parser.next_response() {
        Some(Ok(again)) => again,
        other => panic!("a written response does not read back ({other:?}): {:?}", written.escape_ascii().to_string()),
    };
    assert!(parser.next_response().is_none());
    assert!(parser.is_idle(), "a written response leaves bytes behind");
    assert_eq!(again.status, response.status);
    assert!(again.keep_alive);
    let read: Vec<(&[u8], &[u8])> = again.headers().iter().filter(|(name, _)| !is_framing_header(name)).collect();
    assert_eq!(read, kept, "headers changed on the way through the writer");
    assert_eq!(again.body, response.body, "body changed on the way through the writer");
}
