//! What the HTTP targets share: how an input is read as a few control
//! bytes and a message, and how the message is cut into pieces.
//!
//! An input is a header of [`HEADER_LEN`] bytes, then the message:
//!
//! | byte | meaning |
//! | --- | --- |
//! | 0 | flags: [`FINISH`], [`SMALL_LIMITS`], [`BYTE_AT_A_TIME`], [`CHUNKED`]; the high nibble is the target's own |
//! | 1 | with `SMALL_LIMITS`: `max_header_bytes` = 16 + 4 × this |
//! | 2 | with `SMALL_LIMITS`: `max_body_bytes` = this |
//! | 3 | the target's own |
//! | 4..8 | cut points, each a fraction (n / 256) of the message's length |
//!
//! Cut points as fractions stay in place (relatively) when the fuzzer
//! inserts or removes bytes, so a cut that matters survives mutation.

#![allow(dead_code)]

use r#async::fuzzing::Limits;

pub const HEADER_LEN: usize = 8;

/// End the input with the peer closing its side (`finish`).
pub const FINISH: u8 = 1;
/// Small limits from bytes 1 and 2, instead of the defaults.
pub const SMALL_LIMITS: u8 = 2;
/// Also feed the message one byte at a time and compare.
pub const BYTE_AT_A_TIME: u8 = 4;
/// Write bodies back with chunked framing rather than a length.
pub const CHUNKED: u8 = 8;

pub struct Plan<'a> {
    pub flags: u8,
    pub own: u8,
    pub limits: Limits,
    cuts: [u8; 4],
    pub message: &'a [u8],
}

impl<'a> Plan<'a> {
    pub fn read(data: &'a [u8]) -> Option<Plan<'a>> {
        let (header, message) = data.split_first_chunk::<HEADER_LEN>()?;
        let limits = if header[0] & SMALL_LIMITS != 0 {
            Limits { max_header_bytes: 16 + 4 * usize::from(header[1]), max_body_bytes: u64::from(header[2]) }
        } else {
            Limits::default()
        };
        Some(Plan {
            flags: header[0],
            own: header[3],
            limits,
            cuts: [header[4], header[5], header[6], header[7]],
            message,
        })
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The message cut at the planned points (in order, repeats allowed,
    /// so some pieces are empty).
    pub fn pieces(&self) -> Vec<&'a [u8]> {
        cut(self.message, &self.cuts)
    }
}

/// `bytes` cut at each `fraction / 256` of its length.
pub fn cut<'a>(bytes: &'a [u8], fractions: &[u8]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = fractions.iter().map(|&f| bytes.len() * usize::from(f) / 256).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.windows(2).map(|pair| &bytes[pair[0]..pair[1]]).collect()
}

/// `bytes` one byte at a time.
pub fn bytewise(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(1).collect()
}

/// Headers that decide framing or the connection's fate, which a writer
/// adds or changes itself: they are left out of a round trip.
pub fn is_framing_header(name: &[u8]) -> bool {
    ["content-length", "transfer-encoding", "connection", "upgrade", "expect", "host", "date", "server"]
        .iter()
        .any(|framing| name.eq_ignore_ascii_case(framing.as_bytes()))
}
