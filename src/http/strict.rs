//! The RFC 9112 rules that httparse leaves to its caller, checked on a
//! request's head, its trailers and its chunk-size lines as the bytes
//! arrive (and `Host`, which only a complete head can show missing, once
//! the head is there). What is refused and what is kept is listed in the
//! module doc of `server.rs`, the request parser.
//!
//! httparse stays the tokenizer: it is lenient where RFC 9112 §2.2 lets a
//! recipient be (a bare LF ends a line for it), it reads a head only once
//! the whole head is there, and it skips chunk extensions unread. The
//! checks here run around it. Each byte of a head is looked at once as it
//! arrives (the request line's bytes one by one, other lines' bytes by a
//! search for CR and LF), and each line once more, by httparse, when its
//! CRLF arrives; so a request is refused as soon as its bytes prove it
//! bad, and the cost stays linear in the input however it is split.
//!
//! May touch: the bytes handed in. Nothing else.

use memchr::{memchr, memchr2};

use super::ParseError;
use super::incoming::{HeaderList, from_httparse, length_items};
use super::outgoing::is_tchar;

pub(crate) const BARE_LF: ParseError = ParseError::Malformed("line ended by a bare LF instead of CRLF");
pub(crate) const CR_WITHOUT_LF: ParseError = ParseError::Malformed("CR not followed by LF");
pub(crate) const OBS_FOLD: ParseError = ParseError::Malformed("obsolete line folding (a header line starting with whitespace)");
pub(crate) const LENGTH_AND_CODING: ParseError = ParseError::Malformed("both Content-Length and Transfer-Encoding");
pub(crate) const CODING_IN_HTTP_1_0: ParseError = ParseError::Malformed("Transfer-Encoding in an HTTP/1.0 request");
pub(crate) const CHUNKED_NOT_FINAL: ParseError = ParseError::Malformed("transfer coding other than a final chunked");
pub(crate) const NO_HOST: ParseError = ParseError::Malformed("HTTP/1.1 request without Host");
pub(crate) const HOST_TWICE: ParseError = ParseError::Malformed("more than one Host");
pub(crate) const INVALID_HOST: ParseError = ParseError::Malformed("invalid Host");

/// Which block the lines make up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// The request line, the header lines, the blank line.
    RequestHead,
    /// The field lines after a last chunk, then the blank line.
    Trailers,
}

/// Reads a block's lines strictly: CRLF only, every line checked when its
/// CRLF arrives, the request line's bytes checked one by one.
#[derive(Debug)]
pub(crate) struct StrictLines {
    section: Section,
    /// The last byte scanned was a CR: the next one must be LF.
    after_cr: bool,
    /// Lines of this block completed so far.
    lines_done: usize,
    request_line: RequestLineShape,
    framing: FramingHeaders,
}

impl StrictLines {
    pub(crate) fn request_head() -> Self {
        StrictLines::new(Section::RequestHead)
    }

    pub(crate) fn trailers() -> Self {
        StrictLines::new(Section::Trailers)
    }

    fn new(section: Section) -> Self {
        StrictLines {
            section,
            after_cr: false,
            lines_done: 0,
            request_line: RequestLineShape::Start,
            framing: FramingHeaders::default(),
        }
    }

    /// For the next block.
    pub(crate) fn reset(&mut self) {
        *self = StrictLines::new(self.section);
    }

    /// Checks `block[from..]`, the bytes that arrived since the last call,
    /// and moves `line_start` past each line that ends in them. Returns the
    /// end of the first empty line (past its LF) if one ends there, without
    /// looking past it; the block's first line being empty means a blank
    /// line before a request line, or empty trailers.
    pub(crate) fn scan(&mut self, block: &[u8], from: usize, line_start: &mut usize) -> Result<Option<usize>, ParseError> {
        let mut position = from;
        while position < block.len() {
            if self.after_cr {
                if block[position] != b'\n' {
                    return Err(CR_WITHOUT_LF);
                }
                self.after_cr = false;
                let end = position + 1;
                let line = &block[*line_start..end];
                if line == b"\r\n" {
                    return Ok(Some(end));
                }
                self.check_line(line)?;
                self.lines_done += 1;
                *line_start = end;
                position = end;
                continue;
            }
            let stop = memchr2(b'\r', b'\n', &block[position..]).map(|offset| position + offset);
            let text_end = stop.unwrap_or(block.len());
            if self.in_request_line() {
                self.request_line.advance(&block[position..text_end])?;
            }
            let Some(stop) = stop else { return Ok(None) };
            if block[stop] == b'\n' {
                return Err(BARE_LF);
            }
            if self.in_request_line() {
                self.request_line.check_end()?;
            }
            self.after_cr = true;
            position = stop + 1;
        }
        Ok(None)
    }

