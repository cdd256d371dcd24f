//! The request parser, fed a connection's bytes in pieces.
//!
//! Input: the header of `common` (flags, limits, cut points), then the
//! bytes a client sent. Invariants:
//! - nothing panics, however the bytes are cut;
//! - the events are the same whole, cut at the planned points, and (with
//!   `BYTE_AT_A_TIME`) one byte at a time; so are the upgrade bytes;
//! - an error is the last event; `100-continue` comes right before its
//!   request; a request that closes the connection is the last one;
//! - outputs are bounded: bodies within `max_body_bytes`, all bodies and
//!   upgrade bytes together no longer than the input, a pending header
//!   block within `max_header_bytes`;
//! - after an error, nothing more is ever parsed;
//! - a request read is written back by `serialize_request` and reads back
//!   the same (method, target, headers, body).

#![no_main]

mod common;

use r#async::fuzzing::{Event, Limits, Request, RequestEvent, RequestParser, checked, serialize_request};
use common::{BYTE_AT_A_TIME, CHUNKED, FINISH, Plan, bytewise, is_framing_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(plan) = Plan::read(data) else { return };
    let finish = plan.has(FINISH);
    let whole = run(plan.limits, &[plan.message], finish);
    let cut = run(plan.limits, &plan.pieces(), finish);
    assert_eq!(whole.described, cut.described, "cut input parsed differently");
    assert_eq!(whole.upgrade_bytes, cut.upgrade_bytes, "cut input left other upgrade bytes");
    if plan.has(BYTE_AT_A_TIME) {
        let bytes = run(plan.limits, &bytewise(plan.message), finish);
        assert_eq!(whole.described, bytes.described, "input fed bytewise parsed differently");
        assert_eq!(whole.upgrade_bytes, bytes.upgrade_bytes);
    }

    let mut body_bytes = 0;
    for event in &whole.events {
        if let Event::Message(request) = event {
            body_bytes += request.body.len();
            write_back(request, plan.has(CHUNKED));
        }
    }
    assert!(body_bytes + whole.upgrade_bytes.len() <= plan.message.len(), "more bytes out than in");
});

struct Run {
    events: Vec<RequestEvent>,
    described: Vec<String>,
    upgrade_bytes: Vec<u8>,
}

fn run(limits: Limits, pieces: &[&[u8]], finish: bool) -> Run {
    let mut parser = RequestParser::new(limits);
    let mut events = Vec::new();
    for piece in pieces {
        parser.feed(piece);
        events.extend(std::iter::from_fn(|| parser.next_event()));
        let pending = parser.pending_header_bytes();
        assert!(pending <= limits.max_header_bytes, "{pending} header bytes held, limit {}", limits.max_header_bytes);
        if pending > 0 {
            assert!(!parser.is_idle(), "a header block is pending, yet the parser says it is idle");
        }
    }
    if finish {
        parser.finish();
        events.extend(std::iter::from_fn(|| parser.next_event()));
        assert_eq!(parser.pending_header_bytes(), 0, "header bytes held after the peer closed");
    }
    check_sequence(&events, limits);
    let failed = matches!(events.last(), Some(Event::Error(_)));
    let upgrade_bytes = parser.take_upgrade_bytes();
    if failed {
        parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        parser.finish();
        assert!(parser.next_event().is_none(), "the parser went on after an error");
        assert!(parser.take_upgrade_bytes().is_empty());
    }
    let described = events.iter().map(checked::request_event).collect();
    Run { events, described, upgrade_bytes }
}

fn check_sequence(events: &[RequestEvent], limits: Limits) {
    for (i, event) in events.iter().enumerate() {
        let is_last = i + 1 == events.len();
        match event {
            Event::Error(_) => assert!(is_last, "an error is followed by {:?}", &events[i + 1..]),
            Event::ContinueExpected => match events.get(i + 1) {
                None | Some(Event::Error(_)) => {}
                Some(Event::Message(request)) => assert!(request.expect_continue, "100-continue for another request"),
                Some(Event::ContinueExpected) => panic!("two 100-continue events in a row"),
            },
            Event::Message(request) => {
                assert!(!request.method().is_empty());
                assert!(matches!(request.version(), (1, 0) | (1, 1)));
                assert!(!request.path().is_empty());
                assert!(request.body.len() as u64 <= limits.max_body_bytes, "body past the limit");
                for (name, value) in request.headers().iter() {
                    assert!(!name.is_empty() && !name.contains(&b':'), "header name {:?}", name.escape_ascii());
                    assert!(!value.contains(&b'\r') && !value.contains(&b'\n'), "line break in a value");
                }
                if request.upgrade {
                    assert!(!request.should_keep_alive, "an upgrade that keeps HTTP going");
                }
                if !request.should_keep_alive {
                    assert!(is_last, "a request that closes the connection is followed by more events");
                }
            }
        }
    }
}

/// What the parser accepted, the writer writes, and it reads back the same.
fn write_back(request: &Request, chunked: bool) {
    if request.upgrade {
        return;
    }
    let kept: Vec<(&[u8], &[u8])> = request.headers().iter().filter(|(name, _)| !is_framing_header(name)).collect();
    let mut given = kept.clone();
    if chunked {
        given.push((b"Transfer-Encoding", b"chunked"));
    }
    let body: Vec<&[u8]> = request.body.chunks(7).collect();
    let written = serialize_request(request.method(), request.target(), b"example.test", &given, &body)
        .unwrap_or_else(|error| panic!("a request the parser accepted cannot be written: {error}"))
        .to_vec()
        .expect("a fuzzed request fits in memory");
    let mut parser = RequestParser::new(Limits { max_header_bytes: 1 << 30, max_body_bytes: 1 << 30 });
    parser.feed(&written);
    parser.finish();
    let Some(Event::Message(again)) = parser.next_event() else {
        panic!("a written request does not read back: {:?}", written.escape_ascii().to_string());
    };
    assert!(parser.next_event().is_none(), "a written request reads as more than one");
    assert_eq!(again.method(), request.method());
    assert_eq!(again.target(), request.target());
    assert_eq!(again.path(), request.path());
    assert_eq!(again.query(), request.query());
    let read: Vec<(&[u8], &[u8])> = again.headers().iter().filter(|(name, _)| !is_framing_header(name)).collect();
    assert_eq!(read, kept, "headers changed on the way through the writer");
    assert_eq!(again.body, request.body, "body changed on the way through the writer");
}
