//! The server side: requests in ([`RequestParser`]), responses out
//! ([`serialize_response`]).
//!
//! # How strictly requests are read
//!
//! Wherever two HTTP/1.1 parsers reading the same bytes could disagree on
//! where a request ends, this one follows RFC 9112 to the letter and
//! refuses the request: that disagreement is what request smuggling
//! exploits, when a front end lets through bytes this server would take
//! for a second request. httparse tokenizes; the rules it leaves to its
//! caller are checked around it in `strict.rs`. Each refusal is an error
//! event, after which the server answers its status and closes the
//! connection: nothing sent after it is read.
//!
//! Refused with 400 ([`ParseError::Malformed`], whose message names the
//! rule):
//! - a line of the head or of the trailers ended by a bare LF, and a CR
//!   not followed by LF. RFC 9112 §2.2 lets a recipient take a bare LF as
//!   a line end; a server that does sees header lines a front end that
//!   does not never saw.
//! - a request line other than `method SP target SP HTTP/d.d` CRLF: a
//!   method byte outside `tchar`, two spaces, a control byte or a space
//!   in the target, anything after the version (`GET / HTTP/1.1 `), a
//!   lower-case `http`; a target that is not UTF-8 (httparse's rule).
//! - HTTP/0.9, a request line with no version (`GET /`): it announces no
//!   framing and expects no status line, so 400 rather than 505.
//! - header lines: obs-fold, i.e. a line starting with SP or HTAB (§5.2);
//!   whitespace between a name and its colon (§5.1); a name that is not
//!   a token; a value with a control byte other than HTAB (NUL, DEL, a
//!   lone CR, ...).
//! - `Content-Length` that is not all digits (a sign, a space inside,
//!   empty), that is past 2^64 - 1, or that repeats (as lines or as a
//!   comma list) with differing values. One value repeated is one length
//!   (RFC 9110 §8.6).
//! - `Transfer-Encoding` with a coding after `chunked` (`chunked, gzip`,
//!   `chunked, chunked`), or with no coding at all: §6.1 has a server
//!   answer 400 when chunked is not final.
//! - `Content-Length` and `Transfer-Encoding` together. §6.3 would let a
//!   server go by the chunked framing and close afterwards; refusing is
//!   what Node.js does by default, and a sender that follows §6.2 never
//!   sends both.
//! - `Transfer-Encoding` in an HTTP/1.0 request (§6.1: faulty framing).
//! - an HTTP/1.1 request without `Host`, and any request with two `Host`
//!   lines or a `Host` that is not `uri-host [":" port]` (a space, `@`,
//!   `/`, a port that is not digits): §3.2. Checked once the head is
//!   complete, as only then can it be missing.
//! - chunk-size lines outside §7.1.1: a size that is not 1*HEXDIG (a
//!   sign, `0x`, more than 16 digits), whitespace after the size with no
//!   extension after it (`2 `), an extension with no name (`2;`), an
//!   unclosed quoted-string (`2;a="b`), any other byte out of the
//!   grammar. Whitespace around `;` and `=` (BWS) is accepted, as the
//!   grammar allows. Chunk data not followed by CRLF.
//!
//! Refused with 501 ([`ParseError::UnsupportedTransferCoding`]): a
//! transfer coding other than chunked before chunked, or without it
//! (`gzip, chunked`, `gzip`, `xchunked`): §6.1 has a server answer 501
//! to a coding it does not understand, and this one decodes no other.
//! The first coding decides: `gzip, chunked, gzip` gets 501, `chunked,
//! gzip` 400.
//!
//! Refused with 505 ([`ParseError::UnsupportedVersion`]): a well-formed
//! version other than HTTP/1.0 and HTTP/1.1 (`HTTP/2.0`, `HTTP/5.6`).
//! `HTTP/1.2` and later 1.x minors, which RFC 9110 §2.5 would have read
//! as 1.1, are among them: httparse reads 1.0 and 1.1 only.
//!
//! When: as soon as the bytes received prove it. The request line is
//! checked a byte at a time, each header line when its CRLF arrives, the
//! framing headers at the line that makes them conflict; so a bad request
//! is answered without waiting for its blank line. Every byte is still
//! looked at a bounded number of times, however the input is split.
//!
//! Kept, as RFC 9110 and 9112 leave them to the server:
//! - any token as a method (`PURGE`, `MKCALENDAR`, ...), case-sensitive
//!   and passed on as sent;
//! - the four target forms: origin (`/a?b`), absolute
//!   (`http://host/a`, its path taken), authority (`CONNECT host:443`,
//!   which hands the connection over) and asterisk (`OPTIONS *`);
//! - raw bytes from 0x80 in the target (UTF-8), and in header values
//!   (obs-text);
//! - HTTP/1.0, with keep-alive when it asks for it, and without `Host`;
//! - an empty `Host` (§3.2: for a target without an authority), and an
//!   absolute-form target whose authority differs from `Host` (§3.2.2:
//!   the target's wins; nothing in this server reads either);
//! - empty lines (CRLF) before a request line, any number of them (§2.2).

