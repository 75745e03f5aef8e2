//! A drop-in for `tokio::sync::oneshot` (tokio 1.x's API and documented semantics) whose
//! channels allocate nothing: switch with one import.
//!
//! ```
//! // use tokio::sync::oneshot;
//! use valuetask::oneshot;
//!
//! let (tx, rx) = oneshot::channel();
//! std::thread::spawn(move || {
//!     if tx.send(42).is_err() {
//!         println!("the receiver was dropped");
//!     }
//! });
//! assert_eq!(futures::executor::block_on(rx), Ok(42));
//! ```
//!
//! A request/response API makes a channel per request; tokio's allocates one `Arc` for
//! it (72 bytes for a `u64`), allocated on the requester's thread and often freed on the
//! responder's. Here [`channel`] takes its slot from the crate's process-wide recycled
//! blocks (the [`future_pool`](crate::future_pool)'s size classes, thread caches and home
//! inboxes) and gives it back when the second half is gone, on whichever thread that is:
//! a slot freed on another thread goes back to the thread that made the channel.
//!
//! # The contract
//!
//! tokio's documentation of `tokio::sync::oneshot` is the contract, and tokio's own
//! test suite for it passes against this module with only its imports changed:
//!
//! - [`Sender::send`] hands the value over, or gives it back as `Err(value)` when the
//!   receiver was dropped or [`close`](Receiver::close)d first.
//! - Dropping the [`Sender`] unsent wakes the [`Receiver`], which then returns
//!   [`Err(RecvError)`](error::RecvError).
//! - Only the waker of the latest poll is kept: a waker replaced by a later poll (of the
//!   receiver, or of the sender's [`closed`](Sender::closed)) is dropped at once, and a
//!   completion wakes the kept one once. No waker is held once both halves are gone.
//! - [`Receiver::try_recv`] returns the value, `Empty` or `Closed` (also once the value
//!   was taken); after a value or an error the receiver [`is_terminated`](Receiver::is_terminated),
//!   and polling it again panics.
//! - Both halves may be dropped in any order, on any threads. A value nobody takes is
//!   dropped as soon as the second half is gone.
//! - `Sender<T>` and `Receiver<T>` are `Send` and `Sync` when `T: Send`, and `Unpin`.
//! - [`Receiver::blocking_recv`] panics on a thread that drives a tokio runtime, with
//!   tokio's message, when the crate's `tokio` feature is on; without it, it cannot
//!   tell such a thread and blocks it.
//!
//! # Memory
//!
//! Each half is one pointer (tokio's are one too; the contract allows two words). The
//! channel itself is a 48-byte header (the state word, the block's home, two wakers)
//! followed by the value, in the smallest block of the
//! [`BLOCK_SIZES`](crate::future_pool::BLOCK_SIZES) that holds it: a `T` of up to 16
//! bytes takes a 64-byte block, and every `T` of up to 8144 bytes aligned to at most 64
//! is recycled. A larger or more aligned `T` gets one allocation per channel, given back
//! when the second half is gone.
//!
//! The pool's caps apply as they do to futures: a thread that keeps at most `n`
//! channels of one class alive at once, where `n` is within the thread cache plus the
//! shared stack of that class
//! ([`THREAD_CACHE_CAPACITY`](crate::future_pool::THREAD_CACHE_CAPACITY) +
//! [`SHARED_CAPACITY`](crate::future_pool::SHARED_CAPACITY)), allocates nothing once it has
//! reached that peak, whichever threads the halves finish on.
//!
//! # How it works
//!
//! One atomic state word of nine flags arbitrates the value and the two wakers. Each
//! half owns its hold on the channel as a value, and the step with which it leaves
//! consumes that hold: whichever half leaves second sees the other's departure and
//! gives the block back, and no half can touch the channel after it left.
//!
//! A round trip where the value is sent before the receiver looks costs one
//! compare-and-swap (the sender's) and one load (the receiver's, which sees that the
//! sender has left and so frees the block without writing the word). The state diagram, the
//! flags, who may touch which cell under each, every departure path and every step are
//! in the source of the channel's protocol (`src/oneshot/channel.rs`).

mod channel;
pub mod error;
mod receiver;
#[cfg(feature = "tokio")]
mod runtime_thread;
mod sender;

pub use receiver::Receiver;
pub use sender::{Closed, Sender};

use channel::Channel;

/// Makes a channel for one value: the [`Sender`] sends it, the [`Receiver`] awaits it.
///
/// Takes its slot from recycled memory (see the [module docs](self#memory)): no
/// allocation in steady state.
///
/// # Examples
///
/// ```
/// use valuetask::oneshot;
///
/// let (tx, rx) = oneshot::channel::<String>();
/// tx.send("reply".to_owned()).unwrap();
/// assert_eq!(futures::executor::block_on(rx).as_deref(), Ok("reply"));
/// ```
#[inline]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (sender, receiver) = Channel::<T>::open();
    (Sender::new(sender), Receiver::new(receiver))
}
