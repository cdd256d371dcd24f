//! Unit tests of URL parsing, building and resolution (`mod.rs`).

use super::*;

fn parsed(url: &str) -> Url {
    Url::parse(url.as_bytes()).expect("parses")
}

fn some(s: &str) -> Option<Vec<u8>> {
    Some(s.as_bytes().to_vec())
}

/// `absolute` with both sides given as text.
fn absolute(base: &[u8], relative: &[u8]) -> Vec<u8> {
    let parsed = Url::parse(base);
    resolve(parsed.as_ref().map(|url| (base, url)), Some(relative)).unwrap_or_default()
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
fn parses_luasocket_quirks() {
    assert_eq!(Url::parse(b""), None);
    // The authority runs to the next slash, '?' and '#' included.
    let url = parsed("http://host?q#f");
    assert_eq!((url.authority, url.query, url.fragment), (some("host?q#f"), None, None));
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
fn build_prefers_host_to_authority() {
    let url = Url { host: some("h"), authority: some("ignored"), userinfo: some("ui"), ..Url::default() };
    assert_eq!(url.build(), b"//ui@h");
    let url = Url { host: some("::1"), user: some("u"), password: some("p"), port: some("9"), ..Url::default() };
    assert_eq!(url.build(), b"//u:p@[::1]:9");
}

/// RFC 2396 appendix C, with LuaSocket's answers where they differ
/// from the RFC's (marked).
#[test]
fn absolute_resolves_the_rfc_2396_examples() {
    let base = b"http://a/b/c/d;p?q";
    let cases = [
        ("g:h", "g:h"),
        ("g", "http://a/b/c/g"),
        ("./g", "http://a/b/c/g"),
        ("g/", "http://a/b/c/g/"),
        ("/g", "http://a/g"),
        ("//g", "http://g"),
        ("?y", "http://a/b/c/d;p?y"), // RFC: http://a/b/c/?y
        ("g?y", "http://a/b/c/g?y"),
        ("#s", "http://a/b/c/d;p?q#s"),
        ("g#s", "http://a/b/c/g#s"),
        ("g?y#s", "http://a/b/c/g?y#s"),
        (";x", "http://a/b/c/d;x"), // RFC: http://a/b/c/;x
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
        ("", "http://a/b/c/d;p?q"),
        ("../../../g", "http://a/g"),    // RFC: http://a/../g
        ("../../../../g", "http://a/g"), // RFC: http://a/../../g
        ("/./g", "http://a/g"),          // RFC: http://a/./g
        ("/../g", "http://a/g"),         // RFC: http://a/../g
        ("g.", "http://a/b/c/g."),
        (".g", "http://a/b/c/.g"),
        ("g..", "http://a/b/c/g.."),
        ("..g", "http://a/b/c/..g"),
        ("./../g", "http://a/b/g"),
        ("./g/.", "http://a/b/c/g/"),
        ("g/./h", "http://a/b/c/g/h"),
        ("g/../h", "http://a/b/c/h"),
        ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
        ("g;x=1/../y", "http://a/b/c/y"),
        ("g?y/./x", "http://a/b/c/g?y/x"), // RFC: http://a/b/c/g?y/./x
        ("g?y/../x", "http://a/b/c/x"),    // RFC: http://a/b/c/g?y/../x
        ("g#s/./x", "http://a/b/c/g#s/x"), // RFC: http://a/b/c/g#s/./x
        ("g#s/../x", "http://a/b/c/x"),    // RFC: http://a/b/c/g#s/../x
        ("http:g", "http:g"),
    ];
    for (relative, expected) in cases {
        let resolved = absolute(base, relative.as_bytes());
        assert_eq!(String::from_utf8(resolved).unwrap(), expected, "relative {relative:?}");
    }
}

#[test]
fn absolute_with_missing_sides() {
    assert_eq!(absolute(b"", b"a/./b"), b"a/b");
    assert_eq!(absolute(b"http://a/b/../c", b""), b"http://a/c");
    assert_eq!(resolve(None, None), None);
    assert_eq!(absolute(b"http://a", b"b"), b"http://a/b");
    assert_eq!(absolute(b"http://a//b/c", b"../d"), b"http://a//d");
}

#[test]
fn paths_split_and_join() {
    let path = parse_path(b"/a%20b//c%2Fd/");
    assert_eq!(path.segments, [b"a b".to_vec(), b"c/d".to_vec()]);
    assert!(path.is_absolute && path.is_directory);
    assert_eq!(build_path(&path, false), b"/a%20b/c%2Fd/");
    assert_eq!(build_path(&path, true), b"/a b/c/d/");
    assert_eq!(parse_path(b""), Path::default());
    let root = parse_path(b"/");
    assert_eq!(build_path(&root, false), b"/");
    let kept = Path { segments: vec![b"-_.!~*'():@&=+$,".to_vec(), b"%?#".to_vec()], ..Path::default() };
    assert_eq!(build_path(&kept, false), b"-_.!~*'():@&=+$,/%25%3F%23");
}

/// LuaSocket's dot removal done literally (each rule rewritten at its
/// leftmost match until nothing changes), to check the one-pass
/// version against.
fn reference_remove_dots(path: &[u8]) -> Vec<u8> {
    fn replace_first(s: &mut Vec<u8>, from: &[u8], to: &[u8]) -> bool {
        match s.windows(from.len()).position(|w| w == from) {
            Some(at) => {
                s.splice(at..at + from.len(), to.iter().copied());
                true
            }
            None => false,
        }
    }
    let run = |s: &[u8], from: usize| from + s[from..].iter().take_while(|&&b| b != b'/').count();
    let mut s = path.to_vec();
    while replace_first(&mut s, b"//", &[b'/', MARKER, b'/']) {}
    while replace_first(&mut s, b"/./", b"/") {}
    'again: loop {
        for start in 0..s.len() {
            let end = run(&s, start);
            if end > start && s[end..].starts_with(b"/../") {
                let next = run(&s, end + 4);
                if next > end + 4 {
                    s.drain(start..end + 4);
                    continue 'again;
                }
            }
        }
        break;
    }
    for start in 0..s.len() {
        let end = run(&s, start);
        if end > start && s[end..].starts_with(b"/..") && s[end + 3..].iter().all(|&b| b == b'/') {
            s.truncate(start);
            break;
        }
    }
    // These three rules are applied once each, in both versions.
    trim_dot_leftovers(&mut s);
    s.retain(|&b| b != MARKER);
    s
}

#[test]
fn dot_removal_matches_the_literal_rewriting() {
    let alphabet = [b'/', b'/', b'.', b'.', b'a', MARKER];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 14) as usize;
        let path: Vec<u8> = (0..len).map(|i| alphabet[((state >> (8 + 3 * i)) % 6) as usize]).collect();
        let shown = String::from_utf8_lossy(&path);
        assert_eq!(remove_dot_segments(&path), reference_remove_dots(&path), "path {shown:?}");
    }
}
