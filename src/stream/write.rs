//! Writing: trying a write at once, queueing the rest with libuv, the
//! write and shutdown completions, and the raw hot path of `write`.
//!
//! May touch: the stream's libuv handle, its write requests, and (in
//! `write_fast`) the Lua stack of the call.

use super::*;

impl Stream {
    /// Queues a write with libuv; its completion is `on_written`.
    pub(super) fn queue_write(&self, lua: &Lua, written: Written) -> Result<()> {
        if let Some(file) = self.file() {
            file.queue_write(self, written);
            return Ok(());
        }
        let buf = uv::uv_buf_t { base: written.bytes.as_ptr() as *mut _, len: written.bytes.len() };
        let started = UvRequest::<uv::uv_write_t, Written>::start(written, |req| {
            // SAFETY: the stream is open; the bytes live in the request,
            // which libuv keeps until `on_written`.
            unsafe { uv::uv_write(req, self.raw(), &buf, 1, Some(on_written)) }
        });
        if let Err((rc, written)) = started {
            // Reported on the next turn, not inside the caller's write().
            let message = uv_message(rc, None);
            if let Some(callback) = written.callback {
                Runtime::call_later(lua, callback.into_function(lua)?, message.clone())?;
            }
            self.fail_later(lua, message)?;
        }
        Ok(())
    }

    /// Fails the stream on the next turn of the loop: for a failure found
    /// inside a call of the user's (a write, a resume), whose handlers must
    /// not run inside that call.
    pub(super) fn fail_later(&self, lua: &Lua, message: String) -> Result<()> {
        if let Some(object) = self.tie.object(lua)? {
            let report = boundary::internal(lua, move |lua, object: Table| match uv_handle::state_of::<Stream>(&object)? {
                Some(stream) => stream.fail(lua, &object, message.clone()),
                None => Ok(()),
            })?;
            Runtime::call_later(lua, report, object)?;
        }
        Ok(())
    }

    /// Bytes waiting to be written.
    pub(super) fn queued(&self) -> usize {
        let early: usize = self.buffers.borrow().as_ref().map_or(0, |b| b.early_writes.iter().map(|w| w.bytes.len()).sum());
        if let Some(file) = self.file() {
            return early + file.queued();
        }
        if self.tie.closing() {
            return early;
        }
        // SAFETY: the stream is open.
        early + unsafe { uv::uv_stream_get_write_queue_size(self.raw()) }
    }

    /// `write`: try at once, queue the rest; true while under the mark.
    /// Also for Rust-level users (http_lua/server.rs writes a response's pieces
    /// in one vectored write without making Lua strings of them). On a
    /// closing stream it writes nothing and returns false; the callback
    /// gets the error on the next turn.
    pub(crate) fn write(&self, lua: &Lua, pieces: &[&[u8]], callback: Option<Function>) -> Result<bool> {
        if self.done() {
            if let Some(callback) = callback {
                Runtime::call_later(lua, callback, closed_message())?;
            }
            return Ok(false);
        }
        let sent = if callback.is_none() { self.try_now(pieces) } else { 0 };
        self.write_rest(lua, pieces, sent, callback)
    }

    /// Writes what the socket takes without blocking, if nothing is queued
    /// before it; returns the bytes sent.
    pub(super) fn try_now(&self, pieces: &[&[u8]]) -> usize {
        if self.done() || self.connecting.get() || self.file().is_some() || self.queued() != 0 {
            return 0;
        }
        let buf = |p: &&[u8]| uv::uv_buf_t { base: p.as_ptr() as *mut _, len: p.len() };
        // SAFETY: the stream is open; the bufs point at bytes that outlive
        // this call, and try_write keeps no pointer to them.
        let rc = unsafe {
            if let [piece] = pieces {
                uv::uv_try_write(self.raw(), &buf(piece), 1)
            } else {
                let bufs: Vec<uv::uv_buf_t> = pieces.iter().map(buf).collect();
                uv::uv_try_write(self.raw(), bufs.as_ptr(), bufs.len() as _)
            }
        };
        // An error other than EAGAIN is left to uv_write to report.
        rc.max(0) as usize
    }

    /// Queues what `try_now` did not send (from byte `sent` of `pieces`).
    pub(super) fn write_rest(&self, lua: &Lua, pieces: &[&[u8]], sent: usize, callback: Option<Function>) -> Result<bool> {
        if let Some(file) = self.file() {
            file.check_writable()?;
        }
        let total: usize = pieces.iter().map(|p| p.len()).sum();
        self.touch();
        if sent < total || callback.is_some() {
            let Ok(mut rest) = memory::with_capacity(total - sent) else {
                // What went out already was cut short, and the rest never
                // will: nothing written later may follow it on the wire.
                if sent > 0 {
                    self.destroy();
                }
                return Err(OutOfMemory.into());
            };
            let mut skip = sent;
            for piece in pieces {
                let from = skip.min(piece.len());
                skip -= from;
                rest.extend_from_slice(&piece[from..]);
            }
            let callback = callback.map(|f| Callback::new(lua, f)).transpose()?;
            let written = Written { bytes: rest, callback };
            if self.connecting.get() {
                self.buffers().early_writes.push(written);
            } else {
                self.queue_write(lua, written)?;
            }
        }
        let under = self.queued() < HIGH_WATER;
        if !under {
            self.want_drain.set(true);
        }
        Ok(under)
    }
}

