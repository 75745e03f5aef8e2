//! [`ResetCore`]: a versioned, reusable, single-result completion core.
//!
//! The flags live in the state word ([`state`]); this file holds the cells and the
//! transitions. Each cell access is a claim taken with a compare-and-swap. A completer
//! and a poller never wait for each other: a completer that finds a poller in the waker
//! cell publishes the value and leaves the waker to it, and the poller, ending its
//! claim, sees `COMPLETE` and takes the value itself. Only `reset` waits for claims to
//! end (a few instructions, no user code). A claim that nobody else can touch meanwhile
//! ends with a plain store; the others with a read-modify-write that returns what the
//! other side did.

mod cells;
mod misuse;
pub(crate) mod reset;
mod state;
mod status;

use std::fmt;
use std::mem::MaybeUninit;
use std::task::{Context, Poll, Waker};

use self::misuse::{already_taken, stale_token, two_pollers};
use self::state::{State, WakerStep};
use crate::source::Token;
use crate::sync::{AtomicU64, Ordering, UnsafeCell};

/// A versioned completion core for an object that runs one operation at a time: the
/// Rust twin of .NET's `ManualResetValueTaskSourceCore<T>`.
///
/// Embed it in the object that owns the operation (a socket's pending read, a stream's
/// next frame), hand the consumer a [`ValueTask::from_source`](crate::ValueTask::from_source)
/// with the current [`token`](Self::token), let the producer [`complete`](Self::complete)
/// it from any thread, and [`reset`](Self::reset) it before the next operation. Nothing
/// is allocated, ever.
///
/// Each operation is a generation; the [`Token`] names it. A token kept past a `reset`
/// is stale: `complete` gives its value back, `poll_result` and `status` panic,
/// [`try_status`](Self::try_status) answers `None`. One atomic word holds the generation
/// and the state, and the value and the waker live in cells that the state hands to one
/// thread at a time; completing and taking the value cost one atomic read-modify-write
/// each, and resetting a finished operation none.
///
/// # One operation at a time
///
/// An operation nobody completes waits forever: the core cannot know that its producer
/// lost the token. Where a producer may give up, use a [`SourcePool`](crate::SourcePool),
/// whose dropped [`Completer`](crate::Completer) resolves the task with an error.
///
/// Before starting the next operation, a producer that is not sure the last one was
/// read can ask with [`try_reset`](Self::try_reset), which refuses while a task waits or
/// a value is unread; [`reset`](Self::reset) moves on regardless (the waiting task is
/// woken and panics on its stale token). The surest guard is the borrow checker: let
/// the method that starts an operation take `&mut self`, and return a task that borrows
/// `self`, so a second operation cannot start while the first one's task lives:
///
/// ```
/// use valuetask::{ResetCore, ValueTask};
///
/// struct Reader {
///     read: ResetCore<Vec<u8>>,
/// }
///
/// impl Reader {
///     /// `&mut self`: while the returned task lives, no other read can start.
///     fn read(&mut self) -> ValueTask<'_, Vec<u8>> {
///         let token = self.read.reset();
///         // ...hand `token` to the I/O driver, which completes it later...
///         self.read.complete(token, b"bytes".to_vec()).unwrap();
///         ValueTask::from_source(&self.read, token)
///     }
/// }
///
/// let mut reader = Reader { read: ResetCore::new() };
/// let first = reader.read();
/// // let second = reader.read(); // error[E0499]: `reader` is borrowed by `first`
/// assert_eq!(futures::executor::block_on(first), b"bytes");
/// ```
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use valuetask::{ResetCore, ValueTask};
///
/// let core = Arc::new(ResetCore::new());
/// for round in 0..3 {
///     let token = core.reset();
///     let producer = Arc::clone(&core);
///     let worker = std::thread::spawn(move || producer.complete(token, round * 10).unwrap());
///     let value = futures::executor::block_on(ValueTask::from_source(&*core, token));
///     assert_eq!(value, round * 10);
///     worker.join().unwrap();
/// }
/// ```
pub struct ResetCore<T> {
    state: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the value moves between threads (written by a completer, read by a poller),
// so `T: Send` is needed and enough: no `&T` is ever shared. Every cell access is made
// by the one thread the state word hands the cell to.
unsafe impl<T: Send> Send for ResetCore<T> {}
// SAFETY: as for `Send`: `&ResetCore` gives no access to a `&T`, only moves of `T`
// between threads, each under the state word's exclusive hand-over.
unsafe impl<T: Send> Sync for ResetCore<T> {}

impl<T> ResetCore<T> {
    /// A core at generation 0, with no operation completed.
    #[cfg(not(valuetask_loom))]
    pub const fn new() -> Self {
        Self {
            state: AtomicU64::new(State::INITIAL.bits()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: UnsafeCell::new(None),
        }
    }

    /// A core at generation 0, with no operation completed.
    #[cfg(valuetask_loom)]
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(State::INITIAL.bits()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: UnsafeCell::new(None),
        }
    }

