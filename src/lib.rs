//! Zero-allocation async results: the Rust answer to .NET's `ValueTask<T>`,
//! `IValueTaskSource<T>`, `ManualResetValueTaskSourceCore<T>` and pooled sources.
//!
//! Async Rust pays an allocation per call in two common places: the boxed future behind
//! every `dyn` async method (`async-trait`, `Pin<Box<dyn Future>>`), and the fresh oneshot
//! channel behind every request/response operation. This crate removes both, on any
//! runtime, with nothing but `std`:
//!
//! | tier | you return | allocation |
//! |---|---|---|
//! | the result is already here (a cache hit) | [`ValueTask::ready`] | none |
//! | an object owns one operation at a time (a socket's read) | [`ValueTask::from_source`] over an embedded [`ResetCore`] | none |
//! | many operations in flight, completed elsewhere | a [`SourcePool::rent`]ed slot and its [`Completer`] | none in steady state |
//! | anything else: an async body that really waits | [`ValueTask::from_future`] | none in steady state: the future lives in a recycled block ([`future_pool`]) |
//!
//! All tiers are one type, [`ValueTask`], so a `dyn` trait method can pick the cheapest
//! tier on every call.
//!
//! [`macro@async_trait`] is a drop-in for the `async-trait` crate's attribute whose methods
//! return a [`ValueTask`] built with [`ValueTask::from_future`]. A `ValueTask` is `Send`;
//! futures that are not (an `Rc` held across an `.await`) and sources that are not `Sync`
//! go in a [`LocalValueTask`], which `#[async_trait(?Send)]` methods return.
//!
//! # The rules of `ValueTask`, enforced by Rust
//!
//! .NET asks for discipline; here the compiler or a clear panic does the work:
//! 1. **Never await twice**: `ValueTask` is not `Clone` and `.await` consumes it. Polling
//!    again after it returned its result panics.
//! 2. **Never read the result before completion**: [`ValueTask::into_ready`] returns the
//!    value, or the task back if it is not there yet.
//! 3. **Combinators**: `ValueTask` is an ordinary `Unpin` future; `join!`, `tokio::select!` and
//!    `FuturesUnordered` take it as it is.
//!
//! Misuse of a reusable source (a stale [`Token`]) panics with a message naming the
//! token, never reads another operation's result.
//!
//! # Examples
//!
//! ```
//! use valuetask::{SourcePool, ValueTask};
//!
//! let pool: SourcePool<u32> = SourcePool::new();
//! let (task, completer) = pool.rent();
//! std::thread::spawn(move || completer.succeed(42).unwrap());
//! assert_eq!(futures::executor::block_on(task), Ok(42));
//! assert_eq!(pool.stats().in_use, 0);
//! ```
//!
//! # Implementation
//!
//! Each completion core (a [`ResetCore`], or a pool slot) is one atomic word and two cells:
//! the value and the waker. The word holds the generation (the [`Token`]) in its high 32
//! bits and state flags in its low bits. Every flag that names a cell says which thread
//! may touch that cell while it is set; nobody else touches it. The value is written
//! once by a completer and moved out once by a poller; the waker cell is written by the
//! poller and emptied by whoever wakes or recycles. Each state module documents its
//! flags at their definition.
//!
//! A [`ResetCore`] is shared by reference, so any thread may call any method at any time:
//! a completer or poller claims a cell with a compare-and-swap before touching it, and
//! [`ResetCore::reset`] waits for those claims (a few instructions) to end.
//!
//! A pool slot has exactly two owners, its [`ValueTask`] and its [`Completer`], neither of
//! which can be cloned. Each owner's flag (`TASK_GONE`, `COMPLETER_GONE`) lives in the
//! same word, so publishing a value and leaving is one atomic operation, and whoever
//! leaves last resets the slot and pushes it on the pool's lock-free free list. Slots
//! live in chunks that never move; the pool's memory is freed when the last handle and
//! the last rented slot are gone.
//!
//! A future given to [`ValueTask::from_future`] is moved into a block of a size class
//! (64 B to 1 KiB) and polled in place; the task's raw repr points at the block and a
//! vtable made for the future's type. Finishing or dropping the task drops the future
//! in place, once, and returns the block to a per-thread cache, or to a bounded shared
//! stack when that cache is full. [`future_pool`] documents the caps, which bound the
//! memory held at rest whatever the peak was.

#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod future_pool;
mod local_task;
mod pool;
mod reset_core;
mod source;
mod sync;
mod task;

pub use pool::{Abandoned, Completer, PoolStats, SourcePool};
pub use reset_core::ResetCore;
pub use source::{Source, Status, Token};
pub use task::ValueTask;

pub use local_task::LocalValueTask;
pub use valuetask_macros::async_trait;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
