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
//! ### `ResetCore` reuse
//!
//! Each departure path of the table at the head of `src/reset_core.rs`, and the model
//! in which, right after it (a loom yield follows every departure step), the next
//! generations run at once (`next_generations`: a reset, a new task's poll, a
//! completion, the value taken; a reset, a task polled and dropped, a completion
//! refused), touching both cells while the departed side may still be running:
//!
//! | departure path | its last touch | model |
//! |---|---|---|
//! | completer, `complete` accepted | store of `completed` | `core_complete_vs_first_poll`, `core_release_vs_complete`, `core_reuse_after_complete_and_unpolled_drop` |
//! | completer, `complete` refused | a load or failed CAS | `core_release_vs_complete`, `core_reuse_after_complete_and_unpolled_drop` |
//! | task, poll `Ready` | store of `consumed` | `core_reuse_after_task_leaves` |
//! | task, poll `Pending` | store of `waiting` | `core_poll_vs_reset` |
//! | task, release with a value or waker in the cells | store of `left` | `core_reuse_after_task_leaves`, `core_reuse_after_complete_and_unpolled_drop`, `core_reuse_after_unpolled_task_leaves_on_another_thread` |
//! | task, release of an empty operation | CAS to `left` | `core_reuse_after_complete_and_unpolled_drop` |
//! | task, release after its value, stale, or a second task | a load | `core_reuse_after_task_leaves` |
//! | owner, `reset` with a value or waker in the cells | store of `next_generation` | `core_poll_vs_reset`, `core_release_vs_complete`, `core_reuse_after_reset_on_another_thread` |
//! | owner, `reset` / `try_reset` with empty cells | CAS to `next_generation` | every model above (the reuse's own resets) |
//!
//! ## Pool slot
//!
//! One pool and its rentals (`tests/loom/pool.rs`, so a cell names `pool::` models
//! without the prefix). The operations:
//!
//! - **P**: the task polled (awaited); **D**: the task dropped; **R**: `into_ready` or
//!   `is_ready`. One task, not `Sync`: never two of these at once.
//! - **C**: `complete`, `succeed` or `fail`; **X**: the completer dropped. They consume
//!   the completer, so they never run with another completer operation.
//! - **I**: `is_cancelled` (borrows the completer, `Sync`: loads only); **W**: a
//!   `cancelled()` future polled (borrows it mutably: one at a time, never beside C, X
//!   or I).
//! - **N**: `rent` (on clones of the handle, from several threads); **H**: a pool
//!   handle dropped (clones, on several threads); **S**: `stats`.
//!
//! `—`: the pair cannot run at once on one instance (one owner, or a borrow that a
//! consuming call cannot outlive). Under loom the thread caches are off, so every rent
//! and every recycling goes through the shared free list; a thread's cache is touched
//! by that thread alone.
//!
//! |   | P | D | R | C | X | I | W | N | H | S |
//! |---|---|---|---|---|---|---|---|---|---|---|
//! | **P** | — | — | — | `pool_last_one_out_complete`, `pool_task_takes_while_the_completer_leaves` | `pool_abandon_vs_poll`, `pool_last_one_out_abandon` | `pool_cancelled_polls_vs_task` | `pool_cancelled_polls_vs_task` | `pool_rent_and_return_no_growth` | `pool_handle_dropped_first` | `pool_rent_vs_halves_leaving_and_stats` |
//! | **D** | | — | — | `pool_complete_vs_task_drop`, `pool_last_one_out_complete` | `pool_last_one_out_abandon` | `pool_cancelled_polls_vs_task` | `pool_cancelled_vs_task_drop`, `pool_cancelled_polls_vs_task`, `pool_cancel_waker_vs_complete_vs_task_drop` | `pool_rent_vs_halves_leaving_and_stats` | `pool_handles_dropped_while_rentals_run` | `pool_rent_vs_halves_leaving_and_stats` |
//! | **R** | | | — | `pool_into_ready_vs_complete` | `pool_into_ready_vs_abandon` | `pool_cancelled_polls_vs_task` | `pool_cancelled_polls_vs_task` | `pool_free_list_pop_push_pop` | `pool_handles_dropped_while_rentals_run` | `pool_handles_dropped_while_rentals_run` |
//! | **C** | | | | — | — | — | — | `pool_rent_and_return_no_growth`, `pool_rent_and_return_with_growth` | `pool_handle_dropped_first` | `pool_rent_vs_halves_leaving_and_stats` |
//! | **X** | | | | | — | — | — | `pool_rent_vs_halves_leaving_and_stats` | `pool_handles_dropped_while_rentals_run` | `pool_handles_dropped_while_rentals_run` |
//! | **I** | | | | | | (loads only) | — | `pool_handles_dropped_while_rentals_run` | `pool_handles_dropped_while_rentals_run` | `pool_handles_dropped_while_rentals_run` |
//! | **W** | | | | | | | — (one at a time: `pool_cancelled_polls_vs_task` polls two in turn) | `pool_rent_vs_halves_leaving_and_stats` | `pool_handles_dropped_while_rentals_run` | `pool_rent_vs_halves_leaving_and_stats` |
//! | **N** | | | | | | | | `pool_rent_and_return_with_growth`, `pool_free_list_pop_push_pop` | `pool_handles_dropped_while_rentals_run` | `pool_rent_vs_halves_leaving_and_stats` |
//! | **H** | | | | | | | | | `pool_handles_dropped_while_rentals_run` | `pool_handles_dropped_while_rentals_run` |
//! | **S** | | | | | | | | | | `pool_rent_vs_halves_leaving_and_stats` |
//!
//! ## Reuse
//!
//! A model in which either side may be last reuses the memory at once and touches every
//! cell of the next occupant; under `valuetask_loom`, `sync::departed()` yields right
//! after each leaving read-modify-write, so the reuse runs between a leaving step and
//! whatever the leaver would do next.
//!
//! ### Pool slot
//!
//! `reuse` rents again from a capacity-1 pool (one chunk, LIFO: the slot just vacated),
//! polls the task, polls `cancelled()` and completes.
//!
//! | Departure path (slot.rs table) | Model |
//! |---|---|
//! | C `publish` (cancel waker taken back first) vs T takes the value | `pool_reuse_after_cancelled_then_succeed` |
//! | C `leave_after_waking` vs T `leave_with_value` / T last by a load | `pool_reuse_after_wake` |
//! | T `leave_unread` / `end_cancel_waking` vs C `complete` (`leave_after_task`) | `pool_reuse_after_task_drop_vs_complete` |
//! | T `leave_unread` / `end_cancel_waking` vs C dropped | `pool_reuse_after_task_drop_vs_abandon` |
//! | the last pool handle dropped, the last half frees the pool, a new pool used at once | `pool_reuse_after_last_handle_dropped` |
//!
//! The thread caches are off under loom; pools created and dropped on one thread (the
//! cache's pool id) are plain tests in `tests/pool.rs`
//! (`a_pool_at_a_dropped_pools_address_is_not_taken_for_it`,
//! `pools_created_and_dropped_on_one_thread_in_many_orders`), and every departure path
//! with a reuse runs on threads for Miri and TSan in `tests/departure_pool.rs`.
//!
//! Every model runs through the shared `model`, which fails a
//! model that explores more than about three times its usual number of interleavings,
//! so a bug that makes a model grow fails it instead of filling memory.
//!
//! ## Future pool
//!
//! The blocks of `ValueTask::from_future` (`tests/loom/future_pool.rs`, `future_pool::`
//! left out). Under loom the thread caches are off, so every take and free goes through
//! the shared stacks; the inbox, which a thread's cache owns, has its own model in the
//! library (`src/future_pool/inbox.rs`, `inbox::loom_models`, run by `.ci/loom.sh` as
//! a `--lib` test). The operations:
//!
//! - **T**: a block taken (`from_future`), on several threads; **F**: a block freed
//!   (its task finished or dropped), on any thread, into its home's inbox or the shared
//!   stacks; **E**: a thread exiting, closing its inbox (and giving its blocks to the
//!   shared stacks); **Tr**: `trim`.
//!
//! `—`: one inbox has one owner thread, which cannot take from it, or exit, twice at
//! once. A take from another thread never touches this inbox, only the shared stacks,
//! where the exit's blocks go: that is the T ∥ F race on the shared stacks.
//!
//! |    | T | F | E | Tr |
//! |----|---|---|---|----|
//! | **T**  | `future_pool_two_takers_trim_at_once`, `future_blocks_freed_on_other_threads` | `future_blocks_freed_on_other_threads`, `future_pool_trim_races_free_and_take` | — (owner), `future_blocks_freed_on_other_threads` (shared stacks) | `future_pool_trim_races_free_and_take` |
//! | **F**  | | `future_blocks_over_the_shared_cap_are_freed`, `inbox::loom_models::two_frees_race_collection_and_exit` | `inbox::loom_models::two_frees_race_collection_and_exit` | `future_pool_trim_races_free_and_take`, `future_pool_two_takers_trim_at_once` |
//! | **E**  | | | — | `future_pool_trim_races_free_and_take` (shared stacks) |
//! | **Tr** | | | | `future_pool_two_takers_trim_at_once` |
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
//!
//! ## Reuse after a departure: `oneshot` and the future pool
//!
//! Under `valuetask_loom`, `sync::departed()` yields right after each leaving
//! read-modify-write (the sender's `+TX_LEFT`, the receiver's `+RX_LEFT`, a push onto a
//! home inbox), so loom schedules the other side's disposal, and the reuse below, before
//! the departed thread's next step. In each model in which either side may be last,
//! every thread that took part reuses the memory as soon as its part is done: a half
//! that touched its block after its departure would race the next occupant's writes.
//!
//! | protocol | models | the reuse, on each thread, at once | cells the next occupant touches |
//! |---|---|---|---|
//! | `oneshot` | every `oneshot_*` model above | `reuse_channel`: a new channel of the same size class (its block from the shared stack when the departed one is there) | the receiver's waker (registered), the sender's `closed()` waker (registered), the value (sent, then received after `close`), the state word at each step; both wakers dropped by the last one out |
//! | future pool | `future_blocks_freed_on_other_threads`, `future_blocks_over_the_shared_cap_are_freed` | `reuse_future_block`: a new pooled future of the same size class, suspended once and awaited | the whole block (the future's state, its drop flag, its home) |
//!
//! The future pool's block fields are plain memory, which loom does not track: a late
//! access there is for Miri and ThreadSanitizer, over `tests/departure_future_pool.rs`
//! (and the oneshot's over `tests/departure_oneshot.rs`).
#![cfg(valuetask_loom)]

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Notify};
use loom::thread;
use valuetask::{Abandoned, ResetCore, Source, SourcePool, Status, Token, ValueTask};

