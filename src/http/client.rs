//! The client side: requests out ([`serialize_request`]), responses in
//! ([`ResponseParser`]).

use std::collections::VecDeque;

use super::incoming::{
    AfterMessage, Event, Framing, Head, HeadParser, HeaderList, HeaderSpan, MessageReader, Span, TransferCoding, content_length,
    header_spans, parse_with_header_room, transfer_coding, version_keeps_alive,
};
use super::outgoing::{GivenHeaders, InvalidMessage, Outgoing, is_token};
use super::{Limits, ParseError};

/// Writes `METHOD target HTTP/1.1`, the given headers (names as given, in
/// order), `Host: host` unless given, `Content-Length`, then the body;
/// with `Transfer-Encoding: chunked` each non-empty body piece becomes a
/// chunk.
///
/// `Content-Length` is the body's real length, in place of any given (a
/// wrong one would leave the server waiting for more, or reading the
/// rest as the next request), when there is a body, the method is one
/// that carries one, or a length was given. Beside a given
/// `Transfer-Encoding` there is none (RFC 9112 §6.2), a given one
/// included.
///
/// HTTP/1.1 keeps the connection open by default: give `Connection:
/// close` to have the server close it after the response.
pub fn serialize_request<'a>(
    method: &str,
    target: &[u8],
    host: &[u8],
    headers: &[(&[u8], &[u8])],
    body: &[&'a [u8]],
) -> Result<Outgoing<'a>, InvalidMessage> {
    if !is_token(method.as_bytes()) {
        return Err(InvalidMessage::Method);
    }
    // What httparse takes as a request target: visible bytes, no space.
    if target.is_empty() || !target.iter().all(|&b| (b'!'..=b'~').contains(&b) || b >= 0x80) {
        return Err(InvalidMessage::Target);
    }
    let given = GivenHeaders::check(headers)?;
    if !given.host && !super::outgoing::is_field_value(host) {
        return Err(InvalidMessage::HeaderValue(b"Host".to_vec()));
    }
    let length: usize = body.iter().map(|piece| piece.len()).sum();
    let method_carries_body = matches!(method, "POST" | "PUT" | "PATCH");

    let mut message = Outgoing::default();
    message.put(method.as_bytes());
    message.put(b" ");
    message.put(target);
    message.put(b" HTTP/1.1\r\n");
    if !given.host {
        message.put_header(b"Host", host);
    }
    message.put_headers_except(headers, |name| given.content_length && name.eq_ignore_ascii_case(b"content-length"));
    if !given.transfer_encoding && (length > 0 || method_carries_body || given.content_length) {
        message.put_content_length(length as u64);
    }
    message.put(b"\r\n");
    if given.chunked {
        message.put_chunked_body(body);
    } else {
        message.put_plain_body(body);
    }
    Ok(message)
}

/// One parsed response, body included.
#[derive(Debug)]
pub struct Response {
    head: Vec<u8>,
    version_minor: u8,
    pub status: u16,
    reason: Span,
    headers: Vec<HeaderSpan>,
    /// The connection can carry the next request: the response said so
    /// for its version, and its body did not end with the connection.
    pub keep_alive: bool,
    /// A 101, or a 2xx to CONNECT: the connection now carries another
    /// protocol (see [`ResponseParser::take_upgrade_bytes`]).
    pub upgrade: bool,
    pub body: Vec<u8>,
}

impl Response {
    /// `(1, 0)` or `(1, 1)`.
    pub fn version(&self) -> (u8, u8) {
        (1, self.version_minor)
    }

    /// The reason phrase as sent (may be empty).
    pub fn reason(&self) -> &[u8] {
        self.reason.of(&self.head)
    }

    pub fn headers(&self) -> HeaderList<'_> {
        HeaderList::new(&self.head, &self.headers)
    }
}

/// What a response's framing depends on in its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Head,
    Connect,
    Other,
}

struct ResponseHeads {
    /// The requests sent and not yet answered, oldest first.
    awaiting: VecDeque<RequestKind>,
}

