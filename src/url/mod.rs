//! `async.url`: URL parsing, building and resolution (RFC 2396).
//!
//! The functions and their behaviour are those of LuaSocket's `socket.url`
//! (`escape`, `unescape`, `parse`, `build`, `absolute`, `parse_path`,
//! `build_path`), quirks included, so that code written for it works
//! unchanged. The string work here is plain Rust over bytes (Lua strings
//! need not be UTF-8); `lua.rs` only moves values between Lua and it.
//!
//! May touch: nothing outside itself: no Lua, no libuv.

mod lua;

pub use lua::install;

// ---------------------------------------------------------------------------
// Escaping

/// `%xx` (lowercase hex) for every byte but ASCII letters, digits and `_`.
pub fn escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || b == b'_' {
            out.push(b);
        } else {
            push_hex(&mut out, b, b"0123456789abcdef");
        }
    }
    out
}

/// Decodes every `%` followed by two hex digits; anything else, including
/// a stray `%`, is kept as it is.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(hi), Some(lo)) = (hex_value(s.get(i + 1)), hex_value(s.get(i + 2)))
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Escapes a path segment: unlike `escape`, the characters RFC 2396 allows
/// in a segment stay as they are, and the hex is uppercase.
fn protect_segment(segment: &[u8], out: &mut Vec<u8>) {
    const ALLOWED: &[u8] = b"-_.!~*'():@&=+$,";
    for &b in segment {
        if b.is_ascii_alphanumeric() || ALLOWED.contains(&b) {
            out.push(b);
        } else {
            push_hex(out, b, b"0123456789ABCDEF");
        }
    }
}

fn push_hex(out: &mut Vec<u8>, b: u8, digits: &[u8; 16]) {
    out.extend_from_slice(&[b'%', digits[usize::from(b >> 4)], digits[usize::from(b & 15)]]);
}

fn hex_value(b: Option<&u8>) -> Option<u8> {
    (*b? as char).to_digit(16).map(|d| d as u8)
}

// ---------------------------------------------------------------------------
// Parsed URLs

/// The parts of a URL, named as in RFC 2396 (and LuaSocket):
/// `scheme://userinfo@host:port/path;params?query#fragment`, where
/// `authority` is `userinfo@host:port` and `userinfo` is `user:password`.
/// A part is `None` when it is absent, `Some(b"")` when present but empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Url {
    pub scheme: Option<Vec<u8>>,
    pub authority: Option<Vec<u8>>,
    pub path: Option<Vec<u8>>,
    pub params: Option<Vec<u8>>,
    pub query: Option<Vec<u8>>,
    pub fragment: Option<Vec<u8>>,
    pub userinfo: Option<Vec<u8>>,
    pub user: Option<Vec<u8>>,
    pub password: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
    pub port: Option<Vec<u8>>,
}

impl Url {
    /// The parts of `url`, or `None` for an empty one.
    pub fn parse(url: &[u8]) -> Option<Url> {
        Url::parse_with(url, &Url::default())
    }

    /// The parts that parsing `url` sets, to be laid over `defaults` (the
    /// caller copies the rest). As in LuaSocket, a default authority or
    /// userinfo is split into its parts when `url` has none of its own.
    pub fn parse_with(url: &[u8], defaults: &Url) -> Option<Url> {
        if url.is_empty() {
            return None;
        }
        let mut parts = split_generic(url);
        let authority = parts.authority.clone().or_else(|| defaults.authority.clone());
        if let Some(authority) = authority {
            split_authority(&authority, &mut parts);
            let userinfo = parts.userinfo.clone().or_else(|| defaults.userinfo.clone());
            if let Some(userinfo) = userinfo {
                split_userinfo(&userinfo, &mut parts);
            }
        }
        Some(parts)
    }

    /// The URL as text. `host`, `port`, `user` and `password`, when there
    /// is a host, take precedence over `authority` and `userinfo`.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(scheme) = &self.scheme {
            out.extend_from_slice(scheme);
            out.push(b':');
        }
        if let Some(authority) = self.authority_text() {
            out.extend_from_slice(b"//");
            out.extend_from_slice(&authority);
        }
        if let Some(path) = &self.path {
            out.extend_from_slice(path);
        }
        for (separator, part) in [(b';', &self.params), (b'?', &self.query), (b'#', &self.fragment)] {
            if let Some(part) = part {
                out.push(separator);
                out.extend_from_slice(part);
            }
        }
        out
    }

    fn authority_text(&self) -> Option<Vec<u8>> {
        let Some(host) = &self.host else {
            return self.authority.clone();
        };
        let mut out = Vec::new();
        let userinfo = match &self.user {
            Some(user) => Some(join_optional(user, b':', self.password.as_deref())),
            None => self.userinfo.clone(),
        };
        if let Some(userinfo) = userinfo {
            out.extend_from_slice(&userinfo);
            out.push(b'@');
        }
        // A colon in the host can only be an IPv6 address, which is
        // bracketed so that it is not taken for a port. A host that is
        // itself bracketed is bracketed again: parsing takes one pair off.
        if host.contains(&b':') || (host.len() >= 2 && host.starts_with(b"[") && host.ends_with(b"]")) {
            out.push(b'[');
            out.extend_from_slice(host);
            out.push(b']');
        } else {
            out.extend_from_slice(host);
        }
        if let Some(port) = &self.port {
            out.push(b':');
            out.extend_from_slice(port);
        }
        Some(out)
    }
}

