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
//! The operations safe code can run at once on one core: `complete`, a task's poll
//! (`ValueTask::from_source`, or `poll_result` called directly), `reset`, `try_reset`,
//! `release` (a task dropped, polled or not), and the queries (`token`, `status`,
//! `try_status`, `is_abandoned`, `Debug`), which only load. Dropping the core takes
//! `&mut` and races nothing. Models in `tests/loom/reset_core.rs`, all `core_*`:
//!
//! |            | complete | poll | reset | try_reset | release |
//! |---|---|---|---|---|---|
//! | complete   | `two_completers`, `two_completers_drop_once` | `complete_vs_first_poll`, `waker_change_between_polls` | `complete_vs_reset` | `complete_vs_try_reset` | `complete_vs_task_drop`, `release_vs_complete` |
//! | poll       | | `two_tasks` | `poll_vs_reset` | `poll_vs_try_reset` | `poll_vs_unpolled_task_drop` |
//! | reset      | | | `reset_vs_reset` | `reset_vs_try_reset` | `reset_vs_task_drop` |
//! | try_reset  | | | | `reset_vs_try_reset` | `try_reset_vs_task_drop` |
//! | release    | | | | | `two_task_drops` |
//! | queries    | `queries_vs_complete_and_reset` | (loads only) | `queries_vs_complete_and_reset` | (as reset) | (loads only) |
//!
//! Triples: reset ∥ reset ∥ complete `two_resets_vs_complete`; complete ∥ complete ∥
//! reset `two_completers_vs_reset`; release ∥ reset ∥ complete
//! `release_vs_reset_vs_complete`. Two polls of one task cannot race (a poll takes
//! `&mut`), so "poll ∥ poll" is two tasks on one token; a task's poll and its own
//! release cannot race either, so "poll ∥ release" is a second task's.
//!
//! ## Pool slot
//!
//! (see `tests/loom/pool.rs`)
//!
//! ## Future pool
//!
//! (see `tests/loom/future_pool.rs`)
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
