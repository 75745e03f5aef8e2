//! The state word of a `ResetCore`, as a type.
//!
//! One `u64`: the generation (the [`Token`](crate::Token)) in the high 32 bits, the flags
//! below in the low bits. A flag that names a cell says who may touch that cell while it
//! is set; nobody else touches it. Five flags are *claims*, held for the few
//! instructions of a cell access with no user code inside (`COMPLETING`, `TAKING`,
//! `REGISTERING`, `WAKING`, `RESETTING`); only `reset` ever waits for one to end. A
//! completer and a poller never wait for each other: each claims the cell it needs, and
//! whichever finishes second sees the other's step in the word.

use crate::source::Status;
use crate::state_word::state_word;

state_word! {
    /// A snapshot of the state word.
    pub(super) struct State {
        /// A completer owns the value cell and is writing it.
        COMPLETING = 0 claim => is_completing, with_completing;
        /// The value cell holds this generation's value, not yet taken; nobody writes
        /// the cell.
        COMPLETE = 1 => is_complete, with_complete;
        /// A poller owns the value cell and is moving the value out. Unless a completer
        /// holds `WAKING`, nobody else writes the word while it is set, and a plain
        /// store ends it.
        TAKING = 2 claim => is_taking, with_taking;
        /// The value was taken; the value cell is empty. Nothing but a reset changes the
        /// word from here (completions fail, pollers panic), so a reset needs no
        /// exchange.
        CONSUMED = 3 => is_consumed, with_consumed;
        /// A poller owns the waker cell and is reading or writing it.
        REGISTERING = 4 claim => is_registering, with_registering;
        /// The waker cell holds a waker. Whoever clears this flag (taking `REGISTERING`
        /// or `WAKING` in the same step, or holding `RESETTING`) takes the waker.
        WAKER = 5 => has_waker, with_waker;
        /// A completer owns the waker cell and is taking the waker out to wake it.
        WAKING = 6 claim => is_waking, with_waking;
        /// `reset` owns both cells and is moving to the next generation.
        RESETTING = 7 claim => is_resetting, with_resetting;
    }
}

/// What a completer does with a waker it finds as it publishes the value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum WakerStep {
    /// Take it out (holding `WAKING`) and wake it.
    Take,
    /// Leave it: there is none, or a poller is in the waker cell and sees `COMPLETE`.
    Leave,
}

impl State {
    /// Generation 0, nothing completed.
    pub(super) const INITIAL: State = State::from_bits(0);

    /// Somebody holds a claim: `reset` waits, it ends within a few instructions.
    pub(super) const fn is_claimed(self) -> bool {
        self.any(State::CLAIMS)
    }

    /// The value was taken or is being taken.
    pub(super) const fn is_taken(self) -> bool {
        self.any(State::TAKING.union(State::CONSUMED))
    }

    /// Consumed and nothing else: nothing can change the word but a reset.
    pub(super) const fn is_only_consumed(self) -> bool {
        self.is_consumed() && self.only(State::CONSUMED)
    }

    /// Whether a completion of this generation can still be accepted.
    pub(super) const fn accepts_completion(self) -> bool {
        !self.any(
            State::COMPLETING
                .union(State::COMPLETE)
                .union(State::TAKING)
                .union(State::CONSUMED)
                .union(State::RESETTING),
        )
    }

    /// The end of `COMPLETING`: the value published. With [`WakerStep::Take`] the
    /// completer also takes the waker out (clearing `WAKER`, holding `WAKING`).
    pub(super) const fn completed(self, waker: WakerStep) -> Self {
        let published = self.without(State::COMPLETING).with_complete();
        match waker {
            WakerStep::Take => published.without(State::WAKER).with_waking(),
            WakerStep::Leave => published,
        }
    }

    /// A poller's claim on the complete value; a waker left in the cell comes out with
    /// it (`WAKER` cleared).
    pub(super) const fn taking(self) -> Self {
        self.without(State::COMPLETE.union(State::WAKER))
            .with_taking()
    }

    /// The end of `TAKING`.
    pub(super) const fn consumed(self) -> Self {
        self.without(State::TAKING).with_consumed()
    }

    pub(super) const fn without_registering(self) -> Self {
        self.without(State::REGISTERING)
    }

    pub(super) const fn status(self) -> Status {
        if self.is_complete() {
            Status::Ready
        } else if self.is_taken() {
            Status::Consumed
        } else {
            Status::Pending
        }
    }

    /// The bits a poller flips to end `REGISTERING` and toggle `WAKER` in one step.
    pub(super) const REGISTERING_AND_WAKER: State = State::REGISTERING.union(State::WAKER);
    /// The bits a poller flips to end `TAKING` with `CONSUMED` in one step.
    pub(super) const TAKING_AND_CONSUMED: State = State::TAKING.union(State::CONSUMED);
}
