//! The line editor of the local REPL on a terminal: keys in, terminal
//! output and finished lines out. Plain Rust over bytes (unit-tested
//! without a terminal): the caller puts the terminal in raw mode, feeds
//! what it reads, and writes what the editor says to write.
//!
//! Keys: printable text is inserted at the cursor; left/right, Home/End
//! (and Ctrl-A/E) move; Backspace and Delete erase; Ctrl-U, Ctrl-K and
//! Ctrl-W kill to the start, to the end and the word before the cursor;
//! up/down walk the history of entered lines; Enter finishes the line;
//! Ctrl-C clears it (on an empty line it asks for a second one to exit);
//! Ctrl-D on an empty line ends the input, elsewhere it deletes under the
//! cursor; Ctrl-L clears the screen. The cursor moves by UTF-8 characters,
//! each counted as one column.
//!
//! May touch: nothing outside itself.

/// What the caller must do after a `feed`.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Enter: this line is finished (the terminal is on a new line).
    Line(Vec<u8>),
    /// Ctrl-D on an empty line: the input is over.
    Eof,
    /// Ctrl-C on an empty line, the second time in a row: exit.
    Interrupt,
}

/// Lines kept for up/down.
const HISTORY: usize = 1000;

#[derive(Default)]
pub struct Editor {
    prompt: Vec<u8>,
    line: Vec<u8>,
    /// A byte index into `line`, always at a character boundary.
    cursor: usize,
    history: Vec<Vec<u8>>,
    /// Where up/down are in the history: `history.len()` is the line being
    /// typed, kept in `draft` while an older one is shown.
    browsing: usize,
    draft: Vec<u8>,
    /// An escape sequence that has not fully arrived.
    pending: Vec<u8>,
    /// The previous key was Ctrl-C on an empty line.
    interrupted: bool,
}

impl Editor {
    pub fn new(prompt: &[u8]) -> Editor {
        Editor { prompt: prompt.to_vec(), ..Editor::default() }
    }

    /// The prompt of the next line (`> ` or the continuation `>> `).
    pub fn set_prompt(&mut self, prompt: &[u8]) {
        self.prompt = prompt.to_vec();
    }

