//! What the request parser and the response parser share: collecting a
//! header block as it arrives, reading headers out of it, and decoding a
//! body by its framing.
//!
//! Every piece of input is looked at once: the header block is scanned
//! only over the bytes that arrived since the last call, and body bytes go
//! straight from the input into the body, so that a message costs time in
//! proportion to its size however it is split. A request's head, chunk
//! lines and trailers are read by the stricter rules of [`super::strict`]
//! on the way.

use memchr::memchr;

use crate::core::memory::{self, OutOfMemory};

use super::strict::{StrictLines, check_chunk_extensions};
use super::{Limits, ParseError};

/// A range of bytes inside a message's header block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// Where `part`, a slice that httparse took out of `block`, lies in it.
    /// A slice from elsewhere (httparse hands out a static `""` for a
    /// reason phrase that is not UTF-8) gives an empty span.
    pub(crate) fn within(block: &[u8], part: &[u8]) -> Span {
        let block_start = block.as_ptr() as usize;
        let part_start = part.as_ptr() as usize;
        if part_start >= block_start && part_start + part.len() <= block_start + block.len() {
            let start = part_start - block_start;
            Span { start, end: start + part.len() }
        } else {
            Span::default()
        }
    }

    pub(crate) fn of(self, block: &[u8]) -> &[u8] {
        &block[self.start..self.end]
    }

    pub(crate) fn start(self) -> usize {
        self.start
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderSpan {
    name: Span,
    value: Span,
}

pub(crate) fn header_spans(block: &[u8], headers: &[httparse::Header<'_>]) -> Vec<HeaderSpan> {
    headers
        .iter()
        .map(|header| HeaderSpan { name: Span::within(block, header.name.as_bytes()), value: Span::within(block, header.value) })
        .collect()
}

/// The headers of a parsed message, in the order and spelling they came in.
#[derive(Clone, Copy)]
pub struct HeaderList<'a> {
    block: &'a [u8],
    spans: &'a [HeaderSpan],
}

impl<'a> HeaderList<'a> {
    pub(crate) fn new(block: &'a [u8], spans: &'a [HeaderSpan]) -> Self {
        HeaderList { block, spans }
    }

    /// `(name, value)` pairs as received; values without surrounding
    /// whitespace.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + use<'a> {
        let block = self.block;
        self.spans.iter().map(move |span| (span.name.of(block), span.value.of(block)))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// The value of the last header called `name`, compared without case:
    /// the one a table keyed by lower-case name ends up holding.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.all(name).last()
    }

    /// The values of every header called `name`, in order.
    pub fn all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v)
    }

    /// The comma-separated elements of every header called `name`
    /// (`Connection: keep-alive, Upgrade` and repeated headers alike),
    /// trimmed, empty ones dropped.
    pub fn list_items<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.all(name).flat_map(|value| value.split(|&b| b == b',')).map(|item| item.trim_ascii()).filter(|item| !item.is_empty())
    }

    /// Whether a list header (`Connection`, `Transfer-Encoding`) holds
    /// `token`, compared without case.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list_items(name).any(|item| item.eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// Whether a connection outlives a message of this version with these
/// headers (RFC 9112 §9.3): HTTP/1.1 unless `Connection: close`, HTTP/1.0
/// only with `Connection: keep-alive`.
pub(crate) fn version_keeps_alive(version_minor: u8, headers: &HeaderList<'_>) -> bool {
    if version_minor >= 1 { !headers.has_token("connection", "close") } else { headers.has_token("connection", "keep-alive") }
}

/// How the end of a body is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Only a response: the body is all that comes until the peer closes.
    UntilClose,
}

/// The one length that every `Content-Length` header agrees on. Repeats of
/// the same value, as headers or as a list, are one length (RFC 9110
/// §8.6); anything else is refused, as request smuggling lives there.
pub(crate) fn content_length(headers: &HeaderList<'_>) -> Result<Option<u64>, ParseError> {
    let mut length = None;
    for value in headers.all("content-length") {
        length_items(value, &mut length)?;
    }
    Ok(length)
}

