//! The idle timeout (`setTimeout`): one libuv timer per stream that has
//! one, moved lazily on reads and writes.
//!
//! The timer and its times are one allocation (`IdleTimer`), made by the
//! first `setTimeout` with a positive time: a stream that never has a
//! timeout (most connections of a plain server) holds only a null pointer.
//!
//! May touch: the stream's idle timer.

use super::*;

/// A stream's idle timer: the libuv timer and when it is due. Allocated
/// by `set_idle_timeout`; freed by `free_timer`, once `release_timer` has
/// closed it (whenever the stream starts closing).
#[repr(C)]
pub(super) struct IdleTimer {
    /// First, so the close callback can free the whole from the timer's
    /// pointer.
    raw: uv::uv_timer_t,
    ms: Cell<u64>,
    /// Loop time at which the stream has been idle for `ms`: moved by
    /// every read and write, without restarting the timer.
    deadline: Cell<u64>,
    /// Loop time at which the running timer fires; 0 while stopped. The
    /// timer runs to its due time and is restarted from there if the
    /// deadline moved on (a busy connection restarts it once per `ms`,
    /// not on every read and write).
    due: Cell<u64>,
}

impl IdleTimer {
    fn raw(&self) -> *mut uv::uv_timer_t {
        &self.raw as *const uv::uv_timer_t as *mut uv::uv_timer_t
    }

    /// The loop's time now.
    fn now(&self) -> u64 {
        // SAFETY: the timer is initialised, and so is its loop.
        unsafe { uv::uv_now(self.raw.loop_) }
    }

    fn start(&self, ms: u64, due: u64) {
        // SAFETY: the timer is open while the stream holds it (see
        // release_timer).
        unsafe { uv::uv_timer_start(self.raw(), Some(on_idle), ms, 0) };
        self.due.set(due);
    }
}

impl Stream {
    /// The idle timer, while the stream has one.
    fn idle_timer(&self) -> Option<&IdleTimer> {
        // SAFETY: a non-null pointer is a live allocation: `release_timer`
        // nulls it before closing the timer, and only the close callback
        // frees it.
        unsafe { self.idle.get().as_ref() }
    }

    /// Moves the idle deadline to `ms` from now: called on every read and
    /// write. The timer is started only if it is stopped or due after the
    /// new deadline (a shorter timeout was set).
    pub(super) fn touch(&self) {
        let Some(timer) = self.idle_timer() else { return };
        let ms = timer.ms.get();
        if ms == 0 {
            return;
        }
        let deadline = timer.now().saturating_add(ms);
        timer.deadline.set(deadline);
        let due = timer.due.get();
        if due == 0 || due > deadline {
            timer.start(ms, deadline);
        }
    }

    /// The idle timer `timer` fired: whether the stream has really been
    /// idle for its time; if not, the timer is restarted for the time left.
    fn idle_expired(&self, timer: *mut uv::uv_timer_t) -> bool {
        let Some(idle) = self.idle_timer().filter(|idle| idle.raw() == timer) else { return false };
        idle.due.set(0);
        if idle.ms.get() == 0 {
            return false;
        }
        let now = idle.now();
        let deadline = idle.deadline.get();
        if now < deadline {
            idle.start(deadline - now, deadline);
            return false;
        }
        true
    }

    pub(super) fn release_timer(&self) {
        let timer = self.idle.replace(std::ptr::null_mut());
        if !timer.is_null() {
            // SAFETY: the timer was made by `set_idle_timeout` and is closed
            // once (the pointer is gone from the stream); `free_timer`
            // frees it.
            unsafe { uv::uv_close(timer as *mut uv::uv_handle_t, Some(free_timer)) };
        }
    }

    /// `setTimeout(ms)` without touching the callback: also for Rust-level
    /// users (http_lua/server.rs switches between header and idle timeouts).
    pub(crate) fn set_idle_timeout(&self, ms: u64) -> Result<()> {
        if self.idle.get().is_null() && ms > 0 && !self.done() {
            let timer = Box::into_raw(Box::new(IdleTimer {
                // SAFETY: zeroed memory is valid input to uv_timer_init.
                raw: unsafe { std::mem::zeroed() },
                ms: Cell::new(ms),
                deadline: Cell::new(0),
                due: Cell::new(0),
            }));
            // SAFETY: the stream's loop is initialised; `timer` is a fresh
            // allocation, freed by `free_timer` after `release_timer` closes
            // it, which happens whenever the stream starts closing.
            unsafe {
                uv::uv_timer_init((*self.tie.handle()).loop_, &raw mut (*timer).raw);
                (*timer).raw.data = self as *const Stream as *mut c_void;
            }
            self.idle.set(timer);
        }
        let Some(timer) = self.idle_timer() else { return Ok(()) };
        timer.ms.set(ms);
        if ms > 0 {
            self.touch();
        } else {
            // SAFETY: the timer is open (see release_timer).
            unsafe { uv::uv_timer_stop(timer.raw()) };
            timer.due.set(0);
        }
        Ok(())
    }
}

extern "C" fn on_idle(timer: *mut uv::uv_timer_t) {
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

extern "C" fn free_timer(handle: *mut uv::uv_handle_t) {
    // SAFETY: the timer is the first field of an `IdleTimer` boxed by
    // `set_idle_timeout`, and it is closed now: libuv is done with it.
    drop(unsafe { Box::from_raw(handle as *mut IdleTimer) });
}
