//! What the response writer and the request writer share: the list of
//! byte pieces that makes one message, checked header lines (and raw
//! `Name: value` lines split into them), chunked framing and the `Date`
//! header.

use std::borrow::Cow;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::core::memory::{self, OutOfMemory};

/// Body pieces up to this size are copied next to the framing around
/// them: one more entry in a vectored write costs more than the copy.
pub(crate) const COPY_BODY_PIECES_UP_TO: usize = 1024;

/// `n` in decimal, written at the end of `digits`.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &digits[start..];
        }
    }
}

/// One message ready to be sent: owned framing and borrowed body pieces,
/// in order, for one vectored write (or [`Outgoing::to_vec`]).
#[derive(Debug, Default)]
pub struct Outgoing<'a> {
    pieces: Vec<Cow<'a, [u8]>>,
}

impl<'a> Outgoing<'a> {
    /// The pieces to write, in order; none is empty.
    pub fn pieces(&self) -> &[Cow<'a, [u8]>] {
        &self.pieces
    }

    /// The whole message in one buffer.
    pub fn to_vec(&self) -> Result<Vec<u8>, OutOfMemory> {
        memory::join(&self.pieces.iter().map(|piece| &piece[..]).collect::<Vec<&[u8]>>())
    }

    /// An empty message whose first owned piece will hold `capacity`
    /// bytes before it grows: the framing of a message, and its small body
    /// pieces, are written with one allocation.
    pub(crate) fn with_capacity(capacity: usize) -> Outgoing<'a> {
        Outgoing { pieces: vec![Cow::Owned(Vec::with_capacity(capacity))] }
    }

    /// Appends a copy of `bytes` to the owned piece at the end.
    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.put_all(&[bytes]);
    }

    /// Appends copies of `parts`, in order, to the owned piece at the end:
    /// one lookup of that piece and one capacity check for a whole line.
    pub(crate) fn put_all(&mut self, parts: &[&[u8]]) {
        if !matches!(self.pieces.last(), Some(Cow::Owned(_))) {
            self.pieces.push(Cow::Owned(Vec::new()));
        }
        if let Some(Cow::Owned(last)) = self.pieces.last_mut() {
            last.reserve(parts.iter().map(|part| part.len()).sum());
            for part in parts {
                last.extend_from_slice(part);
            }
        }
    }

    /// Appends a body piece: borrowed when large, copied when small.
    pub(crate) fn put_body(&mut self, piece: &'a [u8]) {
        if piece.len() <= COPY_BODY_PIECES_UP_TO {
            if !piece.is_empty() {
                self.put(piece);
            }
        } else {
            self.pieces.push(Cow::Borrowed(piece));
        }
    }

    pub(crate) fn put_header(&mut self, name: &[u8], value: &[u8]) {
        self.put_all(&[name, b": ", value, b"\r\n"]);
    }

    pub(crate) fn put_content_length(&mut self, length: u64) {
        let mut digits = [0u8; 20];
        self.put_all(&[b"Content-Length: ", decimal(length, &mut digits), b"\r\n"]);
    }

    /// The given headers in order, but those whose name `left_out` says.
    pub(crate) fn put_headers_except(&mut self, headers: &[(&[u8], &[u8])], left_out: impl Fn(&[u8]) -> bool) {
        for &(name, value) in headers {
            if !left_out(name) {
                self.put_header(name, value);
            }
        }
    }

    /// The body in chunked transfer coding: one chunk per non-empty
    /// piece, then the last chunk with no trailers.
    pub(crate) fn put_chunked_body(&mut self, body: &[&'a [u8]]) {
        for &piece in body.iter().filter(|piece| !piece.is_empty()) {
            self.put(format!("{:x}\r\n", piece.len()).as_bytes());
            self.put_body(piece);
            self.put(b"\r\n");
        }
        self.put(b"0\r\n\r\n");
    }

    pub(crate) fn put_plain_body(&mut self, body: &[&'a [u8]]) {
        for &piece in body {
            self.put_body(piece);
        }
    }
}

/// Why a message could not be written; nothing was produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidMessage {
    /// A status code outside 100..=999.
    StatusCode(u16),
    /// A 1xx status as the answer to a request: interim, it would leave
    /// the client waiting for the final response (RFC 9110 §15.2).
    InterimStatus,
    /// A method that is not an HTTP token.
    Method,
    /// A request target that is empty or holds a space or control byte.
    Target,
    /// A header name that is not an HTTP token.
    HeaderName(Vec<u8>),
    /// A header value holding CR, LF or another control byte: sent as is,
    /// it would let a value write headers of its own.
    HeaderValue(Vec<u8>),
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidMessage::StatusCode(code) => write!(f, "invalid status code {code}"),
            InvalidMessage::InterimStatus => f.write_str("status 1xx is not a final response"),
            InvalidMessage::Method => f.write_str("invalid method"),
            InvalidMessage::Target => f.write_str("invalid request target"),
            InvalidMessage::HeaderName(name) => {
                write!(f, "invalid header name \"{}\"", name.escape_ascii())
            }
            InvalidMessage::HeaderValue(name) => {
                write!(f, "invalid value for header \"{}\"", name.escape_ascii())
            }
        }
    }
}

