//! [`LocalValueTask`]: the `!Send` twin of [`ValueTask`], for futures and sources that
//! stay on the thread that made them.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::source::{Source, Status, Token};
use crate::task::ValueTask;

/// A [`ValueTask`] that is not `Send`: its future may hold an `Rc` or a `RefCell` borrow
/// across an `.await`, and its source need not be `Sync`.
///
/// It has the same tiers as [`ValueTask`], with the same costs:
/// - a **ready value** ([`LocalValueTask::ready`]): no allocation;
/// - a **borrowed source** ([`LocalValueTask::from_source`]), which need not be `Sync`:
///   no allocation;
/// - a **future** ([`LocalValueTask::from_future`]), which need not be `Send`, stored in a
///   recycled block of the [`future_pool`](crate::future_pool): no allocation in steady
///   state ([`LocalValueTask::boxed`] boxes it);
/// - anything a [`ValueTask`] holds, such as a pooled slot, through `From`.
///
/// It is what `#[valuetask::async_trait(?Send)]` methods return, and what to run on a
/// single-thread executor or a tokio `LocalSet`. `ValueTask` itself accepts only `Send`
/// futures and `Sync` sources, so that it can move between threads.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use valuetask::LocalValueTask;
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let task = LocalValueTask::from_future({
///     let log = Rc::clone(&log);
///     async move {
///         log.borrow_mut().push("ran");
///         log.borrow().len()
///     }
/// });
/// assert_eq!(futures::executor::block_on(task), 1);
/// assert_eq!(*log.borrow(), ["ran"]);
/// ```
///
/// It never leaves its thread:
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(valuetask::LocalValueTask::ready(1));
/// ```
#[must_use = "a LocalValueTask gives its result only when awaited or polled: a future-backed one does not run until then, and a pooled or source-backed one loses its result"]
pub struct LocalValueTask<'a, T> {
    /// Holds futures wrapped in [`StayLocal`] and sources wrapped in [`LocalSource`],
    /// whose `Send` and `Sync` claims hold only because this task is neither.
    task: ValueTask<'a, T>,
    /// Makes the task `!Send` and `!Sync`, whatever `T` is; an error about a missing
    /// `Send` names the marker, so it says why.
    _not_send: PhantomData<dyn LocalValueTaskIsNotSend>,
}

/// Only named by `LocalValueTask`'s marker field: a trait object is neither `Send` nor
/// `Sync`, and spawning a `LocalValueTask` on a multi-thread runtime then fails with
/// "`(dyn LocalValueTaskIsNotSend + 'static)` cannot be sent between threads safely".
/// The supertraits keep the auto traits the task has otherwise.
trait LocalValueTaskIsNotSend: Unpin + UnwindSafe + RefUnwindSafe {}

impl<'a, T> LocalValueTask<'a, T> {
    #[inline(always)]
    const fn wrap(task: ValueTask<'a, T>) -> Self {
        Self {
            task,
            _not_send: PhantomData,
        }
    }

    /// A task whose result is already here. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let task = valuetask::LocalValueTask::ready(Rc::new(7));
    /// assert!(task.is_ready());
    /// assert_eq!(task.into_ready().ok().as_deref(), Some(&7));
    /// ```
    #[inline]
    pub const fn ready(value: T) -> Self {
        // SAFETY: a `LocalValueTask` is not `Send`, so the task stays on this thread.
        Self::wrap(unsafe { ValueTask::ready_unchecked(value) })
    }

    /// A task that runs `future`, which need not be `Send`, stored in a recycled block:
    /// no allocation in steady state, even when the future really waits.
    ///
    /// The blocks are those of [`ValueTask::from_future`] (see
    /// [`future_pool`](crate::future_pool)); a future too large for the largest block is
    /// boxed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let shared = Rc::new(6);
    /// let task = valuetask::LocalValueTask::from_future(async move { *shared * 7 });
    /// assert_eq!(futures::executor::block_on(task), 42);
    /// ```
    #[inline]
    pub fn from_future<F>(future: F) -> Self
    where
        F: Future<Output = T> + 'a,
    {
        Self::wrap(ValueTask::from_future(StayLocal(future)))
    }

    /// A task that runs `future` in a fresh `Box`: one allocation per call.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let shared = Rc::new(6);
    /// let task = valuetask::LocalValueTask::boxed(async move { *shared * 7 });
    /// assert_eq!(futures::executor::block_on(task), 42);
    /// ```
    pub fn boxed<F>(future: F) -> Self
    where
        F: Future<Output = T> + 'a,
    {
        Self::wrap(ValueTask::boxed(StayLocal(future)))
    }

    /// A task for the operation `token` of `source`, which need not be `Sync`.
    /// Allocates nothing.
    ///
    /// As for [`ValueTask::from_source`], the task polls [`Source::poll_result`] and
    /// calls [`Source::release`] once, when it took the result or when it is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::task::{Context, Poll};
    /// use valuetask::{LocalValueTask, Source, Status, Token};
    ///
    /// /// A single-thread source: a `Cell`, so not `Sync`.
    /// struct Slot(Cell<Option<u32>>);
    ///
    /// impl Source<u32> for Slot {
    ///     fn poll_result(&self, _: Token, _: &mut Context<'_>) -> Poll<u32> {
    ///         match self.0.take() {
    ///             Some(value) => Poll::Ready(value),
    ///             None => Poll::Pending, // a real source would keep the waker
    ///         }
    ///     }
    ///     fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<u32> {
    ///         self.poll_result(token, cx) // one task per token is not tracked here
    ///     }
    ///     fn status(&self, _: Token) -> Status {
    ///         let value = self.0.get();
    ///         if value.is_some() { Status::Ready } else { Status::Pending }
    ///     }
    ///     fn release(&self, _: Token) {}
    ///     fn release_unpolled(&self, _: Token) {}
    /// }
    ///
    /// let slot = Slot(Cell::new(None));
    /// let task = LocalValueTask::from_source(&slot, Token::new(0));
    /// assert!(!task.is_ready());
    /// slot.0.set(Some(5));
    /// assert_eq!(futures::executor::block_on(task), 5);
    /// ```
    #[inline]
    pub fn from_source<S>(source: &'a S, token: Token) -> Self
    where
        S: Source<T>,
    {
        let source: *const S = source;
        // SAFETY: `LocalSource<S>` is `repr(transparent)` over `S`, so the pointer names
        // a valid `LocalSource<S>` for as long as the `&'a S` it came from.
        let source = unsafe { &*source.cast::<LocalSource<S>>() };
        Self::wrap(ValueTask::from_source(source, token))
    }

    /// Whether the result is available without waiting. A future is never polled to
    /// find out: false. Never panics: a source asked about a stale token
    /// ([`Source::try_status`]) answers `None`, which is false here.
    #[inline]
    pub fn is_ready(&self) -> bool {
        self.task.is_ready()
    }

    /// The result if it is available without waiting, or the task back if not.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = valuetask::LocalValueTask::from_future(async { 1 });
    /// let task = task.into_ready().unwrap_err(); // a future is not polled here
    /// assert_eq!(futures::executor::block_on(task), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if the task already returned its result from a poll.
    pub fn into_ready(self) -> Result<T, Self> {
        self.task.into_ready().map_err(Self::wrap)
    }
}

impl<'a, T> From<ValueTask<'a, T>> for LocalValueTask<'a, T> {
    /// Keeps the task as it is (a ready value, a source, a pooled slot or future), on
    /// this thread from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::{LocalValueTask, SourcePool};
    ///
    /// let pool: SourcePool<u32> = SourcePool::new();
    /// let (task, completer) = pool.rent();
    /// let task = LocalValueTask::from(task);
    /// completer.succeed(3).unwrap();
    /// assert_eq!(futures::executor::block_on(task), Ok(3));
    /// ```
    #[inline]
    fn from(task: ValueTask<'a, T>) -> Self {
        Self::wrap(task)
    }
}

impl<T> Future for LocalValueTask<'_, T> {
    type Output = T;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.get_mut().task).poll(cx)
    }
}

