//! Unit tests of URL parsing, building and resolution (`mod.rs`).

use super::*;

fn parsed(url: &str) -> Url {
    Url::parse(url.as_bytes()).expect("parses")
}

fn some(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

/// `absolute` with both sides given as (non-empty) text.
fn absolute(base: &str, relative: &str) -> String {
    let resolved = parsed(base).resolve(parsed(relative)).unwrap_or_else(|| relative.as_bytes().to_vec());
    String::from_utf8(resolved).unwrap()
}

#[test]
fn escape_and_unescape_round_trip_every_byte() {
    let all: Vec<u8> = (0..=255).collect();
    let escaped = escape(&all);
    assert!(escaped.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'%'));
    assert_eq!(unescape(&escaped), all);
    for b in 0..=255u8 {
        assert_eq!(unescape(&escape(&[b])), [b]);
    }
}

#[test]
fn escape_uses_lowercase_hex() {
    assert_eq!(escape(b"a b/\xff_Z9"), b"a%20b%2f%ff_Z9");
}

#[test]
fn unescape_keeps_malformed_escapes() {
    assert_eq!(unescape(b"%41%4a%4A"), b"AJJ");
    assert_eq!(unescape(b"%%41%4%g1%"), b"%A%4%g1%");
    assert_eq!(unescape(b"%2541"), b"%41");
}

#[test]
fn parses_a_full_url() {
    let url = parsed("http://user:pw@host:8080/a/b;p?q=1#f");
    assert_eq!(
        url,
        Url {
            scheme: some("http"),
            authority: some("user:pw@host:8080"),
            path: some("/a/b"),
            params: some("p"),
            query: some("q=1"),
            fragment: some("f"),
            userinfo: some("user:pw"),
            user: some("user"),
            password: some("pw"),
            host: some("host"),
            port: some("8080"),
        }
    );
}

#[test]
fn parses_ipv6_hosts() {
    let url = parsed("http://[::1]:80/x");
    assert_eq!((url.host, url.port), (some("::1"), some("80")));
    let url = parsed("http://[fe80::1%25eth0]/");
    assert_eq!((url.host, url.port), (some("fe80::1%25eth0"), None));
    assert_eq!(parsed("//[]").host, some("[]"));
}

#[test]
fn parses_the_original_quirks() {
    assert_eq!(Url::parse(b""), None);
    // The fragment is cut first; the authority runs to the next slash,
    // '?' and ';' included.
    let url = parsed("http://host?q;p#f");
    assert_eq!((url.authority, url.query, url.fragment), (some("host?q;p"), None, some("f")));
    let url = parsed("http://host#frag@evil");
    assert_eq!((url.host, url.fragment), (some("host"), some("frag@evil")));
    // Empty parts are present, not absent.
    let url = parsed("http://h:/p;?#");
    assert_eq!((url.port, url.params, url.query, url.fragment), (some(""), some(""), some(""), some("")));
    // A digit may start a scheme.
    assert_eq!(parsed("1a+b-c.d:x").scheme, some("1a+b-c.d"));
    assert_eq!(parsed("+a:x").scheme, None);
    // The password follows the last colon; the user is always set.
    let url = parsed("//a:b:c@h");
    assert_eq!((url.user, url.password), (some("a:b"), some("c")));
    assert_eq!(parsed("//@h").user, some(""));
    assert_eq!(parsed("file:///etc").host, None);
}

#[test]
fn parse_splits_a_default_authority() {
    let defaults = Url { authority: some("u@h:1"), ..Url::default() };
    let url = Url::parse_with(b"/x", &defaults).unwrap();
    assert_eq!((url.user, url.host, url.port, url.authority), (some("u"), some("h"), some("1"), None));
    let defaults = Url { userinfo: some("a:b"), ..Url::default() };
    let url = Url::parse_with(b"//h/x", &defaults).unwrap();
    assert_eq!((url.user, url.password, url.userinfo), (some("a"), some("b"), None));
}

