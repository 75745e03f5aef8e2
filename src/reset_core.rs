//! [`ResetCore`]: a versioned, reusable, single-result completion core, and its whole
//! protocol in this one file: the state word, its diagram, the departure rule and its
//! table, the named transitions and every atomic step.
//!
//! # The protocol
//!
//! One `AtomicU64` holds the generation (the [`Token`]) in its high 32 bits and the
//! flags of [`CoreState`] in its low bits. Two cells hang off it: the value cell and the
//! waker cell. The sides are a completer (`complete`, any thread, any number of them),
//! the task (a [`ValueTask::from_source`](crate::ValueTask::from_source): its polls, and
//! its `Source::release` when it goes), and the owner (`reset`, `try_reset`).
//!
//! ```text
//!   generation g                                           side, and the method of
//!   ------------                                           CoreState that names the step
//!                                                          ---------------------------
//!   EMPTY ------------------------------------> WAITING    task: a poll that finds no
//!     |                                  (WAKER, TASK)           value stores its waker
//!     |                                      |     ^             (`waiting`)
//!     | complete: value in                   |     |       task: a later poll swaps
//!     |                                      |     +----         the waker (`waiting`)
//!     v                                      |
//!   COMPLETE <-------------------------------+             completer: value in, the
//!     |          complete: value in, waker out, woken                 waker woken
//!     |                                                               (`completed`)
//!     | poll: value out (and the waker, if any)            task (`consumed`)
//!     v
//!   CONSUMED (TASK)                                        (final for generation g)
//!
//!   EMPTY, WAITING, COMPLETE --> LEFT (TASK)               task: dropped before its
//!                                                          result; value and waker go
//!                                                          (`left`)
//!   any state --> EMPTY of generation g + 1                owner: reset / try_reset;
//!                                                          drops a value, wakes a waker
//!                                                          (`next_generation`)
//!
//!   TASK is set by a task's first poll (`Source::poll_first`); a second task's first
//!   poll finds it (or LEFT) and panics: one task per token.
//!
//!   Every arrow that moves a value or a waker passes through CLAIMED (`claimed`), held
//!   by the side that moves it and ended by its plain store; the others (reset of a word
//!   whose cells are empty, a task leaving with nothing in the cells) are one
//!   compare-and-swap.
//! ```
//!
//! Every step that touches a cell first takes the `CLAIMED` flag, with a
//! compare-and-swap from a state it has checked, in which `CLAIMED` is clear. Every
//! other change of the word is a compare-and-swap from a checked state with `CLAIMED`
//! clear as well. So while `CLAIMED` is set, no compare-and-swap but the holder's can
//! succeed, nothing else writes the word, and the holder ends its claim with one plain
//! `Release` store of the state its step leads to: that store cannot overwrite anybody's
//! change, because there is none. A claim holds no user code (a waker is cloned before
//! it, woken and dropped after it; a value is dropped after it), only a copy in or out
//! of a cell.
//!
//! # Nobody waits unboundedly on a claim
//!
//! A side that finds the word claimed (`poll`, `complete`, `reset`, a task's release)
//! waits for the claim's end in `wait_unclaimed`: a few spins ([`SPINS_BEFORE_YIELD`]),
//! long enough for the copy a running holder makes, then it yields its time slice
//! (`std::thread::yield_now`) between looks, so a holder that was preempted inside its
//! claim gets a core back instead of being spun against. Under loom the wait is a
//! condition variable that each claim's end signals (loom cannot bound two threads
//! yielding to each other while they wait on a third). `examples/oversubscribed.rs` measures the worst single `poll`
//! with 64 threads on 2 cores (`docs/oversubscribed.md`).
//!
//! # The departure rule
//!
//! **A side's last touch of the cells is the step that may let another side own them.**
//! A `ResetCore` is embedded: no protocol step frees it (its owner drops it with
//! `&mut`, after every `&self` call returned), so "the other side is last" here means
//! "the cells pass to the next user": the task, once the completer's value is in; the
//! owner's `reset`, once the task took its value or left; and the next generation's
//! completer and task, once the reset moved the word on. Every cell access is made
//! under a claim and moves the cell's contents into a local; the step that ends the
//! claim (or the one compare-and-swap of a side that touches no cell) is the side's
//! departure, and what follows it runs on locals only (a wake, a drop, a return). The
//! word itself outlives every generation, so a load of it after a departure is sound
//! (`Source::release` of a task that took its value is one such load); nothing writes
//! it on the strength of a state seen before the departure. Under loom a yield follows
//! each departure step (`crate::sync::departed`), so the models run the next
//! generation right there.
//!
//! | side, path | its last touch of shared memory | why nothing follows it |
//! |---|---|---|
//! | completer, `complete` accepted | the `Release` store of `completed` ending its claim | the value was written and the waker moved into a local under the claim; after the store it wakes that local and returns |
//! | completer, `complete` refused | a load (or a failed compare-and-swap) of the word | it never claimed; the value it gives back never entered the cell |
//! | task, poll `Ready` | the `Release` store of `consumed` ending its claim | value and old waker were moved into locals under the claim; the task then returns the value and drops the waker |
//! | task, poll `Pending` | the `Release` store of `waiting` ending its claim | the old waker was moved into a local; the new one belongs to the cell, and only a later claim (the task's next poll, a completer, a reset, a release) touches it |
//! | task, `release` / `release_unpolled` with a value or waker in the cells | the `Release` store of `left` ending its claim | both were moved into locals under the claim and are dropped after it |
//! | task, `release` / `release_unpolled` with empty cells | the compare-and-swap to `left` | no cell was touched; it returns |
//! | task, `release` after taking its value, of a stale token, or of a second task | a load of the word | the word outlives the generation; no cell is touched |
//! | owner, `reset` / `try_reset` with a value or waker in the cells | the `Release` store of `next_generation` ending its claim | the old value and waker were moved into locals; the old value is dropped and the old waker woken after the store |
//! | owner, `reset` / `try_reset` with empty cells | the `AcqRel` compare-and-swap to `next_generation` | no cell was touched; it returns the new token |
//! | owner, `try_reset` refused | a load of the word | nothing changed |
//!
//! The next generation's first cell access is a claim whose `Acquire` compare-and-swap
//! reads the reset's store (or a later one), which is ordered after every older
//! generation's claim: every old access to a cell happens before every new one.
//!
//! Costs on the common round trip (reset, complete, poll the value out): one
//! compare-and-swap each, the claims ended by plain stores; `Source::release` after the
//! value was taken is one load.

