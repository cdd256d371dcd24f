//! `async.curl`: HTTP and HTTPS requests made by the `curl` program, as the
//! original library made them (which is what gives it HTTPS): `get`,
//! `post`, `put`, `delete`, `getn`, `postn` and `postLargeFile`.
//!
//! Each request is one `curl` process, started by `process::run` with an
//! argv array, never through a shell. Its stdout is the response body,
//! byte for byte. The status code comes from curl's `--write-out`, which
//! is sent to curl's stderr (`%{stderr}`) behind a marker, so nothing has
//! to be cut off the end of the body. A body that is not a file or a form
//! (`raw`, `json`, a chunk of `postLargeFile`) is written to curl's stdin.
//!
//! Callbacks get `cb(body, httpCode)` as in the original. When curl fails
//! (no connection, `maxTime` passed, no `curl` program) a third value
//! says why, and the code is 0: `cb(body, 0, err)`. With
//! `format = 'json'` the body is decoded by `async.json`; a body that does
//! not decode gives `cb(nil, httpCode, err)`.
//!
//! May touch: child processes, through process.rs; the file that
//! `postLargeFile` uploads (read only); mlua values. Never libuv directly.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use memchr::memmem;
use mlua::{Function, Lua, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::errors::uv_message;
use crate::core::memory;
use crate::core::runtime::{Held, Runtime};
use crate::process::{self, Finished};

/// The program every request runs.
const PROGRAM: &[u8] = b"curl";

/// Starts the line that `--write-out` adds to curl's stderr, followed by
/// the status code. The newline keeps it apart from curl's own message.
const CODE_MARK: &[u8] = b"\nasync.curl http_code=";

/// What `getn` and `postn` keep in flight when `opts.max` is not given.
const DEFAULT_MAX_IN_FLIGHT: usize = 32;

/// `postLargeFile`'s chunk size when `opts.chunkSize` is not given.
const DEFAULT_CHUNK_SIZE: u64 = 32 << 20;

/// The functions of `async.json`, for `json =` and `format = 'json'`.
struct Json {
    encode: Function,
    decode: Function,
}

/// Which function makes a request: it decides the method.
#[derive(Clone, Copy)]
enum Kind {
    /// `get` and `getn`: `opts.method`, else GET.
    Get,
    Post,
    Put,
    Delete,
}

/// What a request sends: the first of `form`, `file`, `raw`, `json` given.
enum Body {
    None,
    /// Form fields in key order; a value `@path` uploads that file.
    Form(Vec<(Vec<u8>, Vec<u8>)>),
    /// The contents of a file, which curl reads.
    File(Vec<u8>),
    /// Bytes written to curl's stdin.
    Stdin(Vec<u8>),
}

/// One request, checked and ready to become curl's arguments.
struct CurlRequest {
    url: Vec<u8>,
    method: Option<String>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// `user:password`.
    auth: Option<Vec<u8>>,
    cookie: Option<Vec<u8>>,
    save_cookie: Option<Vec<u8>>,
    max_time: Option<String>,
    max_connect_time: Option<String>,
    retry: Option<String>,
    verbose: bool,
    /// `format = 'json'`: the body is decoded.
    decode: bool,
    /// `output = 'full'`: the response head comes before the body.
    full: bool,
    /// Certificates are not checked (curl's `-k`), as in the original.
    insecure: bool,
    body: Body,
}

/// What a finished request gives its callback, before it becomes Lua values.
struct Reply {
    /// None when curl could not be started.
    body: Option<Vec<u8>>,
    code: i64,
    error: Option<String>,
}

// ---------------------------------------------------------------------------
// Options

/// A value given as text: a string, a number as Lua writes it, or a boolean
/// (`query = {resumable = true}`); None for nil.
fn text(lua: &Lua, value: Value, what: &str) -> Result<Option<Vec<u8>>> {
    match value {
        Value::Nil => Ok(None),
        Value::String(s) => Ok(Some(s.as_bytes().to_vec())),
        Value::Boolean(b) => Ok(Some(b.to_string().into_bytes())),
        v @ (Value::Integer(_) | Value::Number(_)) => Ok(lua.coerce_string(v)?.map(|s| s.as_bytes().to_vec())),
        v => boundary::fail(format!("{what} must be a string (got {})", boundary::lua_type_name(&v))),
    }
}

/// A string option; numbers are taken as Lua turns them into strings.
fn string_option(lua: &Lua, options: &Table, name: &str, function: &str) -> Result<Option<Vec<u8>>> {
    match options.get::<Value>(name)? {
        Value::Boolean(_) => boundary::fail(format!("{function}: opts.{name} must be a string (got boolean)")),
        value => text(lua, value, &format!("{function}: opts.{name}")),
    }
}

/// The pairs of a table option as text, sorted by key (so that the same
/// options always make the same request).
fn text_pairs(lua: &Lua, table: &Table, what: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut pairs = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let Some(key) = text(lua, key, &format!("the keys of {what}"))? else { continue };
        let shown = String::from_utf8_lossy(&key).into_owned();
        if let Some(value) = text(lua, value, &format!("{what}.{shown}"))? {
            pairs.push((key, value));
        }
    }
    pairs.sort();
    Ok(pairs)
}