    #[inline]
    fn load(&self, order: Ordering) -> State {
        State::from_bits(self.state.load(order))
    }

    /// Takes a claim: `from` (unclaimed, as last seen) becomes `to`. On failure, the
    /// state now.
    #[inline]
    fn claim(&self, from: State, to: State) -> Result<(), State> {
        // ORDERING: Acquire pairs with the Release store that ended the previous claim,
        // so the cells are seen as that holder left them.
        self.state
            .compare_exchange_weak(from.bits(), to.bits(), Ordering::Acquire, Ordering::Relaxed)
            .map(drop)
            .map_err(State::from_bits)
    }

    /// Ends a claim: nobody else wrote the word while it was held.
    #[inline]
    fn end_claim(&self, to: State) {
        // ORDERING: Release publishes the cell writes made under the claim; pairs with
        // the Acquire of the next claim and of every load that reads the new state.
        self.state.store(to.bits(), Ordering::Release);
    }

    /// The token of the current operation.
    #[inline]
    pub fn token(&self) -> Token {
        self.load(Ordering::Relaxed).token()
    }

    /// Stores the result of operation `token` and wakes the task waiting for it.
    ///
    /// Returns `Err(value)`, giving the value back, when `token` is stale or the
    /// operation was already completed (or is being reset right now).
    ///
    /// # Examples
    ///
    /// ```
    /// let core = valuetask::ResetCore::new();
    /// let token = core.token();
    /// assert_eq!(core.complete(token, 1), Ok(()));
    /// assert_eq!(core.complete(token, 2), Err(2)); // completed already
    /// let next = core.reset();
    /// assert_eq!(core.complete(token, 3), Err(3)); // stale token
    /// assert_eq!(core.complete(next, 4), Ok(()));
    /// ```
    #[inline]
    pub fn complete(&self, token: Token, value: T) -> Result<(), T> {
        let mut state = self.load(Ordering::Relaxed);
        loop {
            if state.token() != token || !state.accepts_completion() {
                return Err(value);
            }
            match self.claim(state, state.with_completing()) {
                Ok(()) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: `COMPLETING` is ours, so we own the value cell, and it is empty (the
        // operation was neither completed nor consumed, and a reset left it empty).
        unsafe { self.write_value(value) };
        state = state.with_completing();
        let step = loop {
            // Take the waker to wake it, unless a poller is in the waker cell: then it
            // sees `COMPLETE` when it leaves and takes the value itself.
            let step = if state.has_waker() && !state.is_registering() {
                WakerStep::Take
            } else {
                WakerStep::Leave
            };
            match self.state.compare_exchange_weak(
                state.bits(),
                state.completed(step).bits(),
                // ORDERING: Release publishes the value to the poller's Acquire load or
                // claim; Acquire (on a `Take`) sees the waker the poller stored before its
                // Release end of `REGISTERING`.
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break step,
                Err(now) => state = State::from_bits(now),
            }
        };
        if step == WakerStep::Leave {
            return Ok(());
        }
        // SAFETY: we cleared `WAKER` and hold `WAKING`: the waker cell and its waker are
        // ours.
        let waker = unsafe { self.take_waker() };
        // ORDERING: Release hands the waker cell back; pairs with the Acquire of the
        // next claim (a poller's, a reset's) and of a poller's load.
        self.state
            .fetch_and(!State::WAKING.bits(), Ordering::Release);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Polls for the result of operation `token`: `Ready` with the value once it was
    /// completed, otherwise `Pending` with the context's waker stored (replacing the one
    /// stored before, unless it would wake the same task).
    ///
    /// # Panics
    ///
    /// Panics if `token` is stale, if the result was already taken, or if another thread
    /// is polling the same operation at the same moment.
    #[inline]
    pub fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        // ORDERING: Acquire pairs with the completer's Release publication of `COMPLETE`
        // (and every claim's Release end), so the cells are seen as they were left.
        let mut state = self.load(Ordering::Acquire);
        loop {
            if state.token() != token || state.is_resetting() {
                stale_token(state.token(), token, "poll_result");
            }
            if state.is_taken() {
                already_taken(token);
            }
            if state.is_registering() {
                two_pollers(token);
            }
            if state.is_complete() {
                let taking = state.taking();
                if let Err(now) = self.claim(state, taking) {
                    state = now;
                    continue;
                }
                // SAFETY: `TAKING` is ours and `COMPLETE` was set: the value cell holds
                // a value that nobody else touches until we end `TAKING`.
                let value = unsafe { self.take_value() };
                // SAFETY: we cleared `WAKER` while no poller or completer was in the waker
                // cell (no `REGISTERING`; `WAKING` would have cleared `WAKER`): ours.
                let waker = state.has_waker().then(|| unsafe { self.take_waker() });
                if taking.is_waking() {
                    // The completer is still taking its waker out and ends `WAKING`
                    // itself with a read-modify-write, so ours must be one too.
                    // ORDERING: Release, as `end_claim`.
                    self.state
                        .fetch_xor(State::TAKING_AND_CONSUMED.bits(), Ordering::Release);
                } else {
                    self.end_claim(taking.consumed());
                }
                drop(waker);
                return Poll::Ready(value);
            }
            if state.has_waker() {
                if let Err(now) = self.claim(state, state.with_registering()) {
                    state = now;
                    continue;
                }
                // SAFETY: `REGISTERING` is ours and `WAKER` is set: the cell holds a waker
                // nobody else touches until we end `REGISTERING`.
                if unsafe { self.waker_will_wake(cx.waker()) } {
                    let claim = State::REGISTERING.bits();
                    // ORDERING: AcqRel: Release ends our claim; Acquire sees a value
                    // published meanwhile (a completer that found us in the cell).
                    let before = self.state.fetch_and(!claim, Ordering::AcqRel);
                    state = State::from_bits(before).without_registering();
                    if !state.is_complete() {
                        return Poll::Pending;
                    }
                    continue;
                }
                // A new waker: take the old one out, then store the new one as on a
                // first poll, cloning it outside any claim.
                // SAFETY: as above.
                let old = unsafe { self.take_waker() };
                state = self.end_registering();
                drop(old);
                continue;
            }
            let waker = cx.waker().clone();
            if let Err(now) = self.claim(state, state.with_registering()) {
                state = now;
                continue;
            }
            // SAFETY: `REGISTERING` is ours and `WAKER` is clear: the waker cell is empty
            // and nobody else touches it until we end `REGISTERING`.
            unsafe { self.store_waker(waker) };
            state = self.end_registering();
            if !state.is_complete() {
                return Poll::Pending;
            }
            // Completed while we were in the waker cell: the completer left the waker to
            // us; the next turn takes the value and the waker.
        }
    }

    /// Ends `REGISTERING` and toggles `WAKER` (set after storing one, clear after taking
    /// one out) in one step; returns the state after it.
    fn end_registering(&self) -> State {
        let flip = State::REGISTERING_AND_WAKER.bits();
        // ORDERING: AcqRel: Release publishes our waker-cell write to the completer's
        // Acquire claim; Acquire sees a value a completer published meanwhile.
        State::from_bits(self.state.fetch_xor(flip, Ordering::AcqRel) ^ flip)
    }
}

impl<T> Default for ResetCore<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for ResetCore<T> {
    fn drop(&mut self) {
        // ORDERING: `&mut self` already synchronized with every other user; Acquire
        // costs nothing here and keeps the read uniform with the others.
        let state = self.load(Ordering::Acquire);
        if state.is_complete() {
            // SAFETY: `&mut self`: no other access; `COMPLETE` means the value is
            // initialized and unread.
            drop(unsafe { self.take_value() });
        }
        // The waker cell's `Option` drops itself.
    }
}

impl<T> fmt::Debug for ResetCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // ORDERING: a snapshot for display; Acquire so it is no older than what this
        // thread already saw through the core's other methods.
        let state = self.load(Ordering::Acquire);
        f.debug_struct("ResetCore")
            .field("generation", &state.token().generation())
            .field("status", &state.status())
            .field("waiting", &state.has_waker())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
