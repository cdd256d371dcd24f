//! `async.repl`: a Lua prompt that runs inside the event loop.
//!
//! `async.repl([prompt | {prompt=, fiber=}])` reads Lua from stdin without
//! blocking the loop. Each line is compiled as `return <line>` first, then
//! as a statement; a chunk that is incomplete (`for i = 1, 3 do`) waits
//! for more lines on the `>> ` prompt. Results are printed with the
//! global `print`, as the original did (a line with no result prints an
//! empty line), an error with its traceback; then the prompt again. The
//! end of the input exits the process with status 0.
//!
//! On a terminal (stdin and stdout both), the line is edited by
//! `editor.rs` with the terminal in raw mode while the loop runs; `print`
//! and `io.write` are wrapped so that output from callbacks erases the
//! line being typed and redraws it after. From a pipe or a file, lines
//! are read as they come, with no echo. `repl.stdin`, `repl.stdout` and
//! `repl.stderr` are the stream handles of fds 0, 1 and 2 (`tty.rs`).
//!
//! The remote REPL (`listen`, `connect`, `connectn`) is in `remote.rs`;
//! both evaluate through `evaluate` here.
//!
//! May touch: stdin's stream (as its consumer), fd 1 (prompts, edits),
//! the globals `print` and `io.write` (wrapped while the editor runs).

mod editor;
mod remote;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};
use crate::core::runtime::{LoopObserver, Runtime};
use crate::core::uv_handle;
use crate::split::{Inbox, TooLong};
use crate::stream::socket_ref::SocketRef;
use crate::stream::{self, Consumer, Stream};
use crate::tty;
use editor::{Editor, Event};

const FIBER_GLUE: &str = include_str!("../lua/repl.lua");

/// The prompt of a chunk's second and later lines.
const CONTINUATION: &[u8] = b">> ";

/// Why `lines` stopped before the end of its input.
enum Stop {
    TooLong,
    OutOfMemory(String),
}

/// Adds `bytes` to `inbox` and cuts out the lines it now holds whole
/// (without their LF, or CRLF), up to where it had to stop, if it did:
/// at a line longer than a stream's line limit (the inbox then starts
/// with it: a REPL holds no more of an unfinished line than `readline`
/// does), or at input that memory cannot hold.
fn lines(inbox: &RefCell<Inbox>, bytes: &[u8]) -> (Vec<Vec<u8>>, Option<Stop>) {
    let mut inbox = inbox.borrow_mut();
    if let Err(error) = inbox.push(bytes) {
        return (Vec::new(), Some(Stop::OutOfMemory(error.to_string())));
    }
    let mut lines = Vec::new();
    loop {
        match inbox.next_bounded(b"\n", stream::DEFAULT_MAX_LINE) {
            Ok(Some(line)) => lines.push(line.strip_suffix(b"\r").unwrap_or(line).to_vec()),
            Ok(None) => return (lines, None),
            Err(TooLong) => return (lines, Some(Stop::TooLong)),
        }
    }
}

/// The lines of a chunk that is not complete yet (`for i = 1, 3 do`).
#[derive(Default)]
struct PendingChunk(RefCell<Vec<u8>>);

impl PendingChunk {
    /// The chunk `line` completes: the pending lines and `line`.
    fn with(&self, line: &[u8]) -> Vec<u8> {
        let mut pending = self.0.borrow_mut();
        pending.extend_from_slice(line);
        std::mem::take(&mut *pending)
    }

    /// Keeps an incomplete `chunk` for the next line; false (and nothing
    /// kept) when it has grown past the line limit.
    fn keep(&self, mut chunk: Vec<u8>) -> bool {
        if chunk.len() >= stream::DEFAULT_MAX_LINE {
            return false;
        }
        chunk.push(b'\n');
        *self.0.borrow_mut() = chunk;
        true
    }
}

/// What an incomplete chunk past the line limit is told.
const CHUNK_TOO_LONG: &str = "chunk too long: an unfinished chunk past the line limit was dropped";

