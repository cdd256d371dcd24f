//! Unit tests of the request parser and the response writer (`server.rs`).

use std::time::{Duration, Instant};

use super::*;
use crate::http::outgoing::{RawLineError, split_raw_header_line};
use crate::http::strict::{BARE_LF, CR_WITHOUT_LF, HOST_TWICE, INVALID_HOST, NO_HOST, OBS_FOLD};
use crate::http::{DateCache, ResponseParser};

fn new_parser() -> RequestParser {
    RequestParser::new(Limits::default())
}

fn events_of(parser: &mut RequestParser) -> Vec<RequestEvent> {
    std::iter::from_fn(|| parser.next_event()).collect()
}

fn parse(input: &[u8]) -> Vec<RequestEvent> {
    let mut parser = new_parser();
    parser.feed(input);
    events_of(&mut parser)
}

fn only_request(input: &[u8]) -> Request {
    match parse(input).as_mut_slice() {
        [Event::Message(_)] => {}
        other => panic!("expected one request, got {other:?}"),
    }
    let mut events = parse(input);
    match events.pop() {
        Some(Event::Message(request)) => request,
        _ => unreachable!(),
    }
}

fn only_error(input: &[u8]) -> ParseError {
    let events = parse(input);
    match events.last() {
        Some(Event::Error(error)) => *error,
        _ => panic!("expected an error, got {events:?}"),
    }
}

/// Everything the requests carry, each in one comparable string.
fn describe_all(events: &[RequestEvent]) -> Vec<String> {
    events.iter().map(crate::http::checked::request_event).collect()
}

const PIPELINE: &[u8] = b"GET /first?a=1 HTTP/1.1\r\nHost: x\r\n\r\n\
    POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world\
    POST /third HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
    4;name=value\r\nWiki\r\n5 ; quoted=\"a;b\"\r\npedia\r\n0\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n\
    GET /fourth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn a_simple_request_carries_everything() {
    let request =
        only_request(b"GET /a%20b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nX-Dup: one\r\nx-dup: two\r\nAccept:  */* \r\n\r\n");
    assert_eq!(request.method(), "GET");
    assert_eq!(request.target(), b"/a%20b?x=1&y=2");
    assert_eq!(request.path(), b"/a%20b");
    assert_eq!(request.query(), Some(&b"x=1&y=2"[..]));
    assert_eq!(request.fragment(), None);
    assert_eq!(request.version(), (1, 1));
    let headers: Vec<_> = request.headers().iter().collect();
    assert_eq!(headers, [(&b"Host"[..], &b"example.com"[..]), (b"X-Dup", b"one"), (b"x-dup", b"two"), (b"Accept", b"*/*")]);
    assert_eq!(request.headers().get("x-dup"), Some(&b"two"[..]));
    assert_eq!(request.headers().get("HOST"), Some(&b"example.com"[..]));
    assert_eq!(request.headers().get("missing"), None);
    assert!(request.should_keep_alive);
    assert!(!request.upgrade);
    assert!(!request.expect_continue);
    assert!(request.body.is_empty());
    assert_eq!(request.reply_context(), ReplyContext { head_request: false, version_minor: 1, keep_alive: true });
}