#[test]
fn build_inverts_parse() {
    for url in [
        "http://user:pw@host:8080/a/b;p?q=1#f",
        "http://[::1]:80/x",
        "ftp://u@h/",
        "mailto:someone@example.com",
        "/just/a/path?x",
        "//host",
        "http://h:/p;?#",
        "g;x?y#s",
        "#only",
        "urn:isbn:0451450523",
    ] {
        assert_eq!(String::from_utf8(parsed(url).build()).unwrap(), url);
    }
}

#[test]
fn build_writes_the_path_anew() {
    let url = Url { scheme: some("http"), host: some("h"), path: some("/a b"), ..Url::default() };
    assert_eq!(url.build(), b"http://h/a%20b");
    let url = Url { path: some("//a//b%2F/%41/"), params: some("p q"), ..Url::default() };
    assert_eq!(url.build(), b"/a/b%2f/A/;p q");
    // Only a host with a colon is bracketed.
    assert_eq!(Url { host: some("[x]"), ..Url::default() }.build(), b"//[x]");
}

#[test]
fn build_prefers_host_to_authority() {
    let url = Url { host: some("h"), authority: some("ignored"), userinfo: some("ui"), ..Url::default() };
    assert_eq!(url.build(), b"//ui@h");
    let url = Url { host: some("::1"), user: some("u"), password: some("p"), port: some("9"), ..Url::default() };
    assert_eq!(url.build(), b"//u:p@[::1]:9");
}

