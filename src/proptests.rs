//! Property tests of the pure cores: the HTTP parsers and writers, the
//! chunked body decoder, `multipart/form-data`, the separator splitter
//! and the URL functions. Each property holds for every input, and
//! proptest tries a few hundred generated ones per run (the fuzz targets
//! under `fuzz/` look for the same failures far longer).
//!
//! The invariants: nothing panics; input cut into pieces anywhere parses
//! to what it does whole; an error is the last thing a parser reports and
//! nothing follows it; what the writers write reads back as it was given;
//! the splitter agrees with a plain search over everything pushed so far.
//!
//! May touch: the public API of `http`, `split` and `url` only.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;

use crate::http::checked;
use crate::http::multipart::{form_data_boundary, parse_form_data};
use crate::http::{
    Event, Limits, ParseError, ReplyContext, RequestParser, ResponseParser, serialize_request, serialize_response,
};
use crate::split::Inbox;
use crate::url::{Url, build_path, escape, parse_path, unescape};

/// A few hundred cases per property keeps the whole module to seconds in
/// a debug build; a failure is reported, never written into the tree.
fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

// ---------------------------------------------------------------------------
// Inputs

const METHOD_WORDS: &[&[u8]] = &[b"GET", b"POST", b"HEAD", b"PUT", b"CONNECT", b"OPTIONS", b"get"];
const TARGET_WORDS: &[&[u8]] = &[b"/", b"/a?b=c#d", b"http://h/x", b"HTTPS://h?q", b"*", b"h:443"];
const VERSION_WORDS: &[&[u8]] = &[b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0"];
const STATUS_LINES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK",
    b"HTTP/1.0 200 OK",
    b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 ",
    b"HTTP/1.1 100 Continue",
    b"HTTP/1.1 101 Switching Protocols",
    b"HTTP/1.1 404 Not \xff Found",
    b"HTTP/3.0 200 OK",
];
/// Header lines that decide framing and the connection's fate.
const HEADER_LINES: &[&[u8]] = &[
    b"Host: h",
    b"Host: a b",
    b"Content-Length: 3",
    b"Content-Length: 0",
    b"Content-Length: 3, 3",
    b"Content-Length: 3, 4",
    b"Content-Length: 99999999999999999999",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, gzip",
    b"Transfer-Encoding: gzip",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Connection: upgrade",
    b"Upgrade: websocket",
    b"Expect: 100-continue",
    b"X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];
/// What may follow a header block: bodies of every framing, whole, cut
/// short or broken.
const BODY_WORDS: &[&[u8]] = &[
    b"",
    b"",
    b"abc",
    b"3\r\nabc\r\n0\r\n\r\n",
    b"1;ext=\"v;w\"\r\nx\r\n0\r\nTrailer: t\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"3\r\nabcX\r\n",
    b"g\r\n",
    b"ffffffffffffffffff\r\n",
    b"0\r\n",
];
/// Broken pieces, put in now and then.
const BROKEN_WORDS: &[&[u8]] =
    &[b"", b"/a b", b"HTTP/1.", b" folded", b"No-Colon", b"Bad Name: x", b"X: \x01", b"Content-Length: -1", b"\r\n"];

/// One of `words`, or now and then one of the broken ones.
fn word(words: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![12 => select(words), 1 => select(BROKEN_WORDS)].prop_map(<[u8]>::to_vec)
}

/// A header block and what follows it.
fn message_rest() -> impl Strategy<Value = Vec<u8>> {
    (vec(word(HEADER_LINES), 0..4), word(BODY_WORDS)).prop_map(|(headers, body)| {
        let mut out = Vec::new();
        for header in headers {
            out.extend_from_slice(&header);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        out
    })
}

/// Messages one after another, then now and then a byte overwritten, so
/// that the input reaches bodies and pipelined messages as often as it
/// breaks.
fn mutated(messages: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let changes = prop_oneof![3 => Just(Vec::new()), 1 => vec((any::<Index>(), any::<u8>()), 1..3)];
    (vec(messages, 0..4), changes).prop_map(|(messages, changes)| {
        let mut input = messages.concat();
        if !input.is_empty() {
            for (at, byte) in changes {
                let at = at.index(input.len());
                input[at] = byte;
            }
        }
        input
    })
}

fn request_stream() -> impl Strategy<Value = Vec<u8>> {
    // Mostly with the Host an HTTP/1.1 request needs, so that the soup
    // reaches bodies and pipelined requests.
    let host = prop_oneof![3 => Just(&b"Host: h\r\n"[..]), 1 => Just(&b""[..])];
    let request = (word(METHOD_WORDS), word(TARGET_WORDS), word(VERSION_WORDS), host, message_rest()).prop_map(
        |(method, target, version, host, rest)| [&method, &b" "[..], &target, b" ", &version, b"\r\n", host, &rest].concat(),
    );
    mutated(request)
}

fn response_stream() -> impl Strategy<Value = Vec<u8>> {
    let response = (word(STATUS_LINES), message_rest()).prop_map(|(status, rest)| [status.as_slice(), b"\r\n", &rest].concat());
    mutated(response)
}

/// Default limits, or small ones that the soup runs into.
fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => Just(Limits::default()),
        1 =>
        (16usize..200, 0u64..12).prop_map(|(max_header_bytes, max_body_bytes)| Limits { max_header_bytes, max_body_bytes }),
    ]
}