    /// The prompt and the line being edited, from the start of the terminal
    /// line, with the cursor put back where it is in the line.
    pub fn redraw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r");
        out.extend_from_slice(&self.prompt);
        out.extend_from_slice(&self.line);
        out.extend_from_slice(b"\x1b[K");
        let after = chars(&self.line[self.cursor..]);
        if after > 0 {
            out.extend_from_slice(format!("\x1b[{after}D").as_bytes());
        }
    }

    /// Erases the terminal line (prompt and text), so that other output can
    /// be written there; `redraw` puts it back after.
    pub fn erase(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\x1b[K");
    }

    /// Handles `input`; what to show goes to `out`, finished lines and the
    /// other events are returned in order.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Vec<Event> {
        let mut events = Vec::new();
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(input);
        let mut i = 0;
        while i < bytes.len() {
            let (key, used) = match decode(&bytes[i..]) {
                Some(decoded) => decoded,
                None => {
                    self.pending = bytes[i..].to_vec();
                    break;
                }
            };
            i += used;
            if key != Key::Interrupt {
                self.interrupted = false;
            }
            if let Some(event) = self.key(key, out) {
                events.push(event);
            }
        }
        events
    }

    fn key(&mut self, key: Key, out: &mut Vec<u8>) -> Option<Event> {
        match key {
            Key::Text(text) => {
                self.line.splice(self.cursor..self.cursor, text.iter().copied());
                self.cursor += text.len();
            }
            Key::Enter => {
                let line = std::mem::take(&mut self.line);
                self.cursor = 0;
                if !line.is_empty() && self.history.last() != Some(&line) {
                    self.history.push(line.clone());
                    if self.history.len() > HISTORY {
                        self.history.remove(0);
                    }
                }
                self.browsing = self.history.len();
                self.draft.clear();
                out.extend_from_slice(b"\r\n");
                return Some(Event::Line(line));
            }
            Key::Left => self.cursor = previous_boundary(&self.line, self.cursor),
            Key::Right => self.cursor = next_boundary(&self.line, self.cursor),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.line.len(),
            Key::Backspace => {
                let start = previous_boundary(&self.line, self.cursor);
                self.line.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Delete => {
                let end = next_boundary(&self.line, self.cursor);
                self.line.drain(self.cursor..end);
            }
            Key::KillToStart => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::KillToEnd => self.line.truncate(self.cursor),
            Key::KillWord => {
                let mut start = self.cursor;
                while start > 0 && self.line[start - 1] == b' ' {
                    start -= 1;
                }
                while start > 0 && self.line[start - 1] != b' ' {
                    start -= 1;
                }
                self.line.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Up => self.browse_to(self.browsing.checked_sub(1)?),
            Key::Down => {
                if self.browsing >= self.history.len() {
                    return None;
                }
                self.browse_to(self.browsing + 1);
            }
            Key::Interrupt => {
                let was_empty = self.line.is_empty();
                self.line.clear();
                self.cursor = 0;
                self.browsing = self.history.len();
                if was_empty && self.interrupted {
                    out.extend_from_slice(b"\r\n");
                    return Some(Event::Interrupt);
                }
                if was_empty {
                    self.interrupted = true;
                    out.extend_from_slice(b"\r\n(To exit, press Ctrl+C again or Ctrl+D)\r\n");
                } else {
                    out.extend_from_slice(b"^C\r\n");
                }
            }
            Key::EndOfInput => {
                if self.line.is_empty() {
                    out.extend_from_slice(b"\r\n");
                    return Some(Event::Eof);
                }
                let end = next_boundary(&self.line, self.cursor);
                self.line.drain(self.cursor..end);
            }
            Key::ClearScreen => out.extend_from_slice(b"\x1b[H\x1b[2J"),
            Key::Ignored => return None,
        }
        self.redraw(out);
        None
    }

    /// Shows history entry `index` (or the draft, past the newest).
    fn browse_to(&mut self, index: usize) {
        if self.browsing == self.history.len() {
            self.draft = self.line.clone();
        }
        self.browsing = index;
        self.line = self.history.get(index).cloned().unwrap_or_else(|| self.draft.clone());
        self.cursor = self.line.len();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Key {
    Text(Vec<u8>),
    Enter,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    Backspace,
    Delete,
    KillToStart,
    KillToEnd,
    KillWord,
    Interrupt,
    EndOfInput,
    ClearScreen,
    Ignored,
}

/// The key at the start of `bytes` and how many bytes it took; None when
/// its escape sequence or UTF-8 character is not complete yet.
fn decode(bytes: &[u8]) -> Option<(Key, usize)> {
    let first = bytes[0];
    let key = match first {
        b'\r' | b'\n' => Key::Enter,
        0x01 => Key::Home,
        0x02 => Key::Left,
        0x03 => Key::Interrupt,
        0x04 => Key::EndOfInput,
        0x05 => Key::End,
        0x06 => Key::Right,
        0x08 | 0x7f => Key::Backspace,
        0x0b => Key::KillToEnd,
        0x0c => Key::ClearScreen,
        0x0e => Key::Down,
        0x10 => Key::Up,
        0x15 => Key::KillToStart,
        0x17 => Key::KillWord,
        0x1b => return escape(bytes),
        b if b < 0x20 => Key::Ignored,
        b if b < 0x80 => Key::Text(vec![b]),
        _ => {
            let len = match first {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => 1,
            };
            if bytes.len() < len {
                return None;
            }
            return Some((Key::Text(bytes[..len].to_vec()), len));
        }
    };
    Some((key, 1))
}

/// An escape sequence: `ESC [ ...` (CSI: arrows, Home/End, Delete) or
/// `ESC O x` (the application-mode arrows and Home/End).
fn escape(bytes: &[u8]) -> Option<(Key, usize)> {
    let &kind = bytes.get(1)?;
    match kind {
        b'[' => {
            // Parameters, then one final byte in 0x40..=0x7e.
            let end = bytes[2..].iter().position(|b| (0x40..=0x7e).contains(b))? + 2;
            let params = &bytes[2..end];
            let key = match (params, bytes[end]) {
                (_, b'A') => Key::Up,
                (_, b'B') => Key::Down,
                (_, b'C') => Key::Right,
                (_, b'D') => Key::Left,
                (_, b'H') => Key::Home,
                (_, b'F') => Key::End,
                (b"1" | b"7", b'~') => Key::Home,
                (b"4" | b"8", b'~') => Key::End,
                (b"3", b'~') => Key::Delete,
                _ => Key::Ignored,
            };
            Some((key, end + 1))
        }
        b'O' => {
            let &last = bytes.get(2)?;
            let key = match last {
                b'A' => Key::Up,
                b'B' => Key::Down,
                b'C' => Key::Right,
                b'D' => Key::Left,
                b'H' => Key::Home,
                b'F' => Key::End,
                _ => Key::Ignored,
            };
            Some((key, 3))
        }
        _ => Some((Key::Ignored, 2)),
    }
}

/// Characters in `bytes`: UTF-8 continuation bytes do not count.
fn chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xc0 != 0x80).count()
}

fn previous_boundary(line: &[u8], at: usize) -> usize {
    let mut i = at.saturating_sub(1);
    while i > 0 && line[i] & 0xc0 == 0x80 {
        i -= 1;
    }
    i
}

fn next_boundary(line: &[u8], at: usize) -> usize {
    let mut i = (at + 1).min(line.len());
    while i < line.len() && line[i] & 0xc0 == 0x80 {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a fresh editor; returns the events and the line
    /// left in the editor with `|` at the cursor.
    fn run(editor: &mut Editor, input: &[u8]) -> (Vec<Event>, String) {
        let mut out = Vec::new();
        let events = editor.feed(input, &mut out);
        let mut shown = editor.line.clone();
        shown.insert(editor.cursor, b'|');
        (events, String::from_utf8_lossy(&shown).into_owned())
    }

    fn line(text: &str) -> Event {
        Event::Line(text.as_bytes().to_vec())
    }

    #[test]
    fn typing_and_enter_give_the_line() {
        let mut e = Editor::new(b"> ");
        assert_eq!(run(&mut e, b"1 + 1\r"), (vec![line("1 + 1")], "|".into()));
    }

    #[test]
    fn cursor_moves_and_edits_in_the_middle() {
        let mut e = Editor::new(b"> ");
        assert_eq!(run(&mut e, b"ac\x1b[Db").1, "ab|c");
        assert_eq!(run(&mut e, b"\x01x").1, "x|abc");
        assert_eq!(run(&mut e, b"\x05\x7f").1, "xab|");
        assert_eq!(run(&mut e, b"\x1b[H\x1b[3~").1, "|ab");
        assert_eq!(run(&mut e, b"\x1bOF!").1, "ab!|");
    }

    #[test]
    fn kills_to_start_to_end_and_the_word_before() {
        let mut e = Editor::new(b"> ");
        assert_eq!(run(&mut e, b"local x = 1\x17").1, "local x = |");
        assert_eq!(run(&mut e, b"\x17\x17").1, "local |");
        assert_eq!(run(&mut e, b"a b\x1b[D\x0b").1, "local a |");
        assert_eq!(run(&mut e, b"\x15").1, "|");
    }

    #[test]
    fn history_walks_up_and_down_and_keeps_the_draft() {
        let mut e = Editor::new(b"> ");
        run(&mut e, b"one\rtwo\rtwo\r");
        assert_eq!(run(&mut e, b"dr").1, "dr|");
        assert_eq!(run(&mut e, b"\x1b[A").1, "two|");
        assert_eq!(run(&mut e, b"\x1b[A").1, "one|");
        assert_eq!(run(&mut e, b"\x1b[A").1, "one|", "the oldest stays");
        assert_eq!(run(&mut e, b"\x1b[B\x1b[B").1, "dr|");
        assert_eq!(run(&mut e, b"\x1b[B").1, "dr|");
    }

    #[test]
    fn escape_sequences_split_across_reads() {
        let mut e = Editor::new(b"> ");
        run(&mut e, b"ab\x1b");
        assert_eq!(run(&mut e, b"[").1, "ab|");
        assert_eq!(run(&mut e, b"D").1, "a|b");
    }

    #[test]
    fn utf8_characters_move_as_one() {
        let mut e = Editor::new(b"> ");
        let (_, shown) = run(&mut e, "é\u{20ac}".as_bytes());
        assert_eq!(shown, "é\u{20ac}|");
        assert_eq!(run(&mut e, b"\x1b[D").1, "é|\u{20ac}");
        assert_eq!(run(&mut e, b"\x7f").1, "|\u{20ac}");
        // A character split across reads waits for its last byte.
        let euro = "\u{20ac}".as_bytes();
        run(&mut e, &euro[..1]);
        assert_eq!(run(&mut e, &euro[1..]).1, "\u{20ac}|\u{20ac}");
    }

    #[test]
    fn ctrl_c_clears_and_twice_on_an_empty_line_interrupts() {
        let mut e = Editor::new(b"> ");
        assert_eq!(run(&mut e, b"abc\x03"), (vec![], "|".into()));
        assert_eq!(run(&mut e, b"\x03").0, vec![]);
        assert_eq!(run(&mut e, b"\x03").0, vec![Event::Interrupt]);
        // Anything in between starts over.
        let mut e = Editor::new(b"> ");
        assert_eq!(run(&mut e, b"\x03x\x7f\x03").0, vec![]);
    }

    #[test]
    fn ctrl_d_ends_an_empty_line_and_deletes_elsewhere() {
        let mut e = Editor::new(b"> ");
        assert_eq!(run(&mut e, b"ab\x01\x04"), (vec![], "|b".into()));
        assert_eq!(run(&mut e, b"\x04\x04").0, vec![Event::Eof]);
    }

    #[test]
    fn redraw_puts_the_cursor_back() {
        let mut e = Editor::new(b"> ");
        run(&mut e, b"abc\x1b[D\x1b[D");
        let mut out = Vec::new();
        e.redraw(&mut out);
        assert_eq!(out, b"\r> abc\x1b[K\x1b[2D");
    }
}
