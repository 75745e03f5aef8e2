//! The receiving half, and its conversion into a `ValueTask`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::channel::{Found, ReceiverHalf};
use super::error::{RecvError, TryRecvError};
use crate::ValueTask;
use crate::raw::{RawTask, RawTaskVTable};

/// Receives the one value of a [`channel`](super::channel): a future of
/// `Result<T, RecvError>`. Two words at most (one, today), `Send` and `Sync` for a
/// `Send` value, `Unpin`, as tokio's is.
///
/// Once it returned its result (from a poll or [`try_recv`](Self::try_recv)) it is
/// *terminated*: it has left the channel, and polling it again panics.
pub struct Receiver<T> {
    /// The receiver's half of the channel; `None` once the receiver is terminated.
    half: Option<ReceiverHalf<T>>,
}

// SAFETY: the receiver takes the `T` another thread sent, so `T: Send` is needed, and
// every access it makes to the shared channel goes through its state word.
unsafe impl<T: Send> Send for Receiver<T> {}
// SAFETY: through `&Receiver` only `is_empty`, `is_terminated` and `Debug` run, which
// load the state word.
unsafe impl<T: Send> Sync for Receiver<T> {}

impl<T> Receiver<T> {
    pub(super) fn new(half: ReceiverHalf<T>) -> Self {
        Self { half: Some(half) }
    }

    /// Closes the channel without dropping the receiver: a later
    /// [`send`](super::Sender::send) gives its value back, and a sender waiting in
    /// [`closed`](super::Sender::closed) wakes. A value sent before stays there, and
    /// [`try_recv`](Self::try_recv) or a poll still returns it. Does nothing on a
    /// terminated receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot::{self, error::TryRecvError};
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// rx.close();
    /// assert_eq!(tx.send(1), Err(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn close(&mut self) {
        if let Some(half) = &self.half {
            half.close();
        }
    }

    /// Whether the receiver returned its result already (a value or an error, from a
    /// poll or [`try_recv`](Self::try_recv)): polling it again would panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot;
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// tx.send(3).unwrap();
    /// assert!(!rx.is_terminated());
    /// assert_eq!(rx.try_recv(), Ok(3));
    /// assert!(rx.is_terminated());
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.half.is_none()
    }

    /// Whether there is no value to take now: nothing sent yet, the sender dropped, or
    /// the value already received. An empty receiver is not necessarily safe to poll
    /// (see [`is_terminated`](Self::is_terminated)).
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// assert!(rx.is_empty());
    /// tx.send(3).unwrap();
    /// assert!(!rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.half.as_ref().is_none_or(|half| !half.has_value())
    }

    /// Takes the value if it is there, without waiting and without keeping a waker.
    ///
    /// `Err(TryRecvError::Empty)` while nothing was sent; `Err(TryRecvError::Closed)` when
    /// nothing ever will be (the sender was dropped, the receiver closed first) or the
    /// value was already received. On `Ok` and `Closed` the receiver is terminated.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot::{self, error::TryRecvError};
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send("hello").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("hello"));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(half) = self.half.take() else {
            return Err(TryRecvError::Closed);
        };
        match half.try_recv() {
            Found::Value(value) => Ok(value),
            Found::Closed => Err(TryRecvError::Closed),
            Found::Empty(half) => {
                self.half = Some(half);
                Err(TryRecvError::Empty)
            }
        }
    }

    /// Blocks this thread until the value comes or the sender is dropped, for code
    /// outside any async runtime: a plain thread, or tokio's `spawn_blocking`.
    ///
    /// The thread's waker is made once per thread and reused, so this allocates nothing
    /// after a thread's first call.
    ///
    /// # Panics
    ///
    /// With the crate's `tokio` feature, on a thread that drives a tokio runtime (inside
    /// `Runtime::block_on`, or in a task on a worker thread), as tokio's
    /// `blocking_recv` does, with tokio's message: "Cannot block the current thread
    /// from within a runtime". Without the feature it cannot tell such a thread, and
    /// blocks it: the tasks that would send may then never run.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel::<u8>();
    /// std::thread::spawn(move || tx.send(10));
    /// assert_eq!(rx.blocking_recv(), Ok(10));
    /// ```
    #[track_caller]
    pub fn blocking_recv(mut self) -> Result<T, RecvError> {
        #[cfg(feature = "tokio")]
        super::runtime_thread::refuse_runtime_thread();
        thread_local! {
            static PARKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
        }
        PARKER.with(|waker| {
            let mut cx = Context::from_waker(waker);
            loop {
                if let Poll::Ready(result) = Pin::new(&mut self).poll(&mut cx) {
                    return result;
                }
                thread::park();
            }
        })
    }
}

