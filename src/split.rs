//! Incoming bytes buffered until a reader takes them: whole (`read()`),
//! or piece by piece up to a separator (`onsplitdata`, `readsplit`).
//!
//! The buffer grows at its end and is consumed from its start; a search
//! for the separator resumes where the previous one stopped, so a 50 MiB
//! line arriving in 64 KiB chunks is scanned once, not once per chunk (the
//! original re-joined and re-split everything it had on every read).
//!
//! A reader that waits for a separator names a limit (`next_bounded`): a
//! peer that never sends one cannot make the buffer grow without end.
//!
//! Pure Rust: no Lua, no libuv.

use memchr::memmem;

use crate::core::memory::{self, OutOfMemory};

/// The piece being cut is longer than the reader's limit.
#[derive(Debug, PartialEq, Eq)]
pub struct TooLong;

#[derive(Default)]
pub struct Inbox {
    bytes: Vec<u8>,
    /// Start of the unconsumed bytes.
    start: usize,
    /// Where the next separator search may begin: everything before it
    /// (from `start`) is known not to contain `searched_for`.
    scanned: usize,
    searched_for: Vec<u8>,
}

impl Inbox {
    /// Adds `data` at the end; when memory runs out nothing is added.
    pub fn push(&mut self, data: &[u8]) -> Result<(), OutOfMemory> {
        if self.start > 0 && self.start >= self.bytes.len() / 2 {
            self.drop_consumed();
        }
        memory::append(&mut self.bytes, data)
    }

    /// Moves the unconsumed bytes to the front, in place.
    fn drop_consumed(&mut self) {
        self.bytes.drain(..self.start);
        self.scanned -= self.start;
        self.start = 0;
    }

    /// Unconsumed bytes.
    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything buffered, consumed (moved out, never copied).
    pub fn take_all(&mut self) -> Vec<u8> {
        self.drop_consumed();
        let all = std::mem::take(&mut self.bytes);
        self.clear();
        all
    }

    pub fn clear(&mut self) {
        self.bytes = Vec::new();
        self.start = 0;
        self.scanned = 0;
    }

    /// The next piece ended by `separator` (without it), consumed; None if
    /// no whole piece is buffered yet.
    pub fn next_piece(&mut self, separator: &[u8]) -> Option<&[u8]> {
        if separator.is_empty() {
            return None;
        }
        if self.searched_for != separator {
            self.searched_for = separator.to_vec();
            self.scanned = self.start;
        }
        // A separator may straddle the end of the last search.
        let from = self.scanned.saturating_sub(separator.len() - 1).max(self.start);
        match memmem::find(&self.bytes[from..], separator) {
            Some(at) => {
                let end = from + at;
                let piece_start = self.start;
                self.start = end + separator.len();
                self.scanned = self.start;
                Some(&self.bytes[piece_start..end])
            }
            None => {
                self.scanned = self.bytes.len();
                None
            }
        }
    }

    /// `next_piece`, for a reader that takes pieces of at most `limit`
    /// bytes: a longer piece, whole or still waiting for its separator, is
    /// `TooLong` (and stays buffered: the caller drops the stream).
    pub fn next_bounded(&mut self, separator: &[u8], limit: usize) -> Result<Option<&[u8]>, TooLong> {
        let start = self.start;
        match self.next_piece(separator).map(<[u8]>::len) {
            Some(len) if len > limit => {
                self.start = start;
                self.scanned = start;
                Err(TooLong)
            }
            Some(len) => Ok(Some(&self.bytes[start..start + len])),
            None if self.len() > limit => Err(TooLong),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(inbox: &mut Inbox, sep: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(p) = inbox.next_piece(sep) {
            out.push(String::from_utf8_lossy(p).into_owned());
        }
        out
    }

    #[test]
    fn separators_cut_across_chunks() {
        let mut inbox = Inbox::default();
        let mut got = Vec::new();
        for chunk in ["ab\r", "\ncd", "\r", "\n\r\nef\r\n", "g"] {
            inbox.push(chunk.as_bytes()).unwrap();
            got.extend(pieces(&mut inbox, b"\r\n"));
        }
        assert_eq!(got, ["ab", "cd", "", "ef"]);
        assert_eq!(inbox.take_all(), b"g");
        assert!(inbox.is_empty());
    }

    #[test]
    fn every_split_point_of_a_message_gives_the_same_pieces() {
        let message = b"one--two----three--";
        for cut in 0..message.len() {
            let mut inbox = Inbox::default();
            inbox.push(&message[..cut]).unwrap();
            let mut got = pieces(&mut inbox, b"--");
            inbox.push(&message[cut..]).unwrap();
            got.extend(pieces(&mut inbox, b"--"));
            assert_eq!(got, ["one", "two", "", "three"], "cut at {cut}");
        }
    }

    #[test]
    fn a_new_separator_rescans_the_buffer() {
        let mut inbox = Inbox::default();
        inbox.push(b"a,b;c").unwrap();
        assert_eq!(inbox.next_piece(b";"), Some(&b"a,b"[..]));
        inbox.push(b",d;").unwrap();
        assert_eq!(inbox.next_piece(b","), Some(&b"c"[..]));
        assert_eq!(inbox.next_piece(b";"), Some(&b"d"[..]));
        assert_eq!(inbox.next_piece(b";"), None);
    }

    #[test]
    fn a_long_line_is_scanned_in_linear_time() {
        let mut inbox = Inbox::default();
        let chunk = vec![b'x'; 64 * 1024];
        let started = std::time::Instant::now();
        for _ in 0..800 {
            inbox.push(&chunk).unwrap();
            assert_eq!(inbox.next_piece(b"\n"), None);
        }
        inbox.push(b"\n").unwrap();
        assert_eq!(inbox.next_piece(b"\n").map(|p| p.len()), Some(800 * 64 * 1024));
        // Generous: rescanning would take minutes; CI machines are shared.
        assert!(started.elapsed().as_secs_f64() < 20.0, "took {:?}", started.elapsed());
    }

    #[test]
    fn a_bounded_reader_refuses_longer_pieces_whole_or_unfinished() {
        let mut inbox = Inbox::default();
        inbox.push(b"12345\n123456\n").unwrap();
        assert_eq!(inbox.next_bounded(b"\n", 5), Ok(Some(&b"12345"[..])));
        assert_eq!(inbox.next_bounded(b"\n", 5), Err(TooLong));
        let mut inbox = Inbox::default();
        inbox.push(b"12345").unwrap();
        assert_eq!(inbox.next_bounded(b"\n", 5), Ok(None));
        inbox.push(b"6").unwrap();
        assert_eq!(inbox.next_bounded(b"\n", 5), Err(TooLong));
        // Unlimited readers see what next_piece sees.
        inbox.push(b"\nx").unwrap();
        assert_eq!(inbox.next_bounded(b"\n", usize::MAX), Ok(Some(&b"123456"[..])));
        assert_eq!(inbox.next_bounded(b"\n", usize::MAX), Ok(None));
    }

    #[test]
    fn consumed_bytes_are_released() {
        let mut inbox = Inbox::default();
        for i in 0..10_000 {
            inbox.push(format!("line {i}\n").as_bytes()).unwrap();
            assert_eq!(inbox.next_piece(b"\n").map(|p| p.to_vec()), Some(format!("line {i}").into_bytes()));
        }
        assert!(inbox.bytes.len() < 64, "buffer kept {} bytes", inbox.bytes.len());
    }
}
