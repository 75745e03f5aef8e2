//! [`ResetCore`]: a versioned, reusable, single-result completion core.

use std::fmt;
use std::mem::MaybeUninit;
use std::task::{Context, Poll, Waker};

use crate::source::{Source, Status, Token};
use crate::sync::{AtomicU64, Ordering, UnsafeCell, spin};

// The state word: the generation in the high 32 bits, these flags in the low bits.
// A flag that names a cell says who may touch that cell while it is set; a cell is
// touched by nobody else. `reset` waits for the transient flags to clear, and while it
// holds `RESETTING` nobody else writes the word, so it may finish with a plain store.

/// A completer owns the value cell and is writing it.
const COMPLETING: u64 = 1 << 0;
/// The value cell holds this generation's value, not yet taken; nobody writes the cell.
const COMPLETE: u64 = 1 << 1;
/// A poller owns the value cell and is moving the value out. Unless a completer holds
/// `WAKING`, nobody else writes the word while it is set, and a plain store ends it.
const TAKING: u64 = 1 << 2;
/// The value was taken; the value cell is empty.
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

/// Flags held only for the few instructions of a cell access; no user code runs while
/// one is set, so waiting for them to clear is short.
const TRANSIENT: u64 = COMPLETING | TAKING | REGISTERING | WAKING | RESETTING;
const GENERATION_SHIFT: u32 = 32;

