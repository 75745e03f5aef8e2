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

mod state;

use std::fmt;
use std::mem::MaybeUninit;
use std::task::{Context, Poll, Waker};

use self::state::{State, WakerStep};
use crate::source::{Source, Status, Token};
use crate::sync::{AtomicU64, Ordering, UnsafeCell, spin};

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
            // ORDERING: Release publishes the value to the poller's Acquire load or
            // claim; Acquire (on a `Take`) sees the waker the poller stored before its
            // Release end of `REGISTERING`.
            match self.state.compare_exchange_weak(
                state.bits(),
                state.completed(step).bits(),
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
                    // ORDERING: AcqRel: Release ends our claim; Acquire sees a value
                    // published meanwhile (a completer that found us in the cell).
                    state = State::from_bits(
                        self.state
                            .fetch_and(!State::REGISTERING.bits(), Ordering::AcqRel),
                    )
                    .without_registering();
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

    /// Where operation `token` stands.
    ///
    /// # Panics
    ///
    /// Panics if `token` is stale; [`try_status`](Self::try_status) answers `None` instead.
    pub fn status(&self, token: Token) -> Status {
        let state = self.load(Ordering::Acquire);
        if state.token() != token {
            stale_token(state.token(), token, "status");
        }
        state.status()
    }

    /// Where operation `token` stands, or `None` if `token` is not the current
    /// operation's. Never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::{ResetCore, Status};
    ///
    /// let core = ResetCore::new();
    /// let token = core.token();
    /// assert_eq!(core.try_status(token), Some(Status::Pending));
    /// core.complete(token, 1).unwrap();
    /// assert_eq!(core.try_status(token), Some(Status::Ready));
    /// core.reset();
    /// assert_eq!(core.try_status(token), None); // stale
    /// ```
    pub fn try_status(&self, token: Token) -> Option<Status> {
        let state = self.load(Ordering::Acquire);
        (state.token() == token).then(|| state.status())
    }

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
                // ORDERING: Release, as `end_claim`; Acquire on failure, as the load.
                match self.state.compare_exchange_weak(
                    state.bits(),
                    State::fresh(next).bits(),
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

    /// Writes the value.
    ///
    /// # Safety
    ///
    /// The caller holds `COMPLETING`, and the value cell is empty.
    #[inline]
    unsafe fn write_value(&self, value: T) {
        // SAFETY: as this function's contract: the cell is ours and empty.
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
    }

    /// Moves the value out.
    ///
    /// # Safety
    ///
    /// The caller owns the complete value: it holds `TAKING` or `RESETTING` over a
    /// complete state, or `&mut self` with `COMPLETE` set.
    #[inline]
    unsafe fn take_value(&self) -> T {
        // SAFETY: as this function's contract.
        self.value
            .with(|cell| unsafe { (*cell).assume_init_read() })
    }

    /// Takes the waker out of its cell.
    ///
    /// # Safety
    ///
    /// The caller owns the waker cell: it holds `WAKING`, `REGISTERING` or `RESETTING`,
    /// or cleared `WAKER` while nobody else was in the cell.
    #[inline]
    unsafe fn take_waker(&self) -> Option<Waker> {
        // SAFETY: as this function's contract.
        self.waker.with_mut(|cell| unsafe { (*cell).take() })
    }

    /// Stores `waker` in the empty waker cell.
    ///
    /// # Safety
    ///
    /// The caller holds `REGISTERING`, and `WAKER` is clear.
    #[inline]
    unsafe fn store_waker(&self, waker: Waker) {
        // SAFETY: as this function's contract.
        self.waker.with_mut(|cell| unsafe { *cell = Some(waker) });
    }

    /// Whether the stored waker wakes the same task as `waker`.
    ///
    /// # Safety
    ///
    /// The caller holds `REGISTERING`.
    #[inline]
    unsafe fn waker_will_wake(&self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        self.waker
            .with(|cell| unsafe { (*cell).as_ref() }.is_some_and(|w| w.will_wake(waker)))
    }
}

impl<T: Send> Source<T> for ResetCore<T> {
    #[inline]
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        ResetCore::poll_result(self, token, cx)
    }

    #[inline]
    fn status(&self, token: Token) -> Status {
        ResetCore::status(self, token)
    }

    #[inline]
    fn try_status(&self, token: Token) -> Option<Status> {
        ResetCore::try_status(self, token)
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn already_taken(token: Token) -> ! {
    panic!(
        "ResetCore::poll_result: the result of token {token:?} was already taken; \
         a ValueTask polled after completion, or two tasks share one token"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn two_pollers(token: Token) -> ! {
    panic!(
        "ResetCore::poll_result: token {token:?} is being polled from two places at once; \
         one operation has one consumer"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn stale_token(current: Token, token: Token, method: &str) -> ! {
    let (token, current_generation) = (token.generation(), current.generation());
    if Token::new(token).is_older_than(current) {
        panic!(
            "ResetCore::{method}: stale token: generation {token} is older than the core's \
             current generation {current_generation}; the core was reset after this token \
             was handed out (the producer started the next operation while a task still \
             held this one)"
        )
    }
    panic!(
        "ResetCore::{method}: stale token: generation {token} is newer than the core's \
         current generation {current_generation}; this core never handed it out (a token \
         of another core, or made with Token::new)"
    )
}

impl<T> Default for ResetCore<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for ResetCore<T> {
    fn drop(&mut self) {
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
        let state = self.load(Ordering::Acquire);
        f.debug_struct("ResetCore")
            .field("generation", &state.token().generation())
            .field("status", &state.status())
            .field("waiting", &state.has_waker())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
