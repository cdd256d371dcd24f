//! File streams (`fs.createReadStream`, `fs.createWriteStream`): the
//! stream layer over a file. libuv cannot poll a regular file, so a file
//! stream is the same `Stream` as a socket's, with its reads and writes
//! made as libuv file requests instead of libuv stream calls: everything
//! Lua sees (the reading modes, fiber reads, the write queue and its
//! high-water mark, `ondrain`, `pause`, `close`, `pipe`) is the stream
//! layer's own code.
//!
//! The handle core ties a Lua object to a libuv handle; a file has none,
//! so a file stream is tied to an idle handle that is never started (it
//! keeps nothing running). The file requests in flight point at the
//! stream's state, which lives in that handle's allocation: the handle is
//! closed only once none is left (`in_flight`), after the descriptor is
//! closed.
//!
//! Reading: one positional read of at most `chunk` bytes at a time, the
//! next one started as soon as the last is delivered, while the stream
//! reads (not paused, someone reading). A read that completes after a
//! `pause` is dropped without moving the position: `resume` reads the same
//! bytes again, so no data reaches Lua while paused. A read at `end`
//! (inclusive) or past the end of the file gives the end of the stream.
//!
//! Writing: the queued writes are written one at a time, in order, at the
//! descriptor's position (the end, for the `a` flags).
//!
//! May touch: libuv file requests on the stream's own descriptor, and the
//! stream's state (through the stream layer's methods).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::{CString, c_int};
use std::rc::Rc;

use libuv_sys2 as uv;
use mlua::{Lua, Result, Table};

use super::{Stream, Written};
use crate::core::boundary;
use crate::core::class::Class;
use crate::core::errors::uv_message;
use crate::core::runtime::Runtime;
use crate::core::uv_handle;
use crate::core::uv_request::UvRequest;

/// What a file stream reads: the bytes from `start` to `end` (inclusive,
/// as Node's), at most `chunk` at a time.
pub struct ReadRange {
    pub start: u64,
    pub end: Option<u64>,
    pub chunk: usize,
}

/// The file side of a file stream (see the module doc).
pub struct FileIo {
    /// The path, for error messages.
    path: String,
    fd: Cell<c_int>,
    readable: bool,
    /// File requests libuv holds that point at the stream.
    in_flight: Cell<usize>,
    /// `destroy` was called: the handle closes once `in_flight` is 0.
    destroyed: Cell<bool>,
    /// A read is in flight, or its bytes are being delivered.
    read_pending: Cell<bool>,
    position: Cell<u64>,
    end: Option<u64>,
    chunk: usize,
    read_buffer: RefCell<Vec<u8>>,
    /// Writes not yet done, the first one in flight when `write_pending`.
    writes: RefCell<VecDeque<Written>>,
    write_pending: Cell<bool>,
    /// Bytes of the first write written so far.
    front_written: Cell<usize>,
    /// Bytes in `writes` not yet written.
    queued: Cell<usize>,
}

/// A file request's state: the stream it belongs to.
type FileRequest = UvRequest<uv::uv_fs_t, &'static Stream>;

impl FileIo {
    /// A stream of the file at `path` reading `range`, or (None) writing.
    pub fn new(path: String, range: Option<ReadRange>) -> Result<FileIo> {
        let (readable, chunk, start, end) = match range {
            Some(range) => (true, range.chunk, range.start, range.end),
            None => (false, 0, 0, None),
        };
        Ok(FileIo {
            path,
            fd: Cell::new(-1),
            readable,
            in_flight: Cell::new(0),
            destroyed: Cell::new(false),
            read_pending: Cell::new(false),
            position: Cell::new(start),
            end,
            chunk,
            read_buffer: RefCell::new(crate::core::memory::with_capacity(chunk)?),
            writes: RefCell::new(VecDeque::new()),
            write_pending: Cell::new(false),
            front_written: Cell::new(0),
            queued: Cell::new(0),
        })
    }

    pub(super) fn queued(&self) -> usize {
        self.queued.get()
    }