impl ResponseHeads {
    fn parse(&mut self, head: Vec<u8>) -> Result<Head<Response>, ParseError> {
        let Some(&request) = self.awaiting.front() else {
            return Err(ParseError::Malformed("response without a request"));
        };
        let (version_minor, status, reason, headers) = parse_with_header_room(&head, |block, room| {
            let mut response = httparse::Response::new(room);
            if response.parse(block)?.is_partial() {
                return Ok(None);
            }
            Ok(Some((
                response.version.unwrap_or(1),
                response.code.unwrap_or(0),
                Span::within(block, response.reason.unwrap_or("").as_bytes()),
                header_spans(block, response.headers),
            )))
        })?;
        // 1xx other than 101 are interim: the final response follows.
        if (100..200).contains(&status) && status != 101 {
            return Ok(Head::Interim);
        }
        self.awaiting.pop_front();
        let mut response =
            Response { head, version_minor, status, reason, headers, keep_alive: false, upgrade: false, body: Vec::new() };
        let headers = response.headers();
        let upgrade = status == 101 || (request == RequestKind::Connect && (200..300).contains(&status));
        let coding = transfer_coding(&headers);
        // RFC 9112 §6.3: the order in which a response's body is framed.
        let framing = if upgrade || request == RequestKind::Head || status == 204 || status == 304 {
            Framing::Empty
        } else {
            match coding {
                TransferCoding::Chunked => Framing::Chunked,
                TransferCoding::Other => Framing::UntilClose,
                TransferCoding::Absent => content_length(&headers)?.map_or(Framing::UntilClose, Framing::Length),
            }
        };
        // Both framings at once hint at smuggling: read by the chunked
        // one, but never reuse the connection (RFC 9112 §6.3).
        let ambiguous = coding != TransferCoding::Absent && headers.get("content-length").is_some();
        let keep_alive = !upgrade && !ambiguous && framing != Framing::UntilClose && version_keeps_alive(version_minor, &headers);
        response.keep_alive = keep_alive;
        response.upgrade = upgrade;
        let then = AfterMessage::after(upgrade, keep_alive);
        Ok(Head::Message { message: response, framing, expects_continue: false, then })
    }
}

impl HeadParser for ResponseHeads {
    type Message = Response;

    fn parse_head(&mut self, block: Vec<u8>) -> Result<Head<Response>, ParseError> {
        self.parse(block)
    }

    fn attach_body(message: &mut Response, body: Vec<u8>) {
        message.body = body;
    }

    fn closed_between_messages(&self) -> Option<ParseError> {
        (!self.awaiting.is_empty()).then_some(ParseError::Incomplete)
    }
}

/// Reads the responses of one connection from input in pieces of any
/// size. Tell it of each request as it is sent
/// ([`ResponseParser::expect_response`]): the method decides how the
/// response is framed, and a response nobody asked for is an error.
pub struct ResponseParser {
    reader: MessageReader<ResponseHeads>,
}

impl ResponseParser {
    pub fn new(limits: Limits) -> Self {
        let heads = ResponseHeads { awaiting: VecDeque::new() };
        ResponseParser { reader: MessageReader::new(heads, limits) }
    }

    /// A request with this method was sent on the connection.
    pub fn expect_response(&mut self, method: &str) {
        let kind = match method {
            "HEAD" => RequestKind::Head,
            "CONNECT" => RequestKind::Connect,
            _ => RequestKind::Other,
        };
        self.reader.parser.awaiting.push_back(kind);
    }

    pub fn feed(&mut self, input: &[u8]) {
        self.reader.feed(input);
    }

    /// The server closed the connection: this completes a body that runs
    /// until close, and turns a response cut short, or one that never
    /// came, into [`ParseError::Incomplete`].
    pub fn finish(&mut self) {
        self.reader.finish();
    }

    /// The next complete response or error, in order; an error is last.
    pub fn next_response(&mut self) -> Option<Result<Response, ParseError>> {
        match self.reader.next_event()? {
            Event::Message(response) => Some(Ok(response)),
            Event::Error(error) => Some(Err(error)),
            Event::ContinueExpected => None,
        }
    }

    /// Requests sent and not yet answered.
    pub fn awaiting(&self) -> usize {
        self.reader.parser.awaiting.len()
    }

    /// Nothing awaited and no response begun: with the last response's
    /// `keep_alive`, the connection can go back to a pool.
    pub fn is_idle(&self) -> bool {
        self.awaiting() == 0 && self.reader.is_between_messages()
    }

    /// After an upgrade response: the bytes that followed it. Taken, so
    /// each byte is returned once.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn take_upgrade_bytes(&mut self) -> Vec<u8> {
        self.reader.take_other_protocol_bytes()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
