//! URL parsing, building and resolution, escaping, and paths (the original
//! async's `url.lua`, LuaSocket 2.0's `socket.url`).
//!
//! Input: any bytes, taken as a URL, a path and a string to escape, and,
//! cut at the first NUL, as a base and a reference to resolve against it.
//! Invariants:
//! - nothing panics;
//! - `unescape(escape(s)) == s`, escape writes only `[A-Za-z0-9_%]`, and
//!   `unescape` never grows its input (nor changes one without `%`);
//! - `parse` fails only for the empty string; `build(parse(u))` is written
//!   the same when parsed and built again (but for a `[x]` host, which
//!   `build` leaves unbracketed, as the original does), and with a scheme
//!   or an authority its parts read back (the path with the same
//!   segments, the authority written anew from host, port and userinfo);
//! - a built URL is no longer than its escaped path and brackets allow;
//! - resolving one against the other answers for every reference without
//!   a scheme;
//! - `parse_path(build_path(p)) == p` for a parsed path, and with
//!   unsafe segments too when no segment holds `/` or `%`.

#![no_main]

use r#async::fuzzing::{Url, build_path, escape, parse_path, unescape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let escaped = escape(data);
    assert!(escaped.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'%'));
    assert!(escaped.len() <= 3 * data.len());
    assert_eq!(unescape(&escaped), data, "unescape does not invert escape");
    let unescaped = unescape(data);
    assert!(unescaped.len() <= data.len(), "unescape grew its input");
    if !data.contains(&b'%') {
        assert_eq!(unescaped, data);
    }

    match Url::parse(data) {
        None => assert!(data.is_empty(), "a non-empty URL that does not parse"),
        Some(parsed) => {
            for part in [&parsed.scheme, &parsed.authority, &parsed.path, &parsed.params, &parsed.query, &parsed.fragment]
                .into_iter()
                .flatten()
            {
                assert!(part.len() <= data.len(), "a part longer than the URL");
            }
            let built = parsed.build();
            // Escapes in the path and brackets around a host are the most
            // `build` adds.
            assert!(built.len() <= 3 * data.len() + 2, "the built URL grew by more than escapes and brackets");
            let reparsed = Url::parse(&built).expect("a built URL is never empty");
            if !bracketed_without_colon(&parsed) {
                assert_eq!(reparsed.build(), built, "a built URL is not written the same again");
                if parsed.scheme.is_some() || parsed.authority.is_some() {
                    let segments = |url: &Url| parse_path(url.path.as_deref().unwrap_or_default());
                    assert_eq!(segments(&reparsed), segments(&parsed), "build then parse changed the segments");
                    assert_eq!(rest(reparsed), rest(parsed), "build then parse changed the parts");
                }
            }
        }
    }

    // Resolution's properties are in src/proptests.rs, over inputs made
    // to reach its branches; here it must only never panic.
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    if let (Some(base), Some(relative)) = (Url::parse(&data[..cut]), Url::parse(data.get(cut + 1..).unwrap_or_default())) {
        let has_scheme = relative.scheme.is_some();
        assert_eq!(base.resolve(relative).is_none(), has_scheme, "only a reference with a scheme stands as it is");
    }

    let path = parse_path(data);
    assert!(path.segments.iter().all(|segment| !segment.is_empty()), "an empty segment");
    let built = build_path(&path, false);
    assert_eq!(parse_path(&built), path, "parse_path(build_path(p)) != p");
    if path.segments.iter().all(|segment| !segment.contains(&b'/') && !segment.contains(&b'%')) {
        assert_eq!(parse_path(&build_path(&path, true)), path, "unsafe build_path does not read back");
    }
});

/// A host `[x]` with no colon: `build` writes it as it is, and parsing
/// takes the brackets off.
fn bracketed_without_colon(url: &Url) -> bool {
    url.host.as_ref().is_some_and(|host| host.len() > 2 && host[0] == b'[' && host.ends_with(b"]") && !host.contains(&b':'))
}

/// The parts but the two `build` writes anew, authority and path.
fn rest(url: Url) -> Url {
    Url { authority: None, path: None, ..url }
}