impl<T> fmt::Debug for LocalValueTask<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalValueTask").field(&self.task).finish()
    }
}

/// A future that may not be `Send`, inside a [`LocalValueTask`].
struct StayLocal<F>(F);

// SAFETY: a `StayLocal` is made only by `LocalValueTask::{from_future, boxed}` and moved
// straight into the task's inner `ValueTask`, which nothing takes out of the
// `LocalValueTask` again. A `LocalValueTask` is neither `Send` nor `Sync`, so the future
// is created, polled and dropped on the thread that made it, as its own `!Send` allows.
// (Its pooled block may later serve another thread, once the future is gone from it.)
unsafe impl<F> Send for StayLocal<F> {}

impl<F: Future> Future for StayLocal<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of the one field: `StayLocal` never moves `F` out,
        // has no `Drop` of its own, and is `Unpin` only when `F` is.
        unsafe { self.map_unchecked_mut(|local| &mut local.0) }.poll(cx)
    }
}

/// A source that may not be `Sync`, borrowed by a [`LocalValueTask`].
#[repr(transparent)]
struct LocalSource<S>(S);

// SAFETY: a `&LocalSource` is made only by `LocalValueTask::from_source` and stored in
// the task's inner `ValueTask`, which nothing takes out of the `LocalValueTask` again. A
// `LocalValueTask` is neither `Send` nor `Sync`, so the source is only ever used from the
// thread that lent it, as the `&S` it came from was.
unsafe impl<S> Sync for LocalSource<S> {}

impl<T, S: Source<T>> Source<T> for LocalSource<S> {
    #[inline]
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        self.0.poll_result(token, cx)
    }

    #[inline]
    fn poll_first(&self, token: Token, cx: &mut Context<'_>) -> Poll<T> {
        self.0.poll_first(token, cx)
    }

    #[inline]
    fn status(&self, token: Token) -> Status {
        self.0.status(token)
    }

    #[inline]
    fn try_status(&self, token: Token) -> Option<Status> {
        self.0.try_status(token)
    }

    #[inline]
    fn release(&self, token: Token) {
        self.0.release(token);
    }

    #[inline]
    fn release_unpolled(&self, token: Token) {
        self.0.release_unpolled(token);
    }
}