    /// Writing to a read stream is a mistake of the caller's, raised at
    /// the call rather than closing the stream with EBADF.
    pub(super) fn check_writable(&self) -> Result<()> {
        if self.readable {
            return boundary::fail("write: a read stream (fs.createReadStream) cannot be written");
        }
        Ok(())
    }

    /// Starts a file request for `stream`; `call` makes the libuv call.
    /// Counted in `in_flight` until its completion calls `request_done`.
    fn submit(
        &self,
        stream: &'static Stream,
        call: impl FnOnce(*mut uv::uv_loop_t, *mut uv::uv_fs_t) -> c_int,
    ) -> std::result::Result<(), c_int> {
        // SAFETY: the handle is open (it closes only with nothing in
        // flight, and nothing is submitted after that).
        let uv_loop = unsafe { (*stream.tie.handle()).loop_ };
        self.in_flight.set(self.in_flight.get() + 1);
        FileRequest::start(stream, |req| call(uv_loop, req)).map_err(|(rc, _)| {
            self.in_flight.set(self.in_flight.get() - 1);
            rc
        })
    }

    /// A request of the stream completed: once the stream is destroyed and
    /// nothing is left in flight, close the descriptor, then the handle.
    fn request_done(&self, stream: &'static Stream) {
        self.in_flight.set(self.in_flight.get() - 1);
        if self.destroyed.get() && self.in_flight.get() == 0 {
            self.finish(stream);
        }
    }

    fn finish(&self, stream: &'static Stream) {
        let fd = self.fd.replace(-1);
        if fd >= 0 {
            let closing = self.submit(stream, |uv_loop, req| {
                // SAFETY: `req` lives until `on_closed`; `fd` is the stream's
                // own descriptor, closed once (it was taken out above).
                unsafe { uv::uv_fs_close(uv_loop, req, fd, Some(on_closed)) }
            });
            if closing.is_ok() {
                return;
            }
        }
        stream.tie.close();
    }

    /// Closes at once (see `Stream::destroy`): the writes not yet started
    /// are dropped (their callbacks get ECANCELED with the close, as a
    /// socket's do), the handle closes when the requests in flight are
    /// done.
    pub(super) fn destroy(&self, stream: &Stream) {
        if self.destroyed.replace(true) {
            return;
        }
        stream.shutting.set(true);
        let keep = usize::from(self.write_pending.get());
        let dropped: Vec<Written> = self.writes.borrow_mut().drain(keep..).collect();
        self.queued.set(self.queued.get() - dropped.iter().map(|w| w.bytes.len()).sum::<usize>());
        if !dropped.is_empty() {
            stream.buffers().early_writes.extend(dropped);
        }
        if self.in_flight.get() == 0 {
            self.finish(stream.this());
        }
    }

    /// `close()`: the queued writes go out, then the stream is destroyed.
    /// Also called once the file is open, for a `close()` made before.
    pub(super) fn shutdown(&self, stream: &Stream) {
        if !stream.connecting.get() && self.writes.borrow().is_empty() {
            stream.destroy();
        }
    }

    /// The stream's reading changed (`Stream::update_reading`).
    pub(super) fn reading_changed(&self, stream: &Stream) {
        if stream.reading.get() && self.readable {
            self.read_next(stream.this());
        }
    }

    /// The descriptor, if `pending` may start: the file is open, the
    /// stream not destroyed, and no request of that kind is in flight.
    fn ready(&self, pending: &Cell<bool>) -> Option<c_int> {
        let fd = self.fd.get();
        (fd >= 0 && !pending.get() && !self.destroyed.get()).then_some(fd)
    }

    /// Submits a read or write, `pending` set until its completion; a
    /// request libuv refuses fails the stream on the next turn.
    fn start(
        &self,
        stream: &'static Stream,
        pending: &Cell<bool>,
        call: impl FnOnce(*mut uv::uv_loop_t, *mut uv::uv_fs_t) -> c_int,
    ) {
        pending.set(true);
        if let Err(rc) = self.submit(stream, call) {
            pending.set(false);
            stream.fail_soon(uv_message(rc, None));
        }
    }

