//! `async.flow`: helpers for pacing asynchronous work.
//!
//! `flow.ratelimiter(perSecond)` returns `limit(func, args)`: calls are
//! queued and started in order, at most `perSecond` of them running in any
//! second's slot; each is called as `func(unpack(args), done)` — or, when
//! the last argument is already a callback, with that callback wrapped so
//! that its call counts as done.
//!
//! May touch: the timers (through `setTimeout`), Lua tables.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Result, Table, Value};

use crate::core::boundary::{self, Args};

struct Limiter {
    /// Pending calls, `queue[i] = {func, args}`, from `head` to `tail`.
    queue: Table,
    head: i64,
    tail: i64,
    running: usize,
    per_second: usize,
    /// Whether a tick is scheduled.
    ticking: bool,
}

pub fn install(lua: &Lua, module: &Table) -> Result<()> {
    let set_interval: Function = module.get("setInterval")?;
    let flow = lua.create_table()?;
    flow.set(
        "ratelimiter",
        boundary::function(lua, "ratelimiter", move |lua, args: Args| {
            let per_second = match args.opt_number(1)? {
                None => 100.0,
                Some(n) if n >= 1.0 && n.is_finite() => n,
                Some(_) => return boundary::fail("bad argument #1 to 'ratelimiter' (number >= 1 expected)"),
            };
            let limiter = Rc::new(RefCell::new(Limiter {
                queue: lua.create_table()?,
                head: 1,
                tail: 0,
                running: 0,
                per_second: per_second as usize,
                ticking: false,
            }));
            let tick = make_tick(lua, limiter.clone())?;
            let set_interval = set_interval.clone();
            boundary::function(lua, "limit", move |lua, args: Args| {
                let func = args.function(1)?;
                let call_args = args.opt_table(2)?.map_or_else(|| lua.create_table(), Ok)?;
                let entry = lua.create_sequence_from([Value::Function(func), Value::Table(call_args)])?;
                // The limiter is not borrowed while Lua runs: storing the
                // entry can run a finalizer, which may call `limit` too.
                let (queue, slot, start) = {
                    let mut l = limiter.borrow_mut();
                    l.tail += 1;
                    (l.queue.clone(), l.tail, !std::mem::replace(&mut l.ticking, true))
                };
                queue.raw_set(slot, entry)?;
                if start {
                    // The first call starts at once, the next ones one slot apart.
                    tick.call::<()>(Value::Nil)?;
                    set_interval.call::<()>((1000.0 / per_second, &tick))?;
                }
                Ok(())
            })
        })?,
    )?;
    module.set("flow", flow)
}

/// One slot of the limiter, called by its interval timer: start the next
/// queued call if fewer than `per_second` run; stop ticking once the queue
/// is empty.
fn make_tick(lua: &Lua, limiter: Rc<RefCell<Limiter>>) -> Result<Function> {
    crate::core::boundary::internal(lua, move |lua, timer: Option<Table>| {
        let next = {
            let mut l = limiter.borrow_mut();
            if l.head > l.tail {
                l.ticking = false;
                None
            } else if l.running < l.per_second {
                l.head += 1;
                l.running += 1;
                Some((l.queue.clone(), l.head - 1))
            } else {
                None
            }
        };
        // Taken from the queue with the limiter no longer borrowed (see
        // `limit`).
        let entry = match next {
            Some((queue, slot)) => {
                let entry: Table = queue.raw_get(slot)?;
                queue.raw_set(slot, Value::Nil)?;
                Some(entry)
            }
            None => None,
        };
        if let Some(timer) = timer.filter(|_| !limiter.borrow().ticking) {
            timer.get::<Function>("clear")?.call::<()>(())?;
        }
        let Some(entry) = entry else { return Ok(()) };
        let func: Function = entry.raw_get(1)?;
        let args: Table = entry.raw_get(2)?;
        let mut values: Vec<Value> = args.sequence_values::<Value>().collect::<Result<_>>()?;
        let given = match values.last() {
            Some(Value::Function(_)) => match values.pop() {
                Some(Value::Function(cb)) => Some(cb),
                _ => None,
            },
            _ => None,
        };
        let finished = limiter.clone();
        let counted = std::cell::Cell::new(false);
        // Made at the boundary, so that an error of the wrapped callback
        // comes out of `done` as the plain string it raised.
        values.push(Value::Function(boundary::function(lua, "done", move |_, args: Args| {
            // Only the first call of `done` frees the call's place.
            if !counted.replace(true) {
                let mut l = finished.borrow_mut();
                l.running = l.running.saturating_sub(1);
            }
            match &given {
                Some(cb) => cb.call::<MultiValue>(crate::pcall::all(&args)),
                None => Ok(MultiValue::new()),
            }
        })?));
        func.call::<()>(MultiValue::from_iter(values))
    })
}
