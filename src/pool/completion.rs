//! The completer half's steps on a pooled slot: completing (or abandoning) and leaving,
//! and waiting for the task to go (`Completer::cancelled`).

use std::task::{Context, Poll};

use super::slot::{Departure, Registration, Slot, WakerCell};
use super::state::State;

impl<T, E> Slot<T, E> {
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
                        drop(
                            cancel_waker
                                .then(|| unsafe { Self::take_waker(slot, WakerCell::Cancel) }),
                        );
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
                            Self::take_waker(slot, WakerCell::Task),
                            cancel_waker.then(|| Self::take_waker(slot, WakerCell::Cancel)),
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
        let state = unsafe { Self::load(slot) };
        // SAFETY: we hold the completer half, which stores in the cancel waker cell.
        let registration = unsafe {
            Self::register_waker(
                slot,
                WakerCell::Cancel,
                cx.waker(),
                state,
                State::is_task_gone,
            )
        };
        match registration {
            Registration::Unchanged => Poll::Pending,
            Registration::Stored { before } if !before.is_task_gone() => Poll::Pending,
            Registration::Stored { .. } => {
                // The task left before it could see our waker: take it back. The flag
                // stays set, but the task is gone and never reads it.
                // SAFETY: the task is gone, so nobody else touches the cell.
                drop(unsafe { Self::take_waker(slot, WakerCell::Cancel) });
                Poll::Ready(())
            }
            Registration::Stopped(_) => Poll::Ready(()),
        }
    }
}
