//! Unit tests of the incoming-message framing (`incoming.rs`).

use super::*;

#[test]
fn block_reader_takes_exactly_the_block() {
    let mut reader = BlockReader::for_head();
    assert_eq!(reader.feed(b"GET / HTTP/1.1\r\nA: b\r", 100), Ok((21, false)));
    assert_eq!(reader.feed(b"\n\r", 100), Ok((2, false)));
    assert_eq!(reader.feed(b"\nbody", 100), Ok((1, true)));
    assert_eq!(reader.take(), b"GET / HTTP/1.1\r\nA: b\r\n\r\n");
    assert_eq!(reader.pending(), 0);
    // Leading blank lines are dropped, not counted as a block.
    assert_eq!(reader.feed(b"\r\n\nX\n\nrest", 100), Ok((6, true)));
    assert_eq!(reader.take(), b"X\n\n");
    // Trailers may be empty.
    let mut trailers = BlockReader::for_trailers();
    assert_eq!(trailers.feed(b"\r\nnext", 100), Ok((2, true)));
}

#[test]
fn block_reader_limit_counts_the_whole_block() {
    let block = b"AB: c\r\n\r\n";
    let mut reader = BlockReader::for_head();
    assert_eq!(reader.feed(block, block.len()), Ok((block.len(), true)));
    let mut reader = BlockReader::for_head();
    assert_eq!(reader.feed(block, block.len() - 1), Err(ParseError::HeadersTooLarge));
    // Input past the limit is not even copied in.
    let mut reader = BlockReader::for_head();
    assert_eq!(reader.feed(&[b'a'; 1000], 10), Err(ParseError::HeadersTooLarge));
    assert!(reader.pending() <= 11);
}

#[test]
fn decimal_lengths() {
    assert_eq!(parse_decimal(b"0"), Some(0));
    assert_eq!(parse_decimal(b"007"), Some(7));
    assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_decimal(b"18446744073709551616"), None);
    assert_eq!(parse_decimal(b""), None);
    assert_eq!(parse_decimal(b"1 2"), None);
    assert_eq!(parse_decimal(b"0x1"), None);
}

#[test]
fn chunk_size_lines() {
    for strict in [false, true] {
        assert_eq!(parse_chunk_size_line(b"1a\r\n", strict), Ok(26));
        assert_eq!(parse_chunk_size_line(b"FF;name=\"v\"\r\n", strict), Ok(255));
        assert_eq!(parse_chunk_size_line(b"0001 ; a = b\r\n", strict), Ok(1));
        for bad in [
            &b"\r\n"[..],
            b";x\r\n",
            b" 1\r\n",
            b"+1\r\n",
            b"0x1\r\n",
            b"1\n",
            b"1;a\n",
            b"1 2\r\n",
            b"g\r\n",
            b"1\rx\n",
            b"11111111111111111\r\n",
        ] {
            assert!(parse_chunk_size_line(bad, strict).is_err(), "{}", bad.escape_ascii());
        }
    }
    // What httparse lets through and only a request's strict reading
    // refuses (a response's sender is given the benefit of the doubt).
    for lax in [&b"0 \r\n"[..], b"2;\r\n", b"2 \r\n", b"2;a=\"b\r\n", b"2;a\x01\r\n"] {
        assert!(parse_chunk_size_line(lax, false).is_ok(), "{}", lax.escape_ascii());
        assert!(matches!(parse_chunk_size_line(lax, true), Err(ParseError::Malformed(_))), "{}", lax.escape_ascii());
    }
}

#[test]
fn header_lists_and_tokens() {
    let block = b"Connection: keep-alive, Upgrade\r\nconnection: ,close,\r\nX: a\r\n\r\n";
    let mut room = [httparse::EMPTY_HEADER; 4];
    let httparse::Status::Complete((_, headers)) = httparse::parse_headers(block, &mut room).unwrap() else { panic!() };
    let spans = header_spans(block, headers);
    let list = HeaderList::new(block, &spans);
    let items: Vec<_> = list.list_items("CONNECTION").collect();
    assert_eq!(items, [&b"keep-alive"[..], b"Upgrade", b"close"]);
    assert!(list.has_token("connection", "upgrade"));
    assert!(!list.has_token("connection", "keep"));
    assert_eq!(list.get("connection"), Some(&b",close,"[..]));
    assert_eq!(list.all("x").count(), 1);
}

#[test]
fn spans_outside_the_block_are_empty() {
    let block = b"abcdef";
    assert_eq!(Span::within(block, &block[2..4]).of(block), b"cd");
    assert_eq!(Span::within(block, b"elsewhere"), Span::default());
}

#[test]
fn a_body_of_known_length_ends_with_no_slack() {
    let mut reader = BodyReader::new(Framing::Length(1000), Limits::default(), true).unwrap();
    assert_eq!(reader.feed(b"x"), Ok(1));
    let capacity_after_one_byte = reader.body.capacity();
    assert!(capacity_after_one_byte < 1000, "no reservation of the whole announced size up front");
    for _ in 0..999 {
        reader.feed(b"y").unwrap();
    }
    assert!(reader.is_done());
    assert_eq!(reader.feed(b"more"), Ok(0));
    let body = reader.into_body();
    assert_eq!((body.len(), body.capacity()), (1000, 1000));
}