/// Branches (scheduling decisions) one interleaving may take: a spin that never ends
/// fails here ("exceeded maximum number of branches") rather than running on.
const MAX_BRANCHES: usize = 2_000;

/// Runs `f` under loom, with the preemption bound from `LOOM_MAX_PREEMPTIONS` (3 if
/// unset, so a model run by hand without the script still finishes), and with bounds
/// that fail the model rather than let it grow: at most `max_interleavings`
/// interleavings (each model's bound is a few times what it explores at
/// `LOOM_MAX_PREEMPTIONS=3`), and at most [`MAX_BRANCHES`] branches in one
/// interleaving. A bug that makes a model grow (a weakened ordering that opens new
/// interleavings, a claim that never ends) fails it by name once it passes a bound,
/// instead of running for as long as memory lasts. The bounds count interleavings and
/// branches, not time, so a loaded machine only makes a model slower, never failing.
fn model<F>(max_interleavings: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(3);
    builder.max_branches = MAX_BRANCHES;
    let name = std::thread::current().name().unwrap_or("model").to_owned();
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&iterations);
    let start = std::time::Instant::now();
    let model_name = name.clone();
    builder.check(move || {
        let explored = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        assert!(
            explored <= max_interleavings,
            "{model_name} grew past its bound of {max_interleavings} interleavings: a bug, \
             or a model that needs a new bound"
        );
        f();
    });
    // Shown with `--nocapture`: how much of the model loom explored.
    eprintln!(
        "{name}: {} interleavings in {:.1?} (bound {max_interleavings}, preemption bound {:?})",
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        start.elapsed(),
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
