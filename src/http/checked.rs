//! What the unit tests, the property tests (`proptests.rs`) and the fuzz
//! targets (`fuzz/`) share about the parsers: a message described in one
//! comparable string, and a response parser run that checks, as it goes,
//! the invariants every response stream must keep.
//!
//! Built for tests and the `fuzzing` feature only. May touch: this core's
//! types. Never Lua, never libuv.

use super::{Event, Limits, ParseError, RequestEvent, Response, ResponseParser};

/// Header pairs as `name=value` strings, bytes escaped.
pub fn headers<'h>(pairs: impl Iterator<Item = (&'h [u8], &'h [u8])>) -> Vec<String> {
    pairs.map(|(name, value)| format!("{}={}", name.escape_ascii(), value.escape_ascii())).collect()
}

/// Everything a request event carries, in one string.
pub fn request_event(event: &RequestEvent) -> String {
    match event {
        Event::Message(request) => format!(
            "{} {} {:?} path={} query={:?} fragment={:?} headers={:?} keep_alive={} upgrade={} expect={} body={}",
            request.method(),
            request.target().escape_ascii(),
            request.version(),
            request.path().escape_ascii(),
            request.query().map(|q| q.escape_ascii().to_string()),
            request.fragment().map(|f| f.escape_ascii().to_string()),
            headers(request.headers().iter()),
            request.should_keep_alive,
            request.upgrade,
            request.expect_continue,
            request.body.escape_ascii(),
        ),
        other => format!("{other:?}"),
    }
}

/// Everything a response (or the error in its place) carries, in one
/// string.
pub fn response(result: &Result<Response, ParseError>) -> String {
    match result {
        Ok(response) => format!(
            "{} {:?} {} {:?} keep_alive={} upgrade={} body={}",
            response.status,
            response.version(),
            response.reason().escape_ascii(),
            headers(response.headers().iter()),
            response.keep_alive,
            response.upgrade,
            response.body.escape_ascii()
        ),
        Err(error) => format!("{error:?}"),
    }
}

/// Reads the responses to requests of `methods` from `pieces`, taking
/// them after every piece as a client does (and after the end, if
/// `finish`), and panics if the stream breaks an invariant: more responses
/// than requests, anything after an error or after a response that ends
/// the connection, an interim (1xx but 101) response handed over, a body
/// where the method or status forbids one or past the limit, a version
/// other than 1.0 and 1.1, a header name that is empty or holds a colon,
/// a line break in a value. Returns the results and the bytes that
/// followed an upgrade.
pub fn read_responses(
    methods: &[&str],
    limits: Limits,
    pieces: &[&[u8]],
    finish: bool,
) -> (Vec<Result<Response, ParseError>>, Vec<u8>) {
    let mut parser = ResponseParser::new(limits);
    for method in methods {
        parser.expect_response(method);
    }
    let mut results = Vec::new();
    for piece in pieces {
        parser.feed(piece);
        results.extend(std::iter::from_fn(|| parser.next_response()));
    }
    if finish {
        parser.finish();
        results.extend(std::iter::from_fn(|| parser.next_response()));
    }
    let answered = results.iter().filter(|result| result.is_ok()).count();
    assert!(answered <= methods.len(), "{answered} responses to {} requests", methods.len());
    for (i, result) in results.iter().enumerate() {
        let is_last = i + 1 == results.len();
        match result {
            Err(_) => assert!(is_last, "an error is followed by more results"),
            Ok(response) => {
                assert!(response.status <= 999);
                assert!(!(100..200).contains(&response.status) || response.status == 101, "interim response handed over");
                assert!(matches!(response.version(), (1, 0) | (1, 1)));
                if methods[i] == "HEAD" || matches!(response.status, 204 | 304) || response.upgrade {
                    assert!(response.body.is_empty(), "a response that has no body has one");
                }
                assert!(response.body.len() as u64 <= limits.max_body_bytes, "body past the limit");
                for (name, value) in response.headers().iter() {
                    assert!(!name.is_empty() && !name.contains(&b':'));
                    assert!(!value.contains(&b'\r') && !value.contains(&b'\n'), "line break in a value");
                }
                if !response.keep_alive {
                    assert!(is_last, "a response that ends the connection is followed by more");
                }
            }
        }
    }
    let upgrade_bytes = parser.take_upgrade_bytes();
    (results, upgrade_bytes)
}