/// A time in seconds for curl (`maxTime`, `maxConnectTime`).
fn seconds(options: &Table, name: &str, function: &str) -> Result<Option<String>> {
    let n = match options.get::<Value>(name)? {
        Value::Nil => return Ok(None),
        Value::Integer(n) => n as f64,
        Value::Number(n) => n,
        Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()).unwrap_or(f64::NAN),
        _ => f64::NAN,
    };
    if !(n.is_finite() && n >= 0.0) {
        return boundary::fail(format!("{function}: opts.{name} must be a number of seconds, 0 or more"));
    }
    Ok(Some(format!("{n}")))
}

/// A whole number, 0 or more (`retry`, `max`, `chunkSize`).
fn count(options: &Table, name: &str, function: &str) -> Result<Option<u64>> {
    match options.get::<Value>(name)? {
        Value::Nil => Ok(None),
        Value::Integer(n) if n >= 0 => Ok(Some(n as u64)),
        Value::Number(n) if n >= 0.0 && n.fract() == 0.0 && n < 9e15 => Ok(Some(n as u64)),
        _ => boundary::fail(format!("{function}: opts.{name} must be a whole number, 0 or more")),
    }
}

fn truthy(value: Value) -> bool {
    !matches!(value, Value::Nil | Value::Boolean(false))
}

/// `opts.url`, or `opts.host` followed by `opts.path` (default `/`).
fn url_of(lua: &Lua, options: &Table, function: &str) -> Result<Vec<u8>> {
    if let Some(url) = string_option(lua, options, "url", function)? {
        return Ok(url);
    }
    match string_option(lua, options, "host", function)? {
        Some(host) => Ok([host, string_option(lua, options, "path", function)?.unwrap_or(b"/".to_vec())].concat()),
        None => boundary::fail(format!("{function}: opts.url (or opts.host) is required")),
    }
}

/// `url` with the query pairs added (url-encoded), before any fragment.
fn with_query(url: &[u8], pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    if pairs.is_empty() {
        return url.to_vec();
    }
    let (base, fragment) = match url.iter().position(|&b| b == b'#') {
        Some(at) => url.split_at(at),
        None => (url, &b""[..]),
    };
    let mut out = base.to_vec();
    let mut separator = if base.contains(&b'?') { b'&' } else { b'?' };
    if base.ends_with(b"?") || base.ends_with(b"&") {
        separator = 0;
    }
    for (key, value) in pairs {
        if separator != 0 {
            out.push(separator);
        }
        separator = b'&';
        out.extend(crate::url::escape(key));
        out.push(b'=');
        out.extend(crate::url::escape(value));
    }
    out.extend_from_slice(fragment);
    out
}

/// A header for curl's `--header`; an empty value is written `Name;`,
/// which curl sends as an empty header (`Name:` would remove it).
fn header_line(name: &[u8], value: &[u8], function: &str) -> Result<Vec<u8>> {
    let bad = |b: &u8| matches!(b, b'\r' | b'\n' | 0);
    if name.is_empty() || name.iter().any(|b| bad(b) || matches!(b, b':' | b';' | b' ' | b'\t')) || value.iter().any(bad) {
        return boundary::fail(format!(
            "{function}: bad header '{}' (names are tokens; neither may hold a line break)",
            String::from_utf8_lossy(name)
        ));
    }
    if value.is_empty() {
        return Ok([name, b";"].concat());
    }
    Ok([name, b": ", value].concat())
}