    fn in_request_line(&self) -> bool {
        self.section == Section::RequestHead && self.lines_done == 0
    }

    /// A complete line, CRLF included, not empty.
    fn check_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        if self.in_request_line() {
            return check_request_line(line);
        }
        check_field_line(line)?;
        if self.section == Section::RequestHead {
            self.framing.note(line, self.request_line.version_minor())?;
        }
        Ok(())
    }
}

/// The request line, once its shape has passed: httparse reads it as it
/// will when the head is complete (the target must also be UTF-8 there).
fn check_request_line(line: &[u8]) -> Result<(), ParseError> {
    let mut no_headers = [];
    match httparse::Request::new(&mut no_headers).parse(line) {
        // Partial: the header lines are still to come.
        Ok(_) => Ok(()),
        Err(error) => Err(from_httparse(error)),
    }
}

/// A header or trailer line (`name: value` CRLF).
fn check_field_line(line: &[u8]) -> Result<(), ParseError> {
    // RFC 9112 §5.2: obs-fold in a request is refused with 400. httparse
    // would call it a bad header name; saying what it is helps the sender.
    if matches!(line.first(), Some(b' ' | b'\t')) {
        return Err(OBS_FOLD);
    }
    let mut one = [httparse::EMPTY_HEADER; 1];
    match httparse::parse_headers(line, &mut one) {
        // Partial: the line is good and the block goes on.
        Ok(_) => Ok(()),
        Err(httparse::Error::HeaderName) => Err(bad_header_name(line)),
        Err(httparse::Error::HeaderValue) => Err(ParseError::Malformed("invalid byte in a header value")),
        Err(error) => Err(from_httparse(error)),
    }
}

/// What is wrong with a field line whose name httparse refused.
fn bad_header_name(line: &[u8]) -> ParseError {
    let name_length = line.iter().take_while(|&&b| is_tchar(b)).count();
    let after_name = &line[name_length..];
    let after_whitespace = skip_whitespace(after_name);
    ParseError::Malformed(match after_name.first() {
        Some(b':') => "empty header name",
        Some(b' ' | b'\t') if after_whitespace.first() == Some(&b':') => "whitespace between a header name and its colon",
        Some(b'\r') => "header line without a colon",
        _ => "invalid byte in a header name",
    })
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let count = bytes.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &bytes[count..]
}

/// The shape of a request line (RFC 9112 §3): `method SP target SP
/// HTTP/x.y`, single spaces, checked a byte at a time so that a line gone
/// wrong is refused before it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestLineShape {
    Start,
    Method,
    /// After the space that ends the method.
    TargetStart,
    Target,
    /// How many bytes of `HTTP/` came.
    VersionName(u8),
    AwaitingMajor,
    AwaitingDot {
        major: u8,
    },
    AwaitingMinor {
        major: u8,
    },
    /// The version is complete; holds its minor number.
    Complete(u8),
}

impl RequestLineShape {
    /// `bytes` hold no CR and no LF.
    fn advance(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        for &byte in bytes {
            *self = self.after(byte)?;
        }
        Ok(())
    }