/// RFC 3986 section 5.4, with the original's answers where they differ
/// from the RFC's but name the same resource (marked), and the RFC's where
/// the original's are wrong (marked too).
#[test]
fn absolute_resolves_the_rfc_3986_examples() {
    let base = "http://a/b/c/d;p?q";
    let cases = [
        ("g:h", "g:h"),
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g"),
        ("?y", "http://a/b/c/d;p?y"),
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q#s"),
        ("g#s", "http://a/b/c/g#s"),
        ("g?y#s", "http://a/b/c/g?y#s"),
        (";x", "http://a/b/c/d;x"), // RFC: http://a/b/c/;x (RFC 1808 reads ;x as params)
        ("g;x", "http://a/b/c/g;x"),
        ("g;x?y#s", "http://a/b/c/g;x?y#s"),
        (".", "http://a/b/c/"),
        ("./", "http://a/b/c/"),
        ("..", "http://a/b/"),
        ("../", "http://a/b/"),
        ("../g", "http://a/b/g"),
        ("../..", "http://a/"),
        ("../../", "http://a/"),
        ("../../g", "http://a/g"),
        ("../../../g", "http://a/g"),    // the original: http://ag
        ("../../../../g", "http://a/g"), // the original: http://a../g
        ("/./g", "http://a/./g"),        // RFC: http://a/g
        ("/../g", "http://a/../g"),      // RFC: http://a/g
        ("g.", "http://a/b/c/g."),
        (".g", "http://a/b/c/.g"),
        ("g..", "http://a/b/c/g.."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("./g/.", "http://a/b/c/g/"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("g;x=1/./y", "http://a/b/c/g;x=1/./y"),   // RFC: http://a/b/c/g;x=1/y
        ("g;x=1/../y", "http://a/b/c/g;x=1/../y"), // RFC: http://a/b/c/y
        ("g?y/./x", "http://a/b/c/g?y/./x"),
        ("g?y/../x", "http://a/b/c/g?y/../x"),
        ("g#s/./x", "http://a/b/c/g#s/./x"),
        ("g#s/../x", "http://a/b/c/g#s/../x"),
        ("http:g", "http:g"),
    ];
    for (relative, expected) in cases {
        assert_eq!(absolute(base, relative), expected, "relative {relative:?}");
    }
}

#[test]
fn absolute_merges_relative_paths() {
    for (base, relative, expected) in [
        // As the original.
        ("a", "b", "b"),
        ("mailto:x", "y", "mailto:y"),
        ("a/b", "../../c", "../c"),
        ("http://h/a/b", "c d", "http://h/a/c%20d"),
        ("http://a//b/c", "../d", "http://a/d"),
        ("http://a/b", "x:/a/../b", "x:/a/../b"),
        // The original glued the reference onto the host: http://ab, //h.
        ("http://a", "b", "http://a/b"),
        ("//h", ".", "//h/"),
        // The original took the root away: http://ag, g, http://a.
        ("http://a/b", "../../g", "http://a/g"),
        ("/a/b", "../../g", "/g"),
        ("http://a/b/", "../..", "http://a/"),
    ] {
        assert_eq!(absolute(base, relative), expected, "{base:?} and {relative:?}");
    }
}

#[test]
fn paths_split_and_join() {
    let path = parse_path(b"/a%20b//c%2Fd/");
    assert_eq!(path.segments, [b"a b".to_vec(), b"c/d".to_vec()]);
    assert!(path.is_absolute && path.is_directory);
    assert_eq!(build_path(&path, false), b"/a%20b/c%2fd/");
    assert_eq!(build_path(&path, true), b"/a b/c/d/");
    assert_eq!(parse_path(b""), Path::default());
    let root = parse_path(b"/");
    assert_eq!(build_path(&root, false), b"/");
    let kept = Path { segments: vec![b"-_.!~*'():@&=+$,".to_vec(), b"%?#".to_vec()], ..Path::default() };
    assert_eq!(build_path(&kept, false), b"-_.!~*'():@&=+$,/%25%3f%23");
}

/// The original's dot removal done as it does it, in passes over the
/// segments until one changes nothing (each pass takes `segment/../` out
/// at its leftmost place, steps over `../../`, and goes on after what it
/// took out), with the root kept: to check the one-pass version against.
fn reference_remove_dots(path: &[u8]) -> Vec<u8> {
    let rooted = path.starts_with(b"/");
    let all: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    let mut segments: Vec<&[u8]> =
        all.iter().enumerate().filter(|&(i, s)| *s != b"." || i + 1 == all.len()).map(|(_, s)| *s).collect();
    let n = segments.len();
    if n >= 2 && segments[n - 1] == b"." {
        segments[n - 1] = b"";
    }
    loop {
        let mut next = Vec::new();
        let mut i = 0;
        while i < segments.len() {
            if i + 2 < segments.len() && segments[i + 1] == b".." {
                if segments[i] == b".." {
                    next.extend_from_slice(&segments[i..i + 2]);
                } else if rooted && i == 0 {
                    next.push(segments[0]);
                }
                i += 2;
            } else {
                next.push(segments[i]);
                i += 1;
            }
        }
        if next.len() == segments.len() {
            break;
        }
        segments = next;
    }
    let n = segments.len();
    if n >= 2 && segments[n - 1] == b".." && segments[n - 2] != b".." {
        if rooted && n == 2 {
            return b"/".to_vec();
        }
        // The text up to the segment before the `..`.
        let mut text = segments[..n - 2].join(&b'/');
        if n > 2 {
            text.push(b'/');
        }
        return text;
    }
    segments.join(&b'/')
}

#[test]
fn dot_removal_matches_the_passes() {
    let alphabet: [&[u8]; 6] = [b"/", b"/", b".", b"..", b"a", b"./"];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 14) as usize;
        let path: Vec<u8> = (0..len).flat_map(|i| alphabet[((state >> (8 + 3 * i)) % 6) as usize].to_vec()).collect();
        let shown = String::from_utf8_lossy(&path);
        assert_eq!(remove_dot_segments(&path), reference_remove_dots(&path), "path {shown:?}");
    }
}

#[test]
fn dot_removal_keeps_the_root() {
    for (path, expected) in [
        ("/../g", "/g"),
        ("/..", "/"),
        ("/a/../../b/", "/b/"),
        ("a/../../b", "../b"),
        ("../../x", "../../x"),
        ("a/./b/.", "a/b/"),
        ("./.", "."),
        ("a//../b", "a/b"),
        ("x/..", ""),
    ] {
        assert_eq!(String::from_utf8(remove_dot_segments(path.as_bytes())).unwrap(), expected, "path {path:?}");
    }
}