impl CurlRequest {
    /// A GET of `url` with the original's defaults.
    fn new(url: Vec<u8>) -> CurlRequest {
        CurlRequest {
            url,
            method: None,
            headers: Vec::new(),
            auth: None,
            cookie: None,
            save_cookie: None,
            max_time: None,
            max_connect_time: None,
            retry: None,
            verbose: false,
            decode: false,
            full: false,
            insecure: true,
            body: Body::None,
        }
    }

    /// The request an options table describes.
    fn read(lua: &Lua, json: &Json, options: &Table, kind: Kind, function: &str) -> Result<CurlRequest> {
        let url = url_of(lua, options, function)?;
        let url = match options.get::<Value>("query")? {
            Value::Nil => url,
            Value::Table(query) => with_query(&url, &text_pairs(lua, &query, &format!("{function}: opts.query"))?),
            _ => return boundary::fail(format!("{function}: opts.query must be a table")),
        };
        let mut request = CurlRequest::new(url);
        request.method = match kind {
            Kind::Get => string_option(lua, options, "method", function)?
                .map(|m| String::from_utf8_lossy(&m).to_ascii_uppercase())
                .filter(|m| m != "GET"),
            Kind::Post => Some("POST".into()),
            Kind::Put => Some("PUT".into()),
            Kind::Delete => Some("DELETE".into()),
        };
        if let Some(m) = &request.method
            && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_graphic()))
        {
            return boundary::fail(format!("{function}: opts.method must be a method name, got '{m}'"));
        }
        request.headers = match options.get::<Value>("headers")? {
            Value::Nil => Vec::new(),
            Value::Table(headers) => text_pairs(lua, &headers, &format!("{function}: opts.headers"))?,
            _ => return boundary::fail(format!("{function}: opts.headers must be a table")),
        };
        request.auth = match options.get::<Value>("auth")? {
            Value::Nil => None,
            Value::Table(auth) => {
                let what = format!("{function}: opts.auth.user");
                let Some(user) = text(lua, auth.get("user")?, &what)? else {
                    return boundary::fail(format!("{what} is required"));
                };
                // Without a password curl would ask for one on the terminal.
                let password = text(lua, auth.get("password")?, &format!("{function}: opts.auth.password"))?.unwrap_or_default();
                Some([user, b":".to_vec(), password].concat())
            }
            _ => return boundary::fail(format!("{function}: opts.auth must be a table {{user=, password=}}")),
        };
        request.cookie = string_option(lua, options, "cookie", function)?;
        request.save_cookie = string_option(lua, options, "saveCookie", function)?;
        request.max_time = seconds(options, "maxTime", function)?;
        request.max_connect_time = seconds(options, "maxConnectTime", function)?;
        request.retry = count(options, "retry", function)?.map(|n| n.to_string());
        request.verbose = truthy(options.get("verbose")?);
        request.decode = match string_option(lua, options, "format", function)?.as_deref() {
            None | Some(b"raw") => false,
            Some(b"json") => true,
            Some(other) => {
                return boundary::fail(format!(
                    "{function}: opts.format must be 'raw' or 'json', got '{}'",
                    String::from_utf8_lossy(other)
                ));
            }
        };
        request.full = match string_option(lua, options, "output", function)?.as_deref() {
            None | Some(b"code") => false,
            Some(b"full") => true,
            Some(other) => {
                return boundary::fail(format!(
                    "{function}: opts.output must be 'full' or 'code', got '{}'",
                    String::from_utf8_lossy(other)
                ));
            }
        };
        if let Value::Boolean(false) = options.get("insecure")? {
            request.insecure = false;
        }
        request.body = Self::body(lua, json, options, function, &mut request.headers)?;
        Ok(request)
    }

    /// The body options, in the original's order of precedence. A `json`
    /// body adds its Content-Type unless the headers name one.
    fn body(lua: &Lua, json: &Json, options: &Table, function: &str, headers: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<Body> {
        match options.get::<Value>("form")? {
            Value::Nil => {}
            Value::Table(form) => {
                let fields = text_pairs(lua, &form, &format!("{function}: opts.form"))?;
                if let Some((name, _)) = fields.iter().find(|(name, _)| name.contains(&b'=') || name.is_empty()) {
                    return boundary::fail(format!("{function}: bad form field name '{}'", String::from_utf8_lossy(name)));
                }
                return Ok(Body::Form(fields));
            }
            _ => return boundary::fail(format!("{function}: opts.form must be a table")),
        }
        if let Some(path) = string_option(lua, options, "file", function)? {
            return Ok(Body::File(path));
        }
        if let Some(raw) = string_option(lua, options, "raw", function)? {
            return Ok(Body::Stdin(raw));
        }
        let value = options.get::<Value>("json")?;
        if value == Value::Nil {
            return Ok(Body::None);
        }
        let encoded = match json.encode.call::<mlua::LuaString>(value) {
            Ok(encoded) => encoded.as_bytes().to_vec(),
            Err(e) => return boundary::fail(format!("{function}: opts.json: {}", boundary::plain_message(&e))),
        };
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case(b"content-type")) {
            headers.push((b"Content-Type".to_vec(), b"application/json".to_vec()));
        }
        Ok(Body::Stdin(encoded))
    }

    /// curl's arguments for this request (after the program name).
    fn arguments(&self, function: &str) -> Result<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut flag = |name: &str, value: Option<&[u8]>| {
            out.push(name.as_bytes().to_vec());
            if let Some(value) = value {
                out.push(value.to_vec());
            }
        };
        // `-q` must come first: no ~/.curlrc may change what curl writes.
        // `-g`: brackets and braces in a URL are not curl's globbing.
        for plain in ["-q", "-s", "-S", "-g"] {
            flag(plain, None);
        }
        if self.insecure {
            flag("-k", None);
        }
        flag("--write-out", Some(&[b"%{stderr}", CODE_MARK, b"%{http_code}\n"].concat()));
        match self.method.as_deref() {
            None => {}
            Some("HEAD") => flag("--head", None),
            Some(method) => flag("--request", Some(method.as_bytes())),
        }
        if self.full {
            flag("--include", None);
        }
        let options = [("--user", &self.auth), ("--cookie", &self.cookie), ("--cookie-jar", &self.save_cookie)];
        for (name, value) in options {
            if let Some(value) = value {
                flag(name, Some(value));
            }
        }
        for (name, value) in &self.headers {
            flag("--header", Some(&header_line(name, value, function)?));
        }
        let limits = [("--max-time", &self.max_time), ("--connect-timeout", &self.max_connect_time), ("--retry", &self.retry)];
        for (name, value) in limits {
            if let Some(value) = value {
                flag(name, Some(value.as_bytes()));
            }
        }
        match &self.body {
            Body::None => {}
            Body::Form(fields) => {
                for (name, value) in fields {
                    // Only `@path` keeps curl's -F syntax; any other value
                    // is sent as it is, `;` and `<` included.
                    let option = if value.starts_with(b"@") { "--form" } else { "--form-string" };
                    flag(option, Some(&[&name[..], b"=", value].concat()));
                }
            }
            Body::File(path) => flag("--data-binary", Some(&[b"@", &path[..]].concat())),
            Body::Stdin(_) => flag("--data-binary", Some(b"@-")),
        }
        flag("--url", Some(&self.url));
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// Running curl