/// Reads one `Content-Length` value (`3` or `3, 3`) into `length`, which
/// holds what earlier ones said.
pub(crate) fn length_items(value: &[u8], length: &mut Option<u64>) -> Result<(), ParseError> {
    for item in value.split(|&b| b == b',') {
        let parsed = parse_decimal(item.trim_ascii()).ok_or(ParseError::Malformed("invalid Content-Length"))?;
        if length.is_some_and(|known| known != parsed) {
            return Err(ParseError::Malformed("conflicting Content-Length"));
        }
        *length = Some(parsed);
    }
    Ok(())
}

/// Digits only (no sign, no space, no empty string), without overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |total, &digit| total.checked_mul(10)?.checked_add(u64::from(digit - b'0')))
}

/// Collects a header block (lines up to an empty line) from input that
/// arrives in pieces of any size.
#[derive(Debug, Default)]
pub(crate) struct BlockReader {
    block: Vec<u8>,
    /// Where the line being read starts.
    line_start: usize,
    /// Blank lines before a request line are skipped (RFC 9112 §2.2); a
    /// trailer section, in contrast, may be empty.
    skip_leading_blank_lines: bool,
    /// A request's lines are read by the RFC's rules as they arrive; a
    /// response's leniently (a bare LF ends a line, and httparse alone
    /// judges the block once complete).
    strict: Option<StrictLines>,
}

impl BlockReader {
    /// A response's head.
    pub(crate) fn for_head() -> Self {
        BlockReader { skip_leading_blank_lines: true, ..Default::default() }
    }

    /// A response's trailers.
    pub(crate) fn for_trailers() -> Self {
        BlockReader::default()
    }

    pub(crate) fn for_request_head() -> Self {
        BlockReader { strict: Some(StrictLines::request_head()), ..BlockReader::for_head() }
    }

    pub(crate) fn for_request_trailers() -> Self {
        BlockReader { strict: Some(StrictLines::trailers()), ..BlockReader::for_trailers() }
    }

    /// Bytes of an unfinished block held so far: non-zero once a message
    /// has begun and until its header block is complete.
    pub(crate) fn pending(&self) -> usize {
        self.block.len()
    }

    /// Takes bytes from `input` up to the end of the block. Returns how
    /// many it took and whether the block is now complete; never takes
    /// more than `max_bytes` (the block's blank line included) allows.
    pub(crate) fn feed(&mut self, input: &[u8], max_bytes: usize) -> Result<(usize, bool), ParseError> {
        let mut taken = 0;
        loop {
            let rest = &input[taken..];
            // One byte over the limit tells a block that is too large from
            // one that ends exactly at it.
            let room = max_bytes.saturating_add(1).saturating_sub(self.block.len());
            let offered = &rest[..rest.len().min(room)];
            let scan_from = self.block.len();
            memory::append(&mut self.block, offered)?;
            match self.find_end(scan_from)? {
                Some(end) => {
                    taken += end - scan_from;
                    self.block.truncate(end);
                    if self.skip_leading_blank_lines && self.is_blank() {
                        self.take();
                        continue;
                    }
                    if end > max_bytes {
                        return Err(ParseError::HeadersTooLarge);
                    }
                    return Ok((taken, true));
                }
                None if self.block.len() > max_bytes => return Err(ParseError::HeadersTooLarge),
                None => return Ok((taken + offered.len(), false)),
            }
        }
    }

    /// The end of the first empty line that ends in the bytes from
    /// `scan_from` on, which are checked on the way when strict.
    fn find_end(&mut self, scan_from: usize) -> Result<Option<usize>, ParseError> {
        match &mut self.strict {
            Some(lines) => lines.scan(&self.block, scan_from, &mut self.line_start),
            None => Ok(self.find_end_leniently(scan_from)),
        }
    }

    /// The end of the first empty line (`\r\n` or a bare `\n`) that ends
    /// in the bytes from `scan_from` on.
    fn find_end_leniently(&mut self, scan_from: usize) -> Option<usize> {
        let mut position = scan_from;
        while let Some(offset) = memchr(b'\n', &self.block[position..]) {
            let newline = position + offset;
            let line = &self.block[self.line_start..newline];
            if line.is_empty() || line == b"\r" {
                return Some(newline + 1);
            }
            self.line_start = newline + 1;
            position = newline + 1;
        }
        None
    }

