//! The ordering core of the timers, pure Rust (unit-tested without Lua).
//!
//! Like Node.js, timers are kept in one FIFO list per duration: timers of
//! equal duration are armed in deadline order, so a list only ever appends
//! at the back and fires from the front — O(1) per timer. A small min-heap
//! holds the head of each list, keyed by (deadline, order), where `order`
//! grows with every arming; that gives the global firing order: by
//! deadline, then by when the timer was set.
//!
//! The lists sit in a vector and the heap names them by index, so firing
//! a timer hashes nothing; only arming looks its duration up (with a fast
//! integer hash), and an emptied list's place is reused.
//!
//! A timer is a slot; a list entry is live while its slot still carries the
//! entry's `order`. Cancelling frees the slot at once; its list entry turns
//! stale and is skipped, and stale entries are compacted once they
//! outnumber live timers, so cleared timers never pile up.
//!
//! May touch: nothing outside itself.

use std::cmp::Reverse;
use std::collections::binary_heap::PeekMut;
use std::collections::{BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

/// A timer, as the queue names it: an index that is reused once freed.
pub type Slot = u32;

const FREE: u64 = u64::MAX;

#[derive(Clone, Copy)]
struct SlotState {
    /// The order of this timer's pending entry, or FREE.
    order: u64,
    /// Repeat period in ms; 0 for a one-shot timer.
    interval: u64,
    internal: bool,
}

/// A list entry: (deadline ms, order, slot).
type Entry = (u64, u64, Slot);

/// A list's place in `Queue::lists`.
type ListId = u32;

#[derive(Default)]
pub struct Queue {
    slots: Vec<SlotState>,
    free: Vec<Slot>,
    /// The list of each duration that has timers; emptied lists stay as
    /// free places (`free_lists`) until the queue empties.
    lists: Vec<VecDeque<Entry>>,
    /// Which list holds the timers of a duration (ms).
    list_of: FxHashMap<u64, ListId>,
    free_lists: Vec<ListId>,
    /// One entry per non-empty list: its head's (deadline, order), and the
    /// list, with its duration.
    heads: BinaryHeap<Reverse<(u64, u64, ListId, u64)>>,
    next_order: u64,
    live: usize,
    internal: usize,
    stale: usize,
}

/// A timer that came due.
#[derive(Debug, PartialEq)]
pub struct Due {
    pub slot: Slot,
    pub repeats: bool,
    pub internal: bool,
}

impl Queue {
    /// Timers pending, not counting internal ones.
    pub fn live(&self) -> usize {
        self.live - self.internal
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The order the next armed timer will get: timers armed from now on
    /// have an order at least this.
    pub fn next_order(&self) -> u64 {
        self.next_order
    }

    /// The slot the next `add` will use.
    pub fn next_slot(&self) -> Slot {
        self.free.last().copied().unwrap_or(self.slots.len() as Slot)
    }

    /// Adds a timer due at `now + ms`, repeating every `ms` if `repeat`.
    pub fn add(&mut self, now: u64, ms: u64, repeat: bool, internal: bool) -> Slot {
        let interval = if repeat { ms.max(1) } else { 0 };
        let state = SlotState { order: FREE, interval, internal };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = state;
                slot
            }
            None => {
                self.slots.push(state);
                (self.slots.len() - 1) as Slot
            }
        };
        self.live += 1;
        if internal {
            self.internal += 1;
        }
        self.arm(slot, now.saturating_add(ms), ms);
        slot
    }

    fn arm(&mut self, slot: Slot, deadline: u64, ms: u64) {
        let order = self.next_order;
        self.next_order += 1;
        self.slots[slot as usize].order = order;
        let id = self.list_for(ms);
        let list = &mut self.lists[id as usize];
        if list.is_empty() {
            self.heads.push(Reverse((deadline, order, id, ms)));
        }
        list.push_back((deadline, order, slot));
    }

    /// The list of the timers of `ms`, made (or a free place taken) if
    /// there is none.
    fn list_for(&mut self, ms: u64) -> ListId {
        if let Some(&id) = self.list_of.get(&ms) {
            return id;
        }
        let id = match self.free_lists.pop() {
            Some(id) => id,
            None => {
                self.lists.push(VecDeque::new());
                (self.lists.len() - 1) as ListId
            }
        };
        self.list_of.insert(ms, id);
        id
    }

    fn is_live(&self, (_, order, slot): Entry) -> bool {
        self.slots.get(slot as usize).is_some_and(|s| s.order == order)
    }

    /// Takes the head of the list with the earliest head, keeping the heap
    /// in step.
    fn pop_head(&mut self) -> Option<Entry> {
        let mut top = self.heads.peek_mut()?;
        let Reverse((_, _, id, ms)) = *top;
        let list = &mut self.lists[id as usize];
        let entry = list.pop_front().expect("a head has an entry");
        match list.front() {
            // The list's next entry takes its place: one sift, not a pop
            // and a push.
            Some(&(deadline, order, _)) => *top = Reverse((deadline, order, id, ms)),
            None => {
                PeekMut::pop(top);
                // Its memory goes: a burst of timers leaves no big buffer.
                *list = VecDeque::new();
                self.list_of.remove(&ms);
                self.free_lists.push(id);
            }
        }
        Some(entry)
    }

    fn drop_stale_heads(&mut self) {
        while let Some(&Reverse((deadline, order, id, _))) = self.heads.peek() {
            let slot = self.lists[id as usize].front().expect("a head has an entry").2;
            if self.is_live((deadline, order, slot)) {
                return;
            }
            self.pop_head();
            self.stale = self.stale.saturating_sub(1);
        }
    }

    /// The next timer due by `now` among those armed before order `limit`;
    /// a repeating one is armed again for `now + interval`.
    pub fn pop_due(&mut self, now: u64, limit: u64) -> Option<Due> {
        self.drop_stale_heads();
        let &Reverse((deadline, order, _, _)) = self.heads.peek()?;
        if deadline > now || order >= limit {
            return None;
        }
        let (_, _, slot) = self.pop_head()?;
        let state = self.slots[slot as usize];
        if state.interval > 0 {
            self.arm(slot, now.saturating_add(state.interval), state.interval);
        } else {
            self.release(slot);
        }
        Some(Due { slot, repeats: state.interval > 0, internal: state.internal })
    }

    /// The earliest deadline of a live timer.
    pub fn earliest(&mut self) -> Option<u64> {
        self.drop_stale_heads();
        self.heads.peek().map(|Reverse((deadline, _, _, _))| *deadline)
    }

    fn release(&mut self, slot: Slot) {
        let state = &mut self.slots[slot as usize];
        if state.internal {
            self.internal -= 1;
        }
        state.order = FREE;
        self.free.push(slot);
        self.live -= 1;
        if self.live == 0 {
            // Nothing left: give back every byte, spare capacity included.
            *self = Queue { next_order: self.next_order, ..Queue::default() };
        }
    }

    /// Cancels `slot`; returns false if it was not pending.
    pub fn cancel(&mut self, slot: Slot) -> bool {
        if self.slots.get(slot as usize).is_none_or(|s| s.order == FREE) {
            return false;
        }
        self.release(slot);
        if self.live > 0 {
            self.stale += 1;
            if self.stale > 1024 && self.stale > self.live {
                self.compact();
            }
        }
        true
    }

    fn compact(&mut self) {
        let slots = &self.slots;
        let live = |&(_, order, slot): &Entry| slots[slot as usize].order == order;
        let mut heads = BinaryHeap::new();
        for (&ms, &id) in &self.list_of {
            let list = &mut self.lists[id as usize];
            list.retain(live);
            list.shrink_to_fit();
            if let Some(&(deadline, order, _)) = list.front() {
                heads.push(Reverse((deadline, order, id, ms)));
            }
        }
        let lists = &self.lists;
        self.list_of.retain(|_, id| !lists[*id as usize].is_empty());
        self.free_lists = (0..lists.len() as ListId).filter(|&id| lists[id as usize].is_empty()).collect();
        self.heads = heads;
        self.stale = 0;
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.lists.iter().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire_all(q: &mut Queue, now: u64) -> Vec<Slot> {
        let limit = q.next_order();
        std::iter::from_fn(|| q.pop_due(now, limit).map(|d| d.slot)).collect()
    }

    #[test]
    fn due_timers_fire_by_deadline_then_creation_order() {
        let mut q = Queue::default();
        let a = q.add(0, 5, false, false);
        let b = q.add(0, 3, false, false);
        let c = q.add(0, 5, false, false);
        let d = q.add(1, 2, false, false);
        let late = q.add(0, 9, false, false);
        assert_eq!(fire_all(&mut q, 5), vec![b, d, a, c]);
        assert_eq!(q.earliest(), Some(9));
        assert_eq!(fire_all(&mut q, 9), vec![late]);
        assert!(q.is_empty());
        assert_eq!(q.earliest(), None);
    }

    #[test]
    fn next_slot_names_the_slot_the_next_timer_takes() {
        let mut q = Queue::default();
        for _ in 0..3 {
            let expected = q.next_slot();
            assert_eq!(q.add(0, 5, false, false), expected);
        }
        assert!(q.cancel(1));
        assert_eq!(q.next_slot(), 1);
        assert_eq!(q.add(0, 5, true, false), 1);
        assert_eq!(q.next_slot(), 3);
    }

    #[test]
    fn a_timer_armed_while_firing_waits_for_the_next_round() {
        let mut q = Queue::default();
        let old = q.add(0, 0, false, false);
        let limit = q.next_order();
        let new = q.add(0, 0, false, false);
        assert_eq!(q.pop_due(0, limit).map(|d| d.slot), Some(old));
        assert_eq!(q.pop_due(0, limit), None);
        assert_eq!(fire_all(&mut q, 0), vec![new]);
    }

    #[test]
    fn intervals_rearm_and_cancelled_timers_never_fire() {
        let mut q = Queue::default();
        let tick = q.add(0, 10, true, false);
        let gone = q.add(0, 10, false, false);
        assert!(q.cancel(gone));
        assert!(!q.cancel(gone), "a second cancel is a no-op");
        assert_eq!(q.pop_due(10, u64::MAX), Some(Due { slot: tick, repeats: true, internal: false }));
        assert_eq!(q.pop_due(10, u64::MAX), None);
        assert_eq!(q.earliest(), Some(20));
        assert_eq!(fire_all(&mut q, 25), vec![tick]);
        assert_eq!(q.earliest(), Some(35));
        assert!(q.cancel(tick));
        assert!(q.is_empty());
    }

    #[test]
    fn a_reused_slot_does_not_revive_a_cancelled_entry() {
        let mut q = Queue::default();
        let keep = q.add(0, 100, false, false);
        let first = q.add(0, 5, false, false);
        q.cancel(first);
        let second = q.add(0, 50, false, false);
        assert_eq!(first, second, "the slot is reused");
        assert_eq!(fire_all(&mut q, 10), Vec::<Slot>::new());
        assert_eq!(fire_all(&mut q, 100), vec![second, keep]);
    }

    #[test]
    fn cancelled_timers_release_memory_promptly() {
        let mut q = Queue::default();
        q.add(0, 1_000_000, false, false);
        for _ in 0..100_000 {
            let slot = q.add(0, 30_000, false, false);
            assert!(q.cancel(slot));
        }
        assert_eq!(q.live(), 1);
        assert!(q.entries() <= 1026, "stale entries kept: {}", q.entries());
        assert!(q.slots.len() <= 2);
    }

    #[test]
    fn an_empty_queue_keeps_no_capacity() {
        let mut q = Queue::default();
        let slots: Vec<Slot> = (0..10_000).map(|i| q.add(0, i % 7, false, false)).collect();
        for slot in slots {
            q.cancel(slot);
        }
        assert!(q.is_empty());
        assert_eq!((q.slots.capacity(), q.heads.capacity(), q.lists.capacity(), q.list_of.capacity()), (0, 0, 0, 0));
    }

    #[test]
    fn emptied_lists_give_their_place_to_new_durations() {
        let mut q = Queue::default();
        let keep = q.add(0, 1_000_000, false, false);
        for ms in 0..1_000 {
            q.add(ms, ms, false, false);
            assert_eq!(fire_all(&mut q, 2 * ms).len(), 1);
        }
        assert_eq!(q.lists.len(), 2, "one list for `keep`, one place reused");
        assert_eq!(q.list_of.len(), 1);
        assert_eq!(fire_all(&mut q, 1_000_000), vec![keep]);
    }

    #[test]
    fn compaction_keeps_the_order_across_durations() {
        let mut q = Queue::default();
        let late = q.add(0, 7, false, false);
        let early = q.add(0, 3, false, false);
        for _ in 0..3_000 {
            let slot = q.add(0, 5, false, false);
            q.cancel(slot);
        }
        assert!(q.entries() <= 1026);
        let mid = q.add(0, 5, false, false);
        assert_eq!(fire_all(&mut q, 10), vec![early, mid, late]);
    }

    #[test]
    fn internal_timers_are_not_counted_as_live() {
        let mut q = Queue::default();
        let ticker = q.add(0, 1, true, true);
        q.add(0, 1, false, false);
        assert_eq!(q.live(), 1);
        q.cancel(ticker);
        assert_eq!(q.live(), 1);
        assert!(!q.is_empty());
    }
}
