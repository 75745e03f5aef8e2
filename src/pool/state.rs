//! The state word of a pool slot, as a type.
//!
//! One `u64`: the generation of the current rental in the high 32 bits, the flags below
//! in the low bits. A slot has two owners for one rental, its task and its completer,
//! and neither can be cloned, so each side knows it is alone on its side: a completion
//! is one compare-and-swap, and whichever side finds the other gone with a plain load
//! is alone with the slot and needs no read-modify-write at all.

use crate::state_word::state_word;

state_word! {
    /// A snapshot of a slot's state word.
    pub(super) struct State {
        /// The value cell holds the result. The completer wrote it and touches it no
        /// more; the task may move it out.
        COMPLETE = 0 => is_complete, with_complete;
        /// The task moved the result out of the value cell.
        TAKEN = 1 => is_taken, with_taken;
        /// The waker cell holds the task's waker. While it is set the task only reads
        /// the cell, and only the completer may clear it (in the step that sets
        /// `COMPLETE`), taking the waker; or the task clears it by compare-and-swap,
        /// before `COMPLETE`, to take it back and store another.
        WAKER = 2 => has_waker, with_waker;
        /// The task is gone: its result was taken or it was dropped.
        TASK_GONE = 3 => is_task_gone, with_task_gone;
        /// The completer is gone: it completed (and finished with the waker) or was
        /// dropped.
        COMPLETER_GONE = 4 => is_completer_gone, with_completer_gone;
        /// The completer's waker cell holds the waker of a `Completer::cancelled`
        /// future. Set by the completer; the task's drop takes it (setting `TASK_GONE`
        /// and `CANCEL_WAKING` in the same step), or the completer clears it by
        /// compare-and-swap to take it back.
        CANCEL_WAKER = 5 => has_cancel_waker, with_cancel_waker;
        /// The task, leaving, took the completer's cancel waker and is still waking it:
        /// the completer, even if it leaves next, is not the last out; the task clears
        /// this flag when it is done and recycles the slot if the completer left
        /// meanwhile.
        CANCEL_WAKING = 8 => is_cancel_waking, with_cancel_waking;
        /// The slot is rented: set by the renter (alone with the slot), cleared on
        /// recycling.
        RENTED = 6 => is_rented, with_rented;
        /// The slot is free in a thread's cache; set and cleared by that thread alone.
        CACHED = 7 => is_cached, with_cached;
    }
}

impl State {
    /// The free state of the next rental.
    pub(super) const fn next_free(self) -> Self {
        Self::fresh(self.token().next())
    }

    /// Whether the result is there for the task: completed and not yet taken.
    pub(super) const fn has_unread_value(self) -> bool {
        self.is_complete() && !self.is_taken()
    }
}