/// Wakes a thread parked in [`Receiver::blocking_recv`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Waits for the value: `Ok(value)`, or `Err(RecvError)` when none will come (the
/// sender was dropped without sending, or the receiver was closed before it sent).
///
/// Only the waker of the latest poll is kept (an earlier one is dropped at once), and
/// the sender wakes it once.
///
/// # Cancel safety
///
/// Cancel safe: a value not received stays in the channel; dropping the receiver drops
/// it (or the sender gets it back if it had not sent yet).
///
/// # Panics
///
/// Polling after the result was returned panics, as for any future; see
/// [`is_terminated`](Receiver::is_terminated).
impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(half) = this.half.take() else {
            panic!("oneshot::Receiver polled after it returned its result");
        };
        match half.poll_recv(cx).into_poll() {
            Ok(found) => Poll::Ready(found.ok_or(RecvError(()))),
            Err(half) => {
                this.half = Some(half);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(half) = self.half.take() {
            half.drop_receiver();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Receiver");
        match &self.half {
            Some(half) => f.field("state", &half.state()),
            None => f.field("terminated", &true),
        };
        f.finish()
    }
}

/// A receiver as a [`ValueTask`], for code that returns one: no allocation, the task
/// drives the same channel through the crate's type-erased task.
///
/// # Examples
///
/// ```
/// use valuetask::{ValueTask, oneshot};
///
/// let (tx, rx) = oneshot::channel();
/// let task: ValueTask<'static, Result<u8, oneshot::error::RecvError>> = rx.into();
/// tx.send(5).unwrap();
/// assert_eq!(task.into_ready().ok(), Some(Ok(5)));
/// ```
impl<'a, T: Send + 'a> From<Receiver<T>> for ValueTask<'a, Result<T, RecvError>> {
    fn from(receiver: Receiver<T>) -> Self {
        let mut receiver = receiver;
        match receiver.half.take() {
            // SAFETY: the receiver's half moves to the task (the handle, left without it,
            // drops nothing); `RawTaskRecv`'s functions uphold `RawTask::new`'s contract:
            // `poll` writes the result when it returns `true`, after which (as after
            // `discard`) the receiver has left; they run on any thread for `T: Send`.
            Some(half) => ValueTask::from_raw(unsafe {
                RawTask::new(half.into_raw(), RawTaskRecv::<T>::VTABLE)
            }),
            // A terminated receiver: polling the task panics, as polling it would.
            None => ValueTask::from_future(receiver),
        }
    }
}

/// The type-erased task's functions for a channel's receiver.
struct RawTaskRecv<T>(std::marker::PhantomData<T>);

impl<T> RawTaskRecv<T> {
    const VTABLE: &'static RawTaskVTable = &RawTaskVTable {
        poll: Self::poll,
        is_ready: Self::is_ready,
        discard: Self::discard,
        kind: "oneshot receiver",
    };

    /// # Safety
    ///
    /// `ptr` is a `ReceiverHalf<T>` made raw, held by the task; `out` points to a
    /// `MaybeUninit<Result<T, RecvError>>`. On `false` the task still holds the half.
    unsafe fn poll(ptr: NonNull<()>, cx: &mut Context<'_>, out: *mut ()) -> bool {
        // SAFETY: as this function's contract: the task lends us its half.
        let half = unsafe { ReceiverHalf::<T>::from_raw(ptr) };
        let found = match half.poll_recv(cx).into_poll() {
            Ok(found) => found,
            Err(half) => {
                // The task keeps its hold, at the same address.
                let _ = half.into_raw();
                return false;
            }
        };
        // SAFETY: the caller passes a place for the output.
        unsafe {
            out.cast::<Result<T, RecvError>>()
                .write(found.ok_or(RecvError(())))
        };
        true
    }

    /// # Safety
    ///
    /// As for `poll`.
    unsafe fn is_ready(ptr: NonNull<()>) -> bool {
        // SAFETY: as for `poll`: the task lends us its half.
        let half = unsafe { ReceiverHalf::<T>::from_raw(ptr) };
        let ready = half.is_finished();
        // The task keeps its hold.
        let _ = half.into_raw();
        ready
    }

    /// # Safety
    ///
    /// As for `poll`; the task gives up the channel.
    unsafe fn discard(ptr: NonNull<()>) {
        // SAFETY: as this function's contract: the task gives us its half.
        unsafe { ReceiverHalf::<T>::from_raw(ptr) }.drop_receiver();
    }
}
