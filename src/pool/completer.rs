//! [`Completer`], the producer half of a rented slot, and [`Abandoned`], what its drop
//! resolves the task to.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::slot::Slot;
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
    slot: NonNull<Slot<T, E>>,
    /// Invariant in `T` and `E`, whatever `Slot` is: a completer writes a result that its
    /// task reads with the rental's types, so neither may shrink nor grow a lifetime.
    _owns: Invariant<Result<T, E>>,
}

// SAFETY: the completer moves its `Result<T, E>` into the slot for another thread;
// `T: Send` and `E: Send` make that sound.
unsafe impl<T: Send, E: Send> Send for Completer<T, E> {}
// SAFETY: `&Completer` only reads an atomic flag.
unsafe impl<T: Send, E: Send> Sync for Completer<T, E> {}

impl<T, E> Completer<T, E> {
    /// The completer half of a freshly rented `slot`.
    ///
    /// # Safety
    ///
    /// `slot` is rented, its completer half is given to this value.
    pub(super) unsafe fn new(slot: *const Slot<T, E>) -> Self {
        Self {
            // SAFETY: a slot pointer is never null.
            slot: unsafe { NonNull::new_unchecked(slot.cast_mut()) },
            _owns: PhantomData,
        }
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
        let this = ManuallyDrop::new(self);
        let slot = this.slot.as_ptr().cast_const();
        // SAFETY: we hold the completer half and give it up here, once: `this` is not
        // dropped.
        let (outcome, departure) = unsafe { Slot::complete(slot, result) };
        // SAFETY: the half was given up; the departure says whether we were last.
        unsafe { Storage::after(slot, departure) };
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
        // SAFETY: we hold the completer half.
        unsafe { Slot::is_task_gone(self.slot.as_ptr()) }
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
    /// let (task, completer) = pool.rent();
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
    /// completer completes or is dropped, or another `cancelled` future replaces it.
    pub fn cancelled(&self) -> Cancelled<'_, T, E> {
        Cancelled { completer: self }
    }
}

/// The future of [`Completer::cancelled`]: resolves when the task is gone.
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled<'c, T, E = Abandoned> {
    completer: &'c Completer<T, E>,
}

impl<T, E> Future for Cancelled<'_, T, E> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the borrowed completer holds its half for as long as we live.
        unsafe { Slot::poll_cancelled(self.completer.slot.as_ptr(), cx) }
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
        let slot = self.slot.as_ptr().cast_const();
        // SAFETY: we hold the completer half, which keeps the slot and its pool alive.
        let abandoned = unsafe { (*(*slot).pool.cast::<Storage<T, E>>()).abandoned };
        // SAFETY: we hold the completer half and give it up here, once.
        let (_, departure) = unsafe { Slot::complete(slot, Err(abandoned())) };
        // SAFETY: the half was given up; the departure says whether we were last.
        unsafe { Storage::after(slot, departure) };
    }
}

impl<T, E> fmt::Debug for Completer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer")
            // SAFETY: we hold the completer half.
            .field("generation", &unsafe {
                Slot::generation(self.slot.as_ptr())
            })
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