use super::codes::reason_phrase;
use super::incoming::{
    AfterMessage, Event, Framing, Head, HeadParser, HeaderList, HeaderSpan, MessageReader, Span, TransferCoding, content_length,
    header_spans, parse_with_header_room, transfer_coding, version_keeps_alive,
};
use super::outgoing::{COPY_BODY_PIECES_UP_TO, GivenHeaders, InvalidMessage, Outgoing, decimal};
use super::strict::{CHUNKED_NOT_FINAL, CODING_IN_HTTP_1_0, LENGTH_AND_CODING, check_host, check_transfer_codings};
use super::{Limits, ParseError};

/// What a [`RequestParser`] hands over.
pub type RequestEvent = Event<Request>;

/// The interim response that lets a client waiting on
/// `Expect: 100-continue` send its body.
pub const CONTINUE_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// One parsed request, body included. Text parts are bytes as received.
#[derive(Debug)]
pub struct Request {
    /// The request line and headers as received; the spans point here.
    head: Vec<u8>,
    method: Span,
    #[cfg(any(test, feature = "fuzzing"))]
    target: Span,
    path: Span,
    query: Option<Span>,
    fragment: Option<Span>,
    version_minor: u8,
    headers: Vec<HeaderSpan>,
    /// The connection may carry another request after this one (RFC 9112
    /// §9.3). Always false after an upgrade request.
    pub should_keep_alive: bool,
    /// `Connection: upgrade` with an `Upgrade` header, or a CONNECT: what
    /// follows on the connection is not HTTP.
    pub upgrade: bool,
    /// The client sent `Expect: 100-continue` (heeded in HTTP/1.1 only).
    pub expect_continue: bool,
    /// Decoded from Content-Length or chunked framing; empty when none.
    pub body: Vec<u8>,
}

impl Request {
    /// `GET`, `POST`, ... as sent (methods are case-sensitive).
    pub fn method(&self) -> &str {
        // httparse admits only token bytes, all ASCII.
        std::str::from_utf8(self.method.of(&self.head)).unwrap_or("")
    }

    /// The request target as sent: `/a%20b?x=1`.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn target(&self) -> &[u8] {
        self.target.of(&self.head)
    }

    /// The target's path, still percent-encoded: `/a%20b`. The authority
    /// of an absolute-form target (`http://host/a`) is left out; an
    /// absolute-form target without a path gives `/`.
    pub fn path(&self) -> &[u8] {
        match self.path.of(&self.head) {
            b"" => b"/",
            path => path,
        }
    }

    /// What follows `?`, when not empty.
    pub fn query(&self) -> Option<&[u8]> {
        self.query.map(|span| span.of(&self.head))
    }

    /// What follows `#`, when not empty (clients do not send it, but a
    /// raw target may hold one).
    pub fn fragment(&self) -> Option<&[u8]> {
        self.fragment.map(|span| span.of(&self.head))
    }

    /// `(1, 0)` or `(1, 1)`.
    pub fn version(&self) -> (u8, u8) {
        (1, self.version_minor)
    }

    pub fn headers(&self) -> HeaderList<'_> {
        HeaderList::new(&self.head, &self.headers)
    }

    /// How a response to this request is to be written.
    pub fn reply_context(&self) -> ReplyContext {
        ReplyContext {
            head_request: self.method() == "HEAD",
            version_minor: self.version_minor,
            keep_alive: self.should_keep_alive,
        }
    }

    fn from_head(head: Vec<u8>) -> Result<Head<Request>, ParseError> {
        let (method, target, version_minor, headers) = parse_with_header_room(&head, |block, room| {
            let mut request = httparse::Request::new(room);
            if request.parse(block)?.is_partial() {
                return Ok(None);
            }
            Ok(Some((
                Span::within(block, request.method.unwrap_or("").as_bytes()),
                Span::within(block, request.path.unwrap_or("").as_bytes()),
                request.version.unwrap_or(1),
                header_spans(block, request.headers),
            )))
        })?;
        let (path, query, fragment) = split_target(&head, target);
        let mut request = Request {
            head,
            method,
            #[cfg(any(test, feature = "fuzzing"))]
            target,
            path,
            query,
            fragment,
            version_minor,
            headers,
            should_keep_alive: false,
            upgrade: false,
            expect_continue: false,
            body: Vec::new(),
        };
        let headers = request.headers();
        let framing = request_framing(version_minor, &headers)?;
        check_host(version_minor, &headers)?;
        let upgrade =
            request.method() == "CONNECT" || (headers.get("upgrade").is_some() && headers.has_token("connection", "upgrade"));
        // RFC 9110 §10.1.1: an HTTP/1.0 client cannot be waiting for it.
        let expect_continue =
            version_minor >= 1 && headers.get("expect").is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"));
        let keep_alive = !upgrade && version_keeps_alive(version_minor, &headers);
        request.upgrade = upgrade;
        request.expect_continue = expect_continue;
        request.should_keep_alive = keep_alive;
        // When the connection closes after the response, requests the
        // client pipelined behind this one are not answered, so they are
        // not read either.
        let then = AfterMessage::after(upgrade, keep_alive);
        Ok(Head::Message { message: request, framing, expects_continue: expect_continue, then })
    }
}