impl std::error::Error for InvalidMessage {}

/// Why a raw header line (`"Name: value"`, as the original async took at
/// number keys of a headers table) cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawLineError {
    /// A CR or LF inside: sent as is, it would end the line and let the
    /// rest write headers (or a whole response) of its own.
    LineBreak,
    /// No colon: not a header line.
    NoColon,
}

impl fmt::Display for RawLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawLineError::LineBreak => f.write_str("holds CR or LF"),
            RawLineError::NoColon => f.write_str("is not 'Name: value'"),
        }
    }
}

/// Splits a raw header line at its first colon into the name and the
/// value, whitespace around the value left out. The name is not trimmed:
/// whitespace before the colon is refused later, as a name that is not a
/// token (RFC 9112 §5.1).
pub fn split_raw_header_line(line: &[u8]) -> Result<(&[u8], &[u8]), RawLineError> {
    if line.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(RawLineError::LineBreak);
    }
    let colon = line.iter().position(|&b| b == b':').ok_or(RawLineError::NoColon)?;
    let value = &line[colon + 1..];
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_space(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !is_space(b)).map_or(start, |last| last + 1);
    Ok((&line[..colon], &value[start..end]))
}

/// A token (`1*tchar`, RFC 9110 §5.6.2): what a header name or a method
/// is made of.
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// One byte of a token (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(byte: u8) -> bool {
    const SYMBOLS: &[u8] = b"!#$%&'*+-.^_`|~";
    byte.is_ascii_alphanumeric() || SYMBOLS.contains(&byte)
}

/// Tab, visible ASCII, space and bytes from 0x80 (RFC 9110 §5.5).
pub(crate) fn is_field_value(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// What the writers need to know about the headers a user gave.
#[derive(Debug, Default)]
pub(crate) struct GivenHeaders {
    pub(crate) date: bool,
    pub(crate) server: bool,
    pub(crate) host: bool,
    pub(crate) content_length: bool,
    pub(crate) transfer_encoding: bool,
    /// `Transfer-Encoding` whose last coding is `chunked`.
    pub(crate) chunked: bool,
    pub(crate) connection: bool,
    pub(crate) connection_close: bool,
}

impl GivenHeaders {
    /// Checks every header and notes the ones the writers care about.
    pub(crate) fn check(headers: &[(&[u8], &[u8])]) -> Result<Self, InvalidMessage> {
        let mut given = GivenHeaders::default();
        for &(name, value) in headers {
            if !is_token(name) {
                return Err(InvalidMessage::HeaderName(name.to_vec()));
            }
            if !is_field_value(value) {
                return Err(InvalidMessage::HeaderValue(name.to_vec()));
            }
            let is = |wanted: &str| name.eq_ignore_ascii_case(wanted.as_bytes());
            let items = || value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
            if is("date") {
                given.date = true;
            } else if is("server") {
                given.server = true;
            } else if is("host") {
                given.host = true;
            } else if is("content-length") {
                given.content_length = true;
            } else if is("transfer-encoding") {
                given.transfer_encoding = true;
                let last = items().rfind(|item| !item.is_empty());
                given.chunked = last.is_some_and(|coding| coding.eq_ignore_ascii_case(b"chunked"));
            } else if is("connection") {
                given.connection = true;
                given.connection_close |= items().any(|item| item.eq_ignore_ascii_case(b"close"));
            }
        }
        Ok(given)
    }
}

/// The `Date` header value (IMF-fixdate), formatted once per second: a
/// busy server writes it into every response.
#[derive(Debug, Default)]
pub struct DateCache {
    second: Option<u64>,
    formatted: String,
}

impl DateCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value for the time `now`, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn at(&mut self, now: SystemTime) -> &str {
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        if self.second != Some(second) {
            self.second = Some(second);
            self.formatted = httpdate::fmt_http_date(now);
        }
        &self.formatted
    }

    /// The value for the current time.
    pub fn now(&mut self) -> &str {
        self.at(SystemTime::now())
    }
}
