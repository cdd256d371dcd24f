//! `multipart/form-data` request bodies (RFC 7578 over RFC 2046) split into
//! their parts.
//!
//! Written here rather than taken from crates.io: the parsers there
//! (multer, multra, multipart_async_stream, multipart-rs) read async
//! streams and bring futures; `multipart` 0.18 is unmaintained and brings
//! a hyper-era stack; `form-data`'s synchronous mode is a feature that
//! excludes its default async one and brings http, bytes, mime, serde,
//! thiserror and tracing to read an `io::Read`. Here the whole body is
//! already in memory, so splitting it is a delimiter search (memchr's
//! `memmem`), and part headers are parsed by httparse; what is left is
//! the `name="value"` parameters of two headers.

use std::fmt;

use memchr::memmem;

/// One form field or file. Everything borrows from the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The field name (`name=` of `Content-Disposition`).
    pub name: &'a [u8],
    /// The file name of a file field, as the client sent it.
    pub filename: Option<&'a [u8]>,
    /// The part's own `Content-Type`, when it has one.
    pub content_type: Option<&'a [u8]>,
    /// The content, byte for byte.
    pub data: &'a [u8],
}

/// The body is not a well-formed `multipart/form-data` body; says what
/// was wrong. A server answers it with 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultipartError(pub &'static str);

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed multipart body: {}", self.0)
    }
}

impl std::error::Error for MultipartError {}

/// The boundary of a `Content-Type: multipart/form-data; boundary=...`
/// value; `None` for any other media type or a missing boundary.
pub fn form_data_boundary(content_type: &[u8]) -> Option<&[u8]> {
    let (media_type, parameters) = split_parameters(content_type);
    if !media_type.eq_ignore_ascii_case(b"multipart/form-data") {
        return None;
    }
    parameter(&parameters, "boundary").filter(|boundary| !boundary.is_empty())
}

/// The parts of `body`, in order.
pub fn parse_form_data<'a>(body: &'a [u8], boundary: &[u8]) -> Result<Vec<Part<'a>>, MultipartError> {
    let dash_boundary = [b"--", boundary].concat();
    // A delimiter inside the body always follows a line break; searching
    // for the break with it keeps `--boundary` bytes inside data, not
    // after one, from counting.
    let delimiter = memmem::Finder::new(&[b"\r\n", dash_boundary.as_slice()].concat()).into_owned();
    let mut position = if body.starts_with(&dash_boundary) {
        dash_boundary.len()
    } else {
        // A preamble before the first delimiter is ignored (RFC 2046).
        next_delimiter(body, 0, &delimiter)?.1
    };
    let mut parts = Vec::new();
    loop {
        let after = &body[position..];
        if after.starts_with(b"--") {
            // The close delimiter; an epilogue after it is ignored.
            return Ok(parts);
        }
        let headers_start = position + line_end(after).ok_or(MultipartError("bad delimiter line"))?;
        let mut room = [httparse::EMPTY_HEADER; 16];
        let (used, headers) = match httparse::parse_headers(&body[headers_start..], &mut room) {
            Ok(httparse::Status::Complete(parsed)) => parsed,
            Ok(httparse::Status::Partial) => return Err(MultipartError("truncated part headers")),
            Err(_) => return Err(MultipartError("invalid part headers")),
        };
        let content_start = headers_start + used;
        let (content_end, next_position) = next_delimiter(body, content_start, &delimiter)?;
        parts.push(part(headers, &body[content_start..content_end])?);
        position = next_position;
    }
}

/// The next delimiter at or after `from`: where the content before it
/// ends, and where the bytes after `--boundary` start. A match not
/// followed by `--` or an end of line is data, and the search goes on.
fn next_delimiter(body: &[u8], from: usize, delimiter: &memmem::Finder<'_>) -> Result<(usize, usize), MultipartError> {
    let mut search_from = from;
    while let Some(offset) = delimiter.find(&body[search_from..]) {
        let content_end = search_from + offset;
        let after = content_end + delimiter.needle().len();
        let rest = &body[after..];
        if rest.starts_with(b"--") || line_end(rest).is_some() {
            return Ok((content_end, after));
        }
        search_from = content_end + 1;
    }
    Err(MultipartError("missing closing boundary"))
}

/// After `--boundary`: optional spaces or tabs, then a line break; the
/// length up to and including it.
fn line_end(rest: &[u8]) -> Option<usize> {
    let padding = rest.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    match &rest[padding..] {
        [b'\r', b'\n', ..] => Some(padding + 2),
        [b'\n', ..] => Some(padding + 1),
        _ => None,
    }
}

