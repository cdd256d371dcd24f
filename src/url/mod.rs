//! `async.url`: URL parsing, building and resolution.
//!
//! The functions and their behaviour are those of the original async's
//! `url.lua`, which is LuaSocket 2.0's `socket.url` (`escape`, `unescape`,
//! `parse`, `build`, `absolute`, `parse_path`, `build_path`), quirks
//! included, so that code written for it works unchanged; `absolute` alone
//! departs from it, where its answer is wrong by RFC 3986 (`merge_paths`).
//! The string work here is plain Rust over bytes (Lua strings need not be
//! UTF-8); `lua.rs` only moves values between Lua and it.
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
            push_hex(&mut out, b);
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
/// in a segment stay as they are.
fn protect_segment(segment: &[u8], out: &mut Vec<u8>) {
    const ALLOWED: &[u8] = b"-_.!~*'():@&=+$,";
    for &b in segment {
        if b.is_ascii_alphanumeric() || ALLOWED.contains(&b) {
            out.push(b);
        } else {
            push_hex(out, b);
        }
    }
}

/// `%xx`, in lowercase hex, as the original writes every escape.
fn push_hex(out: &mut Vec<u8>, b: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(&[b'%', DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
}

fn hex_value(b: Option<&u8>) -> Option<u8> {
    (*b? as char).to_digit(16).map(|d| d as u8)
}

// ---------------------------------------------------------------------------
// Parsed URLs

/// The parts of a URL, named as in RFC 2396 (and the original):
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
    /// caller copies the rest). As in the original, a default authority or
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
    /// is a host, take precedence over `authority` and `userinfo`. The
    /// path is written anew, through `parse_path` and `build_path`: its
    /// segments are unescaped then escaped again, and empty ones dropped.
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
        out.extend_from_slice(&build_path(&parse_path(self.path.as_deref().unwrap_or_default()), false));
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
        // A colon in the host can only be an IPv6 address's, which is
        // bracketed so that it is not taken for a port.
        if host.contains(&b':') {
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

    /// `relative` (parsed) resolved against this URL as its base, as the
    /// original's `absolute` does it (RFC 1808's way: `;params` are a part
    /// of their own), written out; `None` when `relative` has a scheme: it
    /// is then the answer as it came.
    pub fn resolve(&self, mut relative: Url) -> Option<Vec<u8>> {
        if relative.scheme.is_some() {
            return None;
        }
        relative.scheme.clone_from(&self.scheme);
        if relative.authority.is_none() {
            relative.authority.clone_from(&self.authority);
            match &relative.path {
                Some(path) => relative.path = Some(merge_paths(self, path)),
                None => {
                    relative.path.clone_from(&self.path);
                    if relative.params.is_none() {
                        relative.params.clone_from(&self.params);
                        if relative.query.is_none() {
                            relative.query.clone_from(&self.query);
                        }
                    }
                }
            }
        }
        Some(relative.build())
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

/// Fragment, scheme, authority, query, params and path, taken off in that
/// order: the fragment from the first `#`, then the authority (after
/// `//`) up to the next `/`, whatever it holds (a `?` or `;` in it
/// included: that is the original's reading), then the query from the
/// first `?` and the params from the first `;` of what is left.
fn split_generic(url: &[u8]) -> Url {
    let mut parts = Url::default();
    let mut rest = url;
    if let Some(at) = find(rest, b'#') {
        parts.fragment = Some(rest[at + 1..].to_vec());
        rest = &rest[..at];
    }
    if let Some((scheme, after)) = split_scheme(rest) {
        parts.scheme = Some(scheme.to_vec());
        rest = after;
    }
    if let Some(after) = rest.strip_prefix(b"//") {
        let end = find(after, b'/').unwrap_or(after.len());
        parts.authority = Some(after[..end].to_vec());
        rest = &after[end..];
    }
    for (separator, part) in [(b'?', &mut parts.query), (b';', &mut parts.params)] {
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

/// The path of a reference, `relative`: as it is when it starts with `/`,
/// else taken from the directory of `base`'s path (all up to its last
/// `/`) and rid of its dot segments.
///
/// Two things differ from the original, where its answer is wrong by RFC
/// 3986 (docs/url.md, "Differs from the original"): a base with an authority and an empty path
/// has `/` for its directory (section 5.2.3), where the original glued the
/// reference onto the host (`http://a` and `b` gave `http://ab`); and
/// `remove_dot_segments` keeps the root.
fn merge_paths(base: &Url, relative: &[u8]) -> Vec<u8> {
    if relative.starts_with(b"/") {
        return relative.to_vec();
    }
    let base_path = base.path.as_deref().unwrap_or_default();
    let mut joined = if base.authority.is_some() && base_path.is_empty() {
        b"/".to_vec()
    } else {
        base_path[..rfind(base_path, b'/').map_or(0, |slash| slash + 1)].to_vec()
    };
    joined.extend_from_slice(relative);
    remove_dot_segments(&joined)
}

/// Removes `.` and `..` segments as the original does: a `.` followed by
/// a `/` goes, and a final `/.` leaves its `/`; then `segment/../` goes,
/// again and again, for any segment but `..` (so `../../` stays); then a
/// final `segment/..` goes. Unlike the original, a `..` never takes the
/// root of a path that starts with `/` away (RFC 3986 section 5.2.4): the
/// original turned `/../g` into `g`, which `build` glued to the host.
///
/// The original rewrites the text until nothing changes; a stack of
/// segments reaches the same end in one pass, since no two of its
/// rewrites overlap.
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let rooted = path.starts_with(b"/");
    let mut segments: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    let last = segments.len() - 1;
    let mut i = 0;
    segments.retain(|&segment| {
        i += 1;
        segment != b"." || i > last
    });
    let n = segments.len();
    if n >= 2 && segments[n - 1] == b"." {
        segments[n - 1] = b"";
    }
    let mut kept: Vec<&[u8]> = Vec::with_capacity(n);
    for (i, segment) in segments.into_iter().enumerate() {
        match kept.last() {
            Some(&top) if segment == b".." && i + 1 < n && top != b".." => {
                if !(rooted && kept.len() == 1) {
                    kept.pop();
                }
            }
            _ => kept.push(segment),
        }
    }
    let n = kept.len();
    if n >= 2 && kept[n - 1] == b".." && kept[n - 2] != b".." {
        // It leaves the slash before it, and `/..` leaves the root.
        kept.truncate(n - 2);
        if rooted && kept.is_empty() {
            kept.push(b"");
        }
        if !kept.is_empty() {
            kept.push(b"");
        }
    }
    kept.join(&b'/')
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