/// `first` followed by `separator` and `second` if there is a second.
fn join_optional(first: &[u8], separator: u8, second: Option<&[u8]>) -> Vec<u8> {
    let mut out = first.to_vec();
    if let Some(second) = second {
        out.push(separator);
        out.extend_from_slice(second);
    }
    out
}

/// Scheme, authority, path, params, query and fragment. The authority runs
/// to the next `/`, whatever it holds (a `?` or `#` in it included: that
/// is LuaSocket's reading); then the first `#`, the first `?` and the first
/// `;` of what is left start the fragment, query and params.
fn split_generic(url: &[u8]) -> Url {
    let mut parts = Url::default();
    let mut rest = url;
    if let Some((scheme, after)) = split_scheme(rest) {
        parts.scheme = Some(scheme.to_vec());
        rest = after;
    }
    if let Some(after) = rest.strip_prefix(b"//") {
        let end = find(after, b'/').unwrap_or(after.len());
        parts.authority = Some(after[..end].to_vec());
        rest = &after[end..];
    }
    for (separator, part) in [(b'#', &mut parts.fragment), (b'?', &mut parts.query), (b';', &mut parts.params)] {
        if let Some(at) = find(rest, separator) {
            *part = Some(rest[at + 1..].to_vec());
            rest = &rest[..at];
        }
    }
    if !rest.is_empty() {
        parts.path = Some(rest.to_vec());
    }
    parts
}

/// A leading `letter-or-digit *(letter | digit | + | - | .) :` is a scheme.
fn split_scheme(url: &[u8]) -> Option<(&[u8], &[u8])> {
    if !url.first()?.is_ascii_alphanumeric() {
        return None;
    }
    let end = url.iter().position(|&b| !(b.is_ascii_alphanumeric() || b"+-.".contains(&b)))?;
    (url[end] == b':').then(|| (&url[..end], &url[end + 1..]))
}

/// Sets the parts of `userinfo@host:port` that it has. The port follows
/// the last colon unless a `]` comes after it (the colons were then an
/// IPv6 address's); an empty host is absent, and a host loses its brackets.
fn split_authority(authority: &[u8], parts: &mut Url) {
    let mut rest = authority;
    if let Some(at) = find(rest, b'@') {
        parts.userinfo = Some(rest[..at].to_vec());
        rest = &rest[at + 1..];
    }
    if let Some(colon) = rfind(rest, b':')
        && !rest[colon..].contains(&b']')
    {
        parts.port = Some(rest[colon + 1..].to_vec());
        rest = &rest[..colon];
    }
    parts.host = match rest {
        [] => None,
        [b'[', inner @ .., b']'] if !inner.is_empty() => Some(inner.to_vec()),
        _ => Some(rest.to_vec()),
    };
}

/// Sets the user (always) and password of `user:password`, split at the
/// last colon.
fn split_userinfo(userinfo: &[u8], parts: &mut Url) {
    let (user, password) = match rfind(userinfo, b':') {
        Some(colon) => (&userinfo[..colon], Some(userinfo[colon + 1..].to_vec())),
        None => (userinfo, None),
    };
    parts.user = Some(user.to_vec());
    parts.password = password;
}

fn find(s: &[u8], b: u8) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

fn rfind(s: &[u8], b: u8) -> Option<usize> {
    s.iter().rposition(|&c| c == b)
}

// ---------------------------------------------------------------------------
// Resolution

/// `relative` resolved against `base`. `base` is its text and its parts,
/// or `None` if it did not parse; `relative` is `None` when not given. As in
/// LuaSocket, an unparsable side leaves the other as the result (`None`
/// if that is missing too), and dot segments are removed from the whole
/// result, not only from its path.
fn resolve(base: Option<(&[u8], &Url)>, relative: Option<&[u8]>) -> Option<Vec<u8>> {
    let relative_parts = relative.and_then(Url::parse);
    let joined = match (base, relative_parts) {
        (None, _) => relative?.to_vec(),
        (Some((base_text, _)), None) => base_text.to_vec(),
        (Some(_), Some(parts)) if parts.scheme.is_some() => relative?.to_vec(),
        (Some((_, base_parts)), Some(parts)) => inherit(base_parts, parts).build(),
    };
    Some(remove_dot_segments(&joined))
}