fn part<'a>(headers: &[httparse::Header<'a>], data: &'a [u8]) -> Result<Part<'a>, MultipartError> {
    let header =
        |wanted: &str| headers.iter().rev().find(|header| header.name.eq_ignore_ascii_case(wanted)).map(|header| header.value);
    let disposition = header("content-disposition").ok_or(MultipartError("part without Content-Disposition"))?;
    let (_form_data, parameters) = split_parameters(disposition);
    Ok(Part {
        name: parameter(&parameters, "name").ok_or(MultipartError("part without a name"))?,
        filename: parameter(&parameters, "filename"),
        content_type: header("content-type"),
        data,
    })
}

/// `(name, value)` pairs of a header value, in order.
type Parameters<'a> = Vec<(&'a [u8], &'a [u8])>;

/// `value; a=b; c="d; e"` -> (`value`, [(`a`, `b`), (`c`, `d; e`)]).
///
/// A quoted value ends at the next quote, with no backslash escapes:
/// browsers encode form names and file names as the HTML standard says,
/// with `"` sent as `%22` and `\` sent as is (a Windows path, say).
fn split_parameters(value: &[u8]) -> (&[u8], Parameters<'_>) {
    let first_end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    let mut parameters = Vec::new();
    let mut rest = &value[first_end..];
    while let Some(after_separator) = rest.strip_prefix(b";") {
        let name_end = after_separator.iter().position(|&b| b == b'=' || b == b';').unwrap_or(after_separator.len());
        let name = after_separator[..name_end].trim_ascii();
        rest = &after_separator[name_end..];
        let Some(after_equals) = rest.strip_prefix(b"=") else {
            continue;
        };
        let after_equals = after_equals.trim_ascii_start();
        let (parameter_value, consumed) = match after_equals.strip_prefix(b"\"") {
            Some(quoted) => {
                let close = quoted.iter().position(|&b| b == b'"').unwrap_or(quoted.len());
                (&quoted[..close], (close + 2).min(after_equals.len()))
            }
            None => {
                let end = after_equals.iter().position(|&b| b == b';').unwrap_or(after_equals.len());
                (after_equals[..end].trim_ascii_end(), end)
            }
        };
        parameters.push((name, parameter_value));
        let after_value = &after_equals[consumed..];
        // Whatever stands between a value and the next `;` is dropped.
        let next = after_value.iter().position(|&b| b == b';').unwrap_or(after_value.len());
        rest = &after_value[next..];
    }
    (value[..first_end].trim_ascii(), parameters)
}

