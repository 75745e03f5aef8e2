//! One pooled completion slot and the protocol its two halves run.
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
use std::task::{Context, Poll, Waker};

use super::state::State;
use super::thread_cache::Holder;
use crate::sync::{AtomicU32, AtomicU64, Ordering, UnsafeCell, spin};

/// How many times a task that found its result waits for the completer to finish
/// leaving before it leaves first; bounded, so a preempted completer costs nothing more.
const COMPLETER_SPINS: u32 = 16;

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
    unsafe fn load(slot: *const Self) -> State {
        // ORDERING: Acquire pairs with the other half's Release departures and
        // publications: a half that sees `COMPLETE` sees the value, one that sees the
        // other half gone sees everything it did to the slot.
        // SAFETY: a held half keeps the slot alive.
        State::from_bits(unsafe { &(*slot).state }.load(Ordering::Acquire))
    }

    /// Moves the state from `from` to `to` if it is still `from`.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    #[inline(always)]
    unsafe fn exchange(slot: *const Self, from: State, to: State) -> Result<State, State> {
        // ORDERING: AcqRel: Release publishes what this half wrote (the value, a waker)
        // to the half that reads it after seeing `to`; Acquire sees the other half's
        // writes in case `to` makes this half the last one.
        // SAFETY: a held half keeps the slot alive.
        unsafe { &(*slot).state }
            .compare_exchange_weak(from.bits(), to.bits(), Ordering::AcqRel, Ordering::Acquire)
            .map(State::from_bits)
            .map_err(State::from_bits)
    }

    /// Sets `flags`; returns the state before.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    #[inline(always)]
    unsafe fn set_flags(slot: *const Self, flags: State) -> State {
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
    unsafe fn write_value(slot: *const Self, result: Result<T, E>) {
        // SAFETY: as this function's contract.
        unsafe { (*slot).value.with_mut(|cell| (*cell).write(result)) };
    }

    /// # Safety
    ///
    /// The cell holds a value that the caller now owns (the task after `COMPLETE`, the
    /// completer taking back a value it never published, the last half recycling).
    #[inline(always)]
    unsafe fn take_value(slot: *const Self) -> Result<T, E> {
        // SAFETY: as this function's contract.
        unsafe { (*slot).value.with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// `WAKER` is clear and `COMPLETE` is not set, and the caller is the task: the waker
    /// cell is its, empty.
    #[inline(always)]
    unsafe fn store_waker(slot: *const Self, waker: Waker) {
        // SAFETY: as this function's contract.
        unsafe { (*slot).waker.with_mut(|cell| (*cell).write(waker)) };
    }

    /// # Safety
    ///
    /// The cell holds a waker that the caller now owns (it cleared `WAKER`, or is the
    /// last half).
    #[inline(always)]
    unsafe fn take_waker(slot: *const Self) -> Waker {
        // SAFETY: as this function's contract.
        unsafe { (*slot).waker.with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// `WAKER` is set and the caller is the task: the cell holds a waker, which nobody
    /// writes or frees until the task itself clears the flag or `COMPLETE` is published
    /// (the completer only copies it out before then).
    #[inline(always)]
    unsafe fn waker_will_wake(slot: *const Self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        unsafe {
            (*slot)
                .waker
                .with(|cell| (*cell).assume_init_ref().will_wake(waker))
        }
    }

    /// # Safety
    ///
    /// `CANCEL_WAKER` is clear, `TASK_GONE` is not set, and the caller is the completer:
    /// the cancel waker cell is its, empty.
    unsafe fn store_cancel_waker(slot: *const Self, waker: Waker) {
        // SAFETY: as this function's contract.
        unsafe { (*slot).cancel_waker.with_mut(|cell| (*cell).write(waker)) };
    }

    /// # Safety
    ///
    /// The cancel waker cell holds a waker that the caller now owns.
    unsafe fn take_cancel_waker(slot: *const Self) -> Waker {
        // SAFETY: as this function's contract.
        unsafe { (*slot).cancel_waker.with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// `CANCEL_WAKER` is set and the caller is the completer, which alone may take it
    /// back; the task only copies it out while the completer still holds its half.
    unsafe fn cancel_waker_will_wake(slot: *const Self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        unsafe {
            (*slot)
                .cancel_waker
                .with(|cell| (*cell).assume_init_ref().will_wake(waker))
        }
    }

    // -----------------------------------------------------------------------------------
    // The completer half
    // -----------------------------------------------------------------------------------

    /// Completes the rental with `result`, and gives up the completer half. Returns
    /// `Err(result)` when the task is gone, so nobody will read it.
    ///
    /// # Safety
    ///
    /// The caller holds the completer half of `slot` and gives it up.
    #[inline(always)]
    pub(super) unsafe fn complete(
        slot: *const Self,
        result: Result<T, E>,
    ) -> (Result<(), Result<T, E>>, Departure) {
        // SAFETY: the completer half keeps the slot alive until it is given up below.
        let mut state = unsafe { Self::load(slot) };
        if state.is_task_gone() {
            // SAFETY: we hold the completer half and give it up.
            return (Err(result), unsafe { Self::leave_after_task(slot, state) });
        }
        // SAFETY: `COMPLETE` is not set and we are the one completer: the value cell is
        // ours and empty; the task reads it only after `COMPLETE`.
        unsafe { Self::write_value(slot, result) };
        loop {
            if state.is_task_gone() {
                // The task left before we published: nobody will read the value.
                // SAFETY: we wrote the value and never published it.
                let result = unsafe { Self::take_value(slot) };
                // SAFETY: we hold the completer half and give it up.
                return (Err(result), unsafe { Self::leave_after_task(slot, state) });
            }
            // A `cancelled` waker of ours that nobody took comes back to us here.
            let cancel_waker = state.has_cancel_waker();
            let published = state.without(State::CANCEL_WAKER).with_complete();
            if !state.has_waker() {
                // SAFETY: we hold the completer half.
                match unsafe { Self::exchange(slot, state, published.with_completer_gone()) } {
                    Ok(_) => {
                        // SAFETY: we cleared `CANCEL_WAKER` before the task left: ours.
                        drop(cancel_waker.then(|| unsafe { Self::take_cancel_waker(slot) }));
                        return (Ok(()), Departure::NotLast);
                    }
                    Err(now) => state = now,
                }
                continue;
            }
            // SAFETY: we hold the completer half.
            match unsafe { Self::exchange(slot, state, published.without(State::WAKER)) } {
                Ok(_) => {
                    // SAFETY: we cleared `WAKER` while it was set: its waker is ours, and
                    // the task writes the cell no more now that `COMPLETE` is set; as
                    // above for the cancel waker.
                    let (waker, cancel) = unsafe {
                        (
                            Self::take_waker(slot),
                            cancel_waker.then(|| Self::take_cancel_waker(slot)),
                        )
                    };
                    // SAFETY: we hold the completer half and give it up here.
                    let before = unsafe { Self::set_flags(slot, State::COMPLETER_GONE) };
                    let departure = if before.is_task_gone() {
                        Departure::Last(before.with_completer_gone())
                    } else {
                        Departure::NotLast
                    };
                    drop(cancel);
                    waker.wake();
                    return (Ok(()), departure);
                }
                Err(now) => state = now,
            }
        }
    }

    /// The completer leaves after finding the task gone in `seen`.
    ///
    /// # Safety
    ///
    /// The caller holds the completer half and gives it up; `seen` shows `TASK_GONE`.
    unsafe fn leave_after_task(slot: *const Self, seen: State) -> Departure {
        debug_assert!(seen.is_task_gone());
        if !seen.is_cancel_waking() {
            // The task is finished with the slot (it set `TASK_GONE` in its last step):
            // we are alone.
            return Departure::Last(seen.with_completer_gone());
        }
        // The task is still waking our cancel waker: tell it we left; it recycles
        // unless it finished meanwhile.
        // SAFETY: we hold the completer half and give it up here.
        let before = unsafe { Self::set_flags(slot, State::COMPLETER_GONE) };
        if before.is_cancel_waking() {
            Departure::NotLast
        } else {
            Departure::Last(before.with_completer_gone())
        }
    }

    /// Whether the task is gone.
    ///
    /// # Safety
    ///
    /// The caller holds the completer half of `slot`.
    pub(super) unsafe fn is_task_gone(slot: *const Self) -> bool {
        // SAFETY: as this function's contract.
        unsafe { Self::load(slot) }.is_task_gone()
    }

    /// The generation of the rental.
    ///
    /// # Safety
    ///
    /// The caller holds a half of `slot`.
    pub(super) unsafe fn generation(slot: *const Self) -> u32 {
        // SAFETY: as this function's contract.
        unsafe { Self::load(slot) }.token().generation()
    }

    /// Polls for the task's departure: `Ready` once it is gone, else `Pending` with the
    /// context's waker stored for the task's drop to wake.
    ///
    /// # Safety
    ///
    /// The caller holds the completer half of `slot` (and keeps it for the call).
    pub(super) unsafe fn poll_cancelled(slot: *const Self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: as this function's contract.
        let mut state = unsafe { Self::load(slot) };
        loop {
            if state.is_task_gone() {
                return Poll::Ready(());
            }
            if state.has_cancel_waker() {
                // SAFETY: `CANCEL_WAKER` is set and we are the completer.
                if unsafe { Self::cancel_waker_will_wake(slot, cx.waker()) } {
                    return Poll::Pending;
                }
                // SAFETY: we hold the completer half.
                match unsafe { Self::exchange(slot, state, state.without(State::CANCEL_WAKER)) } {
                    Ok(now) => {
                        // SAFETY: we cleared the flag before the task left: the waker is
                        // ours.
                        drop(unsafe { Self::take_cancel_waker(slot) });
                        state = now.without(State::CANCEL_WAKER);
                    }
                    Err(now) => state = now,
                }
                continue;
            }
            // SAFETY: `CANCEL_WAKER` is clear and the task is not gone: the cell is ours.
            unsafe { Self::store_cancel_waker(slot, cx.waker().clone()) };
            // SAFETY: we hold the completer half.
            let before = unsafe { Self::set_flags(slot, State::CANCEL_WAKER) };
            if !before.is_task_gone() {
                return Poll::Pending;
            }
            // The task left before it could see our waker: take it back. The flag stays
            // set, but the task is gone and never reads it.
            // SAFETY: the task is gone, so nobody else touches the cell.
            drop(unsafe { Self::take_cancel_waker(slot) });
            return Poll::Ready(());
        }
    }

    // -----------------------------------------------------------------------------------
    // The task half
    // -----------------------------------------------------------------------------------

    /// Polls for the result. On `Ready` the task half is given up, and the departure says
    /// whether it was the last.
    ///
    /// # Safety
    ///
    /// The caller holds the task half of `slot`.
    #[inline(always)]
    pub(super) unsafe fn poll_task(
        slot: *const Self,
        cx: &mut Context<'_>,
    ) -> Poll<(Result<T, E>, Departure)> {
        // SAFETY: the task half keeps the slot alive until it is given up.
        let mut state = unsafe { Self::load(slot) };
        loop {
            if state.is_complete() {
                // SAFETY: `COMPLETE`, seen with Acquire: the value is there and ours.
                let result = unsafe { Self::take_value(slot) };
                // SAFETY: we hold the task half and give it up.
                let departure = unsafe { Self::leave_with_value(slot, state) };
                return Poll::Ready((result, departure));
            }
            if state.has_waker() {
                // SAFETY: `WAKER` is set and we are the task.
                if unsafe { Self::waker_will_wake(slot, cx.waker()) } {
                    return Poll::Pending;
                }
                // SAFETY: we hold the task half.
                match unsafe { Self::exchange(slot, state, state.without(State::WAKER)) } {
                    Ok(now) => {
                        // SAFETY: we cleared `WAKER` before `COMPLETE`: the old waker and
                        // the cell are ours again.
                        drop(unsafe { Self::take_waker(slot) });
                        state = now.without(State::WAKER);
                    }
                    Err(now) => state = now,
                }
                continue;
            }
            // SAFETY: neither `WAKER` nor `COMPLETE` is set: the waker cell is ours, empty.
            unsafe { Self::store_waker(slot, cx.waker().clone()) };
            // SAFETY: we hold the task half.
            state = unsafe { Self::set_flags(slot, State::WAKER) }.with_waker();
            if !state.is_complete() {
                return Poll::Pending;
            }
            // Completed while we stored the waker: the completer did not see it, so the
            // result is ours to take on the next turn; recycling drops the waker.
        }
    }

    /// The task leaves with the value, having seen `COMPLETE` in `seen`.
    ///
    /// # Safety
    ///
    /// The caller holds the task half and gives it up; it took the value.
    #[inline(always)]
    unsafe fn leave_with_value(slot: *const Self, seen: State) -> Departure {
        let mut state = seen;
        if !state.is_completer_gone() {
            // The completer is a few instructions from leaving (it is waking us). Wait
            // for it a little, so that we leave last without a read-modify-write and the
            // slot goes back to this thread.
            for _ in 0..COMPLETER_SPINS {
                spin();
                // SAFETY: we still hold the task half.
                state = unsafe { Self::load(slot) };
                if state.is_completer_gone() {
                    break;
                }
            }
        }
        if state.is_completer_gone() {
            return Departure::Last(state.with_taken().with_task_gone());
        }
        // SAFETY: we hold the task half and give it up here.
        let before = unsafe { Self::set_flags(slot, State::TAKEN.with_task_gone()) };
        if before.is_completer_gone() {
            Departure::Last(before.with_taken().with_task_gone())
        } else {
            Departure::NotLast
        }
    }

    /// Whether the result is there.
    ///
    /// # Safety
    ///
    /// The caller holds the task half of `slot`.
    #[inline]
    pub(super) unsafe fn is_ready(slot: *const Self) -> bool {
        // SAFETY: as this function's contract.
        unsafe { Self::load(slot) }.is_complete()
    }

    /// The task is dropped without its result, and gives up its half; wakes the
    /// completer's `cancelled` future if one waits.
    ///
    /// # Safety
    ///
    /// The caller holds the task half of `slot` and gives it up.
    pub(super) unsafe fn discard_task(slot: *const Self) -> Departure {
        // SAFETY: we hold the task half until the exchange below.
        let mut state = unsafe { Self::load(slot) };
        loop {
            if state.is_completer_gone() {
                return Departure::Last(state.with_task_gone());
            }
            // A `cancelled` future of the completer waits: take its waker as we leave,
            // marking that we are still at it so that the completer does not recycle
            // the slot under us.
            let leaving = if state.has_cancel_waker() {
                state.with_task_gone().with_cancel_waking()
            } else {
                state.with_task_gone()
            };
            // SAFETY: we hold the task half and give it up if this succeeds.
            match unsafe { Self::exchange(slot, state, leaving) } {
                Ok(_) if leaving.is_cancel_waking() => break,
                Ok(_) => return Departure::NotLast,
                Err(now) => state = now,
            }
        }
        // SAFETY: we set `TASK_GONE` while `CANCEL_WAKER` was set: the waker is ours, and
        // `CANCEL_WAKING` keeps the slot from being recycled until we clear it.
        let waker = unsafe { Self::take_cancel_waker(slot) };
        // ORDERING: AcqRel: Release hands the slot back after our read of the cell;
        // Acquire sees the completer's writes if it left meanwhile and we are last.
        // SAFETY: `CANCEL_WAKING` keeps the slot alive until this step.
        let before = State::from_bits(
            unsafe { &(*slot).state }.fetch_and(!State::CANCEL_WAKING.bits(), Ordering::AcqRel),
        );
        waker.wake();
        if before.is_completer_gone() {
            Departure::Last(before.without(State::CANCEL_WAKING))
        } else {
            Departure::NotLast
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
            _waker: last.has_waker().then(|| unsafe { Self::take_waker(slot) }),
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