/// A scheme-less reference completed from its base (RFC 2396 section
/// 5.2): it takes the base's scheme, and each part it lacks from the
/// authority on, up to its first part of its own. A relative path is
/// joined to the base's directory.
fn inherit(base: &Url, mut relative: Url) -> Url {
    relative.scheme.clone_from(&base.scheme);
    if relative.authority.is_some() {
        return relative;
    }
    relative.authority.clone_from(&base.authority);
    if let Some(path) = &relative.path {
        relative.path = Some(join_paths(base.path.as_deref().unwrap_or_default(), path));
        return relative;
    }
    relative.path.clone_from(&base.path);
    if relative.params.is_none() {
        relative.params.clone_from(&base.params);
        if relative.query.is_none() {
            relative.query.clone_from(&base.query);
        }
    }
    relative
}

/// `relative` taken from the directory of `base` (all up to its last `/`;
/// `/` if it has none).
fn join_paths(base: &[u8], relative: &[u8]) -> Vec<u8> {
    if relative.starts_with(b"/") {
        return remove_dot_segments(relative);
    }
    let mut joined = match rfind(base, b'/') {
        Some(slash) => base[..=slash].to_vec(),
        None => b"/".to_vec(),
    };
    joined.extend_from_slice(relative);
    remove_dot_segments(&joined)
}

/// Stands in for the empty segment between two slashes while dot segments
/// are removed, so that `a//../b` keeps `a/`. Removed at the end, with any
/// such byte the input had (as LuaSocket does).
const MARKER: u8 = 1;

/// Removes `.` and `..` segments the way LuaSocket does, which is applied
/// to whole URLs too: `http:` counts as a segment, `..` at the root
/// vanishes and never climbs above it.
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let marked = mark_empty_segments(path);
    let without_dots = drop_dot_segments(&marked);
    let mut out = collapse_parent_segments(&without_dots);
    trim_dot_ends(&mut out);
    out.retain(|&b| b != MARKER);
    out
}

/// `//` becomes `/MARKER/`, so that no segment but the first and the last
/// is empty.
fn mark_empty_segments(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        if b == b'/' && out.last() == Some(&b'/') {
            out.push(MARKER);
        }
        out.push(b);
    }
    out
}

/// Every `/./` becomes `/`, including those that appear by doing so.
fn drop_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        out.push(b);
        if out.ends_with(b"/./") {
            out.truncate(out.len() - 2);
        }
    }
    out
}

/// `segment/../next` becomes `next`, repeatedly, for a non-empty segment
/// and a non-empty next one (so a `..` that ends the path, or stands at
/// its start, stays for `trim_dot_ends`). A stack of segments does in one
/// pass what LuaSocket's repeated leftmost rewriting does.
fn collapse_parent_segments(path: &[u8]) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    for segment in path.split(|&b| b == b'/') {
        while !segment.is_empty() && kept.len() >= 2 && kept[kept.len() - 1] == b".." && !kept[kept.len() - 2].is_empty() {
            kept.truncate(kept.len() - 2);
        }
        kept.push(segment);
    }
    kept.join(&b'/')
}

/// The leftovers at the ends: a final `segment/..` (with any slashes after
/// it) goes entirely, a final `/..` or `/.` leaves its `/`, and a leading
/// `/../` becomes `/`.
fn trim_dot_ends(path: &mut Vec<u8>) {
    let end = path.len() - path.iter().rev().take_while(|&&b| b == b'/').count();
    if path[..end].ends_with(b"/..") {
        let slash = end - 3;
        let start = rfind(&path[..slash], b'/').map_or(0, |i| i + 1);
        if start < slash {
            path.truncate(start);
        }
    }
    trim_dot_leftovers(path);
}

/// LuaSocket's last three rules, applied once each: a final `/..` or `/.`
/// leaves its `/`, and a leading `/../` becomes `/`.
fn trim_dot_leftovers(path: &mut Vec<u8>) {
    if path.ends_with(b"/..") {
        path.truncate(path.len() - 2);
    }
    if path.ends_with(b"/.") {
        path.truncate(path.len() - 1);
    }
    if path.starts_with(b"/../") {
        path.drain(..3);
    }
}

// ---------------------------------------------------------------------------
// Paths

/// A path split into its segments, each unescaped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path {
    pub segments: Vec<Vec<u8>>,
    /// It starts with `/`.
    pub is_absolute: bool,
    /// It ends with `/`.
    pub is_directory: bool,
}

/// Splits at every `/`; empty segments are dropped.
pub fn parse_path(path: &[u8]) -> Path {
    Path {
        segments: path.split(|&b| b == b'/').filter(|s| !s.is_empty()).map(unescape).collect(),
        is_absolute: path.starts_with(b"/"),
        is_directory: path.ends_with(b"/"),
    }
}

/// Joins segments with `/`, escaping each unless `unsafe_segments`. The
/// trailing `/` of a directory is only written after a segment.
pub fn build_path(path: &Path, unsafe_segments: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if path.is_absolute {
        out.push(b'/');
    }
    for (i, segment) in path.segments.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        if unsafe_segments {
            out.extend_from_slice(segment);
        } else {
            protect_segment(segment, &mut out);
        }
    }
    if path.is_directory && !path.segments.is_empty() {
        out.push(b'/');
    }
    out
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