    fn read_next(&self, stream: &'static Stream) {
        let Some(fd) = self.ready(&self.read_pending) else { return };
        let position = self.position.get();
        // A read of nothing completes with 0: the end of the range.
        let left = self.end.map_or(u64::MAX, |end| (end + 1).saturating_sub(position));
        let len = (self.chunk as u64).min(left) as usize;
        let buf = uv::uv_buf_t { base: self.read_buffer.borrow_mut().as_mut_ptr() as *mut _, len };
        self.start(stream, &self.read_pending, |uv_loop, req| {
            // SAFETY: `req` lives until `on_read`; `buf` points at the
            // stream's read buffer (room for `chunk` bytes, `len` at most),
            // which nothing else touches while `read_pending` is set and
            // which lives as long as the stream, which outlives the request.
            unsafe { uv::uv_fs_read(uv_loop, req, fd, &buf, 1, position as i64, Some(on_read)) }
        });
    }

    pub(super) fn queue_write(&self, stream: &Stream, written: Written) {
        self.queued.set(self.queued.get() + written.bytes.len());
        self.writes.borrow_mut().push_back(written);
        self.write_next(stream.this());
    }

    fn write_next(&self, stream: &'static Stream) {
        let Some(fd) = self.ready(&self.write_pending) else { return };
        let buf = match self.writes.borrow().front() {
            Some(front) => {
                let rest = &front.bytes[self.front_written.get()..];
                uv::uv_buf_t { base: rest.as_ptr() as *mut _, len: rest.len() }
            }
            None => return,
        };
        self.start(stream, &self.write_pending, |uv_loop, req| {
            // SAFETY: `req` lives until `on_written`; `buf` points into the
            // heap bytes of the first queued write, which stays queued (and
            // its bytes where they are) until that completion.
            unsafe { uv::uv_fs_write(uv_loop, req, fd, &buf, 1, -1, Some(on_written)) }
        });
    }

    /// Takes the first write off the queue.
    fn pop_write(&self) -> Option<Written> {
        let written = self.writes.borrow_mut().pop_front()?;
        self.front_written.set(0);
        self.queued.set(self.queued.get() - written.bytes.len());
        Some(written)
    }
}

impl Stream {
    /// The state as the file requests hold it.
    fn this(&self) -> &'static Stream {
        // SAFETY: a stream's state lives in its handle's allocation, which
        // a file stream frees only when no request is in flight (see
        // FileIo::request_done): the requests holding this reference are
        // done before it dangles.
        unsafe { &*(self as *const Stream) }
    }

    /// `fail_later`, from where no Lua state is at hand.
    fn fail_soon(&self, message: String) {
        // SAFETY: the handle is open; its loop is a runtime's.
        let rt = unsafe { Runtime::from_loop((*self.tie.handle()).loop_) };
        if let Some(lua) = rt.lua() {
            rt.dispatch(|| self.fail_later(&lua, message));
        }
    }
}

/// Takes a completed request back: its stream and result.
///
/// # Safety
/// `req` was started by `FileIo::submit` and this is its completion.
unsafe fn take_back(req: *mut uv::uv_fs_t) -> (&'static Stream, Rc<FileIo>, &'static Runtime, isize) {
    // SAFETY: per the contract.
    let mut request = unsafe { FileRequest::finish(req) };
    let result = request.raw().result;
    // SAFETY: libuv is done with the request; this frees its own copies
    // (the path of an open), which nothing uses after.
    unsafe { uv::uv_fs_req_cleanup(request.raw_mut()) };
    let stream = request.state;
    // SAFETY: the stream is alive while a request of it is in flight; its
    // loop is a runtime's, and this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*stream.tie.handle()).loop_) };
    let io = stream.file().expect("a file request of a file stream");
    (stream, io, rt, result)
}

