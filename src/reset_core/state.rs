//! The state word of a [`ResetCore`](super::ResetCore), as a type.
//!
//! One `u64`: the generation (the [`Token`]) in the high 32 bits, the flags below in the
//! low bits. A flag that names a cell says who may touch that cell while it is set;
//! nobody else touches it.
//!
//! Four flags are *claims*, held for the few instructions of a cell access with no user
//! code inside: `COMPLETING`, `TAKING`, `REGISTERING` and `RESETTING`. A claim is taken
//! with a compare-and-swap from a state without any claim, and while one is held every
//! other party backs off (spins, fails, or panics on misuse) without writing the word.
//! So the holder ends its claim with a plain store, and an operation costs one
//! read-modify-write: completing is one compare-and-swap, taking the value is one, and
//! a reset of a consumed operation is a plain store (nothing can change a consumed
//! state).

use std::fmt;

use crate::source::{Status, Token};

/// A completer owns both cells: it is writing the value and taking the waker out.
const COMPLETING: u64 = 1 << 0;
/// The value cell holds this generation's value, not yet taken; nobody writes the cell,
/// and whoever clears this flag (a poller's take, a reset) owns the value.
const COMPLETE: u64 = 1 << 1;
/// A poller owns the value cell and is moving the value out.
const TAKING: u64 = 1 << 6;
/// The value was taken; both cells are empty and nothing can change the state but a
/// reset.
const CONSUMED: u64 = 1 << 2;
/// A poller owns the waker cell: it is comparing, replacing or storing its waker.
const REGISTERING: u64 = 1 << 3;
/// The waker cell holds a waker, which the next claim (a completer's or a reset's, or a
/// poller replacing it) takes.
const WAKER: u64 = 1 << 4;
/// A reset owns both cells: it is taking out an unread value and a stranded waker.
const RESETTING: u64 = 1 << 5;

const CLAIMS: u64 = COMPLETING | TAKING | REGISTERING | RESETTING;
const FLAGS: u64 = (1 << 32) - 1;

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct State(u64);

impl State {
    /// Generation 0, nothing completed.
    pub(super) const INITIAL: State = State(0);

    pub(super) const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    pub(super) const fn bits(self) -> u64 {
        self.0
    }

    /// A fresh operation of `token`'s generation: nothing completed, no waker.
    pub(super) const fn fresh(token: Token) -> Self {
        Self(token.state_bits())
    }

    pub(super) const fn token(self) -> Token {
        Token::from_state_bits(self.0)
    }

    /// Somebody holds a claim: wait, it ends within a few instructions.
    pub(super) const fn is_claimed(self) -> bool {
        self.0 & CLAIMS != 0
    }

    /// Another poller holds a claim of its own: two places poll one operation.
    pub(super) const fn is_polled_elsewhere(self) -> bool {
        self.0 & (REGISTERING | TAKING) != 0
    }

    pub(super) const fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }

    pub(super) const fn is_consumed(self) -> bool {
        self.0 & CONSUMED != 0
    }

    pub(super) const fn has_waker(self) -> bool {
        self.0 & WAKER != 0
    }

    /// Consumed and nothing else: no claim can succeed from here, so a reset needs no
    /// compare-and-swap.
    pub(super) const fn is_only_consumed(self) -> bool {
        self.0 & FLAGS == CONSUMED
    }

    /// Whether a completion of this generation can still be accepted.
    pub(super) const fn accepts_completion(self) -> bool {
        self.0 & (COMPLETING | COMPLETE | TAKING | CONSUMED | RESETTING) == 0
    }

    pub(super) const fn with_completing(self) -> Self {
        Self(self.0 | COMPLETING)
    }

    /// The end of a completion claimed from `self`: the value published, the waker (if
    /// there was one) taken by the completer.
    pub(super) const fn completed(self) -> Self {
        Self((self.0 & !(COMPLETING | WAKER)) | COMPLETE)
    }

    /// A poller's claim on the value: `COMPLETE` becomes `TAKING`.
    pub(super) const fn taking(self) -> Self {
        Self((self.0 & !COMPLETE) | TAKING)
    }

    /// The value taken: the end of `TAKING`.
    pub(super) const fn consumed(self) -> Self {
        Self((self.0 & !(COMPLETE | TAKING)) | CONSUMED)
    }

    pub(super) const fn with_registering(self) -> Self {
        Self(self.0 | REGISTERING)
    }

    pub(super) const fn with_resetting(self) -> Self {
        Self(self.0 | RESETTING)
    }

    /// `self` with a waker stored (and no claim).
    pub(super) const fn with_waker(self) -> Self {
        Self((self.0 & !CLAIMS) | WAKER)
    }

    /// `self` with the waker taken out (and no claim).
    pub(super) const fn without_waker(self) -> Self {
        Self(self.0 & !(CLAIMS | WAKER))
    }

    pub(super) const fn status(self) -> Status {
        if self.0 & COMPLETE != 0 {
            Status::Ready
        } else if self.0 & (TAKING | CONSUMED) != 0 {
            Status::Consumed
        } else {
            Status::Pending
        }
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "State(generation {}", self.token().generation())?;
        for (flag, name) in [
            (COMPLETING, "COMPLETING"),
            (COMPLETE, "COMPLETE"),
            (TAKING, "TAKING"),
            (CONSUMED, "CONSUMED"),
            (REGISTERING, "REGISTERING"),
            (WAKER, "WAKER"),
            (RESETTING, "RESETTING"),
        ] {
            if self.0 & flag != 0 {
                write!(f, " | {name}")?;
            }
        }
        f.write_str(")")
    }
}