use std::fmt;
use std::mem::MaybeUninit;
use std::task::{Context, Poll, Waker};

use crate::source::{Source, Status, Token};
use crate::state_word::state_word;
#[cfg(not(valuetask_loom))]
use crate::sync::spin;
use crate::sync::{AtomicU64, Ordering, UnsafeCell, departed};
use crate::waker_cell::WakerCell;

state_word! {
    /// A snapshot of `ResetCore`'s state word: the generation in the high 32 bits, the
    /// flags in the low bits.
    struct CoreState(u64) with generation {
        /// A side is inside the cells. Only the holder writes the word until it ends the
        /// claim with a plain store; everybody else waits (their compare-and-swaps expect
        /// the flag clear).
        CLAIMED = 0 => is_claimed, with_claimed;
        /// The value cell holds this generation's value, not yet taken.
        COMPLETE = 1 => is_complete, with_complete;
        /// The task took this generation's value; the value cell is empty. A completion
        /// is refused and a poll panics from here on.
        CONSUMED = 2 => is_consumed, with_consumed;
        /// The waker cell holds the waker of the poll that waits for this generation.
        WAKER = 3 => has_waker, with_waker;
        /// A task made its first poll of this generation: a second task is refused.
        TASK = 4 => has_task, with_task;
        /// The task of this generation was dropped before it took the value: the value
        /// cell and the waker cell are empty, a completion is refused, `try_reset` moves
        /// on.
        LEFT = 5 => has_left, with_left;
    }
}