    /// Whether the block is a lone empty line.
    fn is_blank(&self) -> bool {
        self.line_start == 0
    }

    /// Hands over the block and starts afresh.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.line_start = 0;
        if let Some(lines) = &mut self.strict {
            lines.reset();
        }
        std::mem::take(&mut self.block)
    }
}

/// A chunk-size line is a few hex digits and rarely-used extensions: past
/// this, it is an attack, not a message.
const MAX_CHUNK_SIZE_LINE: usize = 4096;

#[derive(Debug)]
enum BodyState {
    Length {
        remaining: u64,
    },
    ChunkSize {
        line: Vec<u8>,
    },
    ChunkData {
        remaining: u64,
    },
    /// The CRLF after a chunk's data; counts its bytes seen so far.
    ChunkDataEnd {
        matched: usize,
    },
    Trailers(BlockReader),
    UntilClose,
    Done,
}

/// Decodes one message body by its framing, from input in pieces.
#[derive(Debug)]
pub(crate) struct BodyReader {
    state: BodyState,
    body: Vec<u8>,
    limits: Limits,
    /// A request's framing: chunk-size lines and trailers by the RFC's
    /// rules (see [`super::strict`]).
    strict: bool,
}

impl BodyReader {
    /// Refuses at once a `Content-Length` over the limit, before a byte of
    /// the body is read.
    pub(crate) fn new(framing: Framing, limits: Limits, strict: bool) -> Result<Self, ParseError> {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => BodyState::Done,
            Framing::Length(length) if length > limits.max_body_bytes => {
                return Err(ParseError::BodyTooLarge);
            }
            Framing::Length(length) => BodyState::Length { remaining: length },
            Framing::Chunked => BodyState::ChunkSize { line: Vec::new() },
            Framing::UntilClose => BodyState::UntilClose,
        };
        Ok(BodyReader { state, body: Vec::new(), limits, strict })
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, BodyState::Done)
    }

    /// The decoded body, once `is_done`.
    pub(crate) fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Takes bytes from `input` up to the end of the body; returns how
    /// many it took.
    pub(crate) fn feed(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let mut taken = 0;
        while taken < input.len() && !self.is_done() {
            taken += self.step(&input[taken..])?;
        }
        Ok(taken)
    }

    /// The peer closed the connection: this ends a body read until close,
    /// and cuts any other short.
    pub(crate) fn finish_at_close(&mut self) -> Result<(), ParseError> {
        match self.state {
            BodyState::UntilClose | BodyState::Done => {
                self.state = BodyState::Done;
                Ok(())
            }
            _ => Err(ParseError::Incomplete),
        }
    }

    /// Advances by one piece of framing or data; takes at least one byte.
    fn step(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        match &mut self.state {
            BodyState::Length { remaining } | BodyState::ChunkData { remaining } => {
                let data = take_up_to(input, *remaining);
                *remaining -= data.len() as u64;
                let still_expected = *remaining;
                if still_expected == 0 {
                    self.state = match self.state {
                        BodyState::Length { .. } => BodyState::Done,
                        _ => BodyState::ChunkDataEnd { matched: 0 },
                    };
                }
                append_body(&mut self.body, data, still_expected)?;
                Ok(data.len())
            }
            BodyState::UntilClose => {
                if (self.body.len() + input.len()) as u64 > self.limits.max_body_bytes {
                    return Err(ParseError::BodyTooLarge);
                }
                memory::append(&mut self.body, input)?;
                Ok(input.len())
            }
            BodyState::ChunkDataEnd { matched } => {
                let expected = &b"\r\n"[*matched..];
                let seen = input.len().min(expected.len());
                if input[..seen] != expected[..seen] {
                    return Err(ParseError::Malformed("chunk data not followed by CRLF"));
                }
                *matched += seen;
                if *matched == 2 {
                    self.state = BodyState::ChunkSize { line: Vec::new() };
                }
                Ok(seen)
            }
            BodyState::ChunkSize { line } => {
                let (taken, complete) = match memchr(b'\n', input) {
                    Some(newline) => (newline + 1, true),
                    None => (input.len(), false),
                };
                if line.len() + taken > MAX_CHUNK_SIZE_LINE {
                    return Err(ParseError::Malformed("chunk size line too long"));
                }
                line.extend_from_slice(&input[..taken]);
                if complete {
                    let size = parse_chunk_size_line(line, self.strict)?;
                    self.state = self.after_chunk_size(size)?;
                }
                Ok(taken)
            }
            BodyState::Trailers(reader) => {
                // Trailer fields are read past, not kept: nothing in this
                // library asks for them, and merging them into the headers
                // would let a body rewrite what the headers said.
                let (taken, complete) = reader.feed(input, self.limits.max_header_bytes)?;
                if complete {
                    self.state = BodyState::Done;
                }
                Ok(taken)
            }
            BodyState::Done => Ok(0),
        }
    }

    fn after_chunk_size(&self, size: u64) -> Result<BodyState, ParseError> {
        if size == 0 {
            let trailers = if self.strict { BlockReader::for_request_trailers() } else { BlockReader::for_trailers() };
            return Ok(BodyState::Trailers(trailers));
        }
        // Refused on the announced size, before its data arrives.
        let room = self.limits.max_body_bytes.saturating_sub(self.body.len() as u64);
        if size > room {
            return Err(ParseError::BodyTooLarge);
        }
        Ok(BodyState::ChunkData { remaining: size })
    }
}