/// Request framing, strictly (RFC 9112 §6.1, §6.3): the ambiguous cases
/// are the ones request smuggling is made of, so they are refused. The
/// header lines were already checked one by one as they came (in
/// [`super::strict`]); this is the check of the whole head, and the one
/// that sees a `Transfer-Encoding` that names no coding at all.
fn request_framing(version_minor: u8, headers: &HeaderList<'_>) -> Result<Framing, ParseError> {
    let length = content_length(headers)?;
    match transfer_coding(headers) {
        TransferCoding::Absent => Ok(length.map_or(Framing::Empty, Framing::Length)),
        _ if length.is_some() => Err(LENGTH_AND_CODING),
        _ if version_minor == 0 => Err(CODING_IN_HTTP_1_0),
        TransferCoding::Chunked => Ok(Framing::Chunked),
        TransferCoding::Other => {
            // What is wrong with the codings; there are none if nothing is.
            let mut chunked_seen = false;
            check_transfer_codings(headers.list_items("transfer-encoding"), &mut chunked_seen)?;
            Err(CHUNKED_NOT_FINAL)
        }
    }
}

/// `path?query#fragment`, with the `scheme://authority` of an
/// absolute-form target left out of the path.
fn split_target(head: &[u8], target: Span) -> (Span, Option<Span>, Option<Span>) {
    let bytes = target.of(head);
    let base = target.start();
    let absolute_prefix = ["http://", "https://"]
        .iter()
        .find(|scheme| bytes.len() >= scheme.len() && bytes[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes()))
        .map_or(0, |scheme| {
            let after_scheme = &bytes[scheme.len()..];
            let authority = after_scheme.iter().position(|b| b"/?#".contains(b)).unwrap_or(after_scheme.len());
            scheme.len() + authority
        });
    let fragment_at = bytes.iter().position(|&b| b == b'#');
    let before_fragment = fragment_at.unwrap_or(bytes.len());
    let query_at = bytes[..before_fragment].iter().position(|&b| b == b'?');
    let path_end = query_at.unwrap_or(before_fragment);
    let non_empty = |start: usize, end: usize| (start < end).then(|| Span::new(base + start, base + end));
    (
        Span::new(base + absolute_prefix.min(path_end), base + path_end),
        query_at.and_then(|at| non_empty(at + 1, before_fragment)),
        fragment_at.and_then(|at| non_empty(at + 1, bytes.len())),
    )
}

struct RequestHeads;

impl HeadParser for RequestHeads {
    type Message = Request;

    fn parse_head(&mut self, block: Vec<u8>) -> Result<Head<Request>, ParseError> {
        Request::from_head(block)
    }

    const STRICT: bool = true;

    fn attach_body(message: &mut Request, body: Vec<u8>) {
        message.body = body;
    }
}

