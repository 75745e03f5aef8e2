//! Every departure path of a pool slot, each on two threads and each followed at once by
//! a reuse of the same slot: the next rental polls its task, polls `cancelled()` and
//! completes, touching every cell while the side that left may still be running. A
//! half that touched the slot after its leaving step would race that reuse; Miri's
//! race checker (`-Zmiri-many-seeds`) and ThreadSanitizer see it. Small on purpose, so
//! Miri runs them all: `cargo +nightly miri test --test departure_pool`.
//!
//! A `SourcePool` is LIFO on its free list and a thread's cache, so with one rental at a
//! time the next rental gets the slot just vacated.

mod support;

use std::thread;

use support::poll::{block_on_deadline, poll_noop, poll_once, thread_waker};
use valuetask::{Abandoned, SourcePool};

/// How many times each path runs (with the seeds Miri adds, enough to land on both
/// orders of the two departures).
const ROUNDS: usize = if cfg!(miri) { 2 } else { 200 };

/// Reuses the slot a rental just left, touching every cell: the task's waker (a poll),
/// the cancel waker (`cancelled()` polled), the value (complete, then take).
fn reuse(pool: &SourcePool<u64>) {
    let (mut task, mut completer) = pool.rent();
    assert!(poll_noop(&mut task).is_pending());
    assert!(poll_noop(&mut completer.cancelled()).is_pending());
    completer.succeed(99).unwrap();
    assert_eq!(block_on_deadline(task), Ok(99));
}

/// The completer publishes (no task waker, a `cancelled` waker of its own taken back
/// first: the `select!` where the work wins) while the task awaits here, then reuses.
#[test]
fn publish_with_cancel_waker_then_reuse() {
    let pool: SourcePool<u64> = SourcePool::with_capacity(1);
    for round in 0..ROUNDS {
        let (task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer.cancelled()).is_pending());
        let producer = thread::spawn(move || completer.succeed(1).unwrap());
        if round % 2 == 0 {
            assert_eq!(block_on_deadline(task), Ok(1));
        } else {
            let mut task = task;
            while poll_noop(&mut task).is_pending() {
                thread::yield_now();
            }
        }
        reuse(&pool);
        producer.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0);
}

/// The task waits with a waker: the completer takes it, leaves (`leave_after_waking`)
/// and wakes it; the task takes the value (perhaps before the completer left:
/// `leave_with_value`), then reuses.
#[test]
fn wake_then_leave_vs_take_then_reuse() {
    let pool: SourcePool<u64> = SourcePool::with_capacity(1);
    for _ in 0..ROUNDS {
        let (mut task, completer) = pool.rent();
        let waker = thread_waker();
        assert!(poll_once(&mut task, &waker).is_pending());
        let producer = thread::spawn(move || completer.succeed(2).unwrap());
        assert_eq!(block_on_deadline(task), Ok(2));
        reuse(&pool);
        producer.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0);
}

/// The task re-polls with a new waker each time (`reclaim_waker`) while the completer
/// completes; then reuse.
#[test]
fn repoll_with_new_wakers_vs_complete_then_reuse() {
    let pool: SourcePool<u64> = SourcePool::with_capacity(1);
    for _ in 0..ROUNDS {
        let (mut task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer.cancelled()).is_pending());
        let producer = thread::spawn(move || completer.succeed(3).unwrap());
        let value = loop {
            let waker = thread_waker();
            if let std::task::Poll::Ready(value) = poll_once(&mut task, &waker) {
                break value;
            }
            thread::yield_now();
        };
        assert_eq!(value, Ok(3));
        reuse(&pool);
        producer.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0);
}

/// The completer is dropped (its `cancelled` waker registered) while the task waits:
/// the task gets `Abandoned`, then reuses.
#[test]
fn abandon_vs_wait_then_reuse() {
    let pool: SourcePool<u64> = SourcePool::with_capacity(1);
    for _ in 0..ROUNDS {
        let (task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer.cancelled()).is_pending());
        let producer = thread::spawn(move || drop(completer));
        assert_eq!(block_on_deadline(task), Err(Abandoned));
        reuse(&pool);
        producer.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0);
}

/// The task is dropped (unpolled, or polled) while the completer completes on another
/// thread, which then reuses the slot; the value comes back or is dropped once.
fn task_drop_vs_complete(polled: bool) {
    let pool: SourcePool<u64> = SourcePool::with_capacity(1);
    for _ in 0..ROUNDS {
        let (mut task, completer) = pool.rent();
        if polled {
            assert!(poll_noop(&mut task).is_pending());
        }
        let producer = {
            let pool = pool.clone();
            thread::spawn(move || {
                let _ = completer.succeed(4);
                reuse(&pool);
            })
        };
        drop(task);
        reuse(&pool);
        producer.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn unpolled_task_drop_vs_complete_then_reuse() {
    task_drop_vs_complete(false);
}

#[test]
fn polled_task_drop_vs_complete_then_reuse() {
    task_drop_vs_complete(true);
}

/// The completer waits in `cancelled()` while the task is dropped (it takes the cancel
/// waker: `CANCEL_WAKING`, then `end_cancel_waking`); the completer then completes
/// (`leave_after_task`) and reuses at once.
#[test]
fn cancel_waking_vs_complete_then_reuse() {
    let pool: SourcePool<u64> = SourcePool::with_capacity(1);
    for _ in 0..ROUNDS {
        let (task, mut completer) = pool.rent();
        let waker = thread_waker();
        assert!(poll_once(&mut completer.cancelled(), &waker).is_pending());
        let dropper = thread::spawn(move || drop(task));
        block_on_deadline(completer.cancelled());
        assert_eq!(completer.succeed(5), Err(5));
        reuse(&pool);
        dropper.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0);
}

/// The last pool handle is dropped while both halves leave on two threads: the pool's
/// memory is freed by whichever leaves last; a new pool (often at the same address)
/// is made and reused at once.
#[test]
fn last_handle_dropped_while_halves_leave() {
    for _ in 0..ROUNDS {
        let pool: SourcePool<u64> = SourcePool::with_capacity(1);
        let (task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer.cancelled()).is_pending());
        let producer = thread::spawn(move || completer.succeed(6).unwrap());
        drop(pool);
        assert_eq!(block_on_deadline(task), Ok(6));
        let next: SourcePool<u64> = SourcePool::with_capacity(1);
        reuse(&next);
        producer.join().unwrap();
    }
}
