//! One pooled completion slot: its cells and its state word. The protocol its two
//! halves run lives beside it, one file a half (`completion.rs`, `awaiting.rs`).
//!
//! A slot has exactly two owners for one rental: the task (a [`ValueTask`]'s raw repr)
//! and the [`Completer`](super::Completer). Each protocol function here is one half's
//! step; a step that leaves the slot says whether it was the last to leave
//! ([`Departure`]), and the caller then hands the slot to its storage for recycling.
//! Recycling may free the whole pool, so every function works on a raw pointer to the
//! slot, never on `&self`: no reference may be live when the memory goes.
//!
//! Per rental (see [`state`](super::state) for the flags):
//! - complete, then poll: the completer publishes the value and its own departure with
//!   one compare-and-swap; the task sees both with one `Acquire` load, moves the value
//!   out and, being last, recycles without a read-modify-write.
//! - poll, then complete: the task stores its waker and sets `WAKER` (one RMW); the
//!   completer takes the waker as it publishes (one CAS), then leaves (one RMW) and
//!   wakes; the task's next poll is the load above.
//! - either side gone first: the other finds out with a load, or in its departure step.
//!
//! [`ValueTask`]: crate::ValueTask

use std::mem::MaybeUninit;
use std::task::Waker;

use super::state::State;
use super::thread_cache::Holder;
use crate::sync::{AtomicU32, AtomicU64, Ordering, UnsafeCell};

/// One of a slot's two waker cells.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum WakerCell {
    /// The task's waker: stored by the task, taken by the completer as it publishes.
    Task,
    /// The waker of a `Completer::cancelled` future: stored by the completer, taken by
    /// the task's drop.
    Cancel,
}

impl WakerCell {
    /// The flag that says the cell holds a waker.
    const fn flag(self) -> State {
        match self {
            WakerCell::Task => State::WAKER,
            WakerCell::Cancel => State::CANCEL_WAKER,
        }
    }
}

/// What [`Slot::register_waker`] came to.
pub(super) enum Registration {
    /// The stored waker already wakes the same task.
    Unchanged,
    /// The stop condition held (in this state): no waker is needed.
    Stopped(State),
    /// The waker is stored; the state before its flag was set (the other half may have
    /// finished meanwhile without seeing it).
    Stored { before: State },
}

/// Whether a half that just left was the last of the two: then it alone holds the slot
/// (in the state given) and must recycle it.
#[must_use]
pub(super) enum Departure {
    Last(State),
    NotLast,
}

/// `repr(C)` so that `holder` comes first: the thread cache reaches it through a
/// type-erased slot pointer.
#[repr(C)]
pub(super) struct Slot<T, E> {
    /// Storage bookkeeping that only the slot's exclusive holder touches: the thread
    /// cache's link and the renting thread.
    pub(super) holder: std::cell::UnsafeCell<Holder>,
    state: AtomicU64,
    value: UnsafeCell<MaybeUninit<Result<T, E>>>,
    waker: UnsafeCell<MaybeUninit<Waker>>,
    cancel_waker: UnsafeCell<MaybeUninit<Waker>>,
    /// The free list's link: the next free slot's index plus one, 0 for none.
    pub(super) next_free: AtomicU32,
    /// This slot's index in its pool.
    pub(super) index: u32,
    /// The pool's storage, type-erased (it outlives every rented slot).
    pub(super) pool: *const (),
}

/// What was left in a slot when its last half left: dropped after the slot is back in
/// its pool, so that user code never runs while the slot is held.
pub(super) struct Leftovers<T, E> {
    _value: Option<Result<T, E>>,
    _waker: Option<Waker>,
}

impl<T, E> Slot<T, E> {
    pub(super) fn new(index: u32, pool: *const ()) -> Self {
        Self {
            holder: std::cell::UnsafeCell::new(Holder::EMPTY),
            state: AtomicU64::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: UnsafeCell::new(MaybeUninit::uninit()),
            cancel_waker: UnsafeCell::new(MaybeUninit::uninit()),
            next_free: AtomicU32::new(0),
            index,
            pool,
        }
    }

    // -----------------------------------------------------------------------------------
    // The state word, for the slot's storage
    // -----------------------------------------------------------------------------------