/// `input` cut at the given points (any order, repeats allowed).
fn pieces<'a>(input: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(input.len() + 1)).collect();
    at.push(0);
    at.push(input.len());
    at.sort_unstable();
    at.windows(2).map(|pair| &input[pair[0]..pair[1]]).collect()
}

fn token_text(chars: &'static [u8], len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    vec(select(chars), len)
}

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const TOKEN_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
const TARGET_CHARS: &[u8] = b"abcXYZ019-._~%!$&'()*+,;=:@/?#";
const VALUE_CHARS: &[u8] = b"abcXYZ019 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// A header value as the parser hands it back: no surrounding whitespace.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    token_text(VALUE_CHARS, 0..16).prop_map(|value| value.trim_ascii().to_vec())
}

/// Headers that change nothing in the framing or the connection.
fn plain_headers() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    vec((token_text(LOWER_ALNUM, 1..10).prop_map(|name| [b"x-", name.as_slice()].concat()), header_value()), 0..5)
}

fn body_pieces() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(vec(any::<u8>(), 0..40), 0..4)
}

// ---------------------------------------------------------------------------
// Requests

/// What a request parser made of `input` fed in `pieces`: the events,
/// described, and the bytes left over after an upgrade. Events are taken
/// after every piece, as a server does.
fn run_request_parser(limits: Limits, pieces: &[&[u8]], finish: bool) -> (Vec<String>, Vec<u8>, RequestParser) {
    let mut parser = RequestParser::new(limits);
    let mut events = Vec::new();
    for piece in pieces {
        parser.feed(piece);
        events.extend(std::iter::from_fn(|| parser.next_event()));
        if parser.pending_header_bytes() > 0 {
            assert!(!parser.is_idle(), "a header block is pending, yet the parser says it is idle");
        }
    }
    if finish {
        parser.finish();
    }
    let mut described = Vec::new();
    events.extend(std::iter::from_fn(|| parser.next_event()));
    for (i, event) in events.iter().enumerate() {
        let is_last = i + 1 == events.len();
        match event {
            Event::Error(_) => assert!(is_last, "an error is followed by {:?}", &events[i + 1..]),
            Event::ContinueExpected => {
                let next_expects = match events.get(i + 1) {
                    None | Some(Event::Error(_)) => true,
                    Some(Event::Message(request)) => request.expect_continue,
                    Some(Event::ContinueExpected) => false,
                };
                assert!(next_expects, "100-continue not followed by its request");
            }
            Event::Message(request) => {
                assert!(!request.method().is_empty());
                assert!(matches!(request.version(), (1, 0) | (1, 1)));
                assert!(!request.path().is_empty());
                assert!(request.body.len() as u64 <= limits.max_body_bytes);
                for (name, value) in request.headers().iter() {
                    assert!(!name.is_empty() && !name.contains(&b':'), "header name {:?}", name.escape_ascii());
                    assert!(!value.contains(&b'\r') && !value.contains(&b'\n'));
                }
                if !request.should_keep_alive {
                    assert!(is_last, "a request that closes the connection is followed by more events");
                }
            }
        }
        described.push(checked::request_event(event));
    }
    let upgrade_bytes = parser.take_upgrade_bytes();
    (described, upgrade_bytes, parser)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn requests_parse_the_same_in_any_pieces(
        input in request_stream(), cuts in vec(any::<Index>(), 0..8), limits in limits(), finish in any::<bool>(),
    ) {
        let (whole, whole_rest, _) = run_request_parser(limits, &[&input], finish);
        let (cut, cut_rest, _) = run_request_parser(limits, &pieces(&input, &cuts), finish);
        prop_assert_eq!(whole, cut);
        prop_assert_eq!(whole_rest, cut_rest);
    }

    #[test]
    fn a_failed_request_parser_stays_silent(input in request_stream(), limits in limits()) {
        let (events, _, mut parser) = run_request_parser(limits, &[&input], false);
        if events.last().is_some_and(|last| last.starts_with("Error")) {
            parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
            parser.finish();
            prop_assert!(parser.next_event().is_none());
        }
    }

    #[test]
    fn a_written_request_reads_back(
        method in token_text(TOKEN_CHARS, 1..8).prop_filter("CONNECT upgrades", |m| m != b"CONNECT"),
        target in token_text(TARGET_CHARS, 0..20).prop_map(|t| [b"/", t.as_slice()].concat()),
        headers in plain_headers(),
        body in body_pieces(),
        chunked in any::<bool>(),
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let method = String::from_utf8(method).unwrap();
        let mut given: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        if chunked {
            given.push((b"Transfer-Encoding", b"chunked"));
        }
        let body_refs: Vec<&[u8]> = body.iter().map(Vec::as_slice).collect();
        let message = serialize_request(&method, &target, b"example.com", &given, &body_refs).unwrap().to_vec().unwrap();
        let mut parser = RequestParser::new(Limits::default());
        for piece in pieces(&message, &cuts) {
            parser.feed(piece);
        }
        let Some(Event::Message(request)) = parser.next_event() else {
            panic!("no request from {:?}", message.escape_ascii().to_string());
        };
        prop_assert!(parser.next_event().is_none());
        prop_assert!(parser.is_idle());
        prop_assert_eq!(request.method(), method.as_str());
        prop_assert_eq!(request.target(), target.as_slice());
        prop_assert_eq!(request.headers().get("host"), Some(&b"example.com"[..]));
        let received: Vec<(&[u8], &[u8])> =
            request.headers().iter().filter(|(name, _)| name.starts_with(b"x-")).collect();
        let sent: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        prop_assert_eq!(received, sent);
        prop_assert_eq!(request.body, body.concat());
    }
}

