//! The state word of a pool slot, as a type.
//!
//! One `u64`: the generation of the current rental in the high 32 bits, the flags below
//! in the low bits. A slot has two owners for one rental, its task and its completer,
//! and neither can be cloned, so each side knows it is alone on its side: a completion
//! is one compare-and-swap, and whichever side finds the other gone with a plain load
//! is alone with the slot and needs no read-modify-write at all.

use std::fmt;

use crate::source::Token;

/// The value cell holds the result. The completer wrote it and touches it no more; the
/// task may move it out.
const COMPLETE: u64 = 1 << 0;
/// The task moved the result out of the value cell.
const TAKEN: u64 = 1 << 1;
/// The waker cell holds the task's waker. While it is set the task only reads the cell,
/// and only the completer may clear it (in the step that sets `COMPLETE`), taking the
/// waker; or the task clears it by compare-and-swap, before `COMPLETE`, to take it back
/// and store another.
const WAKER: u64 = 1 << 2;
/// The task is gone: its result was taken or it was dropped.
const TASK_GONE: u64 = 1 << 3;
/// The completer is gone: it completed (and finished with the waker) or was dropped.
const COMPLETER_GONE: u64 = 1 << 4;
/// The completer's waker cell holds the waker of a [`Completer::cancelled`] future. Set
/// by the completer; the task's drop takes it (setting `TASK_GONE` in the same step),
/// or the completer clears it by compare-and-swap to take it back.
///
/// [`Completer::cancelled`]: crate::Completer::cancelled
const CANCEL_WAKER: u64 = 1 << 5;
/// The task, leaving, took the completer's cancel waker and is still waking it: the
/// completer, even if it leaves next, is not the last out; the task clears this flag
/// when it is done and recycles the slot if the completer left meanwhile.
const CANCEL_WAKING: u64 = 1 << 8;
/// The slot is rented: set by the renter (alone with the slot), cleared on recycling.
const RENTED: u64 = 1 << 6;
/// The slot is free in a thread's cache; set and cleared by that thread alone.
const CACHED: u64 = 1 << 7;

/// A snapshot of a slot's state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct State(u64);

/// A predicate (`is_*`/`has_*`) and a setter (`with_*`) for each flag.
macro_rules! flag_methods {
    ($($flag:ident: $is:ident, $with:ident;)*) => {
        $(
            pub(super) const fn $is(self) -> bool {
                self.0 & $flag != 0
            }

            pub(super) const fn $with(self) -> Self {
                Self(self.0 | $flag)
            }
        )*
    };
}

impl State {
    /// The flags that the protocol sets with a read-modify-write or clears with `without`.
    pub(super) const TAKEN: State = State(TAKEN);
    pub(super) const WAKER: State = State(WAKER);
    pub(super) const COMPLETER_GONE: State = State(COMPLETER_GONE);
    pub(super) const CANCEL_WAKER: State = State(CANCEL_WAKER);
    pub(super) const CANCEL_WAKING: State = State(CANCEL_WAKING);
    pub(super) const CACHED: State = State(CACHED);

    flag_methods! {
        COMPLETE: is_complete, with_complete;
        TAKEN: is_taken, with_taken;
        WAKER: has_waker, with_waker;
        TASK_GONE: is_task_gone, with_task_gone;
        COMPLETER_GONE: is_completer_gone, with_completer_gone;
        CANCEL_WAKING: is_cancel_waking, with_cancel_waking;
        RENTED: is_rented, with_rented;
        CACHED: is_cached, with_cached;
    }

    pub(super) const fn has_cancel_waker(self) -> bool {
        self.0 & CANCEL_WAKER != 0
    }

    pub(super) const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    pub(super) const fn bits(self) -> u64 {
        self.0
    }

    /// A free slot at generation `token`, no flags.
    pub(super) const fn free(token: Token) -> Self {
        Self(token.state_bits())
    }

    pub(super) const fn token(self) -> Token {
        Token::from_state_bits(self.0)
    }

    /// The free state of the next rental.
    pub(super) const fn next_free(self) -> Self {
        Self::free(self.token().next())
    }

    pub(super) const fn without(self, flag: State) -> Self {
        Self(self.0 & !flag.0)
    }

    /// Whether the result is there for the task: completed and not yet taken.
    pub(super) const fn has_unread_value(self) -> bool {
        self.is_complete() && !self.is_taken()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "State(generation {}", self.token().generation())?;
        for (flag, name) in [
            (COMPLETE, "COMPLETE"),
            (TAKEN, "TAKEN"),
            (WAKER, "WAKER"),
            (TASK_GONE, "TASK_GONE"),
            (COMPLETER_GONE, "COMPLETER_GONE"),
            (CANCEL_WAKER, "CANCEL_WAKER"),
            (CANCEL_WAKING, "CANCEL_WAKING"),
            (RENTED, "RENTED"),
            (CACHED, "CACHED"),
        ] {
            if self.0 & flag != 0 {
                write!(f, " | {name}")?;
            }
        }
        f.write_str(")")
    }
}
