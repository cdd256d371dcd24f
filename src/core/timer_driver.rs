//! The timer driver: every timer of a Lua state on one libuv timer, set
//! for the earliest deadline of the queue (`timer_queue.rs`). A million
//! timers therefore cost a million queue entries, not a million libuv
//! handles.
//!
//! The driver knows slots and deadlines only, no Lua: what a timer does
//! when it is due is up to the `TimerSink` the runtime hands the due turn
//! to (time.rs, the Lua side, which keeps each timer's callback).
//!
//! May touch: its own libuv timer, and the loop's clock.

use std::cell::{Cell, RefCell};
use std::ffi::c_int;

use libuv_sys2 as uv;

use crate::core::timer_queue::Queue;
pub use crate::core::timer_queue::{Due, Slot};

pub struct TimerDriver {
    queue: RefCell<Queue>,
    /// The libuv timer, from `init` on; never freed (it belongs to the
    /// loop, which lives as long as the process).
    timer: Cell<Option<*mut uv::uv_timer_t>>,
    /// The deadline the timer is set for, while it runs.
    armed: Cell<Option<u64>>,
    on_due: Cell<Option<extern "C" fn(*mut uv::uv_timer_t)>>,
}

impl TimerDriver {
    pub fn new() -> TimerDriver {
        TimerDriver {
            queue: RefCell::new(Queue::default()),
            timer: Cell::new(None),
            armed: Cell::new(None),
            on_due: Cell::new(None),
        }
    }

    /// Makes the libuv timer, whose callback is `on_due`; called once,
    /// when the runtime is made. Returns libuv's error code on failure.
    pub fn init(&self, uv_loop: *mut uv::uv_loop_t, on_due: extern "C" fn(*mut uv::uv_timer_t)) -> Result<(), c_int> {
        // SAFETY: zeroed memory is valid input for uv_timer_init. The timer
        // is never freed: it belongs to the loop, which lives as long as
        // the process.
        let timer = Box::into_raw(Box::new(unsafe { std::mem::zeroed::<uv::uv_timer_t>() }));
        // SAFETY: `uv_loop` is the runtime's initialised loop; `timer` is a
        // fresh allocation that stays where it is for good.
        let rc = unsafe { uv::uv_timer_init(uv_loop, timer) };
        if rc != 0 {
            return Err(rc);
        }
        self.timer.set(Some(timer));
        self.on_due.set(Some(on_due));
        Ok(())
    }

    /// User timers now pending.
    pub fn live(&self) -> usize {
        self.queue.borrow().live()
    }

    /// The slot the next timer will take.
    pub fn next_slot(&self) -> Slot {
        self.queue.borrow().next_slot()
    }

    /// Queues a timer due `ms` from now (then every `ms` if `repeat`);
    /// `internal` ones (the module's own) do not count as live.
    pub fn schedule(&self, ms: u64, repeat: bool, internal: bool) -> Slot {
        let now = self.fresh_now();
        let slot = self.queue.borrow_mut().add(now, ms, repeat, internal);
        let deadline = now.saturating_add(ms);
        if self.armed.get().is_none_or(|armed| deadline < armed) {
            self.arm(deadline);
        }
        slot
    }

    /// Cancels the timer in `slot`; false if it was not pending.
    pub fn cancel(&self, slot: Slot) -> bool {
        let (cancelled, empty) = {
            let mut queue = self.queue.borrow_mut();
            (queue.cancel(slot), queue.is_empty())
        };
        if empty {
            self.disarm();
        }
        cancelled
    }

    /// Starts a due turn: the timer fired. Returns the loop time and the
    /// order limit to pass to `pop_due` (timers armed during the turn wait
    /// for the next one); call `end_turn` after.
    pub fn begin_turn(&self) -> (u64, u64) {
        self.armed.set(None);
        (self.loop_now(), self.queue.borrow().next_order())
    }

    /// The next timer due at `now` and armed before `limit`, if any.
    pub fn pop_due(&self, now: u64, limit: u64) -> Option<Due> {
        self.queue.borrow_mut().pop_due(now, limit)
    }

    /// Ends a due turn: sets the timer for the next deadline.
    pub fn end_turn(&self) {
        let earliest = self.queue.borrow_mut().earliest();
        match earliest {
            Some(deadline) => self.arm(deadline),
            None => self.disarm(),
        }
    }

    /// The time to count a new timer from: the loop's cached time goes
    /// stale while Lua code runs (before `go()`, or in a long callback),
    /// so refresh it first, a cheap coarse-clock read.
    fn fresh_now(&self) -> u64 {
        let Some(timer) = self.timer.get() else { return 0 };
        // SAFETY: the timer was initialised in `init`; its loop lives as
        // long as the process.
        unsafe { uv::uv_update_time((*timer).loop_) };
        self.loop_now()
    }

    fn loop_now(&self) -> u64 {
        let Some(timer) = self.timer.get() else { return 0 };
        // SAFETY: the timer was initialised in `init`; its loop lives as
        // long as the process.
        unsafe { uv::uv_now((*timer).loop_) }
    }

    fn arm(&self, deadline: u64) {
        let (Some(timer), Some(on_due)) = (self.timer.get(), self.on_due.get()) else { return };
        let delay = deadline.saturating_sub(self.loop_now());
        // SAFETY: the timer was initialised in `init` and is never freed.
        unsafe { uv::uv_timer_start(timer, Some(on_due), delay, 0) };
        self.armed.set(Some(deadline));
    }

    fn disarm(&self) {
        if let Some(timer) = self.timer.get() {
            // SAFETY: the timer was initialised in `init` and is never freed.
            unsafe { uv::uv_timer_stop(timer) };
        }
        self.armed.set(None);
    }
}
