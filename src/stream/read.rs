//! Reading: libuv's read callbacks, and delivering what arrives as the
//! stream's mode says (a Rust consumer, `ondata` strings, raw buffers,
//! separated pieces, or the buffer fiber reads take from).
//!
//! May touch: the stream's libuv handle and its Lua object.

use super::*;

impl Stream {
    /// Starts or stops libuv reading to match the mode, pause, and the
    /// fiber buffer's fill.
    pub(super) fn update_reading(&self) {
        let want = self.mode.get() != Mode::Idle
            && !self.paused.get()
            && !self.ended.get()
            && !self.done()
            && !self.connecting.get()
            && !(matches!(self.mode.get(), Mode::Fiber | Mode::FiberRaw)
                && self.inbox_len() >= HIGH_WATER
                && !self.awaiting_separator());
        if want == self.reading.get() {
            return;
        }
        if let Some(file) = self.file() {
            self.reading.set(want);
            return file.reading_changed(self);
        }
        // SAFETY: the stream is open (not `done`, or we only stop).
        let rc = unsafe {
            if want { uv::uv_read_start(self.raw(), Some(on_alloc), Some(on_read)) } else { uv::uv_read_stop(self.raw()) }
        };
        self.reading.set(want && rc == 0);
    }

    pub(super) fn set_mode(&self, mode: Mode) {
        self.mode.set(mode);
        self.update_reading();
    }

    /// New bytes from the peer, `len` of them at `start` in the read
    /// buffer, delivered as the mode says.
    ///
    /// # Safety
    /// `start..start + len` is the part of a read buffer (the runtime's, or
    /// a file stream's) just filled (writable memory), and nothing else
    /// uses that buffer until this returns.
    pub(super) unsafe fn deliver(&self, lua: &Lua, object: &Table, start: *mut u8, len: usize) -> Result<()> {
        if self.mode.get() == Mode::Buffers {
            // SAFETY: per this function's contract the bytes stay valid, and
            // nothing but the buffer uses them, until it returns; `_loan`
            // ends the loan when it drops, before this returns, whatever the
            // callback did.
            let (buffer, _loan) = unsafe { Buffer::lend(lua, start, len) }?;
            return self.on_data.emit(lua, &buffer).map(drop);
        }
        // SAFETY: per this function's contract; the slice is made from the
        // read buffer's own pointer and used only during this call.
        let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, len) };
        match self.mode.get() {
            Mode::Idle | Mode::Buffers => Ok(()),
            Mode::Consumer => self.deliver_to_consumer(lua, bytes),
            Mode::Strings => self.deliver_string(lua, bytes),
            Mode::Split => {
                if self.buffers().inbox.push(bytes).is_err() {
                    return self.fail_out_of_memory(lua, object);
                }
                self.deliver_pieces(lua, object)
            }
            Mode::SplitWith => {
                let mut joined = self.buffers().inbox.take_all();
                if memory::append(&mut joined, bytes).is_err() {
                    return self.fail_out_of_memory(lua, object);
                }
                self.deliver_split_with(lua, object, joined)
            }
            Mode::Fiber | Mode::FiberRaw => {
                if self.buffers().inbox.push(bytes).is_err() {
                    return self.fail_out_of_memory(lua, object);
                }
                self.update_reading();
                wake(object)
            }
        }
    }

    pub(super) fn deliver_to_consumer(&self, lua: &Lua, bytes: &[u8]) -> Result<()> {
        match self.consumer() {
            Some(consumer) => consumer.data(lua, self, bytes),
            None => Ok(()),
        }
    }

    /// The hot path of `ondata`: the Lua C API straight, no mlua values.
    pub(super) fn deliver_string(&self, lua: &Lua, bytes: &[u8]) -> Result<()> {
        lua_raw::call_handler(lua, self.tie.object_ref(), self.on_data.at(), 1, |state, _| {
            // SAFETY: call_handler made room for this one value.
            unsafe { ffi::lua_pushlstring(state, bytes.as_ptr() as *const _, bytes.len()) };
            1
        })
    }

    /// Hands out the whole pieces buffered, in order. One delivery at a
    /// time: an `onsplitdata` called while pieces go out (by their handler,
    /// or by a finalizer that runs as a piece's string is made) leaves them
    /// to the delivery already running, which keeps their order.
    pub(super) fn deliver_pieces(&self, lua: &Lua, object: &Table) -> Result<()> {
        if self.delivering.replace(true) {
            return Ok(());
        }
        let delivered = self.deliver_each_piece(lua, object);
        self.delivering.set(false);
        delivered
    }

    fn deliver_each_piece(&self, lua: &Lua, object: &Table) -> Result<()> {
        let limit = self.max_line();
        while !self.done() && self.mode.get() == Mode::Split {
            // The piece is copied out of the buffers before its string is
            // made: making it can run a finalizer, which may use this
            // stream (write, onsplitdata, ...) while no borrow is held.
            let next = {
                let mut buffers = self.buffers();
                let Buffers { inbox, separator, .. } = &mut *buffers;
                inbox.next_bounded(separator, limit).map(|piece| piece.map(memory::copy))
            };
            let piece = match next {
                Ok(Some(Ok(piece))) => piece,
                Ok(Some(Err(OutOfMemory))) => return self.fail_out_of_memory(lua, object),
                Ok(None) => return Ok(()),
                Err(TooLong) => return self.fail_too_long(lua, object),
            };
            self.on_data.emit(lua, lua.create_string(piece)?)?;
        }
        Ok(())
    }

    pub(super) fn deliver_split_with(&self, lua: &Lua, object: &Table, joined: Vec<u8>) -> Result<()> {
        let Some(split) = object.raw_get::<Option<Function>>(SPLITTER.value())? else { return Ok(()) };
        let (pieces, rest): (Option<Table>, Option<LuaString>) = split.call(lua.create_string(&joined)?)?;
        if let Some(rest) = rest {
            if rest.as_bytes().len() > self.max_line() {
                return self.fail_too_long(lua, object);
            }
            if self.buffers().inbox.push(&rest.as_bytes()).is_err() {
                return self.fail_out_of_memory(lua, object);
            }
        }
        for piece in pieces.iter().flat_map(|t| t.sequence_values::<Value>()) {
            if self.done() || self.mode.get() != Mode::SplitWith {
                break;
            }
            self.on_data.emit(lua, piece?)?;
        }
        Ok(())
    }

    /// End of stream: what is still buffered goes out first.
    pub(super) fn end_of_stream(&self, lua: &Lua, object: &Table) -> Result<()> {
        self.ended.set(true);
        self.update_reading();
        match self.mode.get() {
            Mode::Fiber | Mode::FiberRaw if self.inbox_len() > 0 => wake(object),
            Mode::Split | Mode::SplitWith => {
                let rest = self.buffers().inbox.take_all();
                if !rest.is_empty() && !self.done() {
                    self.on_data.emit(lua, lua.create_string(&rest)?)?;
                }
                self.finish_end(lua, object)
            }
            _ => self.finish_end(lua, object),
        }
    }
}