/// Reads the requests of one connection from input in pieces of any size.
///
/// Feed it what the socket reads, then drain [`RequestParser::next_event`]:
/// requests come in the order they were sent; an error is the last event,
/// after which the server answers `error.status()` and closes.
pub struct RequestParser {
    reader: MessageReader<RequestHeads>,
}

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        RequestParser { reader: MessageReader::new(RequestHeads, limits) }
    }

    /// Parses `input`, queueing what it completes. After an error, after a
    /// request that closes the connection, and after an upgrade request,
    /// input is no longer parsed (see [`RequestParser::take_upgrade_bytes`]).
    pub fn feed(&mut self, input: &[u8]) {
        self.reader.feed(input);
    }

    /// The client closed its side: a request cut short becomes an
    /// [`ParseError::Incomplete`] error event. (The server closes at the
    /// peer's end without waiting for a verdict.)
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn finish(&mut self) {
        self.reader.finish();
    }

    pub fn next_event(&mut self) -> Option<RequestEvent> {
        self.reader.next_event()
    }

    /// Bytes of a header block begun and not yet complete: while non-zero,
    /// a header timeout is running out.
    pub fn pending_header_bytes(&self) -> usize {
        self.reader.pending_head_bytes()
    }

    /// No request begun and not finished: the connection is idle.
    pub fn is_idle(&self) -> bool {
        self.reader.is_between_messages()
    }

    /// Events parsed and not yet taken by [`RequestParser::next_event`]:
    /// requests (or an error) waiting for their turn.
    pub fn has_events(&self) -> bool {
        self.reader.has_events()
    }

    /// After an upgrade request: the bytes that followed it, which belong
    /// to the new protocol. Taken, so each byte is returned once. (No Lua
    /// API hands an upgraded connection over yet.)
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn take_upgrade_bytes(&mut self) -> Vec<u8> {
        self.reader.take_other_protocol_bytes()
    }

    /// After an upgrade request or a CONNECT: the rest of the input is
    /// another protocol, not parsed (the server stops reading).
    pub fn is_upgraded(&self) -> bool {
        self.reader.in_other_protocol()
    }
}

/// What a response depends on in the request it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyContext {
    /// A response to HEAD carries the headers a GET would get, no body.
    pub head_request: bool,
    /// 0 for an HTTP/1.0 client, which knows no chunked coding.
    pub version_minor: u8,
    /// The connection may stay open after the response.
    pub keep_alive: bool,
}

impl ReplyContext {
    /// For an error answered without a request (a parse error): HTTP/1.1,
    /// and the connection closes.
    pub fn closing() -> Self {
        ReplyContext { head_request: false, version_minor: 1, keep_alive: false }
    }
}

/// A response ready to write.
#[derive(Debug)]
pub struct Reply<'a> {
    pub message: Outgoing<'a>,
    /// False when the connection is to be closed once this is written.
    pub keep_alive: bool,
    /// The caller frames the rest of a chunked body ([`ChunkedBody::ByCaller`]):
    /// once this is written, the connection carries the caller's chunks
    /// and nothing of the server's, and no further request is read from
    /// it. `keep_alive` is false.
    pub hand_over: bool,
}

/// Who frames the body of a response whose given headers say
/// `Transfer-Encoding: chunked`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkedBody {
    /// The writer: each non-empty body piece becomes a chunk, then the
    /// last chunk follows; an HTTP/1.0 client gets a length instead.
    /// (`res` never asks for it: the round-trip tests and fuzz targets do.)
    #[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
    Framed,
    /// The caller, as the original async's `res` had it: the head is
    /// written, then the body exactly as given (chunks the caller framed,
    /// or nothing), with no last chunk; the caller writes its further
    /// chunks and the last one on the connection itself. As nothing tells
    /// the server where that body ends, the response says
    /// `Connection: close` (in place of a given `Connection`) and hands
    /// the connection over ([`Reply::hand_over`]). HTTP/1.0 clients get
    /// the given `Transfer-Encoding` too: the bytes that follow are chunks
    /// whatever the version.
    ByCaller,
}

/// [`serialize_response_with`] with the writer framing chunked bodies.
#[cfg(any(test, feature = "fuzzing"))]
pub fn serialize_response<'a>(
    status: u16,
    headers: &[(&[u8], &[u8])],
    body: &[&'a [u8]],
    context: ReplyContext,
    date: &str,
) -> Result<Reply<'a>, InvalidMessage> {
    serialize_response_with(status, headers, body, context, date, ChunkedBody::Framed)
}

/// Where a response's `Content-Length` line comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LengthLine {
    /// None is sent: given ones are left out.
    Absent,
    /// The given ones, as given.
    Given,
    /// The body's real length, in place of any given.
    Real,
}