fn take_up_to(input: &[u8], limit: u64) -> &[u8] {
    let count = usize::try_from(limit).map_or(input.len(), |limit| limit.min(input.len()));
    &input[..count]
}

/// Appends `data`, growing the body geometrically but never past what the
/// framing still announces, so that a known length ends with no slack and
/// a 1-byte start does not reserve the whole announced size.
fn append_body(body: &mut Vec<u8>, data: &[u8], still_expected: u64) -> Result<(), OutOfMemory> {
    if body.capacity() - body.len() < data.len() {
        let doubling = body.len().max(data.len());
        let remaining = usize::try_from(still_expected).unwrap_or(usize::MAX);
        body.try_reserve_exact(doubling.min(data.len().saturating_add(remaining)))?;
    }
    body.extend_from_slice(data);
    Ok(())
}

/// `1A;name=value\r\n` -> 26. httparse reads the digits and skips the
/// extensions; it also takes a line with no digits for size 0, and a bare
/// `\n` ending for more to come, both refused here. When `strict`, the
/// extensions must also follow the RFC's grammar: httparse takes `2 `,
/// `2;` and `2;a="b` alike.
fn parse_chunk_size_line(line: &[u8], strict: bool) -> Result<u64, ParseError> {
    const INVALID: ParseError = ParseError::Malformed("invalid chunk size");
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(INVALID);
    }
    let size = match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((used, size))) if used == line.len() => size,
        _ => return Err(INVALID),
    };
    if strict {
        // Complete means the line ends with CRLF, its only CR and LF.
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        check_chunk_extensions(&line[digits..line.len() - 2])?;
    }
    Ok(size)
}

/// Runs an httparse parse with room for the usual number of headers, and
/// once more with room for as many as the block can hold when that was
/// too few. The block is already held to the header size limit, which so
/// bounds the count too. `parse` gives `None` for a partial head.
pub(crate) fn parse_with_header_room<'b, T>(
    block: &'b [u8],
    parse: impl Fn(&'b [u8], &mut [httparse::Header<'b>]) -> Result<Option<T>, httparse::Error>,
) -> Result<T, ParseError> {
    let mut usual: [httparse::Header<'b>; 64] = [httparse::EMPTY_HEADER; 64];
    let result = match parse(block, &mut usual) {
        Err(httparse::Error::TooManyHeaders) => {
            // The shortest header line is `a:` and a newline.
            let count = block.len() / 3 + 1;
            let mut room: Vec<httparse::Header<'b>> = memory::with_capacity(count)?;
            room.resize(count, httparse::EMPTY_HEADER);
            parse(block, &mut room)
        }
        other => other,
    };
    match result {
        Ok(Some(parsed)) => Ok(parsed),
        // The block ends with its blank line, so this means bytes httparse
        // does not take as a message head.
        Ok(None) => Err(ParseError::Malformed("incomplete header block")),
        Err(httparse::Error::Version) if names_other_version(block) => Err(ParseError::UnsupportedVersion),
        Err(error) => Err(from_httparse(error)),
    }
}

/// httparse reports a version error for whatever stands where the version
/// goes (`GET /a b HTTP/1.1` too): only a well-formed `HTTP/x.y` other
/// than 1.0 and 1.1 is an unsupported version.
fn names_other_version(block: &[u8]) -> bool {
    let first_line = block.split(|&b| b == b'\n').next().unwrap_or(b"").trim_ascii();
    first_line.split(|&b| b == b' ').any(|word| match word {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit() && !matches!((major, minor), (b'1', b'0' | b'1'))
        }
        _ => false,
    })
}

