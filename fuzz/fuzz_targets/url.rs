//! URL parsing and building, escaping, and paths (LuaSocket's `socket.url`
//! functions).
//!
//! Input: any bytes, taken as a URL, a path and a string to escape.
//! Invariants:
//! - nothing panics;
//! - `unescape(escape(s)) == s`, escape writes only `[A-Za-z0-9_%]`, and
//!   `unescape` never grows its input (nor changes one without `%`);
//! - `parse` fails only for the empty string; `build(parse(u))` parses to
//!   the same parts (the authority, which `build` writes anew from host,
//!   port and userinfo, aside) and, when there is no host, is `u` itself;
//! - a built URL is no longer than the parts it was built from allow;
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
            for part in
                [&parsed.scheme, &parsed.authority, &parsed.path, &parsed.params, &parsed.query, &parsed.fragment]
                    .into_iter()
                    .flatten()
            {
                assert!(part.len() <= data.len(), "a part longer than the URL");
            }
            let built = parsed.build();
            if parsed.host.is_none() {
                assert_eq!(built, data, "a URL without a host is not built back as it came");
            }
            // Brackets around an IPv6 host are the most `build` adds.
            assert!(built.len() <= data.len() + 2, "the built URL grew by more than brackets");
            let reparsed = Url::parse(&built).expect("a built URL is never empty");
            assert_eq!(without_authority(reparsed), without_authority(parsed), "build then parse changed the parts");
        }
    }

    let path = parse_path(data);
    assert!(path.segments.iter().all(|segment| !segment.is_empty()), "an empty segment");
    let built = build_path(&path, false);
    assert_eq!(parse_path(&built), path, "parse_path(build_path(p)) != p");
    if path.segments.iter().all(|segment| !segment.contains(&b'/') && !segment.contains(&b'%')) {
        assert_eq!(parse_path(&build_path(&path, true)), path, "unsafe build_path does not read back");
    }
});

fn without_authority(mut url: Url) -> Url {
    url.authority = None;
    url
}
