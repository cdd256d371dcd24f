//! Numbers as lua-cjson writes and reads them when its settings ask for
//! it (json_config.rs): `%.<precision>g` text for `encode_number_precision`,
//! and for `decode_invalid_numbers(true)` the numbers C's `strtod` takes
//! beyond JSON's grammar (`NaN`, `Infinity`, `0x1F`, `+1`, `007`, `1.`,
//! `1e400`). Our default forms are serde_json's (json.rs).
//!
//! Pure Rust: no Lua, no libuv.

use std::io::{self, Write};

/// Writes the finite `x` as C's `printf("%.<precision>g", x)` does, which
/// is how lua-cjson writes numbers: `precision` (1 to 17) significant
/// digits, correctly rounded (ties to even, as glibc), trailing zeros
/// dropped, in exponent form (`1e+20`, `2.5e-07`) when the decimal
/// exponent is below -4 or at least `precision`.
pub fn write_g<W: ?Sized + Write>(writer: &mut W, x: f64, precision: usize) -> io::Result<()> {
    // Rust's `{:.Ne}` rounds exactly as printf does; its text is taken
    // apart into sign, digits and exponent. 17 digits and an exponent of
    // three fit in 32 bytes.
    let mut buffer = [0u8; 32];
    let mut rest = &mut buffer[..];
    write!(rest, "{:.*e}", precision.clamp(1, 17) - 1, x)?;
    let written = 32 - rest.len();
    let text = &buffer[..written];
    let (negative, text) = match text.split_first() {
        Some((b'-', unsigned)) => (true, unsigned),
        _ => (false, text),
    };
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
        Some(e) => (&text[..e], &text[e + 1..]),
        None => (text, &b"0"[..]),
    };
    let exponent: i32 = std::str::from_utf8(exponent).ok().and_then(|e| e.parse().ok()).unwrap_or(0);
    let mut digit_buffer = [0u8; 17];
    let mut count = 0;
    for (slot, &digit) in digit_buffer.iter_mut().zip(mantissa.iter().filter(|b| b.is_ascii_digit())) {
        *slot = digit;
        count += 1;
    }
    while count > 1 && digit_buffer[count - 1] == b'0' {
        count -= 1;
    }
    let digits = &digit_buffer[..count];
    if negative {
        writer.write_all(b"-")?;
    }
    let (first, fraction) = digits.split_first().map_or((b'0', &[][..]), |(f, r)| (*f, r));
    if exponent < -4 || exponent >= precision as i32 {
        writer.write_all(&[first])?;
        if !fraction.is_empty() {
            writer.write_all(b".")?;
            writer.write_all(fraction)?;
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        write!(writer, "e{sign}{:02}", exponent.unsigned_abs())
    } else if exponent < 0 {
        writer.write_all(b"0.")?;
        for _ in 1..exponent.unsigned_abs() {
            writer.write_all(b"0")?;
        }
        writer.write_all(digits)
    } else {
        // 0 ≤ exponent < precision: the point goes after digit `exponent`.
        let whole = exponent as usize + 1;
        let (int_part, frac_part) = digits.split_at(whole.min(digits.len()));
        writer.write_all(int_part)?;
        for _ in int_part.len()..whole {
            writer.write_all(b"0")?;
        }
        if !frac_part.is_empty() {
            writer.write_all(b".")?;
            writer.write_all(frac_part)?;
        }
        Ok(())
    }
}

/// The number `strtod` reads at the start of `text`, and how many bytes it
/// takes, as lua-cjson reads one with `decode_invalid_numbers(true)`: an
/// optional sign, then `inf`, `infinity` or `nan` (any case, `nan(...)`
/// too), a hexadecimal number (`0x1.8p3`), or a decimal one with digits
/// before or after an optional point (`1.`, `-.5`) and an optional
/// exponent; out of range it is ±inf or ±0. cjson starts a number only at
/// a sign, a digit or a letter of `inf`/`nan`, so an unsigned leading
/// point (`.5`) is none.
pub fn lenient_number(text: &[u8]) -> Option<(f64, usize)> {
    let sign = usize::from(matches!(text.first(), Some(b'+' | b'-')));
    let body = &text[sign..];
    if sign == 0 && body.first() == Some(&b'.') {
        return None;
    }
    let (magnitude, length) = match named(body).or_else(|| hexadecimal(body)) {
        Some(found) => found,
        None => {
            let length = decimal_length(body)?;
            // What Rust parses is exactly what was measured: digits, an
            // optional point and exponent (`1.`, `.5`, `007`, `1e400` included).
            let magnitude = std::str::from_utf8(&body[..length]).ok()?.parse::<f64>().ok()?;
            (magnitude, length)
        }
    };
    let negative = text.first() == Some(&b'-');
    Some((if negative { -magnitude } else { magnitude }, sign + length))
}