// ---------------------------------------------------------------------------
// Responses

const METHODS: &[&str] = &["GET", "HEAD", "CONNECT", "POST"];

fn run_response_parser(methods: &[&str], limits: Limits, pieces: &[&[u8]], finish: bool) -> (Vec<String>, Vec<u8>) {
    let (results, upgrade_bytes) = checked::read_responses(methods, limits, pieces, finish);
    (results.iter().map(checked::response).collect(), upgrade_bytes)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn responses_parse_the_same_in_any_pieces(
        methods in vec(select(METHODS), 0..4),
        input in response_stream(),
        cuts in vec(any::<Index>(), 0..8),
        limits in limits(),
        finish in any::<bool>(),
    ) {
        let whole = run_response_parser(&methods, limits, &[&input], finish);
        let cut = run_response_parser(&methods, limits, &pieces(&input, &cuts), finish);
        prop_assert_eq!(whole, cut);
    }

    #[test]
    fn a_written_response_reads_back(
        status in 200u16..600,
        headers in plain_headers(),
        body in body_pieces(),
        chunked in any::<bool>(),
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let mut given: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        if chunked {
            given.push((b"Transfer-Encoding", b"chunked"));
        }
        let body_refs: Vec<&[u8]> = body.iter().map(Vec::as_slice).collect();
        let context = ReplyContext { head_request: false, version_minor: 1, keep_alive: true };
        let reply = serialize_response(status, &given, &body_refs, context, "Thu, 01 Jan 1970 00:00:00 GMT").unwrap();
        prop_assert!(reply.keep_alive);
        let message = reply.message.to_vec().unwrap();
        let mut parser = ResponseParser::new(Limits::default());
        parser.expect_response("GET");
        for piece in pieces(&message, &cuts) {
            parser.feed(piece);
        }
        let response = parser.next_response().expect("a response").expect("well-formed");
        prop_assert!(parser.next_response().is_none());
        prop_assert!(parser.is_idle());
        prop_assert_eq!(response.status, status);
        prop_assert!(response.keep_alive);
        let received: Vec<(&[u8], &[u8])> =
            response.headers().iter().filter(|(name, _)| name.starts_with(b"x-")).collect();
        let sent: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())).collect();
        prop_assert_eq!(received, sent);
        let expected_body = if matches!(status, 204 | 304) { Vec::new() } else { body.concat() };
        prop_assert_eq!(response.body, expected_body);
    }
}