/// An argument as a shell would need it, for `verbose`'s line.
fn quoted(arg: &[u8]) -> String {
    let text = String::from_utf8_lossy(arg);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b)) {
        return text.into_owned();
    }
    if text.contains(['\n', '\r']) {
        // Bash's $'...', so that the line stays one line.
        let escaped = text.replace('\\', "\\\\").replace('\'', "\\'").replace('\n', "\\n").replace('\r', "\\r");
        return format!("$'{escaped}'");
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Prints a line with Lua's `print`, so it mixes with the program's own.
fn say(lua: &Lua, line: &str) -> Result<()> {
    lua.globals().get::<Function>("print")?.call(line)
}

/// What curl's output says: the body, the code from the marker line, and
/// curl's message if it failed.
fn reply_of(finished: Finished) -> Reply {
    let Finished { stdout, stderr, status, signal } = finished;
    let (code, rest) = match memmem::rfind(&stderr, CODE_MARK) {
        Some(at) => {
            let after = &stderr[at + CODE_MARK.len()..];
            let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
            let code = std::str::from_utf8(&after[..digits]).ok().and_then(|d| d.parse().ok()).unwrap_or(0);
            let line = after.iter().position(|&b| b == b'\n').map_or(after.len(), |end| end + 1);
            (code, [&stderr[..at], &after[line..]].concat())
        }
        None => (0, stderr),
    };
    let said = String::from_utf8_lossy(&rest).trim().to_string();
    let error = if signal != 0 {
        Some(format!("curl was ended by signal {signal}"))
    } else if status != 0 {
        Some(if said.is_empty() { format!("curl exited with status {status}") } else { said })
    } else {
        None
    };
    Reply { body: Some(stdout), code, error }
}

/// Runs curl for `request`; `done(reply)` once it has finished, as a
/// callback of the loop.
fn perform(
    lua: &Lua,
    request: &CurlRequest,
    function: &str,
    done: impl FnOnce(&Lua, Reply) -> Result<()> + 'static,
) -> Result<()> {
    let arguments = request.arguments(function)?;
    if request.verbose {
        let line: Vec<String> = std::iter::once(PROGRAM).chain(arguments.iter().map(|a| &a[..])).map(quoted).collect();
        say(lua, &line.join(" "))?;
    }
    let input = match &request.body {
        Body::Stdin(bytes) => Some(bytes.clone()),
        _ => None,
    };
    process::run(lua, PROGRAM, &arguments, input, move |lua, outcome| {
        let reply = match outcome {
            Ok(finished) => reply_of(finished),
            Err(message) => Reply {
                body: None,
                code: 0,
                error: Some(format!("{message} (async.curl runs the curl program: is it installed, and on PATH?)")),
            },
        };
        done(lua, reply)
    })
}

/// The Lua values of a reply: body (decoded if asked), code, error.
fn values(lua: &Lua, json: &Json, decode: bool, reply: Reply) -> Result<(Value, i64, Value)> {
    let Reply { body, code, mut error } = reply;
    let body = match body {
        None => Value::Nil,
        Some(_) if decode && error.is_some() => Value::Nil,
        Some(bytes) if decode => match json.decode.call::<Value>(lua.create_string(&bytes)?) {
            Ok(value) => value,
            Err(e) => {
                error = Some(boundary::plain_message(&e));
                Value::Nil
            }
        },
        Some(bytes) => Value::String(lua.create_string(&bytes)?),
    };
    let error = match error {
        Some(message) => Value::String(lua.create_string(&message)?),
        None => Value::Nil,
    };
    Ok((body, code, error))
}

/// The first argument of a request function: an options table, or a URL
/// (which becomes `{url = URL}`).
fn options_of(lua: &Lua, args: &Args) -> Result<Table> {
    match args.get(1) {
        Value::String(url) => lua.create_table_from([("url", url)]),
        Value::Table(options) => Ok(options),
        _ => args.bad(1, "string or table"),
    }
}

/// `get`, `post`, `put`, `delete`: `(urlOrOpts, [cb])`, `cb(body, code[, err])`.
fn one(lua: &Lua, json: &Rc<Json>, args: &Args, kind: Kind) -> Result<()> {
    let request = CurlRequest::read(lua, json, &options_of(lua, args)?, kind, args.name())?;
    let callback = args.opt_function(2)?;
    let (json, decode) = (json.clone(), request.decode);
    perform(lua, &request, args.name(), move |lua, reply| {
        let values = values(lua, &json, decode, reply)?;
        match callback {
            Some(callback) => callback.call(values),
            None => Ok(()),
        }
    })
}

/// The requests of `getn` / `postn` not yet started, and how many run.
struct Batch {
    waiting: RefCell<VecDeque<(CurlRequest, Value)>>,
    running: Cell<usize>,
    max: usize,
    callback: Option<Function>,
    json: Rc<Json>,
    function: &'static str,
}

/// Starts waiting requests while fewer than `max` run.
fn pump(lua: &Lua, batch: &Rc<Batch>) -> Result<()> {
    while batch.running.get() < batch.max {
        let Some((request, item)) = batch.waiting.borrow_mut().pop_front() else { break };
        batch.running.set(batch.running.get() + 1);
        let (this, decode) = (batch.clone(), request.decode);
        perform(lua, &request, batch.function, move |lua, reply| {
            this.running.set(this.running.get() - 1);
            // The next one starts first: an error in the callback must
            // not leave the rest unstarted.
            pump(lua, &this)?;
            let (body, code, error) = values(lua, &this.json, decode, reply)?;
            match &this.callback {
                Some(callback) => callback.call((body, item, code, error)),
                None => Ok(()),
            }
        })?;
    }
    Ok(())
}

/// `getn` / `postn`: `(urls, [opts], [cb])`, each of `urls` a URL or an
/// options table, `opts` added to each (and `opts.max`, how many at once);
/// `cb(body, url, code[, err])` per URL, `url` as it was given.
fn many(lua: &Lua, json: &Rc<Json>, args: &Args, kind: Kind) -> Result<()> {
    let urls = args.table(1)?;
    let shared = args.opt_table(2)?;
    let callback = args.opt_function(3)?;
    let function = args.name();
    let max = match &shared {
        Some(opts) => count(opts, "max", function)?.map_or(DEFAULT_MAX_IN_FLIGHT, |n| n as usize),
        None => DEFAULT_MAX_IN_FLIGHT,
    };
    if max == 0 {
        return boundary::fail(format!("{function}: opts.max must be 1 or more"));
    }
    let mut waiting = VecDeque::new();
    for (i, item) in urls.sequence_values::<Value>().enumerate() {
        let item = item?;
        let options = lua.create_table()?;
        match &item {
            Value::String(url) => options.raw_set("url", url)?,
            Value::Table(own) => {
                for pair in own.pairs::<Value, Value>() {
                    let (key, value) = pair?;
                    options.raw_set(key, value)?;
                }
            }
            other => {
                return boundary::fail(format!(
                    "{function}: urls[{}] must be a string or a table (got {})",
                    i + 1,
                    boundary::lua_type_name(other)
                ));
            }
        }
        // The shared options win, as in the original.
        for pair in shared.iter().flat_map(|opts| opts.pairs::<Value, Value>()) {
            let (key, value) = pair?;
            if key != Value::String(lua.create_string("max")?) {
                options.raw_set(key, value)?;
            }
        }
        waiting.push_back((CurlRequest::read(lua, json, &options, kind, function)?, item));
    }
    let batch =
        Rc::new(Batch { waiting: RefCell::new(waiting), running: Cell::new(0), max, callback, json: json.clone(), function });
    pump(lua, &batch)
}

// ---------------------------------------------------------------------------
// postLargeFile

/// A resumable upload in chunks: a first POST with `?resumable=true` whose
/// answer (200) names a `resumeId` in its Location header, then one POST
/// per chunk with a Content-Range; the server answers 308 for more, 201
/// (or 200) once it has the whole file.
struct Upload {
    file: Held<std::fs::File>,
    size: u64,
    chunk: u64,
    url: Vec<u8>,
    verbose: bool,
    callback: Option<Function>,
}

const OCTET_STREAM: &[u8] = b"application/octet-stream";

impl Upload {
    fn chunks(&self) -> u64 {
        self.size.div_ceil(self.chunk).max(1)
    }

    /// Calls back with `(nil, reason, code)`.
    fn fail(&self, reason: String, code: i64) -> Result<()> {
        match &self.callback {
            Some(callback) => callback.call((Value::Nil, reason, code)),
            None => Ok(()),
        }
    }

    /// Why a step failed: curl's message, else the status's reason phrase.
    fn failed(&self, reply: Reply) -> Result<()> {
        let reason = match reply.error {
            Some(message) => message,
            None => u16::try_from(reply.code)
                .ok()
                .and_then(crate::http::reason_phrase)
                .map_or_else(|| format!("HTTP status {}", reply.code), str::to_string),
        };
        self.fail(reason, reply.code)
    }

    fn start(self: Rc<Self>, lua: &Lua) -> Result<()> {
        if self.verbose {
            say(lua, &format!("postLargeFile: 1. starting the upload of {} bytes", self.size))?;
        }
        let mut request = CurlRequest::new(with_query(&self.url, &[(b"resumable".to_vec(), b"true".to_vec())]));
        request.method = Some("POST".into());
        request.full = true;
        request.headers = vec![
            (b"Content-Type".to_vec(), OCTET_STREAM.to_vec()),
            (b"X-TON-Content-Type".to_vec(), OCTET_STREAM.to_vec()),
            (b"X-TON-Content-Length".to_vec(), self.size.to_string().into_bytes()),
        ];
        perform(lua, &request, "postLargeFile", move |lua, reply| {
            if reply.error.is_some() || reply.code != 200 {
                return self.failed(reply);
            }
            match resume_id(reply.body.as_deref().unwrap_or_default()) {
                Some(id) => {
                    if self.verbose {
                        say(lua, &format!("postLargeFile: 2. resume id {id}, {} chunks", self.chunks()))?;
                    }
                    self.send(lua, id, 0)
                }
                None => self.fail("postLargeFile: the server's answer has no resumeId in its Location header".into(), reply.code),
            }
        })
    }

    /// Sends chunk `index` (from 0).
    fn send(self: Rc<Self>, lua: &Lua, id: String, index: u64) -> Result<()> {
        let total = self.chunks();
        let start = index * self.chunk;
        let length = self.chunk.min(self.size - start);
        let Ok(mut bytes) = memory::with_capacity(length as usize) else {
            return self.fail(format!("postLargeFile: reading the file: {}", memory::MESSAGE), 0);
        };
        bytes.resize(length as usize, 0);
        if let Err(e) = self.file.read_exact_at(&mut bytes, start) {
            return self.fail(format!("postLargeFile: reading the file: {e}"), 0);
        }
        if self.verbose {
            say(lua, &format!("postLargeFile: 3. posting chunk {}/{total}", index + 1))?;
        }
        let query = [(b"resumable".to_vec(), b"true".to_vec()), (b"resumeId".to_vec(), id.clone().into_bytes())];
        let mut request = CurlRequest::new(with_query(&self.url, &query));
        request.method = Some("POST".into());
        let range = match length {
            0 => format!("bytes */{}", self.size),
            _ => format!("bytes {}-{}/{}", start, start + length - 1, self.size),
        };
        request.headers = vec![
            (b"Content-Type".to_vec(), OCTET_STREAM.to_vec()),
            (b"Content-Length".to_vec(), length.to_string().into_bytes()),
            (b"Content-Range".to_vec(), range.into_bytes()),
        ];
        request.body = Body::Stdin(bytes);
        perform(lua, &request, "postLargeFile", move |lua, reply| match reply.code {
            200 | 201 if reply.error.is_none() => match &self.callback {
                Some(callback) => callback.call(true),
                None => Ok(()),
            },
            308 if reply.error.is_none() && index + 1 < total => self.send(lua, id, index + 1),
            308 if reply.error.is_none() => {
                self.fail("postLargeFile: the server still wants more after the last chunk (308)".into(), 308)
            }
            _ => self.failed(reply),
        })
    }
}

/// The `resumeId=` number in the Location header of a response head.
fn resume_id(response: &[u8]) -> Option<String> {
    let head = memmem::find(response, b"\r\n\r\n").map_or(response, |end| &response[..end]);
    head.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        if !name.trim_ascii().eq_ignore_ascii_case(b"location") {
            return None;
        }
        let at = memmem::find(value, b"resumeId=")? + b"resumeId=".len();
        let digits: String = value[at..].iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
        (!digits.is_empty()).then_some(digits)
    })
}