#[test]
fn targets_split_into_path_query_and_fragment() {
    let split = |target: &str| {
        let request = only_request(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        (
            String::from_utf8(request.path().to_vec()).unwrap(),
            request.query().map(|q| String::from_utf8(q.to_vec()).unwrap()),
            request.fragment().map(|f| String::from_utf8(f.to_vec()).unwrap()),
        )
    };
    let owned = |path: &str, query: Option<&str>, fragment: Option<&str>| {
        (path.to_string(), query.map(String::from), fragment.map(String::from))
    };
    assert_eq!(split("/"), owned("/", None, None));
    assert_eq!(split("/p?"), owned("/p", None, None));
    assert_eq!(split("/p?#"), owned("/p", None, None));
    assert_eq!(split("/p?q#f"), owned("/p", Some("q"), Some("f")));
    assert_eq!(split("/p#f?not-query"), owned("/p", None, Some("f?not-query")));
    assert_eq!(split("/p?a=%3F&b=?"), owned("/p", Some("a=%3F&b=?"), None));
    assert_eq!(split("http://example.com:8080/x/y?z=1"), owned("/x/y", Some("z=1"), None));
    assert_eq!(split("HTTPS://example.com"), owned("/", None, None));
    assert_eq!(split("http://example.com?q"), owned("/", Some("q"), None));
    assert_eq!(split("*"), owned("*", None, None));
    assert_eq!(split("/caf\u{e9}"), owned("/caf\u{e9}", None, None));
}

#[test]
fn pipelined_requests_come_out_in_order() {
    let events = parse(PIPELINE);
    let described = describe_all(&events);
    assert_eq!(events.len(), 4, "{described:#?}");
    let paths: Vec<_> = events
        .iter()
        .map(|event| match event {
            Event::Message(request) => request.path().to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(paths, [&b"/first"[..], b"/second", b"/third", b"/fourth"]);
    assert!(described[1].ends_with("body=hello world"), "{}", described[1]);
    assert!(described[2].ends_with("body=Wikipedia"), "{}", described[2]);
    assert!(!described[2].contains("X-Trailer"), "trailers are not headers: {}", described[2]);
    assert!(described[3].contains("keep_alive=false"));
}

/// Feeds `input` whole, in two pieces split at every byte, and a byte
/// at a time: the events must be the same every way. Returns them,
/// described.
fn same_events_however_split(input: &[u8]) -> Vec<String> {
    let whole = describe_all(&parse(input));
    for split in 0..=input.len() {
        let mut parser = new_parser();
        parser.feed(&input[..split]);
        parser.feed(&input[split..]);
        assert_eq!(describe_all(&events_of(&mut parser)), whole, "{} split at {split}", input.escape_ascii());
    }
    let mut parser = new_parser();
    for byte in input {
        parser.feed(std::slice::from_ref(byte));
    }
    assert_eq!(describe_all(&events_of(&mut parser)), whole, "{} byte by byte", input.escape_ascii());
    whole
}

/// The one event `input` gives, however split, is this error.
fn assert_refused(what: &str, input: &[u8], error: ParseError) {
    let described = same_events_however_split(input);
    assert_eq!(described, [format!("{:?}", Event::<Request>::Error(error))], "{what}");
}

#[test]
fn every_split_point_gives_the_same_requests() {
    assert_eq!(same_events_however_split(PIPELINE).len(), 4);
}

#[test]
fn byte_by_byte_gives_the_same_requests() {
    let whole = describe_all(&parse(PIPELINE));
    let mut parser = new_parser();
    let mut events = Vec::new();
    for byte in PIPELINE {
        parser.feed(std::slice::from_ref(byte));
        events.extend(std::iter::from_fn(|| parser.next_event()));
    }
    assert_eq!(describe_all(&events), whole);
}

#[test]
fn chunked_bodies_with_extensions_and_trailers() {
    let request = only_request(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          1a;ext\r\nabcdefghijklmnopqrstuvwxyz\r\n\
          A\t;a=b;c=\"d\"\r\n0123456789\r\n\
          0;last=yes\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n",
    );
    assert_eq!(request.body, b"abcdefghijklmnopqrstuvwxyz0123456789");
    assert_eq!(request.headers().len(), 2, "trailers are not headers");
    // Codings are compared without case, and may come on several lines.
    let request = only_request(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    assert_eq!(request.body, b"abc");
    // Chunk data holding CRLF and digits is data.
    let request = only_request(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n\r\n0\r\n\r\n0\r\n\r\n");
    assert_eq!(request.body, b"\r\n0\r\n");
}

#[test]
fn content_length_bodies() {
    let request = only_request(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\r\n\r\n");
    assert_eq!(request.body, b"\r\n\r\n");
    // Repeats of one value are one length.
    let request = only_request(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3, 3\r\n\r\nabc");
    assert_eq!(request.body, b"abc");
    let request = only_request(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert!(request.body.is_empty());
    // Bytes after the body are the next request, not more body.
    let events = parse(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabGET");
    assert_eq!(events.len(), 1);
}

#[test]
fn keep_alive_follows_the_version_and_connection_header() {
    let keep_alive = |head: &str| only_request(format!("{head}\r\n\r\n").as_bytes()).should_keep_alive;
    assert!(keep_alive("GET / HTTP/1.1\r\nHost: x"));
    assert!(keep_alive("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive"));
    assert!(!keep_alive("GET / HTTP/1.1\r\nHost: x\r\nConnection: close"));
    assert!(!keep_alive("GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, CLOSE"));
    assert!(!keep_alive("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo\r\nConnection: close"));
    assert!(!keep_alive("GET / HTTP/1.0"));
    assert!(!keep_alive("GET / HTTP/1.0\r\nConnection: close"));
    assert!(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive"));
    assert!(keep_alive("GET / HTTP/1.0\r\nconnection: Keep-Alive"));
    assert!(!keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive-not"));
    let request = only_request(b"HEAD / HTTP/1.0\r\n\r\n");
    assert_eq!(request.version(), (1, 0));
    assert_eq!(request.reply_context(), ReplyContext { head_request: true, version_minor: 0, keep_alive: false });
}

#[test]
fn nothing_is_read_after_a_request_that_closes_the_connection() {
    let events = parse(b"GET /1 HTTP/1.0\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\ngarbage\r\n\r\n");
    assert_eq!(events.len(), 1);
    let events = parse(b"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(events.len(), 1);
}

#[test]
fn blank_lines_before_a_request_are_skipped() {
    let input = b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(same_events_however_split(input).len(), 2);
    // CRLF ones only.
    assert_refused("bare LF", b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", BARE_LF);
    assert_refused("lone CR", b"\r\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", CR_WITHOUT_LF);
    let mut parser = new_parser();
    for _ in 0..100_000 {
        parser.feed(b"\r\n");
    }
    assert!(parser.is_idle());
    assert_eq!(parser.pending_header_bytes(), 0);
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(parser.next_event(), Some(Event::Message(_))));
}

#[test]
fn upgrade_requests_hand_over_the_rest_of_the_connection() {
    let mut parser = new_parser();
    parser.feed(b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n\x81\x05hello");
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let events = events_of(&mut parser);
    assert_eq!(events.len(), 1);
    let Event::Message(request) = &events[0] else { panic!("{events:?}") };
    assert!(request.upgrade);
    assert!(!request.should_keep_alive);
    assert!(parser.is_upgraded());
    assert_eq!(parser.take_upgrade_bytes(), b"\x81\x05helloGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(parser.take_upgrade_bytes().is_empty());

    assert!(only_request(b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n").upgrade);
    // Upgrade needs both headers.
    assert!(!only_request(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n").upgrade);
    assert!(!only_request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n").upgrade);
}

#[test]
fn expect_continue_is_announced_before_the_body_arrives() {
    let mut parser = new_parser();
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
    assert!(matches!(parser.next_event(), Some(Event::ContinueExpected)));
    assert!(parser.next_event().is_none());
    parser.feed(b"abc");
    let Some(Event::Message(request)) = parser.next_event() else { panic!() };
    assert!(request.expect_continue);
    assert_eq!(request.body, b"abc");

    // Not for HTTP/1.0, and not without a body to wait for.
    let events = parse(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na");
    assert!(matches!(&events[..], [Event::Message(request)] if !request.expect_continue));
    let events = parse(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    assert!(matches!(&events[..], [Event::Message(request)] if request.expect_continue));
}

#[test]
fn header_block_limit_gives_431() {
    let limits = Limits { max_header_bytes: 100, ..Limits::default() };
    let head_of_size = |size: usize| {
        let start = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
        let filler = "a".repeat(size - start.len() - 4);
        format!("{start}{filler}\r\n\r\n").into_bytes()
    };
    for (size, fits) in [(100, true), (101, false)] {
        let head = head_of_size(size);
        assert_eq!(head.len(), size);
        for piece in [1, 7, size] {
            let mut parser = RequestParser::new(limits);
            for chunk in head.chunks(piece) {
                parser.feed(chunk);
            }
            let events = events_of(&mut parser);
            match &events[..] {
                [Event::Message(_)] => assert!(fits, "size {size}"),
                [Event::Error(error)] => {
                    assert!(!fits, "size {size}");
                    assert_eq!(*error, ParseError::HeadersTooLarge);
                    assert_eq!(error.status(), 431);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    // A block that never ends is refused as soon as it passes the limit.
    let mut parser = RequestParser::new(limits);
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n");
    for _ in 0..20 {
        parser.feed(b"X-Long: 123\r\n");
    }
    assert!(matches!(events_of(&mut parser)[..], [Event::Error(ParseError::HeadersTooLarge)]));
    // The default limit is 64 KiB.
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(64 * 1024));
    assert_eq!(only_error(big.as_bytes()), ParseError::HeadersTooLarge);
}

#[test]
fn body_limit_gives_413_as_soon_as_it_is_known() {
    let limits = Limits { max_body_bytes: 10, ..Limits::default() };
    // From Content-Length, before any body byte.
    let mut parser = RequestParser::new(limits);
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
    let error = match parser.next_event() {
        Some(Event::Error(error)) => error,
        other => panic!("{other:?}"),
    };
    assert_eq!(error, ParseError::BodyTooLarge);
    assert_eq!(error.status(), 413);
    let mut parser = RequestParser::new(limits);
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    assert!(matches!(parser.next_event(), Some(Event::Message(_))));
    // From a chunk size, before that chunk's data.
    let mut parser = RequestParser::new(limits);
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n");
    assert!(matches!(parser.next_event(), Some(Event::Error(ParseError::BodyTooLarge))));
    let mut parser = RequestParser::new(limits);
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n");
    assert!(matches!(parser.next_event(), Some(Event::Message(request)) if request.body == b"0123456789"));
    // A chunk size too large for any limit.
    let mut parser = new_parser();
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n");
    assert!(matches!(parser.next_event(), Some(Event::Error(ParseError::BodyTooLarge))));
}

#[test]
fn oversized_trailers_give_431() {
    let limits = Limits { max_header_bytes: 64, ..Limits::default() };
    let mut parser = RequestParser::new(limits);
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
    for _ in 0..10 {
        parser.feed(b"X-Trailer: 0123456789\r\n");
    }
    assert!(matches!(events_of(&mut parser)[..], [Event::Error(ParseError::HeadersTooLarge)]));
}

#[test]
fn malformed_requests_give_400() {
    let cases: &[(&str, &[u8])] = &[
        ("no version", b"GET /\r\n\r\n"),
        ("extra word", b"GET / HTTP/1.1 extra\r\n\r\n"),
        ("space in target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("garbage version", b"GET / HTTQ/1.1\r\n\r\n"),
        ("header name with space", b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n"),
        ("header without colon", b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
        ("control byte in value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n"),
        ("bare CR", b"GET / HTTP/1.1\rX: y\r\n\r\n"),
        ("conflicting lengths", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("conflicting length list", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab"),
        ("negative length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        ("signed length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na"),
        ("empty length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n"),
        ("length with letters", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1a\r\n\r\n"),
        ("overflowing length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
        ("length and chunked", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("chunked not last", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        ("chunked twice", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
        ("chunked in 1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("bad chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("empty chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"),
        ("chunk size with sign", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"),
        ("chunk size bare LF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n"),
        ("chunk without CRLF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n"),
        ("chunk ending LF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n"),
    ];
    for (what, input) in cases {
        let error = only_error(input);
        assert!(matches!(error, ParseError::Malformed(_)), "{what}: {error:?}");
        assert_eq!(error.status(), 400, "{what}");
        assert_refused(what, input, error);
    }
    // A chunk-size line of endless extensions is cut off.
    let mut long = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
    long.extend(std::iter::repeat_n(b'x', 5000));
    assert!(matches!(only_error(&long), ParseError::Malformed(_)));
}

#[test]
fn other_http_versions_give_505() {
    for version in ["2.0", "0.9", "5.6", "1.2", "9.9"] {
        let input = format!("GET / HTTP/{version}\r\n\r\n");
        assert_refused(version, input.as_bytes(), ParseError::UnsupportedVersion);
    }
    assert_eq!(ParseError::UnsupportedVersion.status(), 505);
    // HTTP/0.9 has no version to be unsupported: the line is malformed.
    let http_0_9 = ParseError::Malformed("request line without an HTTP version (HTTP/0.9)");
    assert_refused("HTTP/0.9", b"GET /\r\n\r\n", http_0_9);
    assert_eq!(http_0_9.status(), 400);
}

#[test]
fn request_smuggling_vectors_give_400() {
    const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunked = |chunks: &str| format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}{SMUGGLED}");
    let headers = |lines: &str| format!("POST / HTTP/1.1\r\nHost: x\r\n{lines}\r\n\r\n{SMUGGLED}");
    let malformed = ParseError::Malformed;
    let invalid_length = malformed("invalid Content-Length");
    let cases: Vec<(&str, String, ParseError)> = vec![
        ("bare LF between header lines", headers("X: a\nContent-Length: 39"), BARE_LF),
        ("bare LF after the request line", format!("GET / HTTP/1.1\nHost: x\r\n\r\n{SMUGGLED}"), BARE_LF),
        ("bare LF as the blank line", format!("GET / HTTP/1.1\r\nHost: x\r\n\n{SMUGGLED}"), BARE_LF),
        ("bare LF in the trailers", chunked("0\r\nX: 1\n\r\n"), BARE_LF),
        ("CR alone in a value", headers("X: a\rContent-Length: 39"), CR_WITHOUT_LF),
        ("CR alone after a value", headers("X: a\r\r\nY: b"), CR_WITHOUT_LF),
        ("empty chunk extension", chunked("2;\r\nab\r\n0\r\n\r\n"), malformed("empty chunk extension")),
        ("space after a chunk size", chunked("2 \r\nab\r\n0\r\n\r\n"), malformed("whitespace after the chunk size")),
        ("tab after a chunk size", chunked("2\t\r\nab\r\n0\r\n\r\n"), malformed("whitespace after the chunk size")),
        (
            "unbalanced quote in a chunk extension",
            chunked("2;a=\"b\r\nab\r\n0\r\n\r\n"),
            malformed("unbalanced quote in a chunk extension"),
        ),
        ("chunk size with +", chunked("+2\r\nab\r\n0\r\n\r\n"), malformed("invalid chunk size")),
        ("chunk size with 0x", chunked("0x2\r\nab\r\n0\r\n\r\n"), malformed("invalid chunk size")),
        ("overflowing chunk size", chunked("10000000000000002\r\nab\r\n0\r\n\r\n"), malformed("invalid chunk size")),
        ("chunk without CRLF", chunked("2\r\nabc\r\n0\r\n\r\n"), malformed("chunk data not followed by CRLF")),
        ("chunked, gzip", headers("Transfer-Encoding: chunked, gzip"), CHUNKED_NOT_FINAL),
        ("chunked then gzip", headers("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip"), CHUNKED_NOT_FINAL),
        ("chunked twice", headers("Transfer-Encoding: chunked, chunked"), CHUNKED_NOT_FINAL),
        ("empty coding", headers("Transfer-Encoding: "), CHUNKED_NOT_FINAL),
        ("length then coding", headers("Content-Length: 3\r\nTransfer-Encoding: chunked"), LENGTH_AND_CODING),
        ("coding then length", headers("Transfer-Encoding: chunked\r\nContent-Length: 3"), LENGTH_AND_CODING),
        ("coding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_string(), CODING_IN_HTTP_1_0),
        (
            "space before the colon",
            headers("Transfer-Encoding : chunked"),
            malformed("whitespace between a header name and its colon"),
        ),
        ("tab before the colon", headers("Content-Length\t: 39"), malformed("whitespace between a header name and its colon")),
        ("obs-fold", headers("X: a\r\n b"), OBS_FOLD),
        ("obs-fold of a coding", headers("Transfer-Encoding: chunked\r\n\t, gzip"), OBS_FOLD),
        ("NUL in a name", headers("X\0: a"), malformed("invalid byte in a header name")),
        ("NUL in a value", headers("X: a\0b"), malformed("invalid byte in a header value")),
        ("ESC in a value", headers("X: a\x1bb"), malformed("invalid byte in a header value")),
        ("DEL in a value", headers("X: a\x7fb"), malformed("invalid byte in a header value")),
        ("length with +", headers("Content-Length: +39"), invalid_length),
        ("length with -", headers("Content-Length: -39"), invalid_length),
        ("length with a space inside", headers("Content-Length: 3 9"), invalid_length),
        ("length in hex", headers("Content-Length: 0x27"), invalid_length),
        ("overflowing length", headers("Content-Length: 18446744073709551616"), invalid_length),
        ("differing lengths", headers("Content-Length: 39, 0"), malformed("conflicting Content-Length")),
        ("differing length lines", headers("Content-Length: 0\r\nContent-Length: 39"), malformed("conflicting Content-Length")),
    ];
    for (what, input, error) in cases {
        assert_eq!(error.status(), 400);
        assert_refused(what, input.as_bytes(), error);
    }
}

#[test]
fn transfer_codings_other_than_chunked_give_501() {
    const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let headers = |lines: &str| format!("POST / HTTP/1.1\r\nHost: x\r\n{lines}\r\n\r\n1\r\nz\r\n0\r\n\r\n{SMUGGLED}");
    for lines in [
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: gzip",
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: identity",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
        // The first coding that shows the request bad decides.
        "Transfer-Encoding: gzip, chunked, gzip",
    ] {
        assert_refused(lines, headers(lines).as_bytes(), ParseError::UnsupportedTransferCoding);
    }
    assert_eq!(ParseError::UnsupportedTransferCoding.status(), 501);
    // Chunked not last is still faulty framing, and both framings at once
    // still a smuggling attempt.
    assert_refused("chunked, gzip", headers("Transfer-Encoding: chunked, gzip").as_bytes(), CHUNKED_NOT_FINAL);
    let both = headers("Content-Length: 1\r\nTransfer-Encoding: gzip, chunked");
    assert_refused("length then gzip", both.as_bytes(), LENGTH_AND_CODING);
    // Refused at the line, before the blank line.
    assert_refused("at once", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n", ParseError::UnsupportedTransferCoding);
}

#[test]
fn host_is_required_once_and_valid() {
    let request =
        |version: &str, lines: &str| format!("GET / HTTP/{version}\r\n{lines}\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    let cases: &[(&str, &str, ParseError)] = &[
        ("1.1", "", NO_HOST),
        ("1.1", "X-Host: a", NO_HOST),
        ("1.1", "Host: a\r\nHost: a", HOST_TWICE),
        ("1.1", "Host: a\r\nhost: b", HOST_TWICE),
        ("1.0", "Host: a\r\nHost: b", HOST_TWICE),
        ("1.1", "Host: a b", INVALID_HOST),
        ("1.1", "Host: user@example.com", INVALID_HOST),
        ("1.1", "Host: example.com/evil", INVALID_HOST),
        ("1.1", "Host: example.com:port", INVALID_HOST),
        ("1.1", "Host: caf\u{e9}", INVALID_HOST),
        ("1.0", "Host: [::1", INVALID_HOST),
    ];
    for (version, lines, error) in cases {
        assert_eq!(error.status(), 400);
        assert_refused(lines, request(version, lines).as_bytes(), *error);
    }
    for (version, lines) in [
        ("1.0", ""),
        ("1.1", "Host: example.com"),
        ("1.1", "HOST: example.com:8080"),
        ("1.1", "Host: 127.0.0.1:80"),
        ("1.1", "Host: [::1]:8080"),
        ("1.1", "Host:"),
    ] {
        let events = same_events_however_split(request(version, lines).as_bytes());
        assert!(events.iter().all(|event| !event.starts_with("Error")), "{lines}: {events:?}");
    }
}

#[test]
fn malformed_heads_are_refused_before_their_blank_line() {
    // None of these sends the blank line: the bytes so far prove the
    // request bad, and the error is there at once.
    let malformed = ParseError::Malformed;
    let cases: &[(&str, &[u8], ParseError)] = &[
        (
            "overflowing length",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n",
            malformed("invalid Content-Length"),
        ),
        (
            "differing lengths",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
            malformed("conflicting Content-Length"),
        ),
        ("bytes where CRLF is due", b"GET / HTTP/1.1xy", malformed("bytes after the HTTP version")),
        ("CR without LF", b"GET / HTTP/1.1\r\nHost: x\rY", CR_WITHOUT_LF),
        ("space after the request line", b"GET / HTTP/1.1 \r\n", malformed("bytes after the HTTP version")),
        ("HTTP/5.6", b"GET / HTTP/5.6\r\n", ParseError::UnsupportedVersion),
        ("HTTP/2", b"PRI * HTTP/2.0", ParseError::UnsupportedVersion),
        ("HTTP/0.9", b"GET /\r\n", malformed("request line without an HTTP version (HTTP/0.9)")),
        ("bare LF", b"GET / HTTP/1.1\n", BARE_LF),
        ("TLS on the HTTP port", b"\x16\x03\x01\x02\x00", malformed("request line not starting with a method")),
        ("two spaces", b"GET  /", malformed("more than one space after the method")),
        ("control byte in the target", b"GET /\x01", malformed("invalid byte in the request target")),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n", OBS_FOLD),
        (
            "space before the colon",
            b"GET / HTTP/1.1\r\nHost : x\r\n",
            malformed("whitespace between a header name and its colon"),
        ),
        (
            "length and coding",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n",
            LENGTH_AND_CODING,
        ),
        ("chunked not last", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n", CHUNKED_NOT_FINAL),
        ("NUL in a value", b"GET / HTTP/1.1\r\nHost: x\r\nX: \0\r\n", malformed("invalid byte in a header value")),
    ];
    for (what, input, error) in cases {
        assert_refused(what, input, *error);
    }
}

#[test]
fn what_the_rfc_leaves_to_the_server_is_kept() {
    let one = |input: &[u8]| {
        let described = same_events_however_split(input);
        assert_eq!(described.len(), 1, "{described:?}");
        only_request(input)
    };
    for method in ["PURGE", "MKCALENDAR", "M-SEARCH", "lowercase", "X!#$%&'*+-.^_`|~9"] {
        let request = one(format!("{method} /x HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(request.method(), method);
    }
    let connect = one(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    assert_eq!((connect.method(), connect.target(), connect.upgrade), ("CONNECT", &b"example.com:443"[..], true));
    let options = one(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((options.method(), options.path()), ("OPTIONS", &b"*"[..]));
    let utf8 = one("GET /caf\u{e9}/\u{1f600}?q=\u{fc} HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes());
    assert_eq!(utf8.path(), "/caf\u{e9}/\u{1f600}".as_bytes());
    assert_eq!(utf8.query(), Some("q=\u{fc}".as_bytes()));
    let http_1_0 = one(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!((http_1_0.version(), http_1_0.should_keep_alive), ((1, 0), true));
    let obs_text = one(b"GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\t\xff \r\nEmpty:\r\n\r\n");
    assert_eq!(obs_text.headers().get("x"), Some(&b"caf\xc3\xa9\t\xff"[..]));
    assert_eq!(obs_text.headers().get("empty"), Some(&b""[..]));
    let extensions = one(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          1;name=value\r\na\r\n1;name=\"quoted \\\" value\"\r\nb\r\n1 ; a = b ;c\r\nc\r\n\
          0;last\r\nTrailer: 1\r\nOther: 2\r\n\r\n");
    assert_eq!(extensions.body, b"abc");
    let repeated_length = one(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\ncontent-length: 1\r\n\r\nz");
    assert_eq!(repeated_length.body, b"z");
    // Pipelined, with blank lines between.
    let pipelined = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\r\nPURGE /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.0\r\n\r\n";
    assert_eq!(same_events_however_split(pipelined).len(), 3);
}

#[test]
fn nothing_is_read_after_an_error() {
    let mut parser = new_parser();
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nBAD LINE\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let events = events_of(&mut parser);
    assert!(matches!(&events[..], [Event::Message(_), Event::Error(ParseError::Malformed(_))]), "{events:?}");
}

#[test]
fn progress_reports_for_the_callers_timeouts() {
    let mut parser = new_parser();
    assert!(parser.is_idle());
    assert_eq!(parser.pending_header_bytes(), 0);
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-");
    assert_eq!(parser.pending_header_bytes(), 34);
    assert!(!parser.is_idle());
    parser.feed(b"Length: 5\r\n\r\nab");
    assert_eq!(parser.pending_header_bytes(), 0);
    assert!(!parser.is_idle(), "body still arriving");
    parser.feed(b"cde");
    assert!(parser.is_idle());
    assert!(matches!(parser.next_event(), Some(Event::Message(_))));
}

#[test]
fn a_request_cut_short_by_the_client_is_incomplete() {
    let mut parser = new_parser();
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab");
    parser.finish();
    assert!(matches!(parser.next_event(), Some(Event::Error(ParseError::Incomplete))));
    let mut parser = new_parser();
    parser.feed(b"GET / HT");
    parser.finish();
    assert!(matches!(parser.next_event(), Some(Event::Error(ParseError::Incomplete))));
    let mut parser = new_parser();
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    parser.finish();
    assert!(matches!(parser.next_event(), Some(Event::Message(_))));
    assert!(parser.next_event().is_none());
}

#[test]
fn headers_past_the_usual_count_are_all_kept() {
    let mut input = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..500 {
        input.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    input.extend_from_slice(b"\r\n");
    let request = only_request(&input);
    assert_eq!(request.headers().len(), 501, "Host and 500 more");
    assert_eq!(request.headers().get("x-499"), Some(&b"499"[..]));
}

/// Release builds are the ones that must be fast; debug ones get room.
/// Ten times what a release build needs on an idle machine: a
/// quadratic parser would take minutes on these inputs, and CI machines
/// are shared.
fn time_budget(release: Duration) -> Duration {
    if cfg!(debug_assertions) { release * 200 } else { release * 10 }
}

#[test]
fn a_50_mib_body_parses_in_linear_time() {
    const SIZE: usize = 50 * 1024 * 1024;
    let limits = Limits { max_body_bytes: SIZE as u64, ..Limits::default() };
    let piece = vec![b'x'; 64 * 1024];
    let started = Instant::now();
    let mut parser = RequestParser::new(limits);
    parser.feed(format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes());
    for _ in 0..SIZE / piece.len() {
        parser.feed(&piece);
    }
    let Some(Event::Message(request)) = parser.next_event() else { panic!() };
    assert_eq!(request.body.len(), SIZE);
    assert_eq!(request.body.capacity(), SIZE, "no slack past the announced length");

    // The same size, chunked.
    let mut parser = RequestParser::new(limits);
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
    for _ in 0..SIZE / piece.len() {
        parser.feed(&chunk);
    }
    parser.feed(b"0\r\n\r\n");
    let Some(Event::Message(request)) = parser.next_event() else { panic!() };
    assert_eq!(request.body.len(), SIZE);
    let elapsed = started.elapsed();
    assert!(elapsed < time_budget(Duration::from_millis(800)), "took {elapsed:?}");
}

#[test]
fn tiny_pieces_cost_no_rescanning() {
    // One byte at a time: any work in proportion to what is buffered
    // makes this quadratic (some 10^11 steps), far past the budget.
    const SIZE: usize = 1024 * 1024;
    let limits = Limits { max_header_bytes: 2 * SIZE, max_body_bytes: SIZE as u64 };
    let started = Instant::now();
    let mut parser = RequestParser::new(limits);
    let head =
        format!("GET / HTTP/1.1\r\nHost: x\r\n{}X: {}\r\n\r\n", "X-Header: value\r\n".repeat(SIZE / 34), "v".repeat(SIZE / 2));
    for byte in head.as_bytes() {
        parser.feed(std::slice::from_ref(byte));
    }
    assert!(matches!(parser.next_event(), Some(Event::Message(_))));
    parser.feed(format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes());
    for _ in 0..SIZE {
        parser.feed(b"y");
    }
    let Some(Event::Message(request)) = parser.next_event() else { panic!() };
    assert_eq!(request.body.len(), SIZE);
    // A request line is checked a byte at a time as it comes.
    let line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "t".repeat(SIZE));
    for byte in line.as_bytes() {
        parser.feed(std::slice::from_ref(byte));
    }
    assert!(matches!(parser.next_event(), Some(Event::Message(_))));
    let elapsed = started.elapsed();
    assert!(elapsed < time_budget(Duration::from_millis(500)), "took {elapsed:?}");
}

const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

fn reply(status: u16, headers: &[(&str, &str)], body: &[&[u8]], context: ReplyContext) -> (String, bool) {
    let headers: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
    let reply = serialize_response(status, &headers, body, context, DATE).unwrap();
    (String::from_utf8(reply.message.to_vec().unwrap()).unwrap(), reply.keep_alive)
}

const KEEP_ALIVE_1_1: ReplyContext = ReplyContext { head_request: false, version_minor: 1, keep_alive: true };

#[test]
fn responses_are_written_exactly() {
    let (text, keep_alive) = reply(200, &[("Content-Type", "text/plain")], &[b"hello"], KEEP_ALIVE_1_1);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Server: ASyNC\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"
    );
    assert!(keep_alive);
    let (text, keep_alive) = reply(404, &[("x-lower", "v")], &[b"no", b"", b"pe"], ReplyContext::closing());
    assert_eq!(
        text,
        "HTTP/1.1 404 Not Found\r\nx-lower: v\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
         Server: ASyNC\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
    );
    assert!(!keep_alive);
    let (text, _) = reply(299, &[], &[], KEEP_ALIVE_1_1);
    assert!(text.starts_with("HTTP/1.1 299 unknown\r\n"), "{text}");
    assert!(text.contains("\r\nContent-Length: 0\r\n"), "{text}");
}

#[test]
fn given_date_and_server_are_kept_and_a_given_length_is_replaced_by_the_real_one() {
    let (text, _) = reply(200, &[("date", "yesterday"), ("SERVER", "mine"), ("content-length", "10")], &[b"abc"], KEEP_ALIVE_1_1);
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\ndate: yesterday\r\nSERVER: mine\r\nContent-Length: 3\r\n\
         Connection: keep-alive\r\n\r\nabc"
    );
    // Every given length goes, however many and however spelled.
    let (text, _) = reply(200, &[("Content-Length", "1"), ("X", "y"), ("CONTENT-LENGTH", "2")], &[b"ab", b"c"], KEEP_ALIVE_1_1);
    assert_eq!(text.matches("ength").count(), 1, "{text}");
    assert!(text.contains("\r\nX: y\r\n") && text.ends_with("Content-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"), "{text}");
}

#[test]
fn lengths_of_responses_without_a_body_follow_the_rfc() {
    let head = ReplyContext { head_request: true, ..KEEP_ALIVE_1_1 };
    // HEAD: a given length announces what a GET would get, and is kept.
    let (text, _) = reply(200, &[("Content-Length", "1234")], &[], head);
    assert!(text.contains("\r\nContent-Length: 1234\r\n") && text.ends_with("\r\n\r\n"), "{text}");
    assert_eq!(text.matches("Content-Length").count(), 1, "{text}");
    // 304: kept as given; 204: never a length.
    let (text, _) = reply(304, &[("Content-Length", "99")], &[], KEEP_ALIVE_1_1);
    assert!(text.contains("\r\nContent-Length: 99\r\n"), "{text}");
    let (text, _) = reply(204, &[("Content-Length", "99")], &[b"x"], KEEP_ALIVE_1_1);
    assert!(!text.contains("Content-Length") && text.ends_with("\r\n\r\n"), "{text}");
}

#[test]
fn connection_header_and_keep_alive_decision() {
    let http10 = ReplyContext { head_request: false, version_minor: 0, keep_alive: true };
    let (text, keep_alive) = reply(200, &[], &[], http10);
    assert!(text.ends_with("Connection: keep-alive\r\n\r\n") && keep_alive, "{text}");
    let (text, keep_alive) = reply(200, &[("Connection", "close")], &[], KEEP_ALIVE_1_1);
    assert!(!keep_alive);
    assert_eq!(text.matches("Connection").count(), 1, "{text}");
    // A given Connection without close is kept as is, and closing
    // adds the close.
    let (text, keep_alive) = reply(200, &[("Connection", "X-Custom")], &[], KEEP_ALIVE_1_1);
    assert!(keep_alive && !text.contains("keep-alive"), "{text}");
    let context = ReplyContext { keep_alive: false, ..KEEP_ALIVE_1_1 };
    let (text, keep_alive) = reply(200, &[("Connection", "X-Custom")], &[], context);
    assert!(!keep_alive, "{text}");
    assert!(text.contains("\r\nConnection: X-Custom\r\n") && text.ends_with("\r\nConnection: close\r\n\r\n"), "{text}");
}

#[test]
fn head_204_and_304_responses_carry_no_body() {
    let head = ReplyContext { head_request: true, ..KEEP_ALIVE_1_1 };
    let (text, _) = reply(200, &[], &[b"hello"], head);
    assert!(text.ends_with("Content-Length: 5\r\nConnection: keep-alive\r\n\r\n"), "{text}");
    for status in [204, 304] {
        let (text, _) = reply(status, &[], &[b"hello"], KEEP_ALIVE_1_1);
        assert!(!text.contains("Content-Length") && text.ends_with("\r\n\r\n"), "{text}");
    }
    let (text, _) = reply(200, &[("Transfer-Encoding", "chunked")], &[b"hello"], head);
    // Headers only, and no length next to the chunked coding.
    assert!(text.ends_with("Server: ASyNC\r\nConnection: keep-alive\r\n\r\n"), "{text}");
    assert!(text.contains("\r\nTransfer-Encoding: chunked\r\n") && !text.contains("Content-Length"), "{text}");
}

#[test]
fn chunked_responses_encode_each_piece() {
    let (text, _) = reply(200, &[("Transfer-Encoding", "chunked")], &[b"hello", b"", b"world and more!"], KEEP_ALIVE_1_1);
    assert!(!text.contains("Content-Length"));
    assert!(text.ends_with("\r\n\r\n5\r\nhello\r\nf\r\nworld and more!\r\n0\r\n\r\n"), "{text}");
    // An HTTP/1.0 client knows no chunks: a length instead.
    let http10 = ReplyContext { head_request: false, version_minor: 0, keep_alive: false };
    let (text, _) = reply(200, &[("Transfer-Encoding", "chunked")], &[b"hello", b"world"], http10);
    assert!(!text.contains("Transfer-Encoding"), "{text}");
    assert!(text.ends_with("Content-Length: 10\r\nConnection: close\r\n\r\nhelloworld"), "{text}");
}

#[test]
fn a_transfer_coding_without_chunked_ends_with_the_connection() {
    let (text, keep_alive) = reply(200, &[("Transfer-Encoding", "gzip"), ("Content-Length", "2")], &[b"zz"], KEEP_ALIVE_1_1);
    assert!(!keep_alive);
    assert!(!text.contains("Content-Length"), "{text}");
    assert!(text.ends_with("Connection: close\r\n\r\nzz"), "{text}");
}

fn by_caller(status: u16, headers: &[(&str, &str)], body: &[&'static [u8]], context: ReplyContext) -> (String, Reply<'static>) {
    let headers: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
    let reply = serialize_response_with(status, &headers, body, context, DATE, ChunkedBody::ByCaller).unwrap();
    (String::from_utf8(reply.message.to_vec().unwrap()).unwrap(), reply)
}

#[test]
fn a_chunked_body_framed_by_the_caller_is_sent_as_given_and_hands_the_connection_over() {
    let (text, reply) = by_caller(
        200,
        &[("transfer-encoding", "Chunked"), ("Content-Type", "text/event-stream")],
        &[b"5\r\nfirst\r\n"],
        KEEP_ALIVE_1_1,
    );
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\nContent-Type: text/event-stream\r\n\
         Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: ASyNC\r\nConnection: close\r\n\r\n5\r\nfirst\r\n"
    );
    assert!(reply.hand_over && !reply.keep_alive);
    // No body at all: the head alone. A given length and a given
    // Connection go; `gzip, chunked` is chunked too.
    let given = [("Transfer-Encoding", "gzip, chunked"), ("Content-Length", "10"), ("Connection", "keep-alive")];
    let (text, reply) = by_caller(200, &given, &[], KEEP_ALIVE_1_1);
    assert!(reply.hand_over && text.ends_with("Server: ASyNC\r\nConnection: close\r\n\r\n"), "{text}");
    assert!(!text.contains("Content-Length") && !text.contains("keep-alive"), "{text}");
    // An HTTP/1.0 client gets the coding the caller frames its body in.
    let http10 = ReplyContext { head_request: false, version_minor: 0, keep_alive: true };
    let (text, reply) = by_caller(200, &[("Transfer-Encoding", "chunked")], &[b"3\r\nabc\r\n"], http10);
    assert!(
        reply.hand_over && text.contains("\r\nTransfer-Encoding: chunked\r\n") && text.ends_with("\r\n\r\n3\r\nabc\r\n"),
        "{text}"
    );
    // HEAD: no body, but the caller's chunks may follow: handed over too.
    let head = ReplyContext { head_request: true, ..KEEP_ALIVE_1_1 };
    let (text, reply) = by_caller(200, &[("Transfer-Encoding", "chunked")], &[b"3\r\nabc\r\n"], head);
    assert!(reply.hand_over && text.ends_with("Connection: close\r\n\r\n"), "{text}");
    // Without chunked, nothing changes.
    let (text, reply) = by_caller(200, &[("Content-Length", "7")], &[b"abc"], KEEP_ALIVE_1_1);
    assert!(
        !reply.hand_over && reply.keep_alive && text.ends_with("Content-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"),
        "{text}"
    );
}

#[test]
fn raw_header_lines_split_at_the_first_colon() {
    assert_eq!(split_raw_header_line(b"X-Raw: yes"), Ok((&b"X-Raw"[..], &b"yes"[..])));
    assert_eq!(split_raw_header_line(b"X:\t a: b \t"), Ok((&b"X"[..], &b"a: b"[..])));
    assert_eq!(split_raw_header_line(b"X:"), Ok((&b"X"[..], &b""[..])));
    assert_eq!(split_raw_header_line(b"X :v"), Ok((&b"X "[..], &b"v"[..])), "refused later as a name");
    assert_eq!(split_raw_header_line(b"no colon"), Err(RawLineError::NoColon));
    assert_eq!(split_raw_header_line(b"X: a\r\nSet-Cookie: evil"), Err(RawLineError::LineBreak));
    assert_eq!(split_raw_header_line(b"X: a\nb"), Err(RawLineError::LineBreak));
    assert_eq!(split_raw_header_line(b"X: a\r"), Err(RawLineError::LineBreak));
    assert_eq!(RawLineError::LineBreak.to_string(), "holds CR or LF");
}

#[test]
fn large_body_pieces_are_borrowed_for_one_vectored_write() {
    let large = vec![b'z'; 100_000];
    let body: [&[u8]; 3] = [b"small", &large, b"tail"];
    let reply = serialize_response(200, &[], &body, KEEP_ALIVE_1_1, DATE).unwrap();
    let pieces = reply.message.pieces();
    assert_eq!(pieces.len(), 3, "head+small, large, tail");
    assert!(pieces[0].ends_with(b"\r\n\r\nsmall"));
    assert!(std::ptr::eq(pieces[1].as_ref(), large.as_slice()), "the large piece is not copied");
    assert_eq!(pieces[2].as_ref(), b"tail");
    assert_eq!(pieces.iter().map(|p| p.len()).sum::<usize>(), reply.message.to_vec().unwrap().len());
}

#[test]
fn invalid_responses_are_refused() {
    let refuse = |status: u16, headers: &[(&[u8], &[u8])]| {
        serialize_response(status, headers, &[], KEEP_ALIVE_1_1, DATE).map(|_| ()).unwrap_err()
    };
    assert_eq!(refuse(99, &[]), InvalidMessage::StatusCode(99));
    assert_eq!(refuse(1000, &[]), InvalidMessage::StatusCode(1000));
    // An interim status would leave the client waiting for the final one.
    for status in [100, 101, 102, 103, 199] {
        assert_eq!(refuse(status, &[]), InvalidMessage::InterimStatus, "{status}");
        let by_caller = serialize_response_with(status, &[], &[], KEEP_ALIVE_1_1, DATE, ChunkedBody::ByCaller);
        assert_eq!(by_caller.map(|_| ()).unwrap_err(), InvalidMessage::InterimStatus, "{status}");
    }
    assert_eq!(InvalidMessage::InterimStatus.to_string(), "status 1xx is not a final response");
    assert_eq!(refuse(200, &[(b"X", b"a\r\nSet-Cookie: evil")]), InvalidMessage::HeaderValue(b"X".to_vec()));
    assert_eq!(refuse(200, &[(b"X", b"a\nb")]), InvalidMessage::HeaderValue(b"X".to_vec()));
    assert_eq!(refuse(200, &[(b"X", b"a\0b")]), InvalidMessage::HeaderValue(b"X".to_vec()));
    assert_eq!(refuse(200, &[(b"Bad Name", b"v")]), InvalidMessage::HeaderName(b"Bad Name".to_vec()));
    assert_eq!(refuse(200, &[(b"X:", b"v")]), InvalidMessage::HeaderName(b"X:".to_vec()));
    assert_eq!(refuse(200, &[(b"", b"v")]), InvalidMessage::HeaderName(Vec::new()));
    // Tabs and bytes from 0x80 are fine in values.
    assert!(serialize_response(200, &[(b"X", b"a\tb \xc3\xa9")], &[], KEEP_ALIVE_1_1, DATE).is_ok());
}

#[test]
fn continue_response_is_an_interim_line() {
    assert_eq!(CONTINUE_RESPONSE, b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[test]
fn the_date_is_formatted_once_per_second() {
    let mut dates = DateCache::new();
    let second = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
    let first = dates.at(second).as_ptr();
    assert_eq!(dates.at(second), DATE);
    assert_eq!(dates.at(second + Duration::from_millis(999)).as_ptr(), first, "not formatted again");
    assert_eq!(dates.at(second + Duration::from_secs(1)), "Sun, 06 Nov 1994 08:49:38 GMT");
    assert_eq!(dates.now().len(), DATE.len());
}

#[test]
fn a_written_response_reads_back() {
    let large = vec![b'\n'; 5000];
    let body: [&[u8]; 2] = [b"first\r\n", &large];
    let chunked: &[(&[u8], &[u8])] = &[(b"Transfer-Encoding", b"chunked"), (b"X-Id", b"7")];
    for headers in [&[][..], chunked] {
        let reply = serialize_response(201, headers, &body, KEEP_ALIVE_1_1, DATE).unwrap();
        let mut responses = ResponseParser::new(Limits::default());
        responses.expect_response("GET");
        responses.feed(&reply.message.to_vec().unwrap());
        let response = responses.next_response().unwrap().unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.reason(), b"Created");
        assert_eq!(response.body, body.concat());
        assert!(response.keep_alive);
        assert_eq!(response.headers().get("server"), Some(&b"ASyNC"[..]));
    }
}
