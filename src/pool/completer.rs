//! [`Completer`], the producer half of a rented slot, and [`Abandoned`], what its drop
//! resolves the task to.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::slot::CompleterHalf;
use super::storage::Storage;

/// Makes the type that holds it invariant in `R`.
type Invariant<R> = PhantomData<fn(R) -> R>;

/// The producer half of a rented slot: completes its [`ValueTask`](crate::ValueTask) once.
///
/// Dropping it without completing resolves the task to `Err(E::from(Abandoned))`, so a
/// waiter never hangs on a producer that gave up or panicked.
///
/// # Variance
///
/// A completer is invariant in `T` and `E`: it writes into a slot that its task reads, so
/// a `Completer<&'static str>` cannot become a `Completer<&'a str>` (which could then
/// store a short-lived reference for a task that expects a `'static` one):
///
/// ```compile_fail
/// fn shorten<'a>(completer: valuetask::Completer<&'static str>) -> valuetask::Completer<&'a str> {
///     completer
/// }
/// ```
#[must_use = "dropping a Completer resolves its task to Err(Abandoned)"]
pub struct Completer<T, E = Abandoned> {
    /// Taken out once, by `complete` or the drop.
    half: ManuallyDrop<CompleterHalf<T, E>>,
    /// Invariant in `T` and `E`, whatever `Slot` is: a completer writes a result that its
    /// task reads with the rental's types, so neither may shrink nor grow a lifetime.
    _owns: Invariant<Result<T, E>>,
}

// SAFETY: the completer moves its `Result<T, E>` into the slot for another thread;
// `T: Send` and `E: Send` make that sound.
unsafe impl<T: Send, E: Send> Send for Completer<T, E> {}
// SAFETY: `&Completer` only loads the slot's state word (`is_cancelled`, `Debug`); every
// step that writes a cell takes `&mut self` (`cancelled`) or `self`.
unsafe impl<T: Send, E: Send> Sync for Completer<T, E> {}

impl<T, E> Completer<T, E> {
    /// The completer of a freshly rented slot.
    pub(super) fn new(half: CompleterHalf<T, E>) -> Self {
        Self {
            half: ManuallyDrop::new(half),
            _owns: PhantomData,
        }
    }

    /// Takes the half out, to give it up.
    ///
    /// # Safety
    ///
    /// Called once, and `self` is not used after (it is being dropped, or will not be).
    unsafe fn take_half(&mut self) -> CompleterHalf<T, E> {
        // SAFETY: as this function's contract: the half is taken once.
        unsafe { ManuallyDrop::take(&mut self.half) }
    }

    /// Completes the task with `result` and wakes it.
    ///
    /// Returns `Err(result)` when the task was dropped: nobody would read the result, so
    /// it comes back to you. Don't `unwrap` it where a task may give up (a timeout, a
    /// cancelled request): handle it, usually by dropping the value.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = valuetask::SourcePool::<u32>::new();
    /// let (task, completer) = pool.rent();
    /// drop(task); // the caller gave up
    /// assert_eq!(completer.complete(Ok(1)), Err(Ok(1)));
    /// ```
    #[inline(always)]
    pub fn complete(self, result: Result<T, E>) -> Result<(), Result<T, E>> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again.
        let (outcome, departure, wakeup) = unsafe { this.take_half() }.complete(result);
        Storage::after(departure);
        wakeup.run();
        outcome
    }

    /// Completes the task with `Ok(value)`; `Err(value)` if the task was dropped.
    #[inline(always)]
    pub fn succeed(self, value: T) -> Result<(), T> {
        self.complete(Ok(value)).map_err(|result| match result {
            Ok(value) => value,
            Err(_) => unreachable!("complete returns the result it was given"),
        })
    }

    /// Completes the task with `Err(error)`; `Err(error)` back if the task was dropped.
    #[inline]
    pub fn fail(self, error: E) -> Result<(), E> {
        self.complete(Err(error)).map_err(|result| match result {
            Err(error) => error,
            Ok(_) => unreachable!("complete returns the result it was given"),
        })
    }

    /// Whether the task is gone without its result: nobody will read the result, and the
    /// work may be skipped.
    pub fn is_cancelled(&self) -> bool {
        self.half.has_task_left()
    }

    /// A future that resolves when the task is dropped (at once if it already was): a
    /// producer can stop working for a caller that went away, like tokio's
    /// `oneshot::Sender::closed`. It stays pending while the task lives and wakes the
    /// producer once when it goes.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = valuetask::SourcePool::<u32>::new();
    /// let (task, mut completer) = pool.rent();
    /// let server = std::thread::spawn(move || {
    ///     futures::executor::block_on(completer.cancelled());
    ///     // The caller gave up: the value comes back, nobody reads it.
    ///     assert_eq!(completer.succeed(7), Err(7));
    /// });
    /// drop(task);
    /// server.join().unwrap();
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future is always fine; its waker stays registered until the
    /// completer completes or is dropped, or the next `cancelled` future replaces it.
    /// It borrows the completer mutably, as tokio's `Sender::closed` does: one waits at
    /// a time.
    pub fn cancelled(&mut self) -> Cancelled<'_, T, E> {
        Cancelled { completer: self }
    }
}

/// The future of [`Completer::cancelled`]: resolves when the task is gone.
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled<'c, T, E = Abandoned> {
    completer: &'c mut Completer<T, E>,
}

impl<T, E> Future for Cancelled<'_, T, E> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().completer.half.poll_cancelled(cx)
    }
}

impl<T, E> fmt::Debug for Cancelled<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("cancelled", &self.completer.is_cancelled())
            .finish()
    }
}

impl<T, E> Drop for Completer<T, E> {
    fn drop(&mut self) {
        // SAFETY: the completer is being dropped: the half is taken once, here.
        let half = unsafe { self.take_half() };
        // SAFETY: the half keeps the slot's pool, a `Storage<T, E>`, alive.
        let abandoned = unsafe { (*half.pool().cast::<Storage<T, E>>()).abandoned() };
        let (_, departure, wakeup) = half.complete(Err(abandoned));
        Storage::after(departure);
        wakeup.run();
    }
}

impl<T, E> fmt::Debug for Completer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer")
            .field("generation", &self.half.generation())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The error a task resolves to when its [`Completer`] was dropped without completing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Abandoned;

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the completer was dropped without completing the operation")
    }
}

impl Error for Abandoned {}
