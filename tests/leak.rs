//! Nothing leaks, counted outside Miri: after a `SourcePool` and every half it handed
//! out are gone, in every leaving order, the bytes the counting allocator sees as live
//! are back where they started; after `future_pool::trim`, so is everything the future
//! pool took. (Miri checks the same for `tests/pool.rs` and `tests/future_pool.rs` with
//! its own leak checker; this binary checks it in optimised builds, on every thread.)
//!
//! The counter is process-wide, so this binary has one `#[test]`, which runs the cases
//! one after another. Each case runs once unmeasured first, so that lazily made
//! per-thread and per-process state (a thread's handle, the future pool's per-thread
//! inbox, which outlives its thread for reuse) exists before the window opens.

use std::hint::black_box;
use std::thread;

use valuetask::{Abandoned, SourcePool, ValueTask, future_pool};

mod support;

use support::counting_alloc::{CountingAlloc, Counts, counted, wait_until_the_harness_waits};
use support::poll::{Watchdog, block_on, poll_noop, thread_waker, yield_once};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// Rentals per case: more than one chunk, so the pool grows.
const RENTALS: usize = 200;

/// Runs `case` once to warm up, then in a counted window; returns what the window saw.
fn counted_after_warm_up(case: fn()) -> Counts {
    case();
    counted(case).0
}

/// A value with memory of its own, so that a value left in a slot and never dropped
/// shows up as live bytes.
fn payload(i: usize) -> String {
    format!("value {i:04}")
}

/// Every way a rental can end, `RENTALS` times over, then the pool goes.
fn pool_every_leaving_order(pool_first: bool) {
    let pool: SourcePool<String> = SourcePool::new();
    let waker = thread_waker();
    let mut tasks = Vec::with_capacity(RENTALS);
    let mut completers = Vec::with_capacity(RENTALS);
    for _ in 0..RENTALS {
        let (task, completer) = pool.rent();
        tasks.push(Some(task));
        completers.push(Some(completer));
    }
    // Parked with a real waker, so that a waker clone is held too.
    for task in tasks.iter_mut().step_by(3).flatten() {
        assert!(support::poll::poll_once(task, &waker).is_pending());
    }
    if pool_first {
        drop(pool.clone());
        drop(pool);
    }
    for i in 0..RENTALS {
        let task = tasks[i].take().unwrap();
        let completer = completers[i].take().unwrap();
        match i % 6 {
            // Completed, then read.
            0 => {
                completer.succeed(payload(i)).unwrap();
                assert_eq!(block_on(&waker, task), Ok(payload(i)));
            }
            // Completed, then dropped unread: the value goes with the slot.
            1 => {
                completer.succeed(payload(i)).unwrap();
                drop(task);
            }
            // The task first (cancel), then a completion handed back.
            2 => {
                drop(task);
                assert_eq!(completer.succeed(payload(i)), Err(payload(i)));
            }
            // The task first, then the completer dropped unused.
            3 => {
                drop(task);
                drop(completer);
            }
            // The completer first (abandon), then the task reads the error.
            4 => {
                drop(completer);
                assert_eq!(block_on(&waker, task), Err(Abandoned));
            }
            // The completer first, then the task dropped unread.
            _ => {
                drop(completer);
                drop(task);
            }
        }
    }
}

/// Halves completed and dropped on another thread while the pool handle goes here.
fn pool_halves_on_another_thread() {
    let pool: SourcePool<String> = SourcePool::with_capacity(RENTALS / 2);
    let (tasks, completers): (Vec<_>, Vec<_>) = (0..RENTALS).map(|_| pool.rent()).unzip();
    drop(pool);
    let completing = thread::spawn(move || {
        for (i, completer) in completers.into_iter().enumerate() {
            if i % 2 == 0 {
                let _ = completer.succeed(payload(i));
            }
        }
    });
    let waker = thread_waker();
    for (i, task) in tasks.into_iter().enumerate() {
        if i % 3 == 0 {
            drop(task);
        } else if i % 2 == 0 {
            assert_eq!(block_on(&waker, task), Ok(payload(i)));
        } else {
            assert_eq!(block_on(&waker, task), Err(Abandoned));
        }
    }
    completing.join().unwrap();
}

/// A future that is pending on its first poll and holds `N` bytes (and a heap value)
/// across the suspension.
fn suspending<const N: usize>(i: usize) -> ValueTask<'static, usize> {
    ValueTask::from_future(async move {
        let bytes = [i as u8; N];
        let text = payload(i);
        yield_once().await;
        black_box(&bytes)[N - 1] as usize + text.len()
    })
}

/// Futures of every size class and a boxed one, finished, dropped mid-flight, dropped
/// unpolled, and finished on another thread; then `trim`.
fn future_pool_then_trim() {
    let mut tasks: Vec<ValueTask<'static, usize>> = Vec::new();
    for i in 0..RENTALS {
        tasks.push(match i % 6 {
            0 => suspending::<8>(i),
            1 => suspending::<100>(i),
            2 => suspending::<200>(i),
            3 => suspending::<400>(i),
            4 => suspending::<900>(i),
            _ => suspending::<2000>(i), // boxed: over the largest class
        });
    }
    for task in &mut tasks {
        assert!(poll_noop(task).is_pending());
    }
    let elsewhere: Vec<_> = tasks.split_off(RENTALS / 2);
    let finishing = thread::spawn(move || {
        for (i, mut task) in elsewhere.into_iter().enumerate() {
            if i % 2 == 0 {
                assert!(poll_noop(&mut task).is_ready());
            }
        }
    });
    for (i, mut task) in tasks.into_iter().enumerate() {
        if i % 2 == 0 {
            assert!(poll_noop(&mut task).is_ready());
        }
    }
    drop(suspending::<64>(0)); // never polled
    finishing.join().unwrap();
    // The other thread has exited: its blocks are on the shared stacks, or in this
    // thread's inbox; trim takes both, and this thread's cache.
    future_pool::trim();
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri's own leak check covers tests/pool.rs and tests/future_pool.rs"
)]
fn pools_give_back_every_byte() {
    // Armed before any window (it allocates when armed, and then no more).
    let _watchdog = Watchdog::arm("pools_give_back_every_byte");
    // The harness's own thread allocates when it starts waiting for this test's result;
    // let it get there before the first window.
    wait_until_the_harness_waits();
    let cases: [(&str, fn()); 4] = [
        (
            "SourcePool: every leaving order, the pool handle last",
            || pool_every_leaving_order(false),
        ),
        (
            "SourcePool: every leaving order, the pool handle (and a clone) first",
            || pool_every_leaving_order(true),
        ),
        (
            "SourcePool: halves finished on another thread, the pool handle first",
            pool_halves_on_another_thread,
        ),
        (
            "future_pool: every size class and a boxed future, here and on another thread, then trim",
            future_pool_then_trim,
        ),
    ];
    // Sanity: the counter sees memory that is never given back.
    let (leaked, ()) = counted(|| std::mem::forget(black_box(vec![0u8; 100])));
    assert_eq!(leaked.live_bytes(), 100, "the counter sees a leak");

    let mut failures = Vec::new();
    for (name, case) in cases {
        let counts = counted_after_warm_up(case);
        if counts.live_bytes() != 0 {
            failures.push(format!(
                "{name}: {} bytes still live ({} allocations, {} deallocations)",
                counts.live_bytes(),
                counts.allocs,
                counts.deallocs,
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