pub(super) extern "C" fn on_written(req: *mut uv::uv_write_t, status: c_int) {
    // SAFETY: started by `queue_write`; this is its completion.
    let request = unsafe { UvRequest::<uv::uv_write_t, Written>::finish(req) };
    let raw = request.raw().handle;
    // SAFETY: libuv completes a stream's writes before its close callback,
    // so the stream and its state are still there.
    let stream = unsafe { uv_handle::state_from::<Stream>(raw as *const uv::uv_handle_t) };
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*raw).loop_) };
    let Written { callback, .. } = request.state;
    stream.write_finished(rt, callback, status);
}

impl Stream {
    /// A write completed with `status`: its callback, then the stream's
    /// failure or its drain. From libuv's write callback and a file
    /// stream's write completion (stream/file.rs).
    pub(super) fn write_finished(&self, rt: &Runtime, callback: Option<Callback>, status: c_int) {
        let message = (status < 0).then(|| uv_message(status, None));
        if let Some(callback) = callback {
            let message = message.clone();
            if !callback.call(rt, |_| Ok(message)) {
                return;
            }
        }
        let Some(lua) = rt.lua() else { return };
        rt.dispatch(|| {
            let Some(object) = self.tie.object(&lua)? else { return Ok(()) };
            if let Some(message) = message {
                if status != uv::uv_errno_t_UV_ECANCELED {
                    self.fail(&lua, &object, message)?;
                }
                return Ok(());
            }
            if self.want_drain.get() && !self.done() && self.queued() == 0 {
                self.want_drain.set(false);
                if let Some(consumer) = self.consumer() {
                    consumer.drain(&lua)?;
                }
                self.on_drain.notify(&lua, ())?;
            }
            Ok(())
        });
    }
}

pub(super) extern "C" fn on_shutdown(req: *mut uv::uv_shutdown_t, _status: c_int) {
    // SAFETY: started by `shutdown`; this is its completion.
    let request = unsafe { UvRequest::<uv::uv_shutdown_t, ()>::finish(req) };
    // SAFETY: a shutdown completes before its stream's close callback.
    let stream = unsafe { uv_handle::state_from::<Stream>(request.raw().handle as *const uv::uv_handle_t) };
    stream.destroy();
}

/// `write` on its hot path, against the Lua C API: one string, no
/// callback, nothing queued. A reply written from `ondata` is then one
/// try_write and no mlua call at all. Anything else, and the rest of a
/// partial write, goes to the general method (upvalue 1).
pub(super) unsafe extern "C-unwind" fn write_fast(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: the whole block runs only in the bound form made by
    // `boundary::bind` (upvalue 1 the general method, upvalue 2 the handle
    // object), with the caller's arguments, so with LUA_MINSTACK free slots
    // (state_at uses one above the value it reads); a state pointer comes
    // only from the table of open handles, for a number naming a live
    // stream (see uv_handle::state_at).
    // A Lua error (out of memory, one raised by call_bound, or the error
    // of write_rest, which `raise` takes and drops first) unwinds through
    // a frame that owns nothing.
    unsafe {
        let object = ffi::lua_upvalueindex(2);
        let simple = ffi::lua_gettop(state) == 1
            && ffi::lua_type(state, 1) == ffi::LUA_TSTRING
            && ffi::lua_type(state, object) == ffi::LUA_TTABLE;
        if simple {
            ffi::lua_pushlightuserdata(state, crate::core::class::STATE.pointer());
            ffi::lua_rawget(state, object);
            let stream = uv_handle::state_at::<Stream>(state, -1);
            ffi::lua_pop(state, 1);
            if let Some(stream) = stream.as_ref().filter(|s| !s.done()) {
                let mut len = 0;
                let data = ffi::lua_tolstring(state, 1, &mut len) as *const u8;
                let bytes = std::slice::from_raw_parts(data, len);
                let sent = stream.try_now(&[bytes]);
                let under = if sent == len {
                    stream.touch();
                    Ok(Some(stream.queued() < HIGH_WATER))
                } else {
                    let rt = Runtime::from_loop((*stream.tie.handle()).loop_);
                    rt.lua().map(|lua| stream.write_rest(&lua, &[bytes], sent, None)).transpose()
                };
                match under {
                    Ok(Some(under)) => {
                        ffi::lua_pushboolean(state, under as c_int);
                        return 1;
                    }
                    Ok(None) => {}
                    // Raised here: the general method would send the bytes
                    // that went out once more.
                    Err(error) => boundary::raise(state, error),
                }
            }
        }
        boundary::call_bound(state)
    }
}