    /// Sets the state of a slot nobody else holds.
    ///
    /// # Safety
    ///
    /// The caller is alone with `slot`: it is free in the caller's hands (just popped,
    /// being recycled, or in the caller's thread cache).
    pub(super) unsafe fn set_state(slot: *const Self, state: State) {
        // SAFETY: the slot is alive while held; handing it to another thread later (a
        // free-list push, a rental's halves) synchronizes, so Relaxed is enough.
        unsafe { &(*slot).state }.store(state.bits(), Ordering::Relaxed);
    }

    /// The state of a slot nobody else holds.
    ///
    /// # Safety
    ///
    /// As for [`set_state`](Self::set_state).
    pub(super) unsafe fn exclusive_state(slot: *const Self) -> State {
        // SAFETY: as this function's contract.
        State::from_bits(unsafe { &(*slot).state }.load(Ordering::Relaxed))
    }

    /// A snapshot of the state, for statistics and `Debug`.
    pub(super) fn snapshot(&self) -> State {
        State::from_bits(self.state.load(Ordering::Relaxed))
    }

    /// The state as a half sees it.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    #[inline(always)]
    pub(super) unsafe fn load(slot: *const Self) -> State {
        // SAFETY: a held half keeps the slot alive.
        let word = unsafe { &(*slot).state };
        // ORDERING: Acquire pairs with the other half's Release departures and
        // publications: a half that sees `COMPLETE` sees the value, one that sees the
        // other half gone sees everything it did to the slot.
        State::from_bits(word.load(Ordering::Acquire))
    }

    /// Moves the state from `from` to `to` if it is still `from`.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    #[inline(always)]
    pub(super) unsafe fn exchange(
        slot: *const Self,
        from: State,
        to: State,
    ) -> Result<State, State> {
        // SAFETY: a held half keeps the slot alive.
        let word = unsafe { &(*slot).state };
        // ORDERING: AcqRel: Release publishes what this half wrote (the value, a waker)
        // to the half that reads it after seeing `to`; Acquire sees the other half's
        // writes in case `to` makes this half the last one.
        word.compare_exchange_weak(from.bits(), to.bits(), Ordering::AcqRel, Ordering::Acquire)
            .map(State::from_bits)
            .map_err(State::from_bits)
    }

    /// Clears `flags`; returns the state before.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    #[inline(always)]
    pub(super) unsafe fn clear_flags(slot: *const Self, flags: State) -> State {
        // ORDERING: AcqRel, as in `exchange`.
        // SAFETY: a held half keeps the slot alive.
        State::from_bits(unsafe { &(*slot).state }.fetch_and(!flags.bits(), Ordering::AcqRel))
    }

    /// Sets `flags`; returns the state before.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    #[inline(always)]
    pub(super) unsafe fn set_flags(slot: *const Self, flags: State) -> State {
        // ORDERING: AcqRel, as in `exchange`.
        // SAFETY: a held half keeps the slot alive.
        State::from_bits(unsafe { &(*slot).state }.fetch_or(flags.bits(), Ordering::AcqRel))
    }

    // -----------------------------------------------------------------------------------
    // The cells
    // -----------------------------------------------------------------------------------

    /// # Safety
    ///
    /// The caller is the completer, `COMPLETE` is not set: the value cell is its, empty.
    #[inline(always)]
    pub(super) unsafe fn write_value(slot: *const Self, result: Result<T, E>) {
        // SAFETY: as this function's contract.
        unsafe { (*slot).value.with_mut(|cell| (*cell).write(result)) };
    }

    /// # Safety
    ///
    /// The cell holds a value that the caller now owns (the task after `COMPLETE`, the
    /// completer taking back a value it never published, the last half recycling).
    #[inline(always)]
    pub(super) unsafe fn take_value(slot: *const Self) -> Result<T, E> {
        // SAFETY: as this function's contract.
        unsafe { (*slot).value.with(|cell| (*cell).assume_init_read()) }
    }