/// `postLargeFile(opts, [cb])`: `opts.filename`, `url` (or `host` and
/// `path`), `chunkSize`, `verbose`; `cb(true)` once uploaded, else
/// `cb(nil, reason, code)`.
fn post_large_file(lua: &Lua, args: &Args) -> Result<()> {
    let options = args.table(1)?;
    let callback = args.opt_function(2)?;
    let function = args.name();
    let Some(filename) = string_option(lua, &options, "filename", function)? else {
        return boundary::fail(format!("{function}: opts.filename is required"));
    };
    let url = url_of(lua, &options, function)?;
    let chunk = count(&options, "chunkSize", function)?.unwrap_or(DEFAULT_CHUNK_SIZE);
    if chunk == 0 {
        return boundary::fail(format!("{function}: opts.chunkSize must be 1 or more"));
    }
    let verbose = truthy(options.get("verbose")?);
    let path = std::ffi::OsStr::from_bytes(&filename);
    let opened = std::fs::File::open(path).and_then(|file| Ok((file.metadata()?.len(), file)));
    match opened {
        Ok((size, file)) => Rc::new(Upload { file: Held::new(file), size, chunk, url, verbose, callback }).start(lua),
        Err(e) => {
            let message = uv_message(-e.raw_os_error().unwrap_or(libc::EIO), Some(&String::from_utf8_lossy(&filename)));
            match callback {
                Some(callback) => Runtime::call_later(lua, callback, (Value::Nil, message, 0)),
                None => Ok(()),
            }
        }
    }
}

