//! The sending half.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::channel::SenderHalf;

/// Sends the one value of a [`channel`](super::channel) to its
/// [`Receiver`](super::Receiver). Two words at most (one, today), `Send` and `Sync` for
/// a `Send` value, `Unpin`, as tokio's is.
///
/// Dropping it without sending wakes the receiver, which then gets
/// [`RecvError`](super::error::RecvError).
pub struct Sender<T> {
    /// The sender's half of the channel, given up by `send` or `drop`.
    half: ManuallyDrop<SenderHalf<T>>,
}

// SAFETY: the sender moves a `T` to whichever thread holds the receiver, so `T: Send` is
// needed, and every access it makes to the shared channel goes through its state word.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: through `&Sender` only `is_closed` and `Debug` run, which load the state word.
unsafe impl<T: Send> Sync for Sender<T> {}

impl<T> Sender<T> {
    pub(super) fn new(half: SenderHalf<T>) -> Self {
        Self {
            half: ManuallyDrop::new(half),
        }
    }

    /// Sends `value` to the receiver, or gives it back as `Err(value)` if the receiver
    /// was dropped or [`close`](super::Receiver::close)d first: tokio's documented
    /// contract. A receiver waiting for it is woken.
    ///
    /// Never allocates, and costs one compare-and-swap when nobody waits yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel();
    /// std::thread::spawn(move || tx.send("done").unwrap());
    /// assert_eq!(futures::executor::block_on(rx), Ok("done"));
    ///
    /// let (tx, rx) = oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(7), Err(7)); // nobody reads it: it comes back
    /// ```
    #[inline]
    pub fn send(self, value: T) -> Result<(), T> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the half is taken out of it once.
        let half = unsafe { ManuallyDrop::take(&mut this.half) };
        match half.finish(Some(value)) {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// Whether the receiver was dropped or closed, so that a [`send`](Self::send) would
    /// give its value back.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot;
    ///
    /// let (tx, rx) = oneshot::channel::<u8>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.half.is_closed()
    }

    /// Waits until the receiver is dropped or closed: a producer uses it to stop work
    /// nobody will read (in `select!` beside the work).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing; the waker it left is replaced by
    /// the next poll and dropped with the channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use valuetask::oneshot;
    ///
    /// let (mut tx, rx) = oneshot::channel::<u8>();
    /// std::thread::spawn(move || drop(rx));
    /// futures::executor::block_on(tx.closed());
    /// assert!(tx.is_closed());
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed { sender: self }
    }

    /// Polls for the receiver being dropped or closed: `Ready` once it is; otherwise
    /// keeps `cx`'s waker, which the receiver's `close` or drop wakes. Only the waker of
    /// the latest poll is kept; an earlier one is dropped at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use valuetask::oneshot;
    ///
    /// let (mut tx, mut rx) = oneshot::channel::<u8>();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert_eq!(tx.poll_closed(&mut cx), Poll::Pending);
    /// rx.close();
    /// assert_eq!(tx.poll_closed(&mut cx), Poll::Ready(()));
    /// ```
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.half.register_closed_waker(cx)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // SAFETY: the handle is being dropped: the half is taken out of it once.
        let half = unsafe { ManuallyDrop::take(&mut self.half) };
        half.finish(None);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("state", &self.half.state())
            .finish()
    }
}

/// The future of [`Sender::closed`]: ready once the receiver is dropped or closed.
///
/// # Cancel safety
///
/// Cancel safe, as [`Sender::closed`] says.
#[must_use = "futures do nothing unless awaited or polled"]
pub struct Closed<'a, T> {
    sender: &'a mut Sender<T>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().sender.poll_closed(cx)
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed")
            .field("sender", &self.sender)
            .finish()
    }
}