    fn after(self, byte: u8) -> Result<RequestLineShape, ParseError> {
        use RequestLineShape::*;
        const NAME: &[u8] = b"HTTP/";
        let malformed = |what| Err(ParseError::Malformed(what));
        match (self, byte) {
            (Start | Method, _) if is_tchar(byte) => Ok(Method),
            (Start, _) => malformed("request line not starting with a method"),
            (Method, b' ') => Ok(TargetStart),
            (Method, _) => malformed("invalid byte in the method"),
            (TargetStart, b' ') => malformed("more than one space after the method"),
            // What httparse takes in a target: visible ASCII and any byte
            // from 0x80 (raw UTF-8, RFC 9112 §3.2 leaves it to the server).
            (TargetStart | Target, b'!'..=b'~' | 0x80..=0xff) => Ok(Target),
            (Target, b' ') => Ok(VersionName(0)),
            (TargetStart | Target, _) => malformed("invalid byte in the request target"),
            (VersionName(matched), _) if NAME.get(usize::from(matched)) == Some(&byte) => {
                Ok(if usize::from(matched) + 1 == NAME.len() { AwaitingMajor } else { VersionName(matched + 1) })
            }
            (AwaitingMajor, b'0'..=b'9') => Ok(AwaitingDot { major: byte - b'0' }),
            (AwaitingDot { major }, b'.') => Ok(AwaitingMinor { major }),
            (AwaitingMinor { major }, b'0'..=b'9') => {
                let minor = byte - b'0';
                // RFC 9110 §2.5 / §15.6.6: a major version other than 1
                // is refused with 505; httparse reads 1.0 and 1.1 only.
                if major == 1 && minor <= 1 { Ok(Complete(minor)) } else { Err(ParseError::UnsupportedVersion) }
            }
            (Complete(_), _) => malformed("bytes after the HTTP version"),
            _ => malformed("invalid HTTP version"),
        }
    }

    /// A CR came: the line is over.
    fn check_end(self) -> Result<(), ParseError> {
        use RequestLineShape::*;
        match self {
            // An empty line before the request line, or a whole one.
            Start | Complete(_) => Ok(()),
            Target => Err(ParseError::Malformed("request line without an HTTP version (HTTP/0.9)")),
            Method | TargetStart => Err(ParseError::Malformed("request line ending before its target")),
            _ => Err(ParseError::Malformed("invalid HTTP version")),
        }
    }

    fn version_minor(self) -> u8 {
        match self {
            RequestLineShape::Complete(minor) => minor,
            _ => 1,
        }
    }
}

/// What the header lines so far said about the body's framing, so that
/// the framing conflicts request smuggling is made of (RFC 9112 §6.1,
/// §6.3) are refused at the line that makes them, not at the blank line.
/// The complete head is checked again (`request_framing` in `server.rs`).
#[derive(Debug, Default)]
struct FramingHeaders {
    length: Option<u64>,
    transfer_encoding: bool,
    /// A transfer coding so far was chunked: none may follow.
    chunked: bool,
}

impl FramingHeaders {
    /// A header line that httparse has taken, CRLF included.
    fn note(&mut self, line: &[u8], version_minor: u8) -> Result<(), ParseError> {
        let Some(colon) = memchr(b':', line) else { return Ok(()) };
        let name = &line[..colon];
        let value = line[colon + 1..line.len() - 2].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            if self.transfer_encoding {
                return Err(LENGTH_AND_CODING);
            }
            length_items(value, &mut self.length)?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if self.length.is_some() {
                return Err(LENGTH_AND_CODING);
            }
            if version_minor == 0 {
                return Err(CODING_IN_HTTP_1_0);
            }
            self.transfer_encoding = true;
            let codings = value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|item| !item.is_empty());
            check_transfer_codings(codings, &mut self.chunked)?;
        }
        Ok(())
    }
}

/// Reads a request's transfer codings in order, after those of earlier
/// lines (`chunked_seen`: chunked came among them). Chunked is the only
/// coding this server decodes, and RFC 9112 §6.1 has it come once and
/// last: a coding after it makes the framing faulty (400); any other
/// coding is one the server cannot decode (501), which the first such
/// coding shows whatever follows.
pub(crate) fn check_transfer_codings<'a>(
    codings: impl Iterator<Item = &'a [u8]>,
    chunked_seen: &mut bool,
) -> Result<(), ParseError> {
    for coding in codings {
        if *chunked_seen {
            return Err(CHUNKED_NOT_FINAL);
        }
        if !coding.eq_ignore_ascii_case(b"chunked") {
            return Err(ParseError::UnsupportedTransferCoding);
        }
        *chunked_seen = true;
    }
    Ok(())
}

/// RFC 9112 §3.2: a server answers 400 to an HTTP/1.1 request without
/// `Host`, and to any request with more than one `Host` line or a `Host`
/// that is not `uri-host [":" port]`. HTTP/1.0 may leave it out.
pub(crate) fn check_host(version_minor: u8, headers: &HeaderList<'_>) -> Result<(), ParseError> {
    let mut hosts = headers.all("host");
    match (hosts.next(), hosts.next()) {
        (None, _) if version_minor == 0 => Ok(()),
        (None, _) => Err(NO_HOST),
        (Some(_), Some(_)) => Err(HOST_TWICE),
        (Some(host), None) if is_host(host) => Ok(()),
        (Some(_), None) => Err(INVALID_HOST),
    }
}

