//! Where to listen or connect: the `domain` argument of `tcp.listen`,
//! `tcp.connect` (and of the HTTP and JSON servers built on them):
//! a table `{host=, port=}` (port a number or a numeric string) or a URL
//! string `'tcp://host:port/'`, IPv6 literals in brackets.
//!
//! Pure Rust apart from reading the Lua table.

use mlua::{Table, Value};

use crate::core::boundary::fail;
use crate::core::options::OptionTable;

#[derive(Debug, PartialEq, Eq)]
pub struct Domain {
    pub host: String,
    pub port: u16,
    pub backlog: Option<i32>,
}

/// Reads `domain` from a table or a URL string. `default_port` fills a
/// missing port from the URL's scheme (`tcp.protocols`).
pub fn domain_of(
    value: &Value,
    function: &str,
    default_host: &str,
    default_port: impl Fn(&str) -> Option<u16>,
) -> mlua::Result<Domain> {
    match value {
        Value::Table(t) => from_table(t, function, default_host),
        Value::String(s) => parse_url(&s.to_str()?, function, default_host, default_port),
        other => fail(format!(
            "bad argument #1 to '{function}' (table or string expected, got {})",
            crate::core::boundary::lua_type_name(other)
        )),
    }
}

fn from_table(t: &Table, function: &str, default_host: &str) -> mlua::Result<Domain> {
    let options = OptionTable::new(Some(t), function);
    let host = options.text("host")?.unwrap_or_else(|| default_host.to_string());
    let Some(port) = options.port("port")? else {
        return fail(format!("{function}: the domain needs a port"));
    };
    let backlog = options.positive("backlog")?.map(|n| n.clamp(1.0, i32::MAX as f64) as i32);
    Ok(Domain { host: unbracket(&host).to_string(), port, backlog })
}

/// A host without the brackets of an IPv6 literal (`[::1]` -> `::1`).
pub fn unbracket(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// The parts of a `scheme://[userinfo@]host[:port][/path][?query][#fragment]`
/// URL, the host possibly `[v6]` (unbracketed here). None if it is not of
/// that shape.
#[derive(Debug, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    pub host: &'a str,
    /// The port as written (checked by the caller).
    pub port: Option<&'a str>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

pub fn url_parts(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    let (userinfo, authority) = match authority.rsplit_once('@') {
        Some((userinfo, authority)) => (Some(userinfo), authority),
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    Some(UrlParts { scheme, userinfo, host, port: port.filter(|p| !p.is_empty()), path, query, fragment })
}

/// `scheme://host[:port][/...]`, the host possibly `[v6]`.
fn parse_url(url: &str, function: &str, default_host: &str, default_port: impl Fn(&str) -> Option<u16>) -> mlua::Result<Domain> {
    let Some(parts) = url_parts(url) else {
        return fail(format!("{function}: cannot read '{url}' as scheme://host:port/"));
    };
    let port = match parts.port {
        Some(p) => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => return fail(format!("{function}: bad port '{p}' in '{url}'")),
        },
        None => match default_port(&parts.scheme.to_ascii_lowercase()) {
            Some(p) => p,
            None => return fail(format!("{function}: '{url}' has no port and '{}' no default port", parts.scheme)),
        },
    };
    let host = if parts.host.is_empty() { default_host } else { parts.host };
    Ok(Domain { host: host.to_string(), port, backlog: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Domain {
        parse_url(s, "listen", "0.0.0.0", |scheme| (scheme == "http").then_some(80)).unwrap()
    }

    #[test]
    fn urls_give_host_and_port() {
        assert_eq!(url("tcp://localhost:8080/"), Domain { host: "localhost".into(), port: 8080, backlog: None });
        assert_eq!(url("tcp://127.0.0.1:0").port, 0);
        assert_eq!(url("http://example.com/x").port, 80);
        assert_eq!(url("tcp://[::1]:9000/").host, "::1");
        assert_eq!(url("tcp://[::1]:9000/").port, 9000);
        assert_eq!(url("tcp://:7000/").host, "0.0.0.0");
        assert_eq!(url("tcp://user@host:1/").host, "host");
    }

    #[test]
    fn bad_urls_are_errors() {
        let parse = |s: &str| parse_url(s, "listen", "0.0.0.0", |_| None);
        assert!(parse("localhost:80").is_err());
        assert!(parse("tcp://host:99999/").is_err());
        assert!(parse("tcp://host/").is_err());
        assert!(parse("tcp://[::1/").is_err());
    }

    #[test]
    fn urls_split_into_parts() {
        let parts = url_parts("http://u:p@[::1]:81/a/b?x=1#top").unwrap();
        assert_eq!(
            parts,
            UrlParts {
                scheme: "http",
                userinfo: Some("u:p"),
                host: "::1",
                port: Some("81"),
                path: "/a/b",
                query: Some("x=1"),
                fragment: Some("top")
            }
        );
        let parts = url_parts("tcp://host").unwrap();
        assert_eq!((parts.host, parts.port, parts.path, parts.query), ("host", None, "", None));
        assert_eq!(url_parts("http://h#f@evil").unwrap().host, "h");
    }
}