// ---------------------------------------------------------------------------
// Chunked bodies

/// One chunk: its data, how its size is written, and an extension.
#[derive(Clone, Debug)]
struct Chunk {
    data: Vec<u8>,
    uppercase: bool,
    leading_zeros: usize,
    extension: Option<Vec<u8>>,
}

fn chunk() -> impl Strategy<Value = Chunk> {
    let extension = prop_oneof![
        token_text(LOWER_ALNUM, 1..6).prop_map(|name| [b";", name.as_slice()].concat()),
        (token_text(LOWER_ALNUM, 1..6), token_text(VALUE_CHARS, 0..6)).prop_map(|(name, value)| {
            let value: Vec<u8> = value.into_iter().filter(|&b| b != b'"' && b != b'\\').collect();
            [b";", name.as_slice(), b"=\"", value.as_slice(), b"\""].concat()
        }),
    ];
    (vec(any::<u8>(), 1..300), any::<bool>(), 0usize..3, proptest::option::of(extension))
        .prop_map(|(data, uppercase, leading_zeros, extension)| Chunk { data, uppercase, leading_zeros, extension })
}

fn chunk_size_line(size: usize, uppercase: bool, leading_zeros: usize, extension: Option<&[u8]>) -> Vec<u8> {
    let digits = if uppercase { format!("{size:X}") } else { format!("{size:x}") };
    let mut line = "0".repeat(leading_zeros).into_bytes();
    line.extend_from_slice(digits.as_bytes());
    line.extend_from_slice(extension.unwrap_or_default());
    line.extend_from_slice(b"\r\n");
    line
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn chunked_bodies_decode_in_any_pieces(
        chunks in vec(chunk(), 0..6),
        trailers in plain_headers(),
        cuts in vec(any::<Index>(), 0..10),
    ) {
        let mut message = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for chunk in &chunks {
            message.extend(chunk_size_line(chunk.data.len(), chunk.uppercase, chunk.leading_zeros, chunk.extension.as_deref()));
            message.extend_from_slice(&chunk.data);
            message.extend_from_slice(b"\r\n");
        }
        message.extend_from_slice(b"0\r\n");
        for (name, value) in &trailers {
            message.extend_from_slice(&[name.as_slice(), b": ", value, b"\r\n"].concat());
        }
        message.extend_from_slice(b"\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut parser = RequestParser::new(Limits::default());
        let mut events = Vec::new();
        for piece in pieces(&message, &cuts) {
            parser.feed(piece);
            events.extend(std::iter::from_fn(|| parser.next_event()));
        }
        let [Event::Message(upload), Event::Message(next)] = events.as_slice() else {
            panic!("expected two requests, got {events:?}");
        };
        let expected: Vec<u8> = chunks.iter().flat_map(|chunk| chunk.data.iter().copied()).collect();
        prop_assert_eq!(&upload.body, &expected);
        prop_assert!(upload.headers().iter().all(|(name, _)| !name.starts_with(b"x-")), "trailers became headers");
        prop_assert_eq!(next.path(), b"/next");
    }

    #[test]
    fn a_body_past_the_limit_is_refused_at_its_size_line(
        sizes in vec(1usize..64, 1..6),
        max_body_bytes in 0u64..200,
    ) {
        let mut message = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for &size in &sizes {
            message.extend(chunk_size_line(size, false, 0, None));
            message.extend(std::iter::repeat_n(b'x', size));
            message.extend_from_slice(b"\r\n");
        }
        message.extend_from_slice(b"0\r\n\r\n");
        let mut parser = RequestParser::new(Limits { max_body_bytes, ..Limits::default() });
        parser.feed(&message);
        let total: usize = sizes.iter().sum();
        match parser.next_event() {
            Some(Event::Message(request)) => prop_assert!(total as u64 <= max_body_bytes && request.body.len() == total),
            Some(Event::Error(ParseError::BodyTooLarge)) => prop_assert!(total as u64 > max_body_bytes),
            other => panic!("unexpected {other:?}"),
        }
        prop_assert!(parser.next_event().is_none());
    }
}

// ---------------------------------------------------------------------------
// multipart/form-data

/// bchars of RFC 2046 §5.1.1, less the space (allowed, but not last).
const BOUNDARY_CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?";
const NAME_CHARS: &[u8] = b"abcXYZ019 _-.[]\\";

const CONTENT_TYPES: &[&[u8]] = &[b"text/plain", b"application/octet-stream", b"image/png"];

/// What multipart bodies are made of, for boundaries over `a`, `b`, `-`.
const FORM_WORDS: &[&[u8]] =
    &[b"--", b"\r\n", b"a", b"b", b"-", b"Content-Disposition: form-data; name=\"n\"", b"\r\n\r\n", b" "];

#[derive(Clone, Debug)]
struct Field {
    name: Vec<u8>,
    filename: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    data: Vec<u8>,
}

fn field() -> impl Strategy<Value = Field> {
    (
        token_text(NAME_CHARS, 0..10),
        proptest::option::of(token_text(NAME_CHARS, 0..10)),
        proptest::option::of(select(CONTENT_TYPES)),
        vec(prop_oneof![any::<u8>(), select(b"\r\n-".as_slice())], 0..80),
    )
        .prop_map(|(name, filename, content_type, data)| Field {
            name,
            filename,
            content_type: content_type.map(<[u8]>::to_vec),
            data,
        })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_form_reads_back(
        boundary in token_text(BOUNDARY_CHARS, 1..71),
        fields in vec(field(), 0..5),
        preamble in vec(select(b"ab\r\n-".as_slice()), 0..12),
        epilogue in vec(any::<u8>(), 0..12),
    ) {
        let delimiter = [b"\r\n--", boundary.as_slice()].concat();
        // A part's data, or the preamble, that holds the delimiter ends
        // the part there: such a form cannot be written.
        let first_delimiter = |text: &[u8]| {
            let with_end = [text, delimiter.as_slice()].concat();
            memchr::memmem::find(&with_end, &delimiter) == Some(text.len())
        };
        prop_assume!(fields.iter().all(|field| first_delimiter(&field.data)));
        prop_assume!(preamble.is_empty() || (first_delimiter(&preamble) && !preamble.starts_with(&delimiter[2..])));
        let mut body = preamble.clone();
        if !preamble.is_empty() {
            body.extend_from_slice(b"\r\n");
        }
        for field in &fields {
            body.extend_from_slice(&delimiter[2..]);
            body.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
            body.extend_from_slice(&field.name);
            body.push(b'"');
            if let Some(filename) = &field.filename {
                body.extend_from_slice(&[b"; filename=\"", filename.as_slice(), b"\""].concat());
            }
            if let Some(content_type) = &field.content_type {
                body.extend_from_slice(&[b"\r\nContent-Type: ", content_type.as_slice()].concat());
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(&field.data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(&delimiter[2..]);
        body.extend_from_slice(b"--");
        body.extend_from_slice(&epilogue);

        let content_type = [b"multipart/form-data; boundary=\"", boundary.as_slice(), b"\""].concat();
        prop_assert_eq!(form_data_boundary(&content_type), Some(boundary.as_slice()));
        let parts = parse_form_data(&body, &boundary).unwrap();
        prop_assert_eq!(parts.len(), fields.len());
        for (part, field) in parts.iter().zip(&fields) {
            prop_assert_eq!(part.name, field.name.as_slice());
            prop_assert_eq!(part.filename, field.filename.as_deref());
            prop_assert_eq!(part.content_type, field.content_type.as_deref());
            prop_assert_eq!(part.data, field.data.as_slice());
        }
    }

    #[test]
    fn any_form_body_parses_or_is_refused(
        boundary in token_text(b"ab-", 1..4),
        body in vec(prop_oneof![
            3 => select(FORM_WORDS).prop_map(<[u8]>::to_vec),
            1 => vec(any::<u8>(), 0..4),
        ], 0..30).prop_map(|pieces| pieces.concat()),
    ) {
        if let Ok(parts) = parse_form_data(&body, &boundary) {
            let within = |slice: &[u8]| {
                let start = slice.as_ptr() as usize;
                let body_start = body.as_ptr() as usize;
                start >= body_start && start + slice.len() <= body_start + body.len()
            };
            for part in parts {
                prop_assert!(within(part.data) && within(part.name));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The separator splitter

#[derive(Clone, Debug)]
enum InboxStep {
    Push(Vec<u8>),
    NextPiece(&'static [u8]),
    TakeAll,
}

/// Separators that overlap themselves and each other.
const SEPARATORS: &[&[u8]] = &[b"\n", b"\r\n", b"--", b"-a-", b"aaa"];

fn inbox_step() -> impl Strategy<Value = InboxStep> {
    prop_oneof![
        4 => vec(select(b"ab\r\n-".as_slice()), 0..12).prop_map(InboxStep::Push),
        4 => select(SEPARATORS).prop_map(InboxStep::NextPiece),
        1 => Just(InboxStep::TakeAll),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn the_splitter_agrees_with_a_plain_search(steps in vec(inbox_step(), 0..40)) {
        let mut inbox = Inbox::default();
        let mut model: Vec<u8> = Vec::new();
        for step in steps {
            match step {
                InboxStep::Push(bytes) => {
                    inbox.push(&bytes).unwrap();
                    model.extend_from_slice(&bytes);
                }
                InboxStep::NextPiece(separator) => {
                    let expected = memchr::memmem::find(&model, separator).map(|at| {
                        let piece = model[..at].to_vec();
                        model.drain(..at + separator.len());
                        piece
                    });
                    prop_assert_eq!(inbox.next_piece(separator).map(<[u8]>::to_vec), expected);
                }
                InboxStep::TakeAll => prop_assert_eq!(inbox.take_all(), std::mem::take(&mut model)),
            }
            prop_assert_eq!(inbox.len(), model.len());
        }
    }
}

// ---------------------------------------------------------------------------
// URLs

/// Bytes that mean something to the URL functions, and a few that don't.
fn url_text() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            4 => select(b"/:@?#;[].%25aZ0+-_ ".as_slice()),
            1 => any::<u8>(),
        ],
        0..40,
    )
}

/// A path of dot segments and a few others, with or without a leading
/// `/`.
fn dotted_path() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), vec(select(vec![&b"."[..], b"..", b"..", b"a", b"", b"b c", b"%2e"]), 0..8)).prop_map(|(rooted, segments)| {
        let mut path = if rooted { b"/".to_vec() } else { Vec::new() };
        path.extend(segments.join(&b'/'));
        path
    })
}

/// A URL to resolve against: scheme and authority or not, a dotted path,
/// or bytes.
fn base_url() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (select(vec![&b""[..], b"http:", b"x:"]), select(vec![&b""[..], b"//h", b"//", b"//u@[::1]:8"]), dotted_path())
            .prop_map(|(scheme, authority, path)| [scheme, authority, &path].concat()),
        url_text(),
    ]
}

/// A parse with `authority` and `path` left out: the parts that `build`
/// writes anew (the authority from host, port and userinfo, the path
/// escaped again).
fn without_rewritten_parts(mut url: Url) -> Url {
    url.authority = None;
    url.path = None;
    url
}

/// A host in brackets without a colon, `[x]`: `build` brackets only a
/// host with a colon (as the original does), so such a host is written
/// as it is and parsing takes its brackets off.
fn loses_brackets(url: &Url) -> bool {
    url.host
        .as_deref()
        .is_some_and(|host| host.len() > 2 && host.starts_with(b"[") && host.ends_with(b"]") && !host.contains(&b':'))
}

/// Found by the `url` fuzz target (when `build` bracketed `[x]` hosts): a
/// host that parsed out of `[[[]]` as `[[]`. The original's `build`
/// writes it without brackets, so it reads back as `[`.
#[test]
fn a_bracketed_host_loses_its_brackets() {
    let parsed = Url::parse(b"//[[[]]:88").unwrap();
    assert_eq!(parsed.host.as_deref(), Some(&b"[[]"[..]));
    let built = parsed.build();
    assert_eq!(built, b"//[[]:88");
    assert_eq!(Url::parse(&built).unwrap().host.as_deref(), Some(&b"["[..]));
    assert!(loses_brackets(&parsed));
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn unescape_inverts_escape(bytes in vec(any::<u8>(), 0..64)) {
        let escaped = escape(&bytes);
        prop_assert!(escaped.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'%'));
        prop_assert_eq!(unescape(&escaped), bytes);
    }

    #[test]
    fn unescape_never_grows(text in url_text()) {
        prop_assert!(unescape(&text).len() <= text.len());
        if !text.contains(&b'%') {
            prop_assert_eq!(unescape(&text), text);
        }
    }

    #[test]
    fn build_writes_the_parts_back(text in url_text()) {
        let Some(parsed) = Url::parse(&text) else {
            prop_assert!(text.is_empty());
            return Ok(());
        };
        prop_assume!(!loses_brackets(&parsed));
        let built = parsed.build();
        let reparsed = Url::parse(&built).expect("a built URL is not empty");
        // Written anew once, the URL stays as it is.
        prop_assert_eq!(reparsed.build(), built);
        // Without a scheme or an authority, a path written anew may look
        // like a scheme (`%61:b` is written `a:b`); otherwise every part
        // reads back, the path with the same segments.
        if parsed.scheme.is_some() || parsed.authority.is_some() {
            let segments = |url: &Url| parse_path(url.path.as_deref().unwrap_or_default());
            prop_assert_eq!(segments(&reparsed), segments(&parsed));
            prop_assert_eq!(without_rewritten_parts(reparsed), without_rewritten_parts(parsed));
        }
    }

    #[test]
    fn absolute_keeps_the_host_and_the_root(base in base_url(), relative in prop_oneof![dotted_path(), url_text()]) {
        let (Some(base), Some(relative)) = (Url::parse(&base), Url::parse(&relative)) else {
            return Ok(());
        };
        // A relative path, merged onto the base's path.
        let merged = relative.scheme.is_none()
            && relative.authority.is_none()
            && relative.path.as_deref().is_some_and(|path| !path.starts_with(b"/"));
        let rooted = base.authority.is_some() || base.path.as_deref().is_some_and(|path| path.starts_with(b"/"));
        let resolved = base.resolve(relative);
        if merged && rooted {
            let resolved = Url::parse(&resolved.expect("no scheme")).expect("not empty");
            prop_assert_eq!(&resolved.authority, &base.authority);
            prop_assert!(resolved.path.is_some_and(|path| path.starts_with(b"/")));
        }
    }

    #[test]
    fn build_path_inverts_parse_path(text in url_text(), unsafe_segments in any::<bool>()) {
        let path = parse_path(&text);
        prop_assert!(path.segments.iter().all(|segment| !segment.is_empty()));
        let built = build_path(&path, false);
        prop_assert_eq!(parse_path(&built), path.clone());
        if unsafe_segments && path.segments.iter().all(|segment| !segment.contains(&b'/') && !segment.contains(&b'%')) {
            prop_assert_eq!(parse_path(&build_path(&path, true)), path);
        }
    }
}