/// `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a reg-name
/// (an IPv4 address is one too) or a bracketed IP literal, then digits
/// after a colon. An empty value is allowed, for a target without an
/// authority.
fn is_host(value: &[u8]) -> bool {
    let (host_is_valid, after_host) = match value.strip_prefix(b"[") {
        Some(inside) => {
            let Some(close) = memchr(b']', inside) else { return false };
            let literal = &inside[..close];
            (!literal.is_empty() && literal.iter().all(|&b| b == b':' || is_unreserved_or_sub_delim(b)), &inside[close + 1..])
        }
        None => {
            let end = memchr(b':', value).unwrap_or(value.len());
            (is_reg_name(&value[..end]), &value[end..])
        }
    };
    let port_is_valid = match after_host.split_first() {
        None => true,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    host_is_valid && port_is_valid
}

/// `*( unreserved / pct-encoded / sub-delims )` (RFC 3986 §3.2.2).
fn is_reg_name(name: &[u8]) -> bool {
    let mut rest = name;
    while let Some((&first, after)) = rest.split_first() {
        rest = match first {
            b'%' if after.len() >= 2 && after[..2].iter().all(u8::is_ascii_hexdigit) => &after[2..],
            _ if is_unreserved_or_sub_delim(first) => after,
            _ => return false,
        };
    }
    true
}

/// `unreserved / sub-delims` (RFC 3986 §2.2, §2.3).
fn is_unreserved_or_sub_delim(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&byte)
}

/// Whether what follows the size on a chunk-size line (CRLF left out)
/// is `*( BWS ";" BWS name [ BWS "=" BWS value ] )` (RFC 9112 §7.1.1),
/// and what is wrong when not. httparse skips the extensions unread.
pub(crate) fn check_chunk_extensions(extensions: &[u8]) -> Result<(), ParseError> {
    let malformed = |what| Err(ParseError::Malformed(what));
    if !extensions.is_empty() && skip_whitespace(extensions).is_empty() {
        return malformed("whitespace after the chunk size");
    }
    let mut rest = extensions;
    while !rest.is_empty() {
        let Some(after_semicolon) = skip_whitespace(rest).strip_prefix(b";") else {
            return malformed("invalid chunk extension");
        };
        let name = skip_whitespace(after_semicolon);
        let name_length = token_length(name);
        if name_length == 0 {
            return malformed("empty chunk extension");
        }
        rest = &name[name_length..];
        if let Some(after_equals) = skip_whitespace(rest).strip_prefix(b"=") {
            let value = skip_whitespace(after_equals);
            let value_length = match value.first() {
                Some(b'"') => {
                    quoted_string_length(value).ok_or(ParseError::Malformed("unbalanced quote in a chunk extension"))?
                }
                _ => token_length(value),
            };
            if value_length == 0 {
                return malformed("chunk extension without a value after =");
            }
            rest = &value[value_length..];
        }
    }
    Ok(())
}

fn token_length(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&b| is_tchar(b)).count()
}

