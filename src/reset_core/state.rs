//! The state word of a [`ResetCore`](super::ResetCore), as a type.
//!
//! One `u64`: the generation (the [`Token`]) in the high 32 bits, the flags below in the
//! low bits. A flag that names a cell says who may touch that cell while it is set;
//! nobody else touches it. Five flags are *claims*, held for the few instructions of a
//! cell access with no user code inside (`COMPLETING`, `TAKING`, `REGISTERING`,
//! `WAKING`, `RESETTING`); only `reset` ever waits for one to end. A completer and a
//! poller never wait for each other: each claims the cell it needs, and whichever
//! finishes second sees the other's step in the word.

use std::fmt;

use crate::source::{Status, Token};

/// A completer owns the value cell and is writing it.
const COMPLETING: u64 = 1 << 0;
/// The value cell holds this generation's value, not yet taken; nobody writes the cell.
const COMPLETE: u64 = 1 << 1;
/// A poller owns the value cell and is moving the value out. Unless a completer holds
/// `WAKING`, nobody else writes the word while it is set, and a plain store ends it.
const TAKING: u64 = 1 << 2;
/// The value was taken; the value cell is empty. Nothing but a reset changes the word
/// from here (completions fail, pollers panic), so a reset needs no exchange.
const CONSUMED: u64 = 1 << 3;
/// A poller owns the waker cell and is reading or writing it.
const REGISTERING: u64 = 1 << 4;
/// The waker cell holds a waker. Whoever clears this flag (taking `REGISTERING` or
/// `WAKING` in the same step, or holding `RESETTING`) takes the waker.
const WAKER: u64 = 1 << 5;
/// A completer owns the waker cell and is taking the waker out to wake it.
const WAKING: u64 = 1 << 6;
/// `reset` owns both cells and is moving to the next generation.
const RESETTING: u64 = 1 << 7;

const CLAIMS: u64 = COMPLETING | TAKING | REGISTERING | WAKING | RESETTING;
const FLAGS: u64 = u32::MAX as u64;

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

    /// Somebody holds a claim: `reset` waits, it ends within a few instructions.
    pub(super) const fn is_claimed(self) -> bool {
        self.0 & CLAIMS != 0
    }

    pub(super) const fn is_resetting(self) -> bool {
        self.0 & RESETTING != 0
    }

    pub(super) const fn is_registering(self) -> bool {
        self.0 & REGISTERING != 0
    }

    pub(super) const fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }

    /// The value was taken or is being taken.
    pub(super) const fn is_taken(self) -> bool {
        self.0 & (TAKING | CONSUMED) != 0
    }

    pub(super) const fn has_waker(self) -> bool {
        self.0 & WAKER != 0
    }

    pub(super) const fn is_waking(self) -> bool {
        self.0 & WAKING != 0
    }

    /// Consumed and nothing else: nothing can change the word but a reset.
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

    /// The end of `COMPLETING`: the value published. With `take_waker`, the completer
    /// also takes the waker out (clearing `WAKER`, holding `WAKING`).
    pub(super) const fn completed(self, waker: WakerStep) -> Self {
        match waker {
            WakerStep::Take => Self((self.0 & !(COMPLETING | WAKER)) | COMPLETE | WAKING),
            WakerStep::Leave => Self((self.0 & !COMPLETING) | COMPLETE),
        }
    }

    /// A poller's claim on the complete value; a waker left in the cell comes out with
    /// it (`WAKER` cleared).
    pub(super) const fn taking(self) -> Self {
        Self((self.0 & !(COMPLETE | WAKER)) | TAKING)
    }

    /// The end of `TAKING`.
    pub(super) const fn consumed(self) -> Self {
        Self((self.0 & !TAKING) | CONSUMED)
    }

    pub(super) const fn with_registering(self) -> Self {
        Self(self.0 | REGISTERING)
    }

    pub(super) const fn with_resetting(self) -> Self {
        Self(self.0 | RESETTING)
    }

    pub(super) const fn without_registering(self) -> Self {
        Self(self.0 & !REGISTERING)
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

    /// The bits a poller flips to end `REGISTERING` and toggle `WAKER` in one step.
    pub(super) const REGISTERING_AND_WAKER: State = State(REGISTERING | WAKER);
    /// The bits a poller flips to end `TAKING` with `CONSUMED` in one step.
    pub(super) const TAKING_AND_CONSUMED: State = State(TAKING | CONSUMED);
    /// The claim a poller ends with a `fetch_and`.
    pub(super) const REGISTERING: State = State(REGISTERING);
    /// The claim a completer ends with a `fetch_and`.
    pub(super) const WAKING: State = State(WAKING);
}

/// What a completer does with a waker it finds as it publishes the value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum WakerStep {
    /// Take it out (holding `WAKING`) and wake it.
    Take,
    /// Leave it: there is none, or a poller is in the waker cell and sees `COMPLETE`.
    Leave,
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
            (WAKING, "WAKING"),
            (RESETTING, "RESETTING"),
        ] {
            if self.0 & flag != 0 {
                write!(f, " | {name}")?;
            }
        }
        f.write_str(")")
    }
}
