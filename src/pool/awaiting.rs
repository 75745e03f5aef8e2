//! The task half's steps on a pooled slot: polling for the result (storing a waker),
//! leaving with it, and leaving without it (a dropped task).

use std::task::{Context, Poll};

use super::slot::{Departure, Registration, Slot, WakerCell};
use super::state::State;
use crate::sync::spin;

/// How many times a task that found its result waits for the completer to finish
/// leaving before it leaves first; bounded, so a preempted completer costs nothing more.
/// (None under loom, where a spin yields to the completer: the models must reach the
/// task leaving first.)
const COMPLETER_SPINS: u32 = if cfg!(valuetask_loom) { 0 } else { 16 };

impl<T, E> Slot<T, E> {
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
            // SAFETY: we hold the task half, which stores in the task's waker cell.
            let registration = unsafe {
                Self::register_waker(slot, WakerCell::Task, cx.waker(), state, State::is_complete)
            };
            match registration {
                Registration::Unchanged => return Poll::Pending,
                Registration::Stored { before } if !before.is_complete() => return Poll::Pending,
                // Completed while we stored the waker: the completer did not see it, so
                // the result is ours to take on the next turn; recycling drops the waker.
                Registration::Stored { before } => state = before.with_waker(),
                Registration::Stopped(complete) => {
                    // SAFETY: `COMPLETE`, seen with Acquire: the value is there and ours.
                    let result = unsafe { Self::take_value(slot) };
                    // SAFETY: we hold the task half and give it up.
                    let departure = unsafe { Self::leave_with_value(slot, complete) };
                    return Poll::Ready((result, departure));
                }
            }
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
        let waker = unsafe { Self::take_waker(slot, WakerCell::Cancel) };
        // SAFETY: `CANCEL_WAKING` keeps the slot alive until this step, which hands the
        // slot back after our read of the cell.
        let before = unsafe { Self::clear_flags(slot, State::CANCEL_WAKING) };
        waker.wake();
        if before.is_completer_gone() {
            Departure::Last(before.without(State::CANCEL_WAKING))
        } else {
            Departure::NotLast
        }
    }
}