/// The length of the quoted-string `bytes` starts with (RFC 9110 §5.6.4),
/// closing quote included; `None` if it is not closed or holds a byte a
/// quoted-string cannot.
fn quoted_string_length(bytes: &[u8]) -> Option<usize> {
    let text = |b: u8| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80;
    let mut at = 1;
    loop {
        match *bytes.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' if bytes.get(at + 1).is_some_and(|&b| text(b)) => at += 2,
            b if text(b) && b != b'\\' => at += 1,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a request head scan in two pieces split at `split`,
    /// as `BlockReader` does: returns the block end or the error.
    fn scan_split(input: &[u8], split: usize) -> Result<Option<usize>, ParseError> {
        let mut lines = StrictLines::request_head();
        let mut line_start = 0;
        if let Some(end) = lines.scan(&input[..split], 0, &mut line_start)? {
            return Ok(Some(end));
        }
        lines.scan(input, split, &mut line_start)
    }

    fn scan_at_every_split(input: &[u8]) -> Result<Option<usize>, ParseError> {
        let whole = scan_split(input, input.len());
        for split in 0..input.len() {
            assert_eq!(scan_split(input, split), whole, "{} split at {split}", input.escape_ascii());
        }
        whole
    }

    #[test]
    fn a_head_ends_at_its_blank_line_and_not_before() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET";
        assert_eq!(scan_at_every_split(head), Ok(Some(head.len() - 3)));
        assert_eq!(scan_at_every_split(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        // A blank line first is a block of its own, for the reader to drop.
        assert_eq!(scan_at_every_split(b"\r\nGET"), Ok(Some(2)));
    }

    #[test]
    fn request_lines_are_refused_at_the_first_byte_that_proves_them_bad() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"GET / HTTP/1.1 ", ParseError::Malformed("bytes after the HTTP version")),
            (b"GET / HTTP/1.1x", ParseError::Malformed("bytes after the HTTP version")),
            (b"GET / HTTP/5.6", ParseError::UnsupportedVersion),
            (b"GET / HTTP/1.2", ParseError::UnsupportedVersion),
            (b"GET / HTTP/11", ParseError::Malformed("invalid HTTP version")),
            (b"GET / http/1.1", ParseError::Malformed("invalid HTTP version")),
            (b"GET  /", ParseError::Malformed("more than one space after the method")),
            (b"GET\t/", ParseError::Malformed("invalid byte in the method")),
            (b"G\0", ParseError::Malformed("invalid byte in the method")),
            (b"GET /\x7f", ParseError::Malformed("invalid byte in the request target")),
            (b"GET /\t", ParseError::Malformed("invalid byte in the request target")),
            (b" GET", ParseError::Malformed("request line not starting with a method")),
            (b"\x16\x03\x01", ParseError::Malformed("request line not starting with a method")),
            (b"GET /\r", ParseError::Malformed("request line without an HTTP version (HTTP/0.9)")),
            (b"GET\r", ParseError::Malformed("request line ending before its target")),
            (b"GET / HTTP/1.\r", ParseError::Malformed("invalid HTTP version")),
            (b"GET / HTTP/1.1\n", BARE_LF),
            (b"GET / HTTP/1.1\rX", CR_WITHOUT_LF),
            (b"\n", BARE_LF),
            (b"\r\r", CR_WITHOUT_LF),
        ];
        for (input, error) in cases {
            assert_eq!(scan_at_every_split(input), Err(*error), "{}", input.escape_ascii());
        }
    }

    #[test]
    fn header_lines_are_refused_when_their_crlf_arrives() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"X: a\nY: b", BARE_LF),
            (b"X: a\rY: b", CR_WITHOUT_LF),
            (b"X: a\r\n\n", BARE_LF),
            (b" folded\r\n", OBS_FOLD),
            (b"\tfolded\r\n", OBS_FOLD),
            (b"X : a\r\n", ParseError::Malformed("whitespace between a header name and its colon")),
            (b"X\t: a\r\n", ParseError::Malformed("whitespace between a header name and its colon")),
            (b": a\r\n", ParseError::Malformed("empty header name")),
            (b"NoColon\r\n", ParseError::Malformed("header line without a colon")),
            (b"X\0Y: a\r\n", ParseError::Malformed("invalid byte in a header name")),
            (b"X: a\0b\r\n", ParseError::Malformed("invalid byte in a header value")),
            (b"X: a\x1bb\r\n", ParseError::Malformed("invalid byte in a header value")),
            (b"X: a\x7fb\r\n", ParseError::Malformed("invalid byte in a header value")),
            (b"Content-Length: 1\r\nContent-Length: 2\r\n", ParseError::Malformed("conflicting Content-Length")),
            (b"Content-Length: 99999999999999999999\r\n", ParseError::Malformed("invalid Content-Length")),
            (b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", LENGTH_AND_CODING),
            (b"Transfer-Encoding: chunked\r\nContent-Length: 1\r\n", LENGTH_AND_CODING),
            (b"Transfer-Encoding: chunked, gzip\r\n", CHUNKED_NOT_FINAL),
            (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", CHUNKED_NOT_FINAL),
            (b"Transfer-Encoding: chunked, chunked\r\n", CHUNKED_NOT_FINAL),
            (b"Transfer-Encoding: gzip, chunked\r\n", ParseError::UnsupportedTransferCoding),
            (b"Transfer-Encoding: gzip\r\n", ParseError::UnsupportedTransferCoding),
            (b"Transfer-Encoding: xchunked\r\n", ParseError::UnsupportedTransferCoding),
            (b"Transfer-Encoding: gzip, chunked, gzip\r\n", ParseError::UnsupportedTransferCoding),
        ];
        for (lines, error) in cases {
            let input = [&b"POST / HTTP/1.1\r\n"[..], lines].concat();
            assert_eq!(scan_at_every_split(&input), Err(*error), "{}", input.escape_ascii());
        }
        let http_1_0 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(scan_at_every_split(http_1_0), Err(CODING_IN_HTTP_1_0));
    }

    #[test]
    fn what_the_rfc_leaves_to_the_server_is_kept() {
        for head in [
            &b"PURGE /cache HTTP/1.1\r\n\r\n"[..],
            b"MKCALENDAR /cal/ HTTP/1.1\r\n\r\n",
            b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\n\r\n",
            "GET /caf\u{e9}/\u{1f600}?q=\u{e9} HTTP/1.1\r\n\r\n".as_bytes(),
            b"GET http://example.com/a?b HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\tb \x80\xff\r\nY:\r\nZ:  spaced  \r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: ,Chunked,\r\n\r\n",
        ] {
            assert_eq!(scan_at_every_split(head), Ok(Some(head.len())), "{}", head.escape_ascii());
        }
    }

    #[test]
    fn hosts_follow_the_uri_grammar() {
        for good in [
            &b"example.com"[..],
            b"example.com:8080",
            b"example.com:",
            b"127.0.0.1:80",
            b"[::1]",
            b"[::1]:443",
            b"[v7.fe80::1]",
            b"caf%C3%A9.example",
            b"a-b_c~d!$&'()*+,;=",
            b"",
        ] {
            assert!(is_host(good), "{}", good.escape_ascii());
        }
        for bad in [
            &b"a b"[..],
            b"user@example.com",
            b"example.com/path",
            b"example.com:80:80",
            b"example.com:http",
            b"example.com?q",
            b"exa\"mple",
            b"caf\xc3\xa9",
            b"%zz",
            b"%4",
            b"[]",
            b"[::1",
            b"[::1]x",
            b"[::1]:8o",
            b"[a b]",
            b"x]",
        ] {
            assert!(!is_host(bad), "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn trailers_are_field_lines() {
        let mut lines = StrictLines::trailers();
        let mut line_start = 0;
        assert_eq!(lines.scan(b"\r\n", 0, &mut line_start), Ok(Some(2)), "may be empty");
        for (trailers, outcome) in [
            (&b"X: 1\r\nY: 2\r\n\r\n"[..], Ok(Some(14))),
            (b"X: 1\n\n", Err(BARE_LF)),
            (b" X: 1\r\n", Err(OBS_FOLD)),
            (b"GET / HTTP/1.1\r\n", Err(ParseError::Malformed("invalid byte in a header name"))),
        ] {
            let mut lines = StrictLines::trailers();
            let mut line_start = 0;
            assert_eq!(lines.scan(trailers, 0, &mut line_start), outcome, "{}", trailers.escape_ascii());
        }
    }

    #[test]
    fn chunk_extensions() {
        for good in [
            &b""[..],
            b";name",
            b";name=value",
            b" ; name = value ;other",
            b"\t;a=b;c=\"d\"",
            b";name=\"quoted \\\" value\"",
            b";q=\"\"",
            b";q=\"a;b\\\\\"",
        ] {
            assert_eq!(check_chunk_extensions(good), Ok(()), "{}", good.escape_ascii());
        }
        for (bad, what) in [
            (&b" "[..], "whitespace after the chunk size"),
            (b"\t", "whitespace after the chunk size"),
            (b";", "empty chunk extension"),
            (b"; ", "empty chunk extension"),
            (b";a;", "empty chunk extension"),
            (b";a ", "invalid chunk extension"),
            (b"x", "invalid chunk extension"),
            (b";a=", "chunk extension without a value after ="),
            (b";a=\"b", "unbalanced quote in a chunk extension"),
            (b";a=\"b\\\"", "unbalanced quote in a chunk extension"),
            (b";a=\"b\x01\"", "unbalanced quote in a chunk extension"),
            (b";a=b c", "invalid chunk extension"),
            (b";a=\"b\"c", "invalid chunk extension"),
        ] {
            assert_eq!(check_chunk_extensions(bad), Err(ParseError::Malformed(what)), "{}", bad.escape_ascii());
        }
    }
}
