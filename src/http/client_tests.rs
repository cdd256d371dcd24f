//! Unit tests of the request writer and the response parser (`client.rs`).

use super::*;
use crate::http::{Event, RequestParser};

fn request_text(method: &str, target: &str, headers: &[(&str, &str)], body: &[&[u8]]) -> String {
    let headers: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
    let message = serialize_request(method, target.as_bytes(), b"example.com:8080", &headers, body).unwrap();
    String::from_utf8(message.to_vec().unwrap()).unwrap()
}

#[test]
fn requests_are_written_exactly() {
    assert_eq!(
        request_text("GET", "/a?b=c", &[("Accept", "*/*")], &[]),
        "GET /a?b=c HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n"
    );
    assert_eq!(
        request_text("POST", "/submit", &[("Content-Type", "text/plain")], &[b"hello ", b"world"]),
        "POST /submit HTTP/1.1\r\nHost: example.com:8080\r\nContent-Type: text/plain\r\n\
         Content-Length: 11\r\n\r\nhello world"
    );
    // A method that carries a body says when it is empty.
    assert_eq!(request_text("PUT", "/", &[], &[]), "PUT / HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(request_text("DELETE", "/x", &[], &[]), "DELETE /x HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
    // A given Host wins, name as given.
    assert_eq!(
        request_text("POST", "/", &[("host", "other"), ("content-length", "2")], &[b"ab"]),
        "POST / HTTP/1.1\r\nhost: other\r\nContent-Length: 2\r\n\r\nab"
    );
    assert_eq!(
        request_text("POST", "/", &[("Transfer-Encoding", "chunked")], &[b"ab", b"cde"]),
        "POST / HTTP/1.1\r\nHost: example.com:8080\r\nTransfer-Encoding: chunked\r\n\r\n\
         2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
    );
}

#[test]
fn a_given_length_is_replaced_by_the_real_one() {
    // Too long would leave the server waiting, too short would make the
    // rest of the body a request of its own.
    for given in ["100", "1", "0", "nope"] {
        let text = request_text("POST", "/", &[("Content-Length", given), ("X", "y")], &[b"hello"]);
        assert_eq!(text, "POST / HTTP/1.1\r\nHost: example.com:8080\r\nX: y\r\nContent-Length: 5\r\n\r\nhello", "{given}");
    }
    // Every given one goes; a GET given one says its body is empty.
    let text = request_text("PUT", "/", &[("content-length", "1"), ("CONTENT-LENGTH", "2")], &[b"abc"]);
    assert_eq!(text, "PUT / HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 3\r\n\r\nabc");
    let text = request_text("GET", "/", &[("Content-Length", "10")], &[]);
    assert_eq!(text, "GET / HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 0\r\n\r\n");
    // Beside Transfer-Encoding, none (RFC 9112 §6.2).
    let text = request_text("POST", "/", &[("Content-Length", "2"), ("Transfer-Encoding", "chunked")], &[b"ab"]);
    assert_eq!(text, "POST / HTTP/1.1\r\nHost: example.com:8080\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
}

#[test]
fn invalid_requests_are_refused() {
    let refuse = |method: &str, target: &[u8], host: &[u8], headers: &[(&[u8], &[u8])]| {
        serialize_request(method, target, host, headers, &[]).map(|_| ()).unwrap_err()
    };
    assert_eq!(refuse("GE T", b"/", b"h", &[]), InvalidMessage::Method);
    assert_eq!(refuse("", b"/", b"h", &[]), InvalidMessage::Method);
    assert_eq!(refuse("GET", b"/a b", b"h", &[]), InvalidMessage::Target);
    assert_eq!(refuse("GET", b"/a\r\nX: y", b"h", &[]), InvalidMessage::Target);
    assert_eq!(refuse("GET", b"", b"h", &[]), InvalidMessage::Target);
    assert_eq!(refuse("GET", b"/", b"h\r\nX: y", &[]), InvalidMessage::HeaderValue(b"Host".to_vec()));
    assert_eq!(refuse("GET", b"/", b"h", &[(b"X", b"\r\n")]), InvalidMessage::HeaderValue(b"X".to_vec()));
    assert_eq!(refuse("GET", b"/", b"h", &[(b"(x)", b"v")]), InvalidMessage::HeaderName(b"(x)".to_vec()));
}

#[test]
fn a_written_request_reads_back() {
    let large = vec![0u8; 70_000];
    let body: [&[u8]; 2] = [b"\r\n\r\n", &large];
    let message = serialize_request("POST", b"/up?x=1", b"h", &[(b"X-A", b"1")], &body).unwrap();
    assert_eq!(message.pieces().len(), 2);
    let mut parser = RequestParser::new(Limits::default());
    for piece in message.pieces() {
        parser.feed(piece);
    }
    let Some(Event::Message(request)) = parser.next_event() else { panic!() };
    assert_eq!(request.method(), "POST");
    assert_eq!(request.query(), Some(&b"x=1"[..]));
    assert_eq!(request.headers().get("host"), Some(&b"h"[..]));
    assert_eq!(request.body, body.concat());
}

fn responses_for(methods: &[&str], input: &[u8], close_at_end: bool) -> Vec<Result<Response, ParseError>> {
    let mut parser = ResponseParser::new(Limits::default());
    for method in methods {
        parser.expect_response(method);
    }
    parser.feed(input);
    if close_at_end {
        parser.finish();
    }
    std::iter::from_fn(|| parser.next_response()).collect()
}

fn describe(results: &[Result<Response, ParseError>]) -> Vec<String> {
    results
        .iter()
        .map(|result| match result {
            Ok(response) => format!(
                "{} {} {:?} headers={} keep_alive={} upgrade={} body={}",
                response.status,
                response.reason().escape_ascii(),
                response.version(),
                response.headers().len(),
                response.keep_alive,
                response.upgrade,
                response.body.escape_ascii()
            ),
            Err(error) => format!("{error:?}"),
        })
        .collect()
}

/// Parses `input` whole, split at every point, and byte by byte, and
/// checks all three agree; returns the whole-input result.
fn responses_any_split(methods: &[&str], input: &[u8], close_at_end: bool) -> Vec<String> {
    let whole = describe(&responses_for(methods, input, close_at_end));
    let run = |pieces: &mut dyn Iterator<Item = &[u8]>| {
        let mut parser = ResponseParser::new(Limits::default());
        methods.iter().for_each(|method| parser.expect_response(method));
        pieces.for_each(|piece| parser.feed(piece));
        if close_at_end {
            parser.finish();
        }
        describe(&std::iter::from_fn(|| parser.next_response()).collect::<Vec<_>>())
    };
    for split in 0..=input.len() {
        assert_eq!(run(&mut [&input[..split], &input[split..]].into_iter()), whole, "split at {split}");
    }
    assert_eq!(run(&mut input.chunks(1)), whole, "byte by byte");
    whole
}

#[test]
fn content_length_responses() {
    let described = responses_any_split(
        &["GET", "GET"],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        false,
    );
    assert_eq!(
        described,
        [
            "200 OK (1, 1) headers=1 keep_alive=true upgrade=false body=hello",
            "404 Not Found (1, 1) headers=1 keep_alive=true upgrade=false body=",
        ]
    );
}

#[test]
fn chunked_responses() {
    let described = responses_any_split(
        &["GET"],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\n\r\n\r\n0\r\nX-T: 1\r\n\r\n",
        false,
    );
    assert_eq!(described, ["200 OK (1, 1) headers=1 keep_alive=true upgrade=false body=abc\\r\\n"]);
}

#[test]
fn close_delimited_responses_end_at_close() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of this\r\n\r\nHTTP/1.1 200 OK\r\n";
    let described = responses_any_split(&["GET"], input, true);
    assert_eq!(
        described,
        ["200 OK (1, 1) headers=1 keep_alive=false upgrade=false body=all of this\\r\\n\\r\\nHTTP/1.1 200 OK\\r\\n"]
    );
    // Not complete before the close.
    assert!(responses_for(&["GET"], input, false).is_empty());
    // A transfer coding other than chunked is also read until close.
    let described = responses_any_split(&["GET"], b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz", true);
    assert_eq!(described, ["200 OK (1, 1) headers=1 keep_alive=false upgrade=false body=zzz"]);
    // And held to the body limit.
    let mut parser = ResponseParser::new(Limits { max_body_bytes: 4, ..Limits::default() });
    parser.expect_response("GET");
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\n12345");
    assert_eq!(parser.next_response().unwrap().unwrap_err(), ParseError::BodyTooLarge);
}

#[test]
fn interim_responses_are_skipped() {
    let described = responses_any_split(
        &["POST"],
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
          HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        false,
    );
    assert_eq!(described, ["201 Created (1, 1) headers=1 keep_alive=true upgrade=false body=ok"]);
}

#[test]
fn head_204_and_304_responses_have_no_body() {
    let described = responses_any_split(
        &["HEAD", "GET", "GET", "GET"],
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
          HTTP/1.1 204 No Content\r\n\r\n\
          HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        false,
    );
    assert_eq!(
        described,
        [
            "200 OK (1, 1) headers=1 keep_alive=true upgrade=false body=",
            "204 No Content (1, 1) headers=0 keep_alive=true upgrade=false body=",
            "304 Not Modified (1, 1) headers=1 keep_alive=true upgrade=false body=",
            "200 OK (1, 1) headers=1 keep_alive=true upgrade=false body=x",
        ]
    );
}

#[test]
fn keep_alive_decides_whether_the_connection_is_reused() {
    let keep_alive = |head: &str| {
        let results = responses_for(&["GET"], format!("{head}\r\nContent-Length: 0\r\n\r\n").as_bytes(), false);
        results[0].as_ref().unwrap().keep_alive
    };
    assert!(keep_alive("HTTP/1.1 200 OK"));
    assert!(!keep_alive("HTTP/1.1 200 OK\r\nConnection: close"));
    assert!(!keep_alive("HTTP/1.0 200 OK"));
    assert!(keep_alive("HTTP/1.0 200 OK\r\nConnection: keep-alive"));
    // Chunked and a length at once: read, never reused.
    let results = responses_for(
        &["GET"],
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        false,
    );
    let response = results[0].as_ref().unwrap();
    assert_eq!(response.body, b"a");
    assert!(!response.keep_alive);
    // After a response that closes, nothing more is read.
    let results = responses_for(
        &["GET", "GET"],
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        false,
    );
    assert_eq!(results.len(), 1);
}

#[test]
fn upgrades_hand_over_the_connection() {
    let mut parser = ResponseParser::new(Limits::default());
    parser.expect_response("GET");
    parser.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi");
    let response = parser.next_response().unwrap().unwrap();
    assert!(response.upgrade && !response.keep_alive);
    parser.feed(b"more");
    assert_eq!(parser.take_upgrade_bytes(), b"\x81\x02himore");

    let mut parser = ResponseParser::new(Limits::default());
    parser.expect_response("CONNECT");
    parser.feed(b"HTTP/1.1 200 Connection established\r\n\r\ntunnel");
    assert!(parser.next_response().unwrap().unwrap().upgrade);
    assert_eq!(parser.take_upgrade_bytes(), b"tunnel");
}

#[test]
fn errors_on_the_client_side() {
    let error = |methods: &[&str], input: &[u8], close: bool| responses_for(methods, input, close).pop().unwrap().unwrap_err();
    assert_eq!(error(&[], b"HTTP/1.1 200 OK\r\n\r\n", false), ParseError::Malformed("response without a request"));
    assert_eq!(error(&["GET"], b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", true), ParseError::Incomplete);
    assert_eq!(error(&["GET"], b"HTTP/1.1 200 O", true), ParseError::Incomplete);
    assert_eq!(error(&["GET"], b"", true), ParseError::Incomplete);
    assert!(matches!(error(&["GET"], b"HTTP/1.1 2x0 OK\r\n\r\n", false), ParseError::Malformed(_)));
    assert!(matches!(error(&["GET"], b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", false), ParseError::Malformed(_)));
    assert!(matches!(
        error(&["GET"], b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n", false),
        ParseError::Malformed(_)
    ));
    assert_eq!(error(&["GET"], b"HTTP/3.0 200 OK\r\n\r\n", false), ParseError::UnsupportedVersion);
    let mut parser = ResponseParser::new(Limits { max_header_bytes: 32, ..Limits::default() });
    parser.expect_response("GET");
    parser.feed(b"HTTP/1.1 200 OK\r\nX-Long: 0123456789abcdef\r\n\r\n");
    assert_eq!(parser.next_response().unwrap().unwrap_err(), ParseError::HeadersTooLarge);
    // A clean close with nothing awaited is no error.
    assert!(responses_for(&[], b"", true).is_empty());
}

#[test]
fn idle_tells_when_the_connection_can_be_reused() {
    let mut parser = ResponseParser::new(Limits::default());
    assert!(parser.is_idle());
    parser.expect_response("GET");
    assert!(!parser.is_idle());
    assert_eq!(parser.awaiting(), 1);
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\na");
    assert_eq!(parser.awaiting(), 0);
    assert!(!parser.is_idle(), "body still arriving");
    parser.feed(b"b");
    assert!(parser.is_idle());
    assert!(parser.next_response().unwrap().unwrap().keep_alive);
}