/// What a chunk of input came to.
pub enum Evaluated {
    /// It is not a whole chunk yet: wait for more lines.
    Incomplete,
    /// It ran (or was handed to a fiber): its results.
    Values(MultiValue),
    /// It did not compile, or raised: the message (with the traceback).
    Failed(String),
}

/// Compiles `chunk` as an expression, else as a statement.
fn compile(lua: &Lua, chunk: &[u8]) -> Result<std::result::Result<Function, Evaluated>> {
    let mut expression = b"return ".to_vec();
    expression.extend_from_slice(chunk);
    if let Ok(f) = lua.load(&expression[..]).set_name("REPL").into_function() {
        return Ok(Ok(f));
    }
    match lua.load(chunk).set_name("REPL").into_function() {
        Ok(f) => Ok(Ok(f)),
        Err(mlua::Error::SyntaxError { incomplete_input: true, .. }) => Ok(Err(Evaluated::Incomplete)),
        Err(mlua::Error::SyntaxError { message, .. }) => Ok(Err(Evaluated::Failed(message))),
        Err(other) => Err(other),
    }
}

/// Compiles and runs `chunk` under `xpcall(f, debug.traceback)`.
pub fn evaluate(lua: &Lua, chunk: &[u8]) -> Result<Evaluated> {
    let f = match compile(lua, chunk)? {
        Ok(f) => f,
        Err(outcome) => return Ok(outcome),
    };
    let (xpcall, traceback) = protected_call(lua)?;
    outcome(lua, xpcall.call::<MultiValue>((f, traceback))?)
}

/// `xpcall` and `debug.traceback`, as the Lua standard library has them.
fn protected_call(lua: &Lua) -> Result<(Function, Function)> {
    let globals = lua.globals();
    Ok((globals.get("xpcall")?, globals.get::<Table>("debug")?.get("traceback")?))
}

/// `ok, ...` of xpcall as an outcome.
fn outcome(lua: &Lua, mut results: MultiValue) -> Result<Evaluated> {
    let ok = results.pop_front();
    if matches!(ok, Some(Value::Boolean(true))) {
        return Ok(Evaluated::Values(results));
    }
    let message = match results.pop_front() {
        Some(value) => text_of(lua, value)?,
        None => "nil".into(),
    };
    Ok(Evaluated::Failed(message))
}

/// Prints what a line gave with the global `print`. A value whose
/// `__tostring` raises (or yields, which it cannot from C) is reported as
/// the line's error: a bad value never ends the REPL.
pub fn show(lua: &Lua, values: impl IntoLuaMulti) -> Result<()> {
    let print: Function = lua.globals().get("print")?;
    if let Err(error) = print.call::<()>(values) {
        let message = boundary::message_of(&error).0;
        if print.call::<()>(message.as_str()).is_err() {
            eprintln!("async: repl: {message}");
        }
    }
    Ok(())
}

/// `tostring(value)`, as `print` would show it.
pub fn text_of(lua: &Lua, value: Value) -> Result<String> {
    let tostring: Function = lua.globals().get("tostring")?;
    let text: mlua::LuaString = tostring.call(value)?;
    Ok(String::from_utf8_lossy(&text.as_bytes()).into_owned())
}

/// Writes to fd 1 after what the C library holds for it (`print` and
/// `io.write` go through it), so that the two stay in order.
pub fn out(bytes: &[u8]) {
    // SAFETY: fflush(NULL) flushes every C output stream.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let _ = tty::write_all(1, bytes);
}

/// Ends the process as the end of the REPL's input does: status 0, after
/// the C library's buffers (exit flushes them; the terminal mode is put
/// back by tty.rs's exit handler).
pub fn exit_process() -> ! {
    std::process::exit(0)
}

/// The stream of stdin, with `consumer` reading it.
pub fn read_stdin(lua: &Lua, consumer: Rc<dyn Consumer>) -> Result<()> {
    let stdin = tty::stdio(lua, 0)?;
    if let Some(stream) = uv_handle::state_of::<Stream>(&stdin)? {
        stream.set_consumer(consumer);
    }
    Ok(())
}