pub(crate) fn from_httparse(error: httparse::Error) -> ParseError {
    ParseError::Malformed(match error {
        httparse::Error::Version => "invalid version",
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token in the first line",
        httparse::Error::TooManyHeaders => "too many headers",
    })
}

/// How `Transfer-Encoding` frames a message (RFC 9112 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransferCoding {
    Absent,
    /// `chunked`, once and last.
    Chunked,
    /// Anything else: a request so framed is refused, a response so framed
    /// is read until the connection closes.
    Other,
}

pub(crate) fn transfer_coding(headers: &HeaderList<'_>) -> TransferCoding {
    if headers.all("transfer-encoding").next().is_none() {
        return TransferCoding::Absent;
    }
    let mut codings = headers.list_items("transfer-encoding").peekable();
    let mut chunked_count = 0;
    let mut last_is_chunked = false;
    while let Some(coding) = codings.next() {
        let chunked = coding.eq_ignore_ascii_case(b"chunked");
        chunked_count += usize::from(chunked);
        last_is_chunked = chunked && codings.peek().is_none();
    }
    if last_is_chunked && chunked_count == 1 { TransferCoding::Chunked } else { TransferCoding::Other }
}

/// What a header block turned out to be.
pub(crate) enum Head<M> {
    /// An interim (1xx) response: nothing to hand over, the final one
    /// follows on the same connection.
    Interim,
    Message {
        message: M,
        framing: Framing,
        /// The peer waits for `100 Continue` before sending the body.
        expects_continue: bool,
        then: AfterMessage,
    },
}

/// What the connection carries once a message is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterMessage {
    NextMessage,
    /// Another protocol (after an upgrade or a CONNECT): the bytes are the
    /// caller's, unparsed.
    OtherProtocol,
    /// Nothing the peer sends is read any more (the connection closes
    /// after this message).
    Nothing,
}

impl AfterMessage {
    pub(crate) fn after(upgrade: bool, keep_alive: bool) -> Self {
        match (upgrade, keep_alive) {
            (true, _) => AfterMessage::OtherProtocol,
            (false, true) => AfterMessage::NextMessage,
            (false, false) => AfterMessage::Nothing,
        }
    }
}

/// The side-specific part of reading messages: requests on a server,
/// responses on a client.
pub(crate) trait HeadParser {
    type Message;
    fn parse_head(&mut self, block: Vec<u8>) -> Result<Head<Self::Message>, ParseError>;
    fn attach_body(message: &mut Self::Message, body: Vec<u8>);
    /// Requests are read strictly (see [`super::strict`]); responses
    /// leniently.
    const STRICT: bool = false;
    /// The error, if any, when the peer closes between messages.
    fn closed_between_messages(&self) -> Option<ParseError> {
        None
    }
}

