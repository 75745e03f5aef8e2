//! How a request's result travels from the connection's reader to the caller who awaits
//! it: the one part of the client that a [`Completion`] swaps.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use valuetask::{Completer, SourcePool, ValueTask};

use crate::{Error, Result};

/// The per-request completion mechanism of a [`Client`](crate::Client): for each command,
/// a handle the caller awaits and a completer the connection's reader resolves.
///
/// Everything else (the shared write buffer, the FIFO of completers, the writer and the
/// reader, the parser) is the same whatever the mechanism, so two clients that differ
/// only in this parameter differ only in what a request costs to hand out and to
/// complete. [`Pooled`] (the default) rents a recycled [`SourcePool`] slot and allocates
/// nothing; [`TokioOneshot`] allocates one tokio oneshot channel per request, the usual
/// way to build such a client, and is here as the baseline the pool is measured against.
/// A mechanism of your own is an implementation of this trait.
///
/// # Examples
///
/// ```
/// use valuetask_redis::{Client, TokioOneshot};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = valuetask_redis::RedisServer::start()?; // a throwaway redis-server
/// # let addr = server.addr();
/// # /*
/// let addr = "127.0.0.1:6379";
/// # */
/// let pooled = Client::connect(addr).await?; // Client<Pooled>
/// let channels = Client::connect_with(addr, TokioOneshot).await?; // Client<TokioOneshot>
/// pooled.set("k", "v", None).await?;
/// assert_eq!(channels.get("k").await?.as_deref(), Some(&b"v"[..]));
/// # Ok(()) }
/// ```
pub trait Completion: fmt::Debug + Send + Sync + 'static {
    /// What a connection keeps per reply type to hand out requests (a pool, or nothing).
    type Source<T: Send + 'static>: Send + Sync;
    /// What a command returns: a future of the command's result.
    type Request<T: Send + 'static>: Future<Output = Result<T>> + Send + 'static;
    /// What the reader resolves with the reply. Dropped without
    /// [`complete`](Completion::complete) (the connection's task went away), it must
    /// resolve its request to an error, [`Error::Abandoned`], so that no caller waits
    /// forever.
    type Completer<T: Send + 'static>: Send + 'static;

    /// A source for one reply type, sized for `capacity` requests in flight.
    fn source<T: Send + 'static>(&self, capacity: usize) -> Self::Source<T>;

    /// A new request and its completer.
    fn issue<T: Send + 'static>(
        &self,
        source: &Self::Source<T>,
    ) -> (Self::Request<T>, Self::Completer<T>);

    /// Resolves a request. When its caller gave up, the result is dropped.
    fn complete<T: Send + 'static>(completer: Self::Completer<T>, result: Result<T>);
}

/// The default [`Completion`]: each request rents a recycled slot from a [`SourcePool`]
/// (one pool per reply type, per connection) and is a [`ValueTask`]. In steady state a
/// request allocates nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pooled;

impl Completion for Pooled {
    type Source<T: Send + 'static> = SourcePool<T, Error>;
    type Request<T: Send + 'static> = ValueTask<'static, Result<T>>;
    type Completer<T: Send + 'static> = Completer<T, Error>;

    fn source<T: Send + 'static>(&self, capacity: usize) -> Self::Source<T> {
        SourcePool::with_capacity(capacity)
    }

    fn issue<T: Send + 'static>(
        &self,
        source: &Self::Source<T>,
    ) -> (Self::Request<T>, Self::Completer<T>) {
        source.rent()
    }

    fn complete<T: Send + 'static>(completer: Self::Completer<T>, result: Result<T>) {
        // `complete` hands the result back when the task was dropped: discard it.
        let _ = completer.complete(result);
    }
}

/// Defines a [`Completion`] over a oneshot channel module with tokio's API. The macro
/// is the whole definition, so the mechanisms it makes differ in the `use` line alone:
/// the same code, compiled with another channel.
macro_rules! oneshot_completion {
    (
        $(#[$mechanism_doc:meta])*
        $mechanism:ident,
        $(#[$request_doc:meta])*
        $request:ident,
        $oneshot:path
    ) => {
        $(#[$mechanism_doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $mechanism;

        $(#[$request_doc])*
        ///
        /// A completer dropped unanswered (the connection's task went away) resolves it
        /// to [`Error::Abandoned`], as with a pooled slot.
        ///
        /// # Cancel safety
        ///
        /// Dropping it gives up on the reply, which is still read off the connection
        /// and discarded.
        #[derive(Debug)]
        pub struct $request<T>(channel::Receiver<Result<T>>);

        use $oneshot as channel;

        impl<T> Future for $request<T> {
            type Output = Result<T>;

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
                let received = ready!(Pin::new(&mut self.0).poll(cx));
                Poll::Ready(received.unwrap_or(Err(Error::Abandoned)))
            }
        }

        impl Completion for $mechanism {
            type Source<T: Send + 'static> = ();
            type Request<T: Send + 'static> = $request<T>;
            type Completer<T: Send + 'static> = channel::Sender<Result<T>>;

            fn source<T: Send + 'static>(&self, _capacity: usize) {}

            fn issue<T: Send + 'static>(&self, _: &()) -> ($request<T>, Self::Completer<T>) {
                let (sender, receiver) = channel::channel();
                ($request(receiver), sender)
            }

            fn complete<T: Send + 'static>(completer: Self::Completer<T>, result: Result<T>) {
                // Err: the caller gave up; the result is dropped here.
                let _ = completer.send(result);
            }
        }
    };
}

mod tokio_channel {
    use super::*;

    oneshot_completion!(
        /// A [`Completion`] on tokio's oneshot channel: one channel, so one allocation, per
        /// request. The baseline that [`Pooled`] is measured against (`redis-bench`).
        TokioOneshot,
        /// A request of a [`Client`](crate::Client)`<`[`TokioOneshot`]`>`: a future of its
        /// result.
        OneshotRequest,
        tokio::sync::oneshot
    );
}

mod valuetask_channel {
    use super::*;

    oneshot_completion!(
        /// A [`Completion`] on [`valuetask::oneshot`]: the same code as [`TokioOneshot`]
        /// with the channel's import switched. Its channels live in recycled memory, so a
        /// request allocates nothing in steady state.
        ValuetaskOneshot,
        /// A request of a [`Client`](crate::Client)`<`[`ValuetaskOneshot`]`>`: a future of
        /// its result.
        ValuetaskOneshotRequest,
        valuetask::oneshot
    );
}

pub use tokio_channel::{OneshotRequest, TokioOneshot};
pub use valuetask_channel::{ValuetaskOneshot, ValuetaskOneshotRequest};