extern "C" fn on_opened(req: *mut uv::uv_fs_t) {
    // SAFETY: started by `open` through `submit`, completed now.
    let (stream, io, rt, result) = unsafe { take_back(req) };
    if result >= 0 {
        io.fd.set(result as c_int);
    }
    io.request_done(stream);
    if io.destroyed.get() {
        return;
    }
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        if result >= 0 {
            stream.connected(&lua)?;
            if stream.shutting.get() {
                io.shutdown(stream);
            }
            return Ok(());
        }
        let Some(object) = stream.tie.object(&lua)? else { return Ok(()) };
        stream.fail(&lua, &object, uv_message(result as c_int, Some(&io.path)))
    });
}

extern "C" fn on_read(req: *mut uv::uv_fs_t) {
    // SAFETY: started by `read_next` through `submit`, completed now.
    let (stream, io, rt, result) = unsafe { take_back(req) };
    let wanted = stream.reading.get() && !stream.done();
    if let (true, Some(lua)) = (wanted, rt.lua()) {
        if result > 0 {
            io.position.set(io.position.get() + result as u64);
        }
        let nread = if result == 0 { uv::uv_errno_t_UV_EOF as isize } else { result };
        // Out of the cell while Lua runs (read_pending keeps other reads
        // out of it meanwhile).
        let mut buffer = std::mem::take(&mut *io.read_buffer.borrow_mut());
        // SAFETY: libuv filled `result` bytes of this buffer (when
        // positive), which this frame owns until it is put back.
        rt.dispatch(|| unsafe { stream.received(&lua, nread, buffer.as_mut_ptr()) });
        *io.read_buffer.borrow_mut() = buffer;
    }
    io.read_pending.set(false);
    io.request_done(stream);
    if stream.reading.get() && !stream.done() {
        io.read_next(stream);
    }
}

extern "C" fn on_written(req: *mut uv::uv_fs_t) {
    // SAFETY: started by `write_next` through `submit`, completed now.
    let (stream, io, rt, result) = unsafe { take_back(req) };
    io.write_pending.set(false);
    let front_len = io.writes.borrow().front().map_or(0, |w| w.bytes.len());
    let status = match result {
        n if n < 0 => n as c_int,
        0 if front_len > io.front_written.get() => uv::uv_errno_t_UV_EIO,
        n => {
            io.front_written.set(io.front_written.get() + n as usize);
            0
        }
    };
    let complete = status < 0 || io.front_written.get() >= front_len;
    let finished = if complete { io.pop_write() } else { None };
    io.request_done(stream);
    if let Some(Written { callback, .. }) = finished {
        stream.write_finished(rt, callback, status);
    }
    if io.destroyed.get() {
        return;
    }
    if stream.shutting.get() && io.writes.borrow().is_empty() {
        return stream.destroy();
    }
    io.write_next(stream);
}

extern "C" fn on_closed(req: *mut uv::uv_fs_t) {
    // SAFETY: started by `FileIo::finish` through `submit`, completed now.
    let (stream, io, _, _) = unsafe { take_back(req) };
    // The last request: closes the handle (see request_done).
    io.request_done(stream);
}

/// Makes a file stream on `object` (its metatable set) and starts opening
/// `path` with `flags`; the stream holds its reads and writes until the
/// file is open, and an open that fails reaches `onerr` (or stderr) as
/// `ENOENT: no such file or directory "path"`.
pub fn open(lua: &Lua, object: &Table, what: &str, class: &'static Class, path: CString, flags: c_int, io: FileIo) -> Result<()> {
    let stream = uv_handle::open::<Stream, uv::uv_idle_t>(lua, object, Stream::of_file(class, io), what, |uv_loop, raw| {
        // SAFETY: `raw` is a fresh handle for this loop; it is never started.
        unsafe { uv::uv_idle_init(uv_loop, raw) }
    })?;
    stream.set_connecting();
    let io = stream.file().expect("a file stream");
    let started = io.submit(stream.this(), |uv_loop, req| {
        // SAFETY: `req` lives until `on_opened`; libuv copies the path.
        unsafe { uv::uv_fs_open(uv_loop, req, path.as_ptr(), flags, 0o666, Some(on_opened)) }
    });
    if let Err(rc) = started {
        stream.fail_later(lua, uv_message(rc, Some(&io.path)))?;
    }
    Ok(())
}