/// The local REPL: stdin's consumer.
struct Local {
    prompt: Vec<u8>,
    pending: PendingChunk,
    /// Run each chunk in a fiber (`fiber = true`).
    in_fiber: Option<Function>,
    /// On a terminal: the line editor. Otherwise lines are cut from `inbox`.
    editor: Option<RefCell<Editor>>,
    inbox: RefCell<Inbox>,
    /// A line longer than the limit is being dropped, up to its newline.
    skipping: Cell<bool>,
    /// A chunk is being evaluated: output goes straight out, the editor's
    /// line is not on the screen.
    evaluating: Cell<bool>,
}

impl Local {
    /// Handles one line of input: evaluates the chunk it completes, then
    /// shows the prompt for the next one.
    fn line(&self, lua: &Lua, line: &[u8]) -> Result<()> {
        let chunk = self.pending.with(line);
        self.evaluating.set(true);
        let mut result = self.run(lua, &chunk);
        self.evaluating.set(false);
        let mut incomplete = matches!(result, Ok(true));
        if incomplete && !self.pending.keep(chunk) {
            incomplete = false;
            result = lua.globals().get::<Function>("print")?.call::<()>(CHUNK_TOO_LONG).map(|()| false);
        }
        let prompt: &[u8] = if incomplete { CONTINUATION } else { &self.prompt };
        match &self.editor {
            Some(editor) => {
                let mut editor = editor.borrow_mut();
                editor.set_prompt(prompt);
                let mut shown = Vec::new();
                editor.redraw(&mut shown);
                out(&shown);
            }
            None => out(prompt),
        }
        result.map(drop)
    }

    /// Evaluates and prints; true if the chunk is incomplete.
    fn run(&self, lua: &Lua, chunk: &[u8]) -> Result<bool> {
        if let Some(in_fiber) = &self.in_fiber {
            match compile(lua, chunk)? {
                Ok(f) => in_fiber.call::<()>(f)?,
                Err(Evaluated::Incomplete) => return Ok(true),
                Err(Evaluated::Failed(message)) => show(lua, message)?,
                Err(Evaluated::Values(_)) => {}
            }
            return Ok(false);
        }
        match evaluate(lua, chunk)? {
            Evaluated::Incomplete => return Ok(true),
            Evaluated::Values(values) => show(lua, values)?,
            Evaluated::Failed(message) => show(lua, message)?,
        }
        Ok(false)
    }

    /// Output from `print` or `io.write` while the user types: the line
    /// being edited makes room and comes back under it.
    fn around_output<R>(&self, write: impl FnOnce() -> Result<(R, bool)>) -> Result<R> {
        let Some(editor) = self.editor.as_ref().filter(|_| !self.evaluating.get()) else {
            return write().map(|(r, _)| r);
        };
        let mut shown = Vec::new();
        editor.borrow().erase(&mut shown);
        out(&shown);
        let (result, ended_line) = write()?;
        shown.clear();
        if !ended_line {
            shown.extend_from_slice(b"\r\n");
        }
        editor.borrow().redraw(&mut shown);
        out(&shown);
        Ok(result)
    }

    /// Input typed (or piped) at the local REPL.
    fn feed(self: Rc<Self>, lua: &Lua, bytes: &[u8]) -> Result<()> {
        if let Some(editor) = &self.editor {
            let mut shown = Vec::new();
            let events = editor.borrow_mut().feed(bytes, &mut shown);
            out(&shown);
            for event in events {
                match event {
                    Event::Line(line) => self.line(lua, &line)?,
                    Event::Eof | Event::Interrupt => exit_process(),
                }
            }
            return Ok(());
        }
        // The rest of a line that was too long is dropped with it: none
        // of it may run as a line of its own.
        let bytes = match self.skipping.get() {
            false => bytes,
            true => match bytes.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    self.skipping.set(false);
                    &bytes[newline + 1..]
                }
                None => return Ok(()),
            },
        };
        let (lines, stop) = lines(&self.inbox, bytes);
        lines.iter().try_for_each(|line| self.line(lua, line))?;
        match stop {
            None => Ok(()),
            Some(Stop::OutOfMemory(message)) => {
                self.inbox.borrow_mut().clear();
                eprintln!("async: repl: stdin: {message}");
                Ok(())
            }
            Some(Stop::TooLong) => {
                eprintln!("async: repl: stdin: {}", stream::line_too_long(stream::DEFAULT_MAX_LINE));
                let rest = self.inbox.borrow_mut().take_all();
                self.skipping.set(true);
                self.feed(lua, &rest)
            }
        }
    }
}