/// Writes `HTTP/1.1 CODE REASON`, the given headers (names as given, in
/// order), then those the server adds unless given: `Date` (`date`, from
/// [`super::DateCache`]), `Server: ASyNC`, `Content-Length` and
/// `Connection` (`keep-alive` or `close`), then the body. A given `Date`
/// or `Server` is sent as given, in place of the server's.
///
/// `Content-Length` is the body's real total, sent in place of any given
/// length (the original async always replaced it: a given length that is
/// wrong would leave a client waiting, or reading the next response as
/// body), except: with a given `Transfer-Encoding` (no length at all, RFC
/// 9112 §6.2, unless it is dropped for an HTTP/1.0 client); in a 204
/// response (none, RFC 9110 §8.6); in a 304, and in the response to HEAD
/// when one is given (the given one, which may announce the length a GET
/// would get: the writer cannot know it). A response to HEAD given no
/// length gets the length of the body it leaves out.
///
/// `Transfer-Encoding: chunked` is framed as `chunked_body` says. Another
/// transfer coding without chunked is written as given, and the connection
/// closes to end the body. 204 and 304 responses get no body.
///
/// The response is the final one to its request: a 1xx status is refused
/// ([`InvalidMessage::InterimStatus`]), as a client would go on waiting
/// for the final response (the one interim response the server sends,
/// [`CONTINUE_RESPONSE`], is not written here).
pub fn serialize_response_with<'a>(
    status: u16,
    headers: &[(&[u8], &[u8])],
    body: &[&'a [u8]],
    context: ReplyContext,
    date: &str,
    chunked_body: ChunkedBody,
) -> Result<Reply<'a>, InvalidMessage> {
    if !(100..=999).contains(&status) {
        return Err(InvalidMessage::StatusCode(status));
    }
    if status < 200 {
        return Err(InvalidMessage::InterimStatus);
    }
    let given = GivenHeaders::check(headers)?;
    let no_body = status == 204 || status == 304;
    let old_client = context.version_minor == 0;
    let hand_over = given.chunked && chunked_body == ChunkedBody::ByCaller;
    let framed_chunks = given.chunked && !hand_over && !old_client && !no_body;
    // Another transfer coding without chunked: only the close ends it.
    let until_close = given.transfer_encoding && !given.chunked && !old_client && !no_body;
    let keep_alive = context.keep_alive && !given.connection_close && !until_close && !hand_over;
    let length_line = if hand_over || framed_chunks || until_close || status == 204 {
        LengthLine::Absent
    } else if given.content_length && (status == 304 || context.head_request) {
        LengthLine::Given
    } else if no_body {
        LengthLine::Absent
    } else {
        LengthLine::Real
    };
    let drop_coding = old_client && given.transfer_encoding && !hand_over;
    let drop_length = given.content_length && length_line != LengthLine::Given;
    let drop_connection = hand_over && given.connection;

    let small_body: usize = body.iter().map(|piece| piece.len()).filter(|&len| len <= COPY_BODY_PIECES_UP_TO).sum();
    let framing: usize = headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum();
    let mut message = Outgoing::with_capacity(160 + framing + small_body);
    let reason = reason_phrase(status).unwrap_or("unknown");
    let mut digits = [0u8; 20];
    message.put_all(&[b"HTTP/1.1 ", decimal(status.into(), &mut digits), b" ", reason.as_bytes(), b"\r\n"]);
    let dropping = drop_coding || drop_length || drop_connection;
    message.put_headers_except(headers, |name| {
        dropping
            && ((drop_coding && name.eq_ignore_ascii_case(b"transfer-encoding"))
                || (drop_length && name.eq_ignore_ascii_case(b"content-length"))
                || (drop_connection && name.eq_ignore_ascii_case(b"connection")))
    });
    if !given.date {
        message.put_header(b"Date", date.as_bytes());
    }
    if !given.server {
        message.put_header(b"Server", b"ASyNC");
    }
    if length_line == LengthLine::Real {
        let length: usize = body.iter().map(|piece| piece.len()).sum();
        message.put_content_length(length as u64);
    }
    if !keep_alive && (!given.connection_close || drop_connection) {
        message.put_header(b"Connection", b"close");
    } else if keep_alive && !given.connection {
        message.put_header(b"Connection", b"keep-alive");
    }
    message.put(b"\r\n");
    if !no_body && !context.head_request {
        if framed_chunks {
            message.put_chunked_body(body);
        } else {
            message.put_plain_body(body);
        }
    }
    Ok(Reply { message, keep_alive, hand_over })
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
