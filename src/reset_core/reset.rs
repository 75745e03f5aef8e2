//! Moving a [`ResetCore`] to its next operation: [`ResetCore::reset`], and
//! [`ResetCore::try_reset`], which refuses while the current one is in flight.

use std::fmt;

use super::ResetCore;
use super::state::State;
use crate::source::Token;
use crate::sync::{Ordering, spin};

/// Why [`ResetCore::try_reset`] refused to move to the next operation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ResetRefused {
    /// A task polled the current operation and waits for its result.
    Awaited,
    /// The current operation was completed and its value was not read yet.
    Unread,
}

impl fmt::Display for ResetRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Awaited => "a task still waits for the current operation",
            Self::Unread => "the current operation's value was not read yet",
        })
    }
}

impl std::error::Error for ResetRefused {}

/// Whether [`ResetCore::reset_checked`] may move on from an operation still in flight.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Discard,
    Refuse,
}

impl<T> ResetCore<T> {
    /// Moves to the next operation and returns its token.
    ///
    /// A value that was completed but not taken is dropped, and a task still waiting on
    /// the old operation is woken (its next poll panics on the stale token rather than
    /// waiting forever: see [`try_reset`](Self::try_reset) to refuse instead). If another
    /// thread is in the middle of copying a value or a waker in or out, `reset` spins for
    /// those few instructions; no user code runs while it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let core = valuetask::ResetCore::<u32>::new();
    /// let first = core.token();
    /// let second = core.reset();
    /// assert_ne!(first, second);
    /// assert_eq!(core.token(), second);
    /// ```
    #[inline]
    pub fn reset(&self) -> Token {
        match self.reset_checked(InFlight::Discard) {
            Ok(token) => token,
            Err(_) => unreachable!("a reset that discards never refuses"),
        }
    }

    /// Moves to the next operation, like [`reset`](Self::reset), unless the current one is
    /// still in flight: a task waits for it ([`ResetRefused::Awaited`]) or its value was
    /// not read ([`ResetRefused::Unread`]). Then nothing changes.
    ///
    /// An operation that was never polled nor completed counts as finished: the core
    /// cannot know whether a task for it exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::{ResetCore, ResetRefused, ValueTask};
    ///
    /// let core = ResetCore::new();
    /// let token = core.token();
    /// core.complete(token, 5).unwrap();
    /// assert_eq!(core.try_reset(), Err(ResetRefused::Unread));
    /// assert_eq!(futures::executor::block_on(ValueTask::from_source(&core, token)), 5);
    /// assert!(core.try_reset().is_ok());
    /// ```
    pub fn try_reset(&self) -> Result<Token, ResetRefused> {
        self.reset_checked(InFlight::Refuse)
    }

    #[inline]
    fn reset_checked(&self, in_flight: InFlight) -> Result<Token, ResetRefused> {
        // ORDERING: Acquire pairs with the Release end of the last claim (a poller's
        // `TAKING`, a completer's publication), so its cell accesses are done.
        let mut state = self.load(Ordering::Acquire);
        loop {
            if state.is_claimed() {
                spin();
                // ORDERING: Acquire, as the load above.
                state = self.load(Ordering::Acquire);
                continue;
            }
            if in_flight == InFlight::Refuse {
                if state.is_complete() {
                    return Err(ResetRefused::Unread);
                }
                if state.has_waker() || state.is_registering() {
                    return Err(ResetRefused::Awaited);
                }
            }
            let next = state.token().next();
            if state.is_only_consumed() {
                // Nothing can change a consumed state (completions fail, pollers panic),
                // so no exchange is needed.
                self.end_claim(State::fresh(next));
                return Ok(next);
            }
            if !state.is_complete() && !state.has_waker() {
                // Nothing to drop or wake, but a completer may claim at any moment.
                match self.state.compare_exchange_weak(
                    state.bits(),
                    State::fresh(next).bits(),
                    // ORDERING: Release, as `end_claim`; Acquire on failure, as the load.
                    Ordering::Release,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Ok(next),
                    Err(now) => state = State::from_bits(now),
                }
                continue;
            }
            match self.claim(state, state.with_resetting()) {
                Ok(()) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: `RESETTING` is ours, so both cells are; `COMPLETE` says the value is
        // initialized and unread, `WAKER` that the cell holds a waker.
        let value = state.is_complete().then(|| unsafe { self.take_value() });
        // SAFETY: as above.
        let waker = state.has_waker().then(|| unsafe { self.take_waker() });
        let next = state.token().next();
        self.end_claim(State::fresh(next));
        // User code (the value's drop, the wake) runs after the claim ended.
        drop(value);
        if let Some(waker) = waker.flatten() {
            waker.wake();
        }
        Ok(next)
    }
}
