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
//! [`oneshot`] is a drop-in for `tokio::sync::oneshot` whose channels take their slot
//! from the same recycled blocks: the channel-per-request pattern without the allocation.
//!
//! [`macro@async_trait`] is a drop-in for the `async-trait` crate's attribute whose methods
//! return a [`ValueTask`] built with [`ValueTask::from_future`]. A `ValueTask` is `Send`;
//! futures that are not (an `Rc` held across an `.await`) and sources that are not `Sync`
//! go in a [`LocalValueTask`], which `#[async_trait(?Send)]` methods return.
//!
//! Every example in these docs is a doc test. Besides `valuetask`, the examples need only
//! `futures = "0.3"`, for `futures::executor::block_on`.
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
//! And one rule .NET leaves implicit, which a [`Token`] being `Copy` would let slip:
//!
//! 4. **One task per token**: an operation of a [`ResetCore`] has one
//!    [`ValueTask::from_source`]; the first poll of a second task on the same token panics
//!    with a message naming this rule, whichever task was made or polled first, so two
//!    tasks never wait for one value. A task dropped before its result is known to the
//!    core: [`ResetCore::try_reset`] moves on, a later [`ResetCore::complete`] hands the
//!    value back, and [`ResetCore::is_abandoned`] tells the producer.
//!
//! Misuse of a reusable source (a stale [`Token`]) panics with a message naming the
//! token, never reads another operation's result. Queries ([`ValueTask::is_ready`],
//! [`LocalValueTask::is_ready`], [`ResetCore::try_status`], `Debug`) never panic.
//!
//! # Lifetimes
//!
//! The `'a` of `ValueTask<'a, T>` is how long whatever the task borrows must live: the source of
//! [`from_source`](ValueTask::from_source), the captures of a future given to
//! [`from_future`](ValueTask::from_future). A method whose async body uses `self` *and* a
//! borrowed argument after an `.await` must tie both to the task, with one named
//! lifetime; `ValueTask<'_, T>` alone means "borrows `self`", and the compiler rejects a
//! body that also keeps `key` ("lifetime may not live long enough"):
//!
//! ```
//! use std::collections::HashMap;
//! use valuetask::ValueTask;
//!
//! trait Store: Sync {
//!     fn get<'a>(&'a self, key: &'a str) -> ValueTask<'a, Option<String>>;
//! }
//!
//! struct Cached {
//!     hot: HashMap<String, String>,
//!     prefix: String,
//! }
//!
//! impl Store for Cached {
//!     fn get<'a>(&'a self, key: &'a str) -> ValueTask<'a, Option<String>> {
//!         if let Some(hit) = self.hot.get(key) {
//!             return ValueTask::ready(Some(hit.clone()));
//!         }
//!         ValueTask::from_future(async move {
//!             let fetched = ValueTask::from_future(async { 7 }).await; // a slow lookup
//!             Some(format!("{}{key}={fetched}", self.prefix)) // `self` and `key` after it
//!         })
//!     }
//! }
//!
//! let store: &dyn Store = &Cached { hot: HashMap::new(), prefix: "db:".into() };
//! let key = String::from("answer");
//! assert_eq!(futures::executor::block_on(store.get(&key)).as_deref(), Some("db:answer=7"));
//! ```
//!
//! A task that must outlive its caller (spawned, or sent to another thread) is a
//! `ValueTask<'static, T>`: move owned data into the future, or rent from a
//! [`SourcePool`], whose tasks borrow nothing.
//!
//!
//! # What is `Send`
//!
//! A [`ValueTask`] is `Send` for every result type, like a `Pin<Box<dyn Future + Send>>`:
//! it accepts only `Send` futures and `Sync` sources, a ready value must be `Send`
//! ([`ValueTask::ready`] asks for `T: Send`), and a result it makes is made on the thread
//! that polls it, so any runtime may poll it on any worker. A [`SourcePool`] handle and
//! a [`Completer`] are `Send` and `Sync` for `Send` results; a [`ResetCore`] is `Send` and
//! `Sync` for a `Send` value (its operations may be completed from any thread).
//!
//! # Cargo features
//!
//! None is on by default, and by default the crate depends on nothing but `std`.
//!
//! - `tokio`: [`oneshot::Receiver::blocking_recv`] panics on a thread that drives a tokio
//!   runtime, as tokio's own does, instead of blocking the tasks that would send. It
//!   asks tokio (its `sync` part) whether the thread drives one; turn it on in a tokio
//!   application that calls `blocking_recv`.
//!
//! # Examples
//!
//! ```
//! use valuetask::{SourcePool, ValueTask};
//!
//! let pool: SourcePool<u32> = SourcePool::new();
//! let (task, completer) = pool.rent();
//! // `Err(42)` comes back if the task was dropped: nobody reads it then.
//! std::thread::spawn(move || completer.succeed(42).is_ok());
//! assert_eq!(futures::executor::block_on(task), Ok(42));
//! assert_eq!(pool.stats().in_use, 0);
//! ```
//!

pub mod future_pool;
mod local_task;
pub mod oneshot;
mod pool;
mod raw;
mod reset_core;
mod source;
mod state_word;
mod sync;
mod task;
mod thread_exit;
mod transform;
mod waker_cell;

pub use pool::{Abandoned, Cancelled, Completer, PoolStats, SourcePool};
pub use reset_core::{ResetCore, ResetRefused};
pub use source::{Source, Status, Token};
pub use task::ValueTask;

pub use local_task::LocalValueTask;
pub use valuetask_macros::async_trait;
/// Not public API: the second step of `#[async_trait]` on a method with other attributes.
#[doc(hidden)]
pub use valuetask_macros::async_trait_method as __async_trait_method;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