pub(super) extern "C" fn on_alloc(handle: *mut uv::uv_handle_t, _suggested: usize, buf: *mut uv::uv_buf_t) {
    // SAFETY: the handle's loop is a runtime's; `buf` is libuv's to fill.
    unsafe { *buf = Runtime::from_loop((*handle).loop_).read_buffer() };
}

pub(super) extern "C" fn on_read(raw: *mut uv::uv_stream_t, nread: isize, buf: *const uv::uv_buf_t) {
    // SAFETY: reading was started on an open stream made by `uv_handle::open`
    // with a `Stream` state; libuv stops reading before the close callback.
    let stream = unsafe { uv_handle::state_from::<Stream>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    if nread == 0 {
        return;
    }
    let Some(lua) = rt.lua() else { return };
    // SAFETY: libuv filled `nread` bytes of the read buffer that on_alloc
    // handed it, which nothing else uses until this callback returns.
    rt.dispatch(|| unsafe { stream.received(&lua, nread, (*buf).base as *mut u8) });
}

impl Stream {
    /// What a read gave: `nread` bytes at `start`, the end (`UV_EOF`) or
    /// an error code. From libuv's read callback and a file stream's read
    /// completion (stream/file.rs).
    ///
    /// # Safety
    /// When `nread` is positive, `start..start + nread` is a read buffer
    /// just filled (writable memory), which nothing else uses until this
    /// returns.
    pub(super) unsafe fn received(&self, lua: &Lua, nread: isize, start: *mut u8) -> Result<()> {
        if nread > 0 {
            self.touch();
            let len = nread as usize;
            let mode = self.mode.get();
            if matches!(mode, Mode::Strings | Mode::Consumer) {
                // SAFETY: per this function's contract; the slice is used
                // during this call only.
                let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, len) };
                return if mode == Mode::Strings {
                    self.deliver_string(lua, bytes)
                } else {
                    self.deliver_to_consumer(lua, bytes)
                };
            }
            let Some(object) = self.tie.object(lua)? else { return Ok(()) };
            // SAFETY: per this function's contract.
            return unsafe { self.deliver(lua, &object, start, len) };
        }
        let Some(object) = self.tie.object(lua)? else { return Ok(()) };
        if nread == uv::uv_errno_t_UV_EOF as isize {
            self.end_of_stream(lua, &object)
        } else {
            self.fail(lua, &object, uv_message(nread as c_int, None))
        }
    }
}