    /// The waker cell `which`.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    #[inline(always)]
    unsafe fn waker_cell<'s>(
        slot: *const Self,
        which: WakerCell,
    ) -> &'s UnsafeCell<MaybeUninit<Waker>> {
        // SAFETY: a held half keeps the slot alive for the caller's use of the cell.
        unsafe {
            match which {
                WakerCell::Task => &(*slot).waker,
                WakerCell::Cancel => &(*slot).cancel_waker,
            }
        }
    }

    /// # Safety
    ///
    /// The cell's flag is clear and the caller owns the empty cell: the task for
    /// [`WakerCell::Task`] before `COMPLETE`, the completer for [`WakerCell::Cancel`]
    /// before `TASK_GONE`.
    #[inline(always)]
    pub(super) unsafe fn store_waker(slot: *const Self, which: WakerCell, waker: Waker) {
        // SAFETY: as this function's contract.
        unsafe { Self::waker_cell(slot, which).with_mut(|cell| (*cell).write(waker)) };
    }

    /// # Safety
    ///
    /// The cell holds a waker that the caller now owns: it cleared the cell's flag while
    /// it was set, took it in the step that set its own flag (`TASK_GONE` with
    /// `CANCEL_WAKING`), or is the last half.
    #[inline(always)]
    pub(super) unsafe fn take_waker(slot: *const Self, which: WakerCell) -> Waker {
        // SAFETY: as this function's contract.
        unsafe { Self::waker_cell(slot, which).with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// The cell's flag is set and the caller is the half that stores there: the cell
    /// holds a waker, which nobody writes or frees until this half clears the flag or
    /// the other half takes it (and the other half only copies it out meanwhile).
    #[inline(always)]
    unsafe fn waker_will_wake(slot: *const Self, which: WakerCell, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        unsafe {
            Self::waker_cell(slot, which).with(|cell| (*cell).assume_init_ref().will_wake(waker))
        }
    }

    /// Stores `waker` in the cell `which` (the half that stores there is the caller),
    /// unless the one there already wakes the same task, or `stop` holds for the state:
    /// then the other half finished, and the caller goes on without a waker.
    ///
    /// # Safety
    ///
    /// The caller holds the half that stores in `which`; `state` was loaded by it.
    #[inline(always)]
    pub(super) unsafe fn register_waker(
        slot: *const Self,
        which: WakerCell,
        waker: &Waker,
        mut state: State,
        stop: impl Fn(State) -> bool,
    ) -> Registration {
        let flag = which.flag();
        loop {
            if stop(state) {
                return Registration::Stopped(state);
            }
            if state.any(flag) {
                // SAFETY: the flag is set and we are the half that stores there.
                if unsafe { Self::waker_will_wake(slot, which, waker) } {
                    return Registration::Unchanged;
                }
                // SAFETY: we hold our half.
                match unsafe { Self::exchange(slot, state, state.without(flag)) } {
                    Ok(now) => {
                        // SAFETY: we cleared the flag before the other half took the
                        // waker: the old waker and the cell are ours again.
                        drop(unsafe { Self::take_waker(slot, which) });
                        state = now.without(flag);
                    }
                    Err(now) => state = now,
                }
                continue;
            }
            // SAFETY: the flag is clear and `stop` does not hold: the cell is ours, empty.
            unsafe { Self::store_waker(slot, which, waker.clone()) };
            // SAFETY: we hold our half.
            let before = unsafe { Self::set_flags(slot, flag) };
            return Registration::Stored { before };
        }
    }

    // -----------------------------------------------------------------------------------
    // Recycling
    // -----------------------------------------------------------------------------------

    /// Moves what a rental left in the cells out, to be dropped once the slot is back.
    ///
    /// # Safety
    ///
    /// Both halves are gone, the caller is alone with `slot`, and `last` is the state
    /// the last half left it in.
    pub(super) unsafe fn take_leftovers(slot: *const Self, last: State) -> Leftovers<T, E> {
        Leftovers {
            // SAFETY: an unread value is initialized and ours.
            _value: last
                .has_unread_value()
                .then(|| unsafe { Self::take_value(slot) }),
            // SAFETY: `WAKER` set at the end: the cell holds the task's waker, ours.
            _waker: last
                .has_waker()
                .then(|| unsafe { Self::take_waker(slot, WakerCell::Task) }),
        }
    }
}

impl<T, E> Drop for Slot<T, E> {
    /// A pool is freed only when no slot is rented, so there is nothing left to drop:
    /// recycling emptied every slot.
    fn drop(&mut self) {
        debug_assert!(!self.snapshot().is_rented());
    }
}
