//! The separator splitter (`Inbox`) behind `onsplitdata` and `readsplit`,
//! against a model that searches everything buffered from the start.
//!
//! Input: a program of steps, each an opcode byte and its operands:
//! - `op % 4 == 0`: push the next `op / 4 % 32` bytes;
//! - `1`: take the next piece ended by a separator: one of a few fixed
//!   ones that overlap themselves and each other (`op / 4 % 8` < 5), or
//!   the next `op / 4 % 8 - 4` bytes of the input;
//! - `2`: take everything; `3`: clear.
//!
//! Invariants: nothing panics; every piece, every take and the length
//! agree with the model after every step; no piece is longer than what
//! was buffered.

#![no_main]

use r#async::fuzzing::Inbox;
use libfuzzer_sys::fuzz_target;

const SEPARATORS: [&[u8]; 5] = [b"\n", b"\r\n", b"--", b"-a-", b"aaa"];

fuzz_target!(|data: &[u8]| {
    let mut inbox = Inbox::default();
    let mut model: Vec<u8> = Vec::new();
    let mut input = data;
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        let operand = usize::from(op >> 2);
        match op & 3 {
            0 => {
                let (bytes, rest) = input.split_at((operand % 32).min(input.len()));
                input = rest;
                inbox.push(bytes).expect("a few bytes fit in memory");
                model.extend_from_slice(bytes);
            }
            1 => {
                let choice = operand % 8;
                let separator: &[u8] = if choice < SEPARATORS.len() {
                    SEPARATORS[choice]
                } else {
                    let (bytes, rest) = input.split_at((choice - 4).min(input.len()));
                    input = rest;
                    bytes
                };
                let held = model.len();
                let expected = if separator.is_empty() {
                    None
                } else {
                    memchr::memmem::find(&model, separator).map(|at| {
                        let piece = model[..at].to_vec();
                        model.drain(..at + separator.len());
                        piece
                    })
                };
                let piece = inbox.next_piece(separator).map(<[u8]>::to_vec);
                if let Some(piece) = &piece {
                    assert!(piece.len() + separator.len() <= held, "a piece longer than what was buffered");
                }
                assert_eq!(piece, expected, "the splitter disagrees with a plain search for {separator:?}");
            }
            2 => assert_eq!(inbox.take_all(), std::mem::take(&mut model), "take_all disagrees"),
            _ => {
                inbox.clear();
                model.clear();
            }
        }
        assert_eq!(inbox.len(), model.len(), "length disagrees");
        assert_eq!(inbox.is_empty(), model.is_empty());
    }
});