impl CoreState {
    /// Generation 0, nothing happened yet.
    const INITIAL: CoreState = CoreState::from_bits(0);
    /// The generation's task is done with it: it took the value or left.
    const SETTLED: CoreState = CoreState::CONSUMED.union(CoreState::LEFT);
    /// A cell holds something that leaving or resetting must take out.
    const FILLED: CoreState = CoreState::COMPLETE.union(CoreState::WAKER);

    /// Whether a completion for `token` is accepted now (once the word is unclaimed).
    fn accepts_completion(self, token: Token) -> bool {
        self.token() == token && !self.is_complete() && !self.any(Self::SETTLED)
    }

    /// Why `try_reset` refuses to move on from this state, if it does.
    const fn in_flight(self) -> Option<ResetRefused> {
        if self.is_complete() {
            Some(ResetRefused::Unread)
        } else if self.has_waker() || (self.has_task() && !self.any(Self::SETTLED)) {
            Some(ResetRefused::Awaited)
        } else {
            None
        }
    }

    const fn status(self) -> Status {
        if self.is_complete() {
            Status::Ready
        } else if self.any(Self::SETTLED) {
            Status::Consumed
        } else {
            Status::Pending
        }
    }

    // The transitions, named as in the diagram, each after the state it leads to.

    /// Taking a claim: the word as seen, with `CLAIMED`.
    const fn claimed(self) -> Self {
        self.with_claimed()
    }

    /// The end of a completer's claim: the value is in, the waker (if any) taken out.
    const fn completed(self) -> Self {
        self.without(Self::CLAIMED.union(Self::WAKER))
            .with_complete()
    }

    /// The end of a poller's claim that stored its waker.
    const fn waiting(self) -> Self {
        self.without(Self::CLAIMED).with_waker().with_task()
    }

    /// The end of a poller's claim that took the value (and the waker, if any).
    const fn consumed(self) -> Self {
        Self::fresh(self.token()).with_consumed().with_task()
    }

    /// The task went without its value; the cells were emptied.
    const fn left(self) -> Self {
        Self::fresh(self.token()).with_left().with_task()
    }

    /// The first state of the next generation.
    const fn next_generation(self) -> Self {
        Self::fresh(self.token().next())
    }
}

/// How many spin hints a side that found the word claimed makes before it starts
/// yielding its time slice: a claim covers a copy of a value or a waker, which a running
/// holder ends within a few dozen; past that, the holder is most likely preempted.
#[cfg(not(valuetask_loom))]
const SPINS_BEFORE_YIELD: u32 = 32;

/// Who is polling: a task's first poll attaches it to the operation (one task per token).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Poller {
    /// The first poll of a `ValueTask::from_source`.
    NewTask,
    /// A later poll of that task, or a direct [`ResetCore::poll_result`].
    Attached,
}

/// Which task's `Source::release` ends its part in the operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TaskExit {
    /// A task that polled: the operation's task.
    Polled,
    /// A task that never polled: the operation's task only if no other one attached.
    Unpolled,
}

/// Whether a reset may move on from an operation still in flight.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Discard,
    Refuse,
}

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
/// and the state; resetting, completing and taking the value cost one atomic
/// compare-and-swap each.
///
/// # The task of an operation
///
/// The *task* of an operation is the [`ValueTask::from_source`](crate::ValueTask::from_source)
/// built over the core (or over a [`Source`] that forwards to it) with the operation's
/// token. There is one per token: a second task's first poll panics, whichever task was
/// made or polled first, so two tasks never wait for one value. When the task is
/// dropped before taking its result, the core knows it (its [`Source::release`]): any
/// value is dropped, [`is_abandoned`](Self::is_abandoned) turns true, a later
/// [`complete`](Self::complete) returns `Err(value)`, and [`try_reset`](Self::try_reset)
/// moves on.
///
/// Calling [`poll_result`](Self::poll_result) directly, without a `ValueTask`, makes the
/// caller the operation's one consumer: it must not also build a task on the token.
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
    /// The waiting poll's waker, there exactly while `WAKER` is set.
    waker: WakerCell,
    /// Under loom, how a side that found the word claimed waits for the claim's end
    /// (see `wait_unclaimed`).
    #[cfg(valuetask_loom)]
    claim_ended: (crate::sync::Mutex<()>, loom::sync::Condvar),
}

