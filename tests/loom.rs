//! Loom models of every protocol in the crate: `ResetCore`, the pool slot (and its free
//! list), the future pool's shared stacks and home inboxes, and the `oneshot` channel.
//!
//! Run with `.ci/loom.sh`, which builds with `--cfg valuetask_loom` (our own cfg name, so
//! dev-dependencies such as tokio keep their normal internals) and bounds preemptions
//! with `LOOM_MAX_PREEMPTIONS` (3 unless set).
//!
//! Each model is small on purpose: two or three threads and one operation each. What
//! every model checks on top of loom's own checks (data races on the cells, causality,
//! leaked loom objects) is written at its head. The models live in `tests/loom/`, one
//! file per protocol; this file holds the support they share.
//!
//! # The concurrency matrix
//!
//! For each protocol: every public operation that safe code can run at the same moment on
//! one instance, and for each pair (two of the same kind included) the model that proves
//! it. A cell names its model as `file::function`.
//!
//! ## `ResetCore`
//!
//! (see `tests/loom/reset_core.rs`)
//!
//! ## Pool slot
//!
//! (see `tests/loom/pool.rs`)
//!
//! ## Future pool
//!
//! (see `tests/loom/future_pool.rs`)
//!
//! ## `oneshot`
//!
//! The sender's operations (rows) against the receiver's (columns); each half's own
//! operations take `self` or `&mut self`, so they never run at once with each other.
//! `is_closed` and `is_empty` are single Acquire loads, covered by every model in
//! which they appear. Models are in `tests/loom/oneshot.rs`, named `oneshot_*`.
//!
//! | sender \ receiver | poll (waker stored) | poll, waker replaced | try_recv | close | drop | poll then drop | as a `ValueTask` |
//! |---|---|---|---|---|---|---|---|
//! | `send` | `send_vs_poll` | `send_vs_waker_replacement` | `send_vs_try_recv` | `send_vs_close` | `send_vs_receiver_drop` | `send_vs_poll_then_drop` | `send_vs_value_task` |
//! | drop | `sender_drop_vs_poll` | | | `sender_drop_vs_close` | `sender_drop_vs_receiver_drop` | | |
//! | `closed()` polled | | | | `closed_vs_close` | `closed_vs_receiver_drop` | | |
//! | `closed()`, waker replaced | | | | | `closed_waker_replacement_vs_receiver_drop` | | |
//!
//! An empty cell adds no transition of the state word that its row and column do not
//! already race in a filled one: a dropped sender completes exactly as a `send` does,
//! without `VALUE`, and `try_recv` is the first step of every poll. The sender's drop
//! with a `closed()` waker stored against the receiver's drop and close is in
//! `sender_drop_vs_receiver_drop` and `sender_drop_vs_close`.
#![cfg(valuetask_loom)]

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Notify};
use loom::thread;
use valuetask::{Abandoned, ResetCore, Source, SourcePool, Status, Token, ValueTask};

/// Runs `f` under loom, with the preemption bound from `LOOM_MAX_PREEMPTIONS` (3 if unset,
/// so a model run by hand without the script still finishes).
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&iterations);
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    // Shown with `--nocapture`: how much of the model loom explored.
    eprintln!(
        "{}: {} interleavings (preemption bound {:?})",
        std::thread::current().name().unwrap_or("model"),
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        builder.preemption_bound,
    );
}

/// A waker that counts its wakes, so a model can tell which waker was woken and how often.
/// `std::task::Wake` needs a std `Arc`; its strong count tells whether anybody still holds
/// a clone of the waker.
struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            wakes: AtomicUsize::new(0),
        })
    }

    fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }

    fn waker(this: &std::sync::Arc<Self>) -> Waker {
        Waker::from(std::sync::Arc::clone(this))
    }
}

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// Whether anybody but the model itself still holds a clone of `waker`.
fn held_elsewhere(waker: &std::sync::Arc<CountingWaker>) -> bool {
    std::sync::Arc::strong_count(waker) != 1
}

/// A value that counts its drops, to prove that every value is dropped exactly once.
#[derive(Debug)]
struct Counted {
    drops: Arc<AtomicUsize>,
}

impl Counted {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Self {
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

/// A waker that unparks a loom thread blocked in [`block_on`].
struct Unparker(Notify);

impl Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.notify();
    }
}

/// Drives `future` to completion on the current loom thread, parking between polls.
/// A lost wake-up parks the thread forever, which loom reports as a deadlock.
/// (`loom::future::block_on` does the same but needs loom's `futures` feature.)
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let unparker = std::sync::Arc::new(Unparker(Notify::new()));
    let waker = Waker::from(std::sync::Arc::clone(&unparker));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        unparker.0.wait();
    }
}

fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

#[path = "loom/reset_core.rs"]
mod reset_core;

#[path = "loom/pool.rs"]
mod pool;

#[path = "loom/future_pool.rs"]
mod future_pool;

#[path = "loom/oneshot.rs"]
mod oneshot;