impl Consumer for Local {
    fn data(self: Rc<Self>, lua: &Lua, _: &Stream, bytes: &[u8]) -> Result<()> {
        self.feed(lua, bytes)
    }

    /// The end of the input: a last line without a newline still runs.
    fn end(self: Rc<Self>, lua: &Lua) -> Result<()> {
        let rest = self.inbox.borrow_mut().take_all();
        if !rest.is_empty() {
            self.line(lua, &rest)?;
        }
        out(b"\n");
        exit_process()
    }

    fn error(self: Rc<Self>, _: &Lua, message: &str) -> Result<bool> {
        eprintln!("async: repl: stdin: {message}");
        exit_process()
    }
}

/// The terminal is raw while the loop runs, in its own mode otherwise.
struct RawWhileRunning(SocketRef);

impl LoopObserver for RawWhileRunning {
    fn starting(&self) {
        let _ = self.0.with_stream(|stream| {
            if !stream.is_closing() {
                let _ = tty::set_stream_mode(stream, true);
            }
        });
    }
    fn stopped(&self) {
        tty::reset_mode();
    }
}

/// `async.repl([prompt | {prompt=, fiber=}])`; argument 1 is the repl table.
fn start(lua: &Lua, args: Args) -> Result<()> {
    let (prompt, fiber) = match args.get(1) {
        Value::Nil => (None, false),
        Value::String(s) => (Some(s.as_bytes().to_vec()), false),
        Value::Table(t) => {
            let prompt = match t.get::<Value>("prompt")? {
                Value::Nil => None,
                Value::String(s) => Some(s.as_bytes().to_vec()),
                _ => return boundary::fail("repl: prompt must be a string"),
            };
            (prompt, t.get::<Value>("fiber")?.as_boolean().unwrap_or(false))
        }
        _ => return args.bad(1, "string or table"),
    };
    let prompt = match prompt {
        Some(p) => p,
        None => match lua.globals().get::<Value>("_PROMPT")? {
            Value::String(s) => s.as_bytes().to_vec(),
            _ => b"> ".to_vec(),
        },
    };
    let in_fiber = if fiber {
        let fiber_new: Function =
            lua.named_registry_value::<Table>(crate::core::MODULE_KEY)?.get::<Table>("fiber")?.get("new")?;
        let report = boundary::internal(lua, |lua, results: MultiValue| match outcome(lua, results)? {
            Evaluated::Values(values) => show(lua, values),
            Evaluated::Failed(message) => show(lua, message),
            Evaluated::Incomplete => Ok(()),
        })?;
        Some(lua.load(FIBER_GLUE).set_name("=async.repl").call::<Function>((fiber_new, report))?)
    } else {
        None
    };
    let terminal = tty::guess(0) == Some(tty::Kind::Tty) && tty::guess(1) == Some(tty::Kind::Tty);
    let local = Rc::new(Local {
        prompt: prompt.clone(),
        pending: PendingChunk::default(),
        in_fiber,
        editor: terminal.then(|| RefCell::new(Editor::new(&prompt))),
        inbox: RefCell::new(Inbox::default()),
        skipping: Cell::new(false),
        evaluating: Cell::new(false),
    });
    if terminal {
        let stdin = tty::stdio(lua, 0)?;
        Runtime::of(lua)?.observe(Rc::new(RawWhileRunning(SocketRef::new(lua, &stdin)?)));
        wrap_output(lua, &local)?;
    }
    out(&prompt);
    read_stdin(lua, local)
}