fn starts_with_ignoring_case(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `inf`, `infinity`, `nan`, `nan(chars)`.
fn named(body: &[u8]) -> Option<(f64, usize)> {
    if starts_with_ignoring_case(body, b"infinity") {
        Some((f64::INFINITY, 8))
    } else if starts_with_ignoring_case(body, b"inf") {
        Some((f64::INFINITY, 3))
    } else if starts_with_ignoring_case(body, b"nan") {
        let inside =
            body[3..].strip_prefix(b"(").map(|after| after.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_'));
        let length = match inside {
            Some(chars) => {
                let n = chars.count();
                if body.get(4 + n) == Some(&b')') { 5 + n } else { 3 }
            }
            None => 3,
        };
        Some((f64::NAN, length))
    } else {
        None
    }
}

/// The run of digits (in `radix`) at the start of `text`.
fn digit_count(text: &[u8], radix: u32) -> usize {
    text.iter().take_while(|b| (**b as char).is_digit(radix)).count()
}

/// The length of `digits[.digits][e[+-]digits]` at the start of `body`,
/// with at least one digit around the point.
fn decimal_length(body: &[u8]) -> Option<usize> {
    let whole = digit_count(body, 10);
    let mut length = whole;
    let mut fraction = 0;
    if body.get(length) == Some(&b'.') {
        fraction = digit_count(&body[length + 1..], 10);
        length += 1 + fraction;
    }
    if whole + fraction == 0 {
        return None;
    }
    Some(length + exponent_length(&body[length..], b'e'))
}

/// The length of an exponent (`e+12`, `p-3`) at the start of `text`, 0 if
/// there is none (a marker without digits is not part of the number).
fn exponent_length(text: &[u8], marker: u8) -> usize {
    match text.split_first() {
        Some((m, rest)) if m.eq_ignore_ascii_case(&marker) => {
            let sign = usize::from(matches!(rest.first(), Some(b'+' | b'-')));
            match digit_count(&rest[sign..], 10) {
                0 => 0,
                n => 1 + sign + n,
            }
        }
        _ => 0,
    }
}

/// `0x` hex digits, an optional point and hex digits, an optional binary
/// exponent (`p-3`).
fn hexadecimal(body: &[u8]) -> Option<(f64, usize)> {
    let digits = body.strip_prefix(b"0x").or_else(|| body.strip_prefix(b"0X"))?;
    let whole = digit_count(digits, 16);
    let fraction = match digits.get(whole) {
        Some(b'.') => digit_count(&digits[whole + 1..], 16),
        _ => 0,
    };
    if whole + fraction == 0 {
        return None;
    }
    // The first 60 bits of the digits, exactly, with any nonzero digit
    // dropped after them kept as a sticky low bit: u64 → f64 then rounds
    // as strtod does. `scale` is the power of two the integer is off by.
    let (mut mantissa, mut sticky, mut scale) = (0u64, false, 0i64);
    let fraction_digits = if fraction > 0 { &digits[whole + 1..whole + 1 + fraction] } else { &[][..] };
    for (i, &b) in digits[..whole].iter().chain(fraction_digits).enumerate() {
        let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
        if mantissa >> 56 == 0 {
            mantissa = mantissa * 16 + digit;
            if i >= whole {
                scale -= 4;
            }
        } else {
            sticky |= digit != 0;
            if i < whole {
                scale += 4;
            }
        }
    }
    let mut length = 2 + whole + if fraction > 0 || digits.get(whole) == Some(&b'.') { 1 + fraction } else { 0 };
    let exponent_text = &body[length..];
    let exponent_len = exponent_length(exponent_text, b'p');
    if exponent_len > 0 {
        let signed = &exponent_text[1..exponent_len];
        let (negative, magnitude) = match signed.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, signed),
        };
        // Saturates: far past ±1100 the result is inf or 0 anyway.
        let value = magnitude.iter().fold(0i64, |n, d| (n * 10 + (d - b'0') as i64).min(1 << 20));
        scale += if negative { -value } else { value };
        length += exponent_len;
    }
    let value = (mantissa | sticky as u64) as f64;
    // Two steps, so that neither power of two overflows on its own.
    let half = (scale / 2).clamp(-2000, 2000) as i32;
    let rest = (scale - scale / 2).clamp(-2000, 2000) as i32;
    Some((value * 2f64.powi(half) * 2f64.powi(rest), length))
}