/// What a reader hands over, in the order things happened on the wire.
#[derive(Debug)]
pub enum Event<M> {
    /// A complete message, body decoded.
    Message(M),
    /// A request's head asked for `100 Continue` before its body (see
    /// [`crate::http::CONTINUE_RESPONSE`]).
    ContinueExpected,
    /// The input cannot be read further; the last event.
    Error(ParseError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    Messages,
    OtherProtocol,
    Stopped,
}

/// Reads a stream of messages from input that arrives in pieces of any
/// size, several messages to a piece or one message over many.
pub(crate) struct MessageReader<P: HeadParser> {
    pub(crate) parser: P,
    limits: Limits,
    head: BlockReader,
    /// The message whose body is being read.
    in_body: Option<(P::Message, BodyReader, AfterMessage)>,
    state: ReaderState,
    events: std::collections::VecDeque<Event<P::Message>>,
    other_protocol: Vec<u8>,
}

impl<P: HeadParser> MessageReader<P> {
    pub(crate) fn new(parser: P, limits: Limits) -> Self {
        MessageReader {
            parser,
            limits,
            head: if P::STRICT { BlockReader::for_request_head() } else { BlockReader::for_head() },
            in_body: None,
            state: ReaderState::Messages,
            events: Default::default(),
            other_protocol: Vec::new(),
        }
    }

    pub(crate) fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            match self.state {
                ReaderState::Messages => {}
                ReaderState::OtherProtocol => {
                    if let Err(error) = memory::append(&mut self.other_protocol, input) {
                        self.fail(error.into());
                    }
                    return;
                }
                ReaderState::Stopped => return,
            }
            let step = match &mut self.in_body {
                Some((_, body, _)) => body.feed(input),
                None => self.read_head(input),
            };
            match step {
                Ok(taken) => input = &input[taken..],
                Err(error) => return self.fail(error),
            }
            self.complete_if_done();
        }
    }

    /// The peer closed its side: ends a body read until close, and reports
    /// a message cut short.
    pub(crate) fn finish(&mut self) {
        if self.state != ReaderState::Messages {
            return;
        }
        if let Some((_, body, _)) = &mut self.in_body {
            if let Err(error) = body.finish_at_close() {
                return self.fail(error);
            }
            self.complete_if_done();
        } else if self.head.pending() > 0 {
            return self.fail(ParseError::Incomplete);
        } else if let Some(error) = self.parser.closed_between_messages() {
            return self.fail(error);
        }
        self.state = ReaderState::Stopped;
    }

    pub(crate) fn next_event(&mut self) -> Option<Event<P::Message>> {
        self.events.pop_front()
    }

    pub(crate) fn pending_head_bytes(&self) -> usize {
        self.head.pending()
    }

    /// Events read and not yet taken by `next_event`.
    pub(crate) fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// No message begun and not finished.
    pub(crate) fn is_between_messages(&self) -> bool {
        self.head.pending() == 0 && self.in_body.is_none()
    }

    pub(crate) fn in_other_protocol(&self) -> bool {
        self.state == ReaderState::OtherProtocol
    }

    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn take_other_protocol_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.other_protocol)
    }

    fn read_head(&mut self, input: &[u8]) -> Result<usize, ParseError> {
        let (taken, complete) = self.head.feed(input, self.limits.max_header_bytes)?;
        if complete {
            let block = self.head.take();
            if let Head::Message { message, framing, expects_continue, then } = self.parser.parse_head(block)? {
                let body = BodyReader::new(framing, self.limits, P::STRICT)?;
                if expects_continue && !body.is_done() {
                    self.events.push_back(Event::ContinueExpected);
                }
                self.in_body = Some((message, body, then));
            }
        }
        Ok(taken)
    }

    fn complete_if_done(&mut self) {
        if !self.in_body.as_ref().is_some_and(|(_, body, _)| body.is_done()) {
            return;
        }
        if let Some((mut message, body, then)) = self.in_body.take() {
            P::attach_body(&mut message, body.into_body());
            self.events.push_back(Event::Message(message));
            self.state = match then {
                AfterMessage::NextMessage => ReaderState::Messages,
                AfterMessage::OtherProtocol => ReaderState::OtherProtocol,
                AfterMessage::Nothing => ReaderState::Stopped,
            };
        }
    }

    fn fail(&mut self, error: ParseError) {
        self.events.push_back(Event::Error(error));
        self.state = ReaderState::Stopped;
        self.in_body = None;
        self.head.take();
    }
}

#[cfg(test)]
#[path = "incoming_tests.rs"]
mod tests;
