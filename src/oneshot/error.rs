//! The errors of a `oneshot` channel, with the variants and messages of tokio's.

use std::fmt;

/// What awaiting a [`Receiver`](super::Receiver) gives when no value will ever come:
/// the [`Sender`](super::Sender) was dropped without sending, or the receiver was
/// [`close`](super::Receiver::close)d before a value was sent.
///
/// # Examples
///
/// ```
/// use valuetask::oneshot::{self, error::RecvError};
///
/// let (tx, rx) = oneshot::channel::<u32>();
/// drop(tx);
/// let error: RecvError = futures::executor::block_on(rx).unwrap_err();
/// assert_eq!(error.to_string(), "channel closed");
/// ```
#[derive(Debug, Eq, PartialEq, Clone)]
pub struct RecvError(pub(super) ());

/// What [`Receiver::try_recv`](super::Receiver::try_recv) gives when there is no value
/// to take.
///
/// # Examples
///
/// ```
/// use valuetask::oneshot::{self, error::TryRecvError};
///
/// let (tx, mut rx) = oneshot::channel::<u32>();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, Eq, PartialEq, Clone)]
pub enum TryRecvError {
    /// Nothing was sent yet; a value may still come.
    Empty,
    /// No value will come: the sender was dropped without sending, the receiver was
    /// closed before it sent, or the value was already received.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "channel empty",
            TryRecvError::Closed => "channel closed",
        })
    }
}

impl std::error::Error for TryRecvError {}