/// The value of the first parameter called `name`, compared without case.
fn parameter<'a>(parameters: &Parameters<'a>, name: &str) -> Option<&'a [u8]> {
    parameters.iter().find(|(known, _)| known.eq_ignore_ascii_case(name.as_bytes())).map(|&(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(form_data_boundary(b"multipart/form-data; boundary=abc"), Some(&b"abc"[..]));
        assert_eq!(form_data_boundary(b"Multipart/Form-Data;BOUNDARY=\"a b;c\""), Some(&b"a b;c"[..]));
        assert_eq!(
            form_data_boundary(b"multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4YWxk"),
            Some(&b"----WebKitFormBoundary7MA4YWxk"[..])
        );
        assert_eq!(form_data_boundary(b"multipart/form-data ; boundary = x ; other"), Some(&b"x"[..]));
        assert_eq!(form_data_boundary(b"multipart/form-data"), None);
        assert_eq!(form_data_boundary(b"multipart/form-data; boundary="), None);
        assert_eq!(form_data_boundary(b"multipart/form-data; boundary=\"\""), None);
        assert_eq!(form_data_boundary(b"multipart/mixed; boundary=abc"), None);
        assert_eq!(form_data_boundary(b"application/json"), None);
    }

    #[test]
    fn fields_and_files() {
        let body = b"--XyZ\r\n\
            Content-Disposition: form-data; name=\"title\"\r\n\
            \r\n\
            Hello\r\n\
            --XyZ\r\n\
            content-disposition: form-data; name=\"upload\"; filename=\"C:\\dir\\a b.txt\"\r\n\
            Content-Type: text/plain\r\n\
            \r\n\
            file\r\ncontent\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=empty\r\n\
            \r\n\
            \r\n\
            --XyZ--\r\n";
        let parts = parse_form_data(body, b"XyZ").unwrap();
        assert_eq!(
            parts,
            [
                Part { name: b"title", filename: None, content_type: None, data: b"Hello" },
                Part {
                    name: b"upload",
                    filename: Some(b"C:\\dir\\a b.txt"),
                    content_type: Some(b"text/plain"),
                    data: b"file\r\ncontent",
                },
                Part { name: b"empty", filename: None, content_type: None, data: b"" },
            ]
        );
    }

    #[test]
    fn binary_data_with_line_breaks_and_boundary_lookalikes() {
        let boundary = b"BOUNDARY";
        let mut data: Vec<u8> = (0..=255u8).collect();
        // Everything that looks like a delimiter but is not one.
        data.extend_from_slice(b"--BOUNDARY\r\n");
        data.extend_from_slice(b"\r\n--BOUNDAR\r\n");
        data.extend_from_slice(b"\r\n--BOUNDARYX\r\n");
        data.extend_from_slice(b"\r\n\r\n--BOUNDARY-");
        data.extend_from_slice(b"\r\n");
        let mut body = b"preamble to ignore\r\n--BOUNDARY\r\n".to_vec();
        body.extend_from_slice(b"Content-Disposition: form-data; name=\"bin\"; filename=\"b.bin\"\r\n");
        body.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n--BOUNDARY  \t\r\n");
        body.extend_from_slice(b"Content-Disposition: form-data; name=\"after\"\r\n\r\nx");
        body.extend_from_slice(b"\r\n--BOUNDARY--\r\nepilogue\r\n--BOUNDARY\r\nignored");
        let parts = parse_form_data(&body, boundary).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].data, data.as_slice());
        assert_eq!(parts[0].filename, Some(&b"b.bin"[..]));
        assert_eq!(parts[0].content_type, Some(&b"application/octet-stream"[..]));
        assert_eq!(parts[1].name, b"after");
        assert_eq!(parts[1].data, b"x");
    }

    #[test]
    fn a_large_upload_is_one_search() {
        let data = vec![b'-'; 20 * 1024 * 1024];
        let body = [&b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n"[..], &data, b"\r\n--b--"].concat();
        let started = std::time::Instant::now();
        let parts = parse_form_data(&body, b"b").unwrap();
        assert_eq!(parts[0].data.len(), data.len());
        // Generous: a rescanning parser would take minutes; CI is shared.
        let budget = if cfg!(debug_assertions) { 200 } else { 10 };
        assert!(started.elapsed() < std::time::Duration::from_secs(budget));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        let refuse = |body: &[u8]| parse_form_data(body, b"b").unwrap_err();
        let field = "Content-Disposition: form-data; name=\"a\"\r\n\r\nv";
        assert_eq!(refuse(b""), MultipartError("missing closing boundary"));
        assert_eq!(refuse(b"no delimiter at all"), MultipartError("missing closing boundary"));
        assert_eq!(refuse(format!("--b\r\n{field}").as_bytes()), MultipartError("missing closing boundary"));
        assert_eq!(refuse(format!("--b\r\n{field}\r\n--b").as_bytes()), MultipartError("missing closing boundary"));
        assert_eq!(refuse(format!("--bX\r\n{field}\r\n--b--").as_bytes()), MultipartError("bad delimiter line"));
        assert_eq!(refuse(b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n"), MultipartError("truncated part headers"));
        assert_eq!(refuse(b"--b\r\nBad Header\r\n\r\nv\r\n--b--"), MultipartError("invalid part headers"));
        assert_eq!(refuse(b"--b\r\n\r\nv\r\n--b--"), MultipartError("part without Content-Disposition"));
        assert_eq!(
            refuse(b"--b\r\nContent-Disposition: form-data; filename=\"f\"\r\n\r\nv\r\n--b--"),
            MultipartError("part without a name")
        );
        // An empty form is well-formed.
        assert_eq!(parse_form_data(b"--b--\r\n", b"b").unwrap(), []);
    }

    #[test]
    fn parameters_split_on_unquoted_semicolons() {
        let (first, parameters) =
            split_parameters(b"form-data; name=\"a;b\"; filename=\"x\\\"; weird ; novalue; k = v ;z=\"unterminated");
        assert_eq!(first, b"form-data");
        assert_eq!(parameters, [(&b"name"[..], &b"a;b"[..]), (b"filename", b"x\\"), (b"k", b"v"), (b"z", b"unterminated"),]);
    }
}
