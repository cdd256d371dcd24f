//! The HTTP/1.1 protocol core behind `async.http`: bytes in, parsed
//! messages out; messages in, bytes out.
//!
//! The server side parses requests as they arrive in pieces
//! ([`RequestParser`]) and serializes responses
//! ([`serialize_response_with`]); the client side serializes requests
//! ([`serialize_request`]) and parses responses ([`ResponseParser`]).
//! [`multipart`] decodes `multipart/form-data` bodies and [`codes`] holds
//! the reason phrases. Everything is plain data in and out, so that the
//! Lua layer (`http.listen`, `http.request`) only moves values between Lua
//! and these types, and drives sockets and timers itself.
//!
//! May touch: byte buffers and the clock reading the caller passes in.
//! Never Lua, never libuv, no I/O, no timers.

#[cfg(any(test, feature = "fuzzing"))]
pub mod checked;
mod client;
mod codes;
mod incoming;
pub mod multipart;
mod outgoing;
mod server;
mod strict;

use std::fmt;

use crate::core::memory::{self, OutOfMemory};

pub use client::{Response, ResponseParser, serialize_request};
pub use codes::{codes, reason_phrase};
pub use incoming::Event;
pub use outgoing::{DateCache, InvalidMessage, split_raw_header_line};
pub use server::{CONTINUE_RESPONSE, ChunkedBody, ReplyContext, Request, RequestParser, serialize_response_with};
// The writer framing chunked bodies itself: what the round-trip tests and
// fuzz targets check the parsers against (the server lets `res` frame them).
#[cfg(any(test, feature = "fuzzing"))]
pub use server::serialize_response;
// The fuzz targets (and the property tests) name these too.
#[cfg(any(test, feature = "fuzzing"))]
pub use server::RequestEvent;

/// Sizes past which an incoming message is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The request or status line and the headers, blank line included.
    /// Chunked trailers are held to the same limit.
    pub max_header_bytes: usize,
    /// The decoded body.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_header_bytes: 64 * 1024, max_body_bytes: 16 * 1024 * 1024 }
    }
}

/// Why an incoming message was refused. After one, the connection carries
/// no further message: a server answers [`ParseError::status`] and closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The header block (or the trailers) went past `max_header_bytes`.
    HeadersTooLarge,
    /// The body went, or announced it would go, past `max_body_bytes`.
    BodyTooLarge,
    /// The bytes do not form an HTTP/1.x message; says what was wrong.
    Malformed(&'static str),
    /// An HTTP version other than 1.0 and 1.1.
    UnsupportedVersion,
    /// A request body in a transfer coding other than chunked (`gzip`,
    /// `gzip, chunked`): this server decodes none (RFC 9112 §6.1).
    UnsupportedTransferCoding,
    /// The peer closed the connection in the middle of a message, or
    /// before the response to a request it was sent.
    Incomplete,
    /// Memory ran out for the message's head or body.
    OutOfMemory,
}

impl From<OutOfMemory> for ParseError {
    fn from(_: OutOfMemory) -> ParseError {
        ParseError::OutOfMemory
    }
}

impl ParseError {
    /// The status code a server answers this error with.
    pub fn status(self) -> u16 {
        match self {
            ParseError::HeadersTooLarge => 431,
            ParseError::BodyTooLarge => 413,
            ParseError::Malformed(_) | ParseError::Incomplete => 400,
            ParseError::UnsupportedVersion => 505,
            ParseError::UnsupportedTransferCoding => 501,
            ParseError::OutOfMemory => 503,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::HeadersTooLarge => f.write_str("header block too large"),
            ParseError::BodyTooLarge => f.write_str("body too large"),
            ParseError::Malformed(what) => write!(f, "malformed message: {what}"),
            ParseError::UnsupportedVersion => f.write_str("unsupported HTTP version"),
            ParseError::UnsupportedTransferCoding => f.write_str("transfer coding other than chunked"),
            ParseError::Incomplete => f.write_str("connection closed before the message ended"),
            ParseError::OutOfMemory => f.write_str(memory::MESSAGE),
        }
    }
}

impl std::error::Error for ParseError {}