// SAFETY: the value moves between threads (written by a completer, read by a poller),
// so `T: Send` is needed and enough: no `&T` is ever shared. Every cell access is made
// by the one thread that holds the claim.
unsafe impl<T: Send> Send for ResetCore<T> {}
// SAFETY: as for `Send`: `&ResetCore` gives no access to a `&T`, only moves of `T`
// between threads, each under a claim.
unsafe impl<T: Send> Sync for ResetCore<T> {}

impl<T> ResetCore<T> {
    /// A core at generation 0, with no operation completed.
    #[cfg(not(valuetask_loom))]
    pub const fn new() -> Self {
        Self {
            state: AtomicU64::new(CoreState::INITIAL.bits()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: WakerCell::new(),
        }
    }

    /// A core at generation 0, with no operation completed. (Loom's atomics and cells
    /// have no `const` constructor.)
    #[cfg(valuetask_loom)]
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(CoreState::INITIAL.bits()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: WakerCell::new(),
            claim_ended: (crate::sync::Mutex::new(()), loom::sync::Condvar::new()),
        }
    }

    /// The token of the current operation.
    #[inline]
    pub fn token(&self) -> Token {
        self.load().token()
    }

    /// Stores the result of operation `token` and wakes the task waiting for it.
    ///
    /// Returns `Err(value)`, giving the value back, when `token` is stale, when the
    /// operation was already completed, or when its task was dropped (see
    /// [`is_abandoned`](Self::is_abandoned)): nobody would read the value.
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
        let mut state = self.load();
        loop {
            if !state.accepts_completion(token) {
                return Err(value);
            }
            if state.is_claimed() {
                state = self.wait_unclaimed();
                continue;
            }
            // ORDERING: Acquire pairs with the step that moved the word to the state we
            // claim over: a poller's Release end of its claim (the waker we take out), or
            // the reset that began this generation (its Release end of claim or its
            // AcqRel compare-and-swap, which carries the last generation's take of the
            // value cell we fill). A poller's take never precedes us directly: after it,
            // the generation refuses completions.
            match self.cas(state, state.claimed(), Ordering::Acquire) {
                Ok(()) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: the claim is ours and the state accepted a completion: no value of
        // this generation was written, so the cell is empty (a reset or a take emptied it).
        unsafe { self.write_value(value) };
        // SAFETY: the claim is ours and `WAKER` says the cell holds the poller's waker.
        let waker = state.has_waker().then(|| unsafe { self.take_waker() });
        // ORDERING: Release publishes the value to the Acquire claim of the poll that
        // takes it (or of the reset or leaving task that drops it).
        self.end_claim(state.completed(), Ordering::Release);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Polls for the result of operation `token`: `Ready` with the value once it was
    /// completed, otherwise `Pending` with the context's waker stored (replacing the one
    /// stored before).
    ///
    /// This is the poll of the operation's one consumer (see [the task of an
    /// operation](Self#the-task-of-an-operation)); a [`ValueTask::from_source`](crate::ValueTask::from_source)
    /// calls it for its later polls, after its first poll attached it to the operation.
    ///
    /// # Panics
    ///
    /// Panics if `token` is stale, if the result was already taken, or if the
    /// operation's task was dropped.
    #[inline]
    pub fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        self.poll_as(token, cx, Poller::Attached)
    }

    #[inline(always)]
    fn poll_as(&self, token: Token, cx: &mut Context<'_>, poller: Poller) -> Poll<T> {
        let mut state = self.load();
        // A clone of the context's waker, made outside any claim (it runs executor code).
        let mut waker: Option<Waker> = None;
        loop {
            check_poll(state, token, poller);
            if state.is_claimed() {
                state = self.wait_unclaimed();
                continue;
            }
            if state.is_complete() {
                // ORDERING: Acquire pairs with the completer's Release end of its claim,
                // so the value it wrote is seen.
                if let Err(now) = self.cas(state, state.claimed(), Ordering::Acquire) {
                    state = now;
                    continue;
                }
                // SAFETY: the claim is ours and `COMPLETE` says the cell holds the value.
                let value = unsafe { self.take_value() };
                // SAFETY: the claim is ours and `WAKER` says the cell holds a waker.
                let old = state.has_waker().then(|| unsafe { self.take_waker() });
                // ORDERING: Release: our read of the value cell is done before the reset
                // that follows (its Acquire compare-and-swap) hands the cell to the next
                // generation's completer.
                self.end_claim(state.consumed(), Ordering::Release);
                drop(old);
                return Poll::Ready(value);
            }
            let Some(new) = waker.take() else {
                waker = Some(cx.waker().clone());
                continue;
            };
            // ORDERING: Acquire pairs with the step before ours, which left the waker
            // cell as we find it: an earlier poll's Release end of its claim (the waker we
            // replace), or the reset that began this generation (its Release end of claim
            // or AcqRel compare-and-swap). Not a completer's: after it, a poll is `Ready`.
            if let Err(now) = self.cas(state, state.claimed(), Ordering::Acquire) {
                state = now;
                waker = Some(new);
                continue;
            }
            // SAFETY: the claim is ours and `WAKER` says the cell holds a waker.
            let old = state.has_waker().then(|| unsafe { self.take_waker() });
            // SAFETY: the claim is ours and the cell is empty now.
            unsafe { self.store_waker(new) };
            // ORDERING: Release publishes the waker to the completer's (or reset's)
            // Acquire claim that takes it out.
            self.end_claim(state.waiting(), Ordering::Release);
            drop(old);
            return Poll::Pending;
        }
    }

    /// Where operation `token` stands.
    ///
    /// # Panics
    ///
    /// Panics if `token` is stale; [`try_status`](Self::try_status) answers `None` instead.
    pub fn status(&self, token: Token) -> Status {
        let state = self.load();
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
        let state = self.load();
        (state.token() == token).then(|| state.status())
    }

    /// Whether nobody will read a completion of operation `token`: its task was dropped
    /// before taking the result, or `token` is stale. Then [`complete`](Self::complete)
    /// gives its value back; a producer can ask first and skip the work. Never panics.
    ///
    /// The twin of [`Completer::is_cancelled`](crate::Completer::is_cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::{ResetCore, ValueTask};
    ///
    /// let core = ResetCore::new();
    /// let token = core.token();
    /// let task = ValueTask::from_source(&core, token);
    /// assert!(!core.is_abandoned(token));
    /// drop(task); // the consumer gave up
    /// assert!(core.is_abandoned(token));
    /// assert_eq!(core.complete(token, 7), Err(7));
    /// assert!(core.try_reset().is_ok());
    /// ```
    pub fn is_abandoned(&self, token: Token) -> bool {
        let state = self.load();
        state.token() != token || state.has_left()
    }

    /// Moves to the next operation and returns its token.
    ///
    /// A value that was completed but not taken is dropped, and a task still waiting on
    /// the old operation is woken (its next poll panics on the stale token rather than
    /// waiting forever: see [`try_reset`](Self::try_reset) to refuse instead). Two resets
    /// at once hand out two different tokens. If another thread is in the middle of
    /// copying a value or a waker in or out, `reset` waits for those few instructions
    /// (a short spin, then yielding its time slice to that thread); no user code runs
    /// while it waits.
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
        match self.reset_with(InFlight::Discard) {
            Ok(token) => token,
            Err(_) => unreachable!("a reset that discards never refuses"),
        }
    }