/// Wraps the global `print` and `io.write` so that they go around the
/// line being edited.
fn wrap_output(lua: &Lua, local: &Rc<Local>) -> Result<()> {
    let globals = lua.globals();
    let print: Function = globals.get("print")?;
    let this = local.clone();
    let wrapped = boundary::internal(lua, move |_, args: MultiValue| this.around_output(|| Ok((print.call::<()>(args)?, true))))?;
    globals.set("print", wrapped)?;
    let io: Table = globals.get("io")?;
    let write: Function = io.get("write")?;
    let this = local.clone();
    let wrapped = boundary::internal(lua, move |_, args: MultiValue| {
        let ends_line = match args.iter().last() {
            Some(Value::String(s)) => s.as_bytes().last() == Some(&b'\n'),
            _ => false,
        };
        this.around_output(|| Ok((write.call::<MultiValue>(args)?, ends_line)))
    })?;
    io.set("write", wrapped)
}

/// ANSI colours by name, as the original's `repl.colors`.
const COLORS: &[(&str, &str)] = &[
    ("none", "\x1b[0m"),
    ("black", "\x1b[0;30m"),
    ("red", "\x1b[0;31m"),
    ("green", "\x1b[0;32m"),
    ("yellow", "\x1b[0;33m"),
    ("blue", "\x1b[0;34m"),
    ("magenta", "\x1b[0;35m"),
    ("cyan", "\x1b[0;36m"),
    ("white", "\x1b[0;37m"),
    ("Black", "\x1b[1;30m"),
    ("Red", "\x1b[1;31m"),
    ("Green", "\x1b[1;32m"),
    ("Yellow", "\x1b[1;33m"),
    ("Blue", "\x1b[1;34m"),
    ("Magenta", "\x1b[1;35m"),
    ("Cyan", "\x1b[1;36m"),
    ("White", "\x1b[1;37m"),
    ("_black", "\x1b[40m"),
    ("_red", "\x1b[41m"),
    ("_green", "\x1b[42m"),
    ("_yellow", "\x1b[43m"),
    ("_blue", "\x1b[44m"),
    ("_magenta", "\x1b[45m"),
    ("_cyan", "\x1b[46m"),
    ("_white", "\x1b[47m"),
];

/// `async.repl`: callable, with `listen`, `connect`, `connectn`, `colors`,
/// `colorize` and the standard streams.
pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let repl = lua.create_table()?;
    repl.set("listen", boundary::function(lua, "listen", remote::listen)?)?;
    repl.set("connect", boundary::function(lua, "connect", remote::connect)?)?;
    repl.set("connectn", boundary::function(lua, "connectn", remote::connectn)?)?;
    let colors = lua.create_table()?;
    let colorize = lua.create_table()?;
    for (name, code) in COLORS {
        colors.set(*name, *code)?;
        let colors = colors.clone();
        colorize.set(
            *name,
            boundary::function(lua, "colorize", move |lua, args: Args| {
                // As the original: the codes are read from `repl.colors` at
                // each call, so a program may change them.
                let code: mlua::LuaString = colors.get(*name)?;
                let none: mlua::LuaString = colors.get("none")?;
                let Some(text) = lua.coerce_string(args.get(1))? else { return args.bad(1, "string") };
                let mut joined = code.as_bytes().to_vec();
                joined.extend_from_slice(&text.as_bytes());
                joined.extend_from_slice(&none.as_bytes());
                lua.create_string(joined)
            })?,
        )?;
    }
    repl.set("colors", colors)?;
    repl.set("colorize", colorize)?;
    let meta = lua.create_table()?;
    meta.set("__call", boundary::call_metamethod(lua, "repl", start)?)?;
    meta.set(
        "__index",
        boundary::internal(lua, |lua, (_, key): (Table, Value)| {
            let fd = match &key {
                Value::String(s) if s.as_bytes() == b"stdin" => 0,
                Value::String(s) if s.as_bytes() == b"stdout" => 1,
                Value::String(s) if s.as_bytes() == b"stderr" => 2,
                _ => return Ok(Value::Nil),
            };
            tty::stdio(lua, fd).map(Value::Table)
        })?,
    )?;
    repl.set_metatable(Some(meta))?;
    module.set("repl", repl)
}