/// `async.curl`.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let json_table: Table = module.get("json")?;
    let json = Rc::new(Json { encode: json_table.get("encode")?, decode: json_table.get("decode")? });
    let curl = lua.create_table()?;
    let single = [("get", Kind::Get), ("post", Kind::Post), ("put", Kind::Put), ("delete", Kind::Delete)];
    for (name, kind) in single {
        let json = json.clone();
        curl.set(name, boundary::function(lua, name, move |lua, args: Args| one(lua, &json, &args, kind))?)?;
    }
    for (name, kind) in [("getn", Kind::Get), ("postn", Kind::Post)] {
        let json = json.clone();
        curl.set(name, boundary::function(lua, name, move |lua, args: Args| many(lua, &json, &args, kind))?)?;
    }
    curl.set("postLargeFile", boundary::function(lua, "postLargeFile", |lua, args: Args| post_large_file(lua, &args))?)?;
    module.set("curl", curl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(stdout: &[u8], stderr: &[u8], status: i64) -> Finished {
        Finished { stdout: stdout.to_vec(), stderr: stderr.to_vec(), status, signal: 0 }
    }

    #[test]
    fn the_code_comes_from_the_marker_and_the_body_is_untouched() {
        let body = b"line\n404\n\0\r\n";
        let reply = reply_of(finished(body, b"\nasync.curl http_code=200\n", 0));
        assert_eq!(reply.body.as_deref(), Some(&body[..]));
        assert_eq!(reply.code, 200);
        assert!(reply.error.is_none());
    }

    #[test]
    fn a_failure_keeps_curls_message() {
        let stderr = b"curl: (28) Operation timed out after 300 milliseconds\n\nasync.curl http_code=000\n";
        let reply = reply_of(finished(b"", stderr, 28));
        assert_eq!(reply.code, 0);
        assert_eq!(reply.error.as_deref(), Some("curl: (28) Operation timed out after 300 milliseconds"));
        let reply = reply_of(finished(b"", b"", 2));
        assert_eq!(reply.error.as_deref(), Some("curl exited with status 2"));
    }

    #[test]
    fn queries_are_added_before_the_fragment() {
        let pairs = vec![(b"a b".to_vec(), b"1&2".to_vec()), (b"c".to_vec(), b"".to_vec())];
        assert_eq!(with_query(b"http://h/p", &pairs), b"http://h/p?a%20b=1%262&c=");
        assert_eq!(with_query(b"http://h/p?x=1#top", &pairs), b"http://h/p?x=1&a%20b=1%262&c=#top");
        assert_eq!(with_query(b"http://h/p?", &pairs[1..]), b"http://h/p?c=");
        assert_eq!(with_query(b"http://h/p", &[]), b"http://h/p");
    }

    #[test]
    fn resume_ids_come_from_the_location_header() {
        let head = b"HTTP/1.1 200 OK\r\nLocation: http://h/u?resumable=true&resumeId=42\r\n\r\nresumeId=7";
        assert_eq!(resume_id(head).as_deref(), Some("42"));
        assert_eq!(resume_id(b"HTTP/1.1 200 OK\r\n\r\nresumeId=7"), None);
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(header_line(b"X-A", b"1", "get").unwrap(), b"X-A: 1");
        assert_eq!(header_line(b"X-A", b"", "get").unwrap(), b"X-A;");
        assert!(header_line(b"X-A", b"1\r\nX-B: 2", "get").is_err());
        assert!(header_line(b"X:A", b"1", "get").is_err());
    }
}