    /// Moves to the next operation, like [`reset`](Self::reset), unless the current one is
    /// still in flight: its task waits for it ([`ResetRefused::Awaited`]) or its value was
    /// not read ([`ResetRefused::Unread`]). Then nothing changes.
    ///
    /// An operation whose task was dropped is not in flight, and neither is one that no
    /// task ever polled and nobody completed: the core cannot know whether a task for it
    /// exists.
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
        self.reset_with(InFlight::Refuse)
    }

    #[inline]
    fn reset_with(&self, in_flight: InFlight) -> Result<Token, ResetRefused> {
        let mut state = self.load();
        loop {
            if state.is_claimed() {
                state = self.wait_unclaimed();
                continue;
            }
            if in_flight == InFlight::Refuse
                && let Some(refused) = state.in_flight()
            {
                return Err(refused);
            }
            let next = state.next_generation();
            if state.any(CoreState::FILLED) {
                // ORDERING: Acquire pairs with the Release end of the claim that filled a
                // cell (the completer's, the poller's), so we take out what it wrote.
                match self.cas(state, state.claimed(), Ordering::Acquire) {
                    Ok(()) => break,
                    Err(now) => state = now,
                }
                continue;
            }
            // ORDERING: AcqRel: Acquire pairs with the Release end of the last claim of
            // this generation (the poller's take), Release hands that on to the next
            // generation's first Acquire claim, so the old accesses to the cells come
            // before the new ones.
            match self.cas(state, next, Ordering::AcqRel) {
                Ok(()) => {
                    departed();
                    return Ok(next.token());
                }
                Err(now) => state = now,
            }
        }
        // SAFETY: the claim is ours, taken over `state`.
        let (value, waker) = unsafe { self.empty_cells(state) };
        let next = state.next_generation();
        // ORDERING: Release: the cells are empty before the next generation's Acquire
        // claims (its completer, its poller) use them.
        self.end_claim(next, Ordering::Release);
        // User code (the value's drop, the wake) runs after the claim ended.
        drop(value);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(next.token())
    }

    /// The task of `token` is gone without its result (`Source::release`): empties the
    /// cells and sets `LEFT`, unless it took its result, the token is stale, or (for a
    /// task that never polled) another consumer is attached.
    fn leave(&self, token: Token, exit: TaskExit) {
        let mut state = self.load();
        loop {
            if state.token() != token || state.any(CoreState::SETTLED) {
                return;
            }
            if exit == TaskExit::Unpolled && state.any(CoreState::TASK.union(CoreState::WAKER)) {
                // Another task polled (or a direct poller waits): this one was a second
                // task that never took part.
                return;
            }
            if state.is_claimed() {
                state = self.wait_unclaimed();
                continue;
            }
            if !state.any(CoreState::FILLED) {
                // No cell to touch: only the flag changes, and nothing is read under it.
                match self.cas(state, state.left(), Ordering::Relaxed) {
                    Ok(()) => {
                        departed();
                        return;
                    }
                    Err(now) => state = now,
                }
                continue;
            }
            // ORDERING: Acquire pairs with the Release end of the claim that filled a
            // cell (the completer's, our own poll's), so we take out what it wrote.
            match self.cas(state, state.claimed(), Ordering::Acquire) {
                Ok(()) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: the claim is ours, taken over `state`.
        let (value, waker) = unsafe { self.empty_cells(state) };
        // ORDERING: Release: the cells are empty before the reset's Acquire claim.
        self.end_claim(state.left(), Ordering::Release);
        drop(value);
        drop(waker);
    }

    // The atomic steps' building blocks. Each takes its ordering from its call site,
    // where the comment says what it pairs with.

    /// The word, for a check that a compare-and-swap then confirms (or a query).
    #[inline]
    fn load(&self) -> CoreState {
        CoreState::from_bits(self.state.load(Ordering::Relaxed))
    }

    /// Waits until nobody holds a claim; the state then. The holder makes only a copy
    /// into or out of a cell, so the first [`SPINS_BEFORE_YIELD`] looks are a spin hint
    /// apart; after them the holder was most likely preempted inside its claim, and each
    /// look follows a yield of our time slice, which gives a core back to it on a machine
    /// with more runnable threads than cores.
    #[cfg(not(valuetask_loom))]
    #[cold]
    fn wait_unclaimed(&self) -> CoreState {
        let mut spins = 0;
        loop {
            if spins < SPINS_BEFORE_YIELD {
                spins += 1;
                spin();
            } else {
                yield_to_holder();
            }
            let state = self.load();
            if !state.is_claimed() {
                return state;
            }
        }
    }

    /// Waits until nobody holds a claim; the state then. Under loom the wait is on a
    /// condition variable that every end of a claim signals. The loop of yields the real
    /// build makes was tried under loom and fails: two sides waiting on a third's claim
    /// each yield to the other for ever (`core_two_tasks` exceeds loom's branch bound),
    /// so loom needs a wait it can see as blocked. The protocol's atomic steps are the
    /// same; only the passing of time is modelled differently.
    #[cfg(valuetask_loom)]
    fn wait_unclaimed(&self) -> CoreState {
        let (lock, ended) = &self.claim_ended;
        let mut held = lock.lock();
        loop {
            let state = self.load();
            if !state.is_claimed() {
                return state;
            }
            held = ended
                .wait(held)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// A compare-and-swap from `seen` (checked by the caller, `CLAIMED` clear) to `to`;
    /// on failure, the state now.
    #[inline]
    fn cas(&self, seen: CoreState, to: CoreState, success: Ordering) -> Result<(), CoreState> {
        debug_assert!(
            !seen.is_claimed(),
            "a compare-and-swap from a claimed state"
        );
        self.state
            .compare_exchange(seen.bits(), to.bits(), success, Ordering::Relaxed)
            .map(drop)
            .map_err(CoreState::from_bits)
    }

    /// Ends the caller's claim with a plain store: while `CLAIMED` is set every other
    /// side's compare-and-swap fails, so nobody wrote the word since the claim was taken.
    #[inline]
    fn end_claim(&self, to: CoreState, order: Ordering) {
        debug_assert!(!to.is_claimed());
        self.state.store(to.bits(), order);
        #[cfg(valuetask_loom)]
        {
            let (lock, ended) = &self.claim_ended;
            let _held = lock.lock();
            ended.notify_all();
        }
        // The claim's end is a departure: another side may own the cells now.
        departed();
    }

    // The cells, each access named, with the claim it needs.

    /// Writes the value.
    ///
    /// # Safety
    ///
    /// The caller holds the claim, and the value cell is empty.
    #[inline]
    unsafe fn write_value(&self, value: T) {
        // SAFETY: as this function's contract: the cell is ours and empty.
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
    }

    /// Moves the value out.
    ///
    /// # Safety
    ///
    /// The caller holds the claim over a `COMPLETE` state (or `&mut self` with
    /// `COMPLETE` set): the cell holds a value nobody else reads.
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
    /// The caller holds the claim (or `&mut self`), over a state with `WAKER`.
    #[inline]
    unsafe fn take_waker(&self) -> Waker {
        // SAFETY: as this function's contract: `WAKER` says the cell holds a waker, and
        // the claim keeps every other side out of it.
        unsafe { self.waker.take() }
    }

    /// Takes out whatever `state` says the cells hold: the untaken value of `COMPLETE`,
    /// the waker of `WAKER`. The caller drops them after its claim ended.
    ///
    /// # Safety
    ///
    /// The caller holds the claim it took over `state` (or `&mut self`, `state` loaded).
    #[inline]
    unsafe fn empty_cells(&self, state: CoreState) -> (Option<T>, Option<Waker>) {
        // SAFETY: the claim is ours and `COMPLETE` says the cell holds an untaken value.
        let value = state.is_complete().then(|| unsafe { self.take_value() });
        // SAFETY: the claim is ours and `WAKER` says the cell holds a waker.
        let waker = state.has_waker().then(|| unsafe { self.take_waker() });
        (value, waker)
    }

    /// Stores `waker` in the waker cell.
    ///
    /// # Safety
    ///
    /// The caller holds the claim, and the waker cell is empty.
    #[inline]
    unsafe fn store_waker(&self, waker: Waker) {
        // SAFETY: as this function's contract: the claim keeps every other side out of
        // the cell.
        unsafe { self.waker.put(waker) };
    }
}

/// Gives the time slice to the thread holding a claim.
#[cfg(not(valuetask_loom))]
#[cold]
fn yield_to_holder() {
    std::thread::yield_now();
}

/// The checks of a poll, before it looks at the value: misuse panics here.
#[inline]
fn check_poll(state: CoreState, token: Token, poller: Poller) {
    if state.token() != token {
        stale_token(state.token(), token, "poll_result");
    }
    if poller == Poller::NewTask && state.any(CoreState::TASK.union(CoreState::LEFT)) {
        second_task(token);
    }
    if state.has_left() {
        task_left(token);
    }
    if state.is_consumed() {
        already_taken(token);
    }
}

impl<T> Default for ResetCore<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for ResetCore<T> {
    fn drop(&mut self) {
        // `&mut self`: every other user is done, and synchronized with us by whatever
        // handed us the core.
        let state = self.load();
        // SAFETY: `&mut self`: no other access; `COMPLETE` means the value is initialized
        // and unread, `WAKER` that the waker cell holds a waker.
        drop(unsafe { self.empty_cells(state) });
    }
}

impl<T> fmt::Debug for ResetCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.load();
        f.debug_struct("ResetCore")
            .field("generation", &state.token().generation())
            .field("status", &state.status())
            .field("waiting", &state.has_waker())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<T: Send> Source<T> for ResetCore<T> {
    #[inline]
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        self.poll_as(token, cx, Poller::Attached)
    }

    /// Attaches the task to the operation: a second task's first poll panics.
    #[inline]
    fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        self.poll_as(token, cx, Poller::NewTask)
    }

    #[inline]
    fn status(&self, token: Token) -> Status {
        ResetCore::status(self, token)
    }

    #[inline]
    fn try_status(&self, token: Token) -> Option<Status> {
        ResetCore::try_status(self, token)
    }

    /// After the result was taken, one load; before, the task is recorded as gone.
    #[inline]
    fn release(&self, token: Token) {
        self.leave(token, TaskExit::Polled);
    }

    #[inline]
    fn release_unpolled(&self, token: Token) {
        self.leave(token, TaskExit::Unpolled);
    }
}

/// Why [`ResetCore::try_reset`] refused to move to the next operation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ResetRefused {
    /// The operation's task (or a direct poller) polled it and waits for its result.
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

// The panics of a misused core: each names the token, and a stale one says truthfully
// whether it is older or newer than the current one.

#[cold]
#[inline(never)]
#[track_caller]
fn already_taken(token: Token) -> ! {
    panic!(
        "ResetCore::poll_result: the result of token {token:?} was already taken; \
         a ValueTask polled after completion, or two consumers share one token"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn second_task(token: Token) -> ! {
    panic!(
        "ResetCore: one task per token: a second ValueTask was polled for token {token:?}, \
         which already has its task; build one task per operation"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn task_left(token: Token) -> ! {
    panic!(
        "ResetCore::poll_result: the task of token {token:?} was dropped; \
         the operation has no consumer any more (one task per token)"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn stale_token(current: Token, token: Token, method: &str) -> ! {
    let (generation, current_generation) = (token.generation(), current.generation());
    if token.is_older_than(current) {
        panic!(
            "ResetCore::{method}: stale token: generation {generation} is older than the \
             core's current generation {current_generation}; the core was reset after this \
             token was handed out (the producer started the next operation while a task \
             still held this one)"
        )
    }
    panic!(
        "ResetCore::{method}: stale token: generation {generation} is newer than the core's \
         current generation {current_generation}; this core never handed it out (a token \
         of another core, or made with Token::new)"
    )
}