#[inline]
fn generation(state: u64) -> u32 {
    (state >> GENERATION_SHIFT) as u32
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
/// is stale: `complete` gives its value back, `poll_result` and `status` panic. The
/// core takes no lock: one atomic word holds the generation and the state, and the
/// value and the waker live in cells that the state hands to one thread at a time.
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
            state: AtomicU64::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: UnsafeCell::new(None),
        }
    }

    /// A core at generation 0, with no operation completed.
    #[cfg(valuetask_loom)]
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: UnsafeCell::new(None),
        }
    }

    /// The token of the current operation.
    #[inline]
    pub fn token(&self) -> Token {
        Token::new(generation(self.state.load(Ordering::Acquire)))
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
    pub fn complete(&self, token: Token, value: T) -> Result<(), T> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if generation(state) != token.generation()
                || state & (COMPLETING | COMPLETE | TAKING | CONSUMED | RESETTING) != 0
            {
                return Err(value);
            }
            match self.state.compare_exchange_weak(
                state,
                state | COMPLETING,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        // SAFETY: `COMPLETING` is ours, so we own the value cell, and it is empty: the
        // generation has neither `COMPLETE` nor `CONSUMED`, and reset left it empty.
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
        state |= COMPLETING;
        loop {
            // Take the waker to wake it, unless a poller is in the waker cell: then it
            // sees `COMPLETE` when it leaves and takes the value itself.
            let take_waker = state & WAKER != 0 && state & REGISTERING == 0;
            let next = if take_waker {
                (state & !(COMPLETING | WAKER)) | COMPLETE | WAKING
            } else {
                (state & !COMPLETING) | COMPLETE
            };
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) if take_waker => break,
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
        // SAFETY: we cleared `WAKER` and hold `WAKING`: the waker cell and its waker are ours.
        let waker = self.waker.with_mut(|cell| unsafe { (*cell).take() });
        self.state.fetch_and(!WAKING, Ordering::Release);
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
    pub fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            check_token(state, token, "poll_result");
            if state & (TAKING | CONSUMED) != 0 {
                panic!(
                    "ResetCore::poll_result: the result of token {token:?} was already taken; \
                     a ValueTask polled after completion, or two tasks share one token"
                );
            }
            if state & COMPLETE != 0 {
                if state & REGISTERING != 0 {
                    two_pollers(token);
                }
                // A waker left in the cell comes out with the value, unless the
                // completer is taking it out to wake it (`WAKING`; then `WAKER` is clear).
                let taking = (state & !(COMPLETE | WAKER)) | TAKING;
                if let Err(actual) = self.state.compare_exchange_weak(
                    state,
                    taking,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    state = actual;
                    continue;
                }
                // SAFETY: `TAKING` is ours and `COMPLETE` was set: the value cell holds
                // an initialized value that nobody else touches until we clear `TAKING`.
                let value = self
                    .value
                    .with(|cell| unsafe { (*cell).assume_init_read() });
                let waker = if state & WAKER != 0 {
                    // SAFETY: we cleared `WAKER` while no poller or completer was in the
                    // waker cell, so its waker is ours.
                    self.waker.with_mut(|cell| unsafe { (*cell).take() })
                } else {
                    None
                };
                if taking & WAKING == 0 {
                    // Nobody else writes the word while we hold `TAKING` and no other
                    // thread is in a cell: completers and pollers back off, `reset`
                    // waits. A plain store ends it.
                    self.state
                        .store((taking & !TAKING) | CONSUMED, Ordering::Release);
                } else {
                    // The completer clears `WAKING` when it is done with the waker.
                    self.state.fetch_xor(TAKING | CONSUMED, Ordering::Release);
                }
                drop(waker);
                return Poll::Ready(value);
            }
            if state & REGISTERING != 0 {
                two_pollers(token);
            }
            if state & WAKER != 0 {
                if let Err(actual) = self.state.compare_exchange_weak(
                    state,
                    state | REGISTERING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    state = actual;
                    continue;
                }
                // SAFETY: `REGISTERING` is ours and `WAKER` is set: the cell holds a waker
                // nobody else touches until we clear `REGISTERING`.
                let same = self.waker.with(|cell| unsafe {
                    (*cell).as_ref().is_some_and(|w| w.will_wake(cx.waker()))
                });
                if same {
                    state = self.state.fetch_and(!REGISTERING, Ordering::AcqRel) & !REGISTERING;
                    if state & COMPLETE == 0 {
                        return Poll::Pending;
                    }
                    continue;
                }
                // A new waker: take the old one out, then store the new one as on a
                // first poll, cloning it outside any cell access.
                // SAFETY: as above, the waker cell is ours.
                let old = self.waker.with_mut(|cell| unsafe { (*cell).take() });
                state = self.state.fetch_xor(REGISTERING | WAKER, Ordering::AcqRel)
                    ^ (REGISTERING | WAKER);
                drop(old);
                continue;
            }
            let waker = cx.waker().clone();
            if let Err(actual) = self.state.compare_exchange_weak(
                state,
                state | REGISTERING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                state = actual;
                continue;
            }
            // SAFETY: `REGISTERING` is ours and `WAKER` is clear: the waker cell is empty
            // and nobody else touches it until we clear `REGISTERING`.
            self.waker.with_mut(|cell| unsafe { *cell = Some(waker) });
            state =
                self.state.fetch_xor(REGISTERING | WAKER, Ordering::AcqRel) ^ (REGISTERING | WAKER);
            if state & COMPLETE == 0 {
                return Poll::Pending;
            }
            // Completed while we were in the waker cell: the completer left the waker to
            // us; the next turn takes the value and drops the waker.
        }
    }

    /// Where operation `token` stands.
    ///
    /// # Panics
    ///
    /// Panics if `token` is stale.
    pub fn status(&self, token: Token) -> Status {
        let state = self.state.load(Ordering::Acquire);
        check_token(state, token, "status");
        if state & COMPLETE != 0 {
            Status::Ready
        } else if state & (TAKING | CONSUMED) != 0 {
            Status::Consumed
        } else {
            Status::Pending
        }
    }

    /// Moves to the next operation and returns its token.
    ///
    /// A value that was completed but not taken is dropped, and a task still waiting on
    /// the old operation is woken (its next poll panics on the stale token rather than
    /// waiting forever). If another thread is in the middle of copying a value or a
    /// waker in or out, `reset` spins for those few instructions; it takes no lock and
    /// runs no user code while it waits.
    pub fn reset(&self) -> Token {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & TRANSIENT != 0 {
                spin();
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            let next = generation(state).wrapping_add(1);
            if state & (COMPLETE | WAKER) == 0 {
                // Nothing to drop or wake: move to the next generation in one step.
                match self.state.compare_exchange_weak(
                    state,
                    u64::from(next) << GENERATION_SHIFT,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Token::new(next),
                    Err(actual) => state = actual,
                }
                continue;
            }
            match self.state.compare_exchange_weak(
                state,
                state | RESETTING,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        let value = (state & COMPLETE != 0).then(|| {
            // SAFETY: `RESETTING` is ours and `COMPLETE` was set: the value is
            // initialized and ours.
            self.value
                .with(|cell| unsafe { (*cell).assume_init_read() })
        });
        let waker = if state & WAKER != 0 {
            // SAFETY: `RESETTING` is ours: so is the waker cell.
            self.waker.with_mut(|cell| unsafe { (*cell).take() })
        } else {
            None
        };
        let next = generation(state).wrapping_add(1);
        // Nobody writes the word while `RESETTING` is set, so a store is enough.
        self.state
            .store(u64::from(next) << GENERATION_SHIFT, Ordering::Release);
        if let Some(waker) = waker {
            waker.wake();
        }
        drop(value);
        Token::new(next)
    }
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

#[inline]
#[track_caller]
fn check_token(state: u64, token: Token, method: &str) {
    if generation(state) != token.generation() || state & RESETTING != 0 {
        stale_token(state, token, method);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn stale_token(state: u64, token: Token, method: &str) -> ! {
    panic!(
        "ResetCore::{method}: stale token (generation {}, current generation {}): the core \
         was reset after this token was handed out; a ValueTask probably outlived its \
         operation",
        token.generation(),
        generation(state),
    )
}

impl<T> Default for ResetCore<T> {
    fn default() -> Self {
        Self::new()
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
}

impl<T> Drop for ResetCore<T> {
    fn drop(&mut self) {
        let state = self.state.load(Ordering::Acquire);
        if state & COMPLETE != 0 {
            // SAFETY: `&mut self`: no other access; `COMPLETE` means the value is initialized.
            self.value
                .with_mut(|cell| unsafe { (*cell).assume_init_drop() });
        }
        // The waker cell's `Option` drops itself.
    }
}

impl<T> fmt::Debug for ResetCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Ordering::Acquire);
        let status = if state & (COMPLETE | COMPLETING) == COMPLETE {
            Status::Ready
        } else if state & (TAKING | CONSUMED) != 0 {
            Status::Consumed
        } else {
            Status::Pending
        };
        f.debug_struct("ResetCore")
            .field("generation", &generation(state))
            .field("status", &status)
            .field("waiting", &(state & WAKER != 0))
            .finish_non_exhaustive()
    }
}