/// `text` for serde_json, with every number lua-cjson's lenient reading
/// takes (see `lenient_number`) replaced by `0` and spaces (so that error
/// positions stay right), and the numbers' values in the order they
/// appear: the decoder takes the values in place of the zeros. A number
/// starts only where JSON lets a value start (after `[`, `{`, `,`, `:`,
/// whitespace, or at the beginning); strings are skipped.
pub fn lenient_text(text: &[u8]) -> (Vec<u8>, Vec<f64>) {
    let mut out = text.to_vec();
    let mut numbers = Vec::new();
    let (mut at, mut may_start) = (0, true);
    while let Some(&b) = text.get(at) {
        if b == b'"' {
            at = string_end(text, at);
            may_start = false;
            continue;
        }
        if may_start && let Some((value, length)) = lenient_number(&text[at..]) {
            out[at] = b'0';
            out[at + 1..at + length].fill(b' ');
            numbers.push(value);
            at += length;
            may_start = false;
            continue;
        }
        may_start = b.is_ascii_whitespace() || b"[{,:".contains(&b);
        at += 1;
    }
    (out, numbers)
}

/// The index after the string that starts with the quote at `start` (the
/// end of `text` if it is not closed).
fn string_end(text: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while let Some(&b) = text.get(at) {
        match b {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(x: f64, precision: usize) -> String {
        let mut out = Vec::new();
        write_g(&mut out, x, precision).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn g_writes_what_printf_writes() {
        // Each expectation is glibc's printf("%.<p>g").
        let cases: &[(f64, usize, &str)] = &[
            (0.1, 14, "0.1"),
            (1.0 / 3.0, 14, "0.33333333333333"),
            (1.0 / 3.0, 3, "0.333"),
            (123456.0, 3, "1.23e+05"),
            (2f64.powi(53), 14, "9.007199254741e+15"),
            (-0.0, 14, "-0"),
            (0.0, 14, "0"),
            (1e20, 3, "1e+20"),
            (1.5e-7, 3, "1.5e-07"),
            (100.0, 3, "100"),
            (1234.5, 3, "1.23e+03"),
            (2.5, 1, "2"),
            (3.5, 1, "4"),
            (0.05, 1, "0.05"),
            (15.0, 1, "2e+01"),
            (95.0, 1, "1e+02"),
            (0.0001, 14, "0.0001"),
            (0.00001, 14, "1e-05"),
            (1e100, 14, "1e+100"),
            (-1.25, 2, "-1.2"),
            (123.0, 14, "123"),
            (1e13, 14, "10000000000000"),
            (1e14, 14, "1e+14"),
            (5e-324, 14, "4.9406564584125e-324"),
            (f64::MAX, 16, "1.797693134862316e+308"),
            (9.9996, 4, "10"),
            (0.1, 17, "0.10000000000000001"),
        ];
        for &(x, p, text) in cases {
            assert_eq!(g(x, p), text, "%.{p}g of {x:e}");
        }
    }

    /// A few thousand doubles of every magnitude: random bit patterns,
    /// and round decimals with their ties.
    fn sample_doubles() -> Vec<f64> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut values = vec![0.5, 2.5, 0.125, 1e15, 1e16, 1e17, 123456789012345.0, 9.5, 0.00015, 5e-324, f64::MAX];
        for _ in 0..4000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let x = f64::from_bits(seed);
            if x.is_finite() {
                values.push(x);
            }
            values.push((seed % 100_000) as f64 / 8.0 * if seed & 1 == 0 { 1.0 } else { -1e-3 });
        }
        values
    }

    #[test]
    fn g_agrees_with_the_c_library() {
        for x in sample_doubles() {
            for precision in 1..=17 {
                let mut c_text = [0u8; 64];
                // SAFETY: the buffer is as long as said; the format takes
                // an int and a double.
                let n = unsafe {
                    libc::snprintf(
                        c_text.as_mut_ptr() as *mut libc::c_char,
                        c_text.len(),
                        c"%.*g".as_ptr(),
                        precision as libc::c_int,
                        x,
                    )
                };
                assert_eq!(g(x, precision).as_bytes(), &c_text[..n as usize], "%.{precision}g of {x:e}");
            }
        }
    }

    #[test]
    fn lenient_numbers_agree_with_the_c_library() {
        let mut texts: Vec<String> = sample_doubles().iter().map(|x| format!("{x:e}")).collect();
        texts.extend(sample_doubles().iter().map(|x| format!("{x}")));
        texts.extend(sample_doubles().iter().take(500).map(|x| format!("{:#x}p-{}", x.to_bits() >> 12, x.to_bits() % 1100)));
        texts.extend(
            ["1e400", "-1e-400", "0x1.fffffffffffff8p1023", "0x.00000000000000000001p-1000", "1.e5x", "+007.50e+2,"]
                .map(String::from),
        );
        for text in &texts {
            let c_text = std::ffi::CString::new(text.as_str()).unwrap();
            let mut end = std::ptr::null_mut();
            // SAFETY: a NUL-terminated string and a place for the end pointer.
            let expected = unsafe { libc::strtod(c_text.as_ptr(), &mut end) };
            // SAFETY: strtod's end points into the same string.
            let expected_length = unsafe { end.offset_from(c_text.as_ptr()) } as usize;
            let (value, length) = lenient_number(text.as_bytes()).unwrap();
            assert_eq!((value.to_bits(), length), (expected.to_bits(), expected_length), "{text}");
        }
    }

    #[test]
    fn lenient_numbers_are_what_strtod_reads() {
        let read = |text: &str| lenient_number(text.as_bytes()).map(|(x, n)| (x.to_bits(), n));
        let is = |text: &str, x: f64, n: usize| assert_eq!(read(text), Some((x.to_bits(), n)), "{text}");
        is("1", 1.0, 1);
        is("-12.5e1,", -125.0, 7);
        is("007", 7.0, 3);
        is("+1]", 1.0, 2);
        is("1.", 1.0, 2);
        is("-.5", -0.5, 3);
        is("1.e5", 1e5, 4);
        is("1e", 1.0, 1);
        is("1e+]", 1.0, 1);
        is("1e400", f64::INFINITY, 5);
        is("-1e400", f64::NEG_INFINITY, 6);
        is("1e-400", 0.0, 6);
        is("-0", -0.0, 2);
        is("inf", f64::INFINITY, 3);
        is("-Infinity}", f64::NEG_INFINITY, 9);
        is("INFINITE", f64::INFINITY, 3);
        is("0x10", 16.0, 4);
        is("-0X1f", -31.0, 5);
        is("0x1p4", 16.0, 5);
        is("0x1.8", 1.5, 5);
        is("0x1P-2", 0.25, 6);
        is("0x.8", 0.5, 4);
        is("0x1p", 1.0, 3);
        is("0xg", 0.0, 1);
        // Past 60 bits, rounding still sees every digit (a tie broken by
        // a last 1 far below).
        for n in [0x1_2345_6789_abcd_ef01u128, 1 << 100 | 1 << 47, 1 << 100 | 1 << 47 | 1] {
            let text = format!("0x{n:x}");
            is(&text, n as f64, text.len());
        }
        is("0x1p99999999999", f64::INFINITY, 15);
        assert!(read("nan").is_some_and(|(x, n)| f64::from_bits(x).is_nan() && n == 3));
        assert!(read("-NaN(12_a)x").is_some_and(|(x, n)| f64::from_bits(x).is_nan() && n == 10));
        assert!(read("nan(").is_some_and(|(_, n)| n == 3));
        for none in [".5", "-", "+", "x", "null", "true", "", "-.", "e5"] {
            assert_eq!(read(none), None, "{none}");
        }
    }

    #[test]
    fn lenient_text_swaps_numbers_for_zeros_in_place() {
        let (text, numbers) = lenient_text(br#"[NaN, -Infinity,0x10,"1 inf",{"a":+5}, 1.]"#);
        assert_eq!(text, br#"[0  , 0        ,0   ,"1 inf",{"a":0 }, 0 ]"#);
        assert_eq!(numbers.len(), 5);
        assert!(numbers[0].is_nan());
        assert_eq!(&numbers[1..], &[f64::NEG_INFINITY, 16.0, 5.0, 1.0]);
        // Only where a value may start: not inside a word or after a number.
        let (text, numbers) = lenient_text(br#"[--1, 1inf, "\"5", x2]"#);
        assert_eq!(text, br#"[--1, 0inf, "\"5", x2]"#);
        assert_eq!(numbers, [1.0]);
        let (text, _) = lenient_text(br#""unclosed 5"#);
        assert_eq!(text, br#""unclosed 5"#);
    }
}
