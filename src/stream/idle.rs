//! The idle timeout (`setTimeout`): one libuv timer per stream that has
//! one, moved lazily on reads and writes.
//!
//! May touch: the stream's idle timer.

use super::*;

impl Stream {
    /// Moves the idle deadline to `idle_ms` from now: called on every read
    /// and write. The timer is started only if it is stopped or due after
    /// the new deadline (a shorter timeout was set).
    pub(super) fn touch(&self) {
        let timer = self.idle_timer.get();
        let ms = self.idle_ms.get();
        if timer.is_null() || ms == 0 {
            return;
        }
        // SAFETY: the timer is open while the stream is (see release_timer);
        // its loop is the stream's.
        let now = unsafe { uv::uv_now((*timer).loop_) };
        let deadline = now.saturating_add(ms);
        self.idle_deadline.set(deadline);
        let due = self.timer_due.get();
        if due == 0 || due > deadline {
            self.start_timer(timer, ms, deadline);
        }
    }

    pub(super) fn start_timer(&self, timer: *mut uv::uv_timer_t, ms: u64, due: u64) {
        // SAFETY: the timer is open while the stream is (see release_timer).
        unsafe { uv::uv_timer_start(timer, Some(on_idle), ms, 0) };
        self.timer_due.set(due);
    }

    /// The idle timer fired: whether the stream has really been idle for
    /// `idle_ms`; if not, the timer is restarted for the time left.
    pub(super) fn idle_expired(&self, timer: *mut uv::uv_timer_t) -> bool {
        self.timer_due.set(0);
        if self.idle_ms.get() == 0 || timer != self.idle_timer.get() {
            return false;
        }
        // SAFETY: the timer is open (it just fired); its loop is the stream's.
        let now = unsafe { uv::uv_now((*timer).loop_) };
        let deadline = self.idle_deadline.get();
        if now < deadline {
            self.start_timer(timer, deadline - now, deadline);
            return false;
        }
        true
    }

    pub(super) fn release_timer(&self) {
        let timer = self.idle_timer.replace(std::ptr::null_mut());
        if !timer.is_null() {
            // SAFETY: the timer was made by `set_idle_timeout` and is closed
            // once; `free_timer` frees it.
            unsafe { uv::uv_close(timer as *mut uv::uv_handle_t, Some(free_timer)) };
        }
    }

    /// `setTimeout(ms)` without touching the callback: also for Rust-level
    /// users (http_lua/server.rs switches between header and idle timeouts).
    pub(crate) fn set_idle_timeout(&self, ms: u64) -> Result<()> {
        self.idle_ms.set(ms);
        if self.idle_timer.get().is_null() && ms > 0 && !self.done() {
            // SAFETY: zeroed memory is valid input to uv_timer_init; the
            // timer is freed by `free_timer` after `release_timer` closes it,
            // which happens whenever the stream starts closing.
            let timer = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<uv::uv_timer_t>() }));
            // SAFETY: the stream's loop is initialised; `timer` is fresh.
            unsafe {
                uv::uv_timer_init((*self.tie.handle()).loop_, timer);
                (*timer).data = self as *const Stream as *mut c_void;
            }
            self.idle_timer.set(timer);
        }
        let timer = self.idle_timer.get();
        if !timer.is_null() {
            if ms > 0 {
                self.touch();
            } else {
                // SAFETY: the timer is open (see release_timer).
                unsafe { uv::uv_timer_stop(timer) };
                self.timer_due.set(0);
            }
        }
        Ok(())
    }
}

pub(super) extern "C" fn on_idle(timer: *mut uv::uv_timer_t) {
    // SAFETY: `data` is the stream that owns the timer; the timer is closed
    // (and so never fires) before the stream is freed.
    let stream = unsafe { &*((*timer).data as *const Stream) };
    if !stream.idle_expired(timer) {
        return;
    }
    // SAFETY: the loop is a runtime's; this runs inside uv_run.
    let rt = unsafe { Runtime::from_loop((*timer).loop_) };
    let Some(lua) = rt.lua() else { return };
    rt.dispatch(|| {
        if let Some(consumer) = stream.consumer() {
            consumer.timeout(&lua)?;
        }
        match stream.tie.object(&lua)? {
            Some(object) if !stream.tie.closing() => notify(&lua, &object, &ON_TIMEOUT, &object).map(drop),
            _ => Ok(()),
        }
    });
}

pub(super) extern "C" fn free_timer(handle: *mut uv::uv_handle_t) {
    // SAFETY: the timer was boxed by `set_idle_timeout` and is closed now.
    drop(unsafe { Box::from_raw(handle as *mut uv::uv_timer_t) });
}
