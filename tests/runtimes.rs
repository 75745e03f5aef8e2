//! Runtime-agnostic: `ValueTask` uses only `std::task`, so it runs unchanged on tokio's
//! multi-thread runtime, the futures executor and smol. On each, a `ResetCore` and a
//! `SourcePool` are completed from other threads and tasks, many operations at once.

use std::sync::Arc;
use std::thread;

use futures::stream::{FuturesUnordered, StreamExt};
use valuetask::{Abandoned, Completer, ResetCore, SourcePool, ValueTask};

mod support;

use support::poll::{WAKE_DEADLINE, Watchdog};

// Every test fails by name ("lost wake-up?") instead of hanging: tokio's with a tokio
// timeout, smol's with a smol timer, and the futures executor's (which has no timer)
// with a watchdog that aborts the process.

/// Runs `body` on tokio, panicking with `test`'s name if it is still pending after
/// [`WAKE_DEADLINE`].
async fn tokio_deadline<T>(test: &str, body: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAKE_DEADLINE, body)
        .await
        .unwrap_or_else(|_| panic!("{test}: still pending after {WAKE_DEADLINE:?} (lost wake-up?)"))
}

/// Runs `body` on smol, panicking with `test`'s name if it is still pending after
/// [`WAKE_DEADLINE`].
async fn smol_deadline<T>(test: &str, body: impl Future<Output = T>) -> T {
    smol::future::or(body, async {
        smol::Timer::after(WAKE_DEADLINE).await;
        panic!("{test}: still pending after {WAKE_DEADLINE:?} (lost wake-up?)")
    })
    .await
}

/// Sequential rounds per test; Miri runs a handful (only the futures-executor tests run
/// under Miri: tokio's and smol's runtimes are too slow there).
const ROUNDS: u64 = if cfg!(miri) { 8 } else { 500 };
/// Operations in flight at once.
const CONCURRENT: u64 = if cfg!(miri) { 24 } else { 1_000 };

/// Completes every completer it receives with `value * 2`, on a plain thread.
fn doubling_thread(completers: std::sync::mpsc::Receiver<(Completer<u64>, u64)>) {
    for (completer, value) in completers {
        completer.succeed(value * 2).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// tokio
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
async fn tokio_reset_core_completed_from_a_thread_and_a_task() {
    tokio_deadline(
        "tokio_reset_core_completed_from_a_thread_and_a_task",
        async {
            let core = Arc::new(ResetCore::new());
            for round in 0..ROUNDS {
                let token = core.reset();
                let producer = Arc::clone(&core);
                if round % 2 == 0 {
                    thread::spawn(move || producer.complete(token, round).unwrap());
                } else {
                    tokio::spawn(async move { producer.complete(token, round).unwrap() });
                }
                assert_eq!(ValueTask::from_source(&*core, token).await, round);
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
async fn tokio_reset_core_awaited_in_a_spawned_task() {
    tokio_deadline("tokio_reset_core_awaited_in_a_spawned_task", async {
        let core = Arc::new(ResetCore::new());
        for round in 0..ROUNDS {
            let token = core.reset();
            let waiter = {
                let core = Arc::clone(&core);
                tokio::spawn(async move { ValueTask::from_source(&*core, token).await })
            };
            tokio::task::yield_now().await;
            core.complete(token, round).unwrap();
            assert_eq!(waiter.await.unwrap(), round);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
async fn tokio_pool_completed_from_other_tasks_many_at_once() {
    tokio_deadline(
        "tokio_pool_completed_from_other_tasks_many_at_once",
        async {
            let pool = SourcePool::<u64>::new();
            let mut waiters = Vec::new();
            for i in 0..CONCURRENT {
                let (task, completer) = pool.rent();
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    completer.succeed(i * 2).unwrap();
                });
                waiters.push(tokio::spawn(task));
            }
            for (i, waiter) in (0..).zip(waiters) {
                assert_eq!(waiter.await.unwrap(), Ok(i * 2));
            }
            assert_eq!(pool.stats().in_use, 0);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
async fn tokio_pool_completed_from_a_thread_many_at_once() {
    tokio_deadline("tokio_pool_completed_from_a_thread_many_at_once", async {
        let pool = SourcePool::<u64>::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let producer = thread::spawn(move || doubling_thread(rx));
        let mut pending: FuturesUnordered<_> = (0..CONCURRENT)
            .map(|i| {
                let (task, completer) = pool.rent();
                tx.send((completer, i)).unwrap();
                async move { (i, task.await) }
            })
            .collect();
        drop(tx);
        let mut seen = 0;
        while let Some((i, result)) = pending.next().await {
            assert_eq!(result, Ok(i * 2));
            seen += 1;
        }
        assert_eq!(seen, CONCURRENT);
        producer.join().unwrap();
        assert_eq!(pool.stats().in_use, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is too slow under Miri")]
async fn tokio_pool_abandoned_and_cancelled_across_tasks() {
    tokio_deadline("tokio_pool_abandoned_and_cancelled_across_tasks", async {
        let pool = SourcePool::<u64>::new();
        for _ in 0..ROUNDS {
            let (task, completer) = pool.rent();
            tokio::spawn(async move { drop(completer) });
            assert_eq!(task.await, Err(Abandoned));

            let (task, completer) = pool.rent();
            drop(task);
            let back = tokio::spawn(async move {
                assert!(completer.is_cancelled());
                completer.succeed(1)
            });
            assert_eq!(back.await.unwrap(), Err(1));
        }
        assert_eq!(pool.stats().in_use, 0);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// futures executor
// ---------------------------------------------------------------------------------------

#[test]
fn futures_executor_reset_core_completed_from_threads() {
    let _watchdog = Watchdog::arm("futures_executor_reset_core_completed_from_threads");
    let core = Arc::new(ResetCore::new());
    for round in 0..ROUNDS {
        let token = core.reset();
        let producer = Arc::clone(&core);
        let worker = thread::spawn(move || producer.complete(token, round).unwrap());
        let value = futures::executor::block_on(ValueTask::from_source(&*core, token));
        assert_eq!(value, round);
        worker.join().unwrap();
    }
}

#[test]
fn futures_executor_pool_many_at_once_on_a_local_pool() {
    let _watchdog = Watchdog::arm("futures_executor_pool_many_at_once_on_a_local_pool");
    let pool = SourcePool::<u64>::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let producer = thread::spawn(move || doubling_thread(rx));
    let mut local = futures::executor::LocalPool::new();
    let spawner = local.spawner();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for i in 0..CONCURRENT {
        let (task, completer) = pool.rent();
        let done = Arc::clone(&done);
        futures::task::LocalSpawnExt::spawn_local(&spawner, async move {
            assert_eq!(task.await, Ok(i * 2));
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
        tx.send((completer, i)).unwrap();
    }
    drop(tx);
    local.run();
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), CONCURRENT);
    producer.join().unwrap();
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn futures_executor_pool_completed_by_many_threads() {
    let _watchdog = Watchdog::arm("futures_executor_pool_completed_by_many_threads");
    let pool = SourcePool::<u64>::with_capacity(64);
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let (tx, rx) = std::sync::mpsc::channel();
            (tx, thread::spawn(move || doubling_thread(rx)))
        })
        .collect();
    let results = futures::executor::block_on(async {
        let mut pending = FuturesUnordered::new();
        for i in 0..CONCURRENT {
            let (task, completer) = pool.rent();
            producers[(i % 4) as usize].0.send((completer, i)).unwrap();
            pending.push(async move { (i, task.await) });
        }
        let mut results = Vec::new();
        while let Some(item) = pending.next().await {
            results.push(item);
        }
        results
    });
    assert_eq!(results.len() as u64, CONCURRENT);
    for (i, result) in results {
        assert_eq!(result, Ok(i * 2));
    }
    for (tx, handle) in producers {
        drop(tx);
        handle.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0);
}

// ---------------------------------------------------------------------------------------
// smol
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    miri,
    ignore = "smol's executor and reactor are unsupported or too slow under Miri"
)]
fn smol_reset_core_completed_from_a_spawned_task_and_a_thread() {
    smol::block_on(smol_deadline(
        "smol_reset_core_completed_from_a_spawned_task_and_a_thread",
        async {
            let core = Arc::new(ResetCore::new());
            for round in 0..ROUNDS {
                let token = core.reset();
                let producer = Arc::clone(&core);
                if round % 2 == 0 {
                    smol::spawn(async move { producer.complete(token, round).unwrap() }).detach();
                } else {
                    smol::unblock(move || producer.complete(token, round).unwrap()).detach();
                }
                assert_eq!(ValueTask::from_source(&*core, token).await, round);
            }
        },
    ));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "smol's executor and reactor are unsupported or too slow under Miri"
)]
fn smol_pool_completed_from_other_tasks_many_at_once() {
    smol::block_on(smol_deadline(
        "smol_pool_completed_from_other_tasks_many_at_once",
        async {
            let pool = SourcePool::<u64>::new();
            let mut waiters = Vec::new();
            for i in 0..CONCURRENT {
                let (task, completer) = pool.rent();
                smol::spawn(async move {
                    smol::future::yield_now().await;
                    completer.succeed(i * 2).unwrap();
                })
                .detach();
                waiters.push(smol::spawn(task));
            }
            for (i, waiter) in (0..).zip(waiters) {
                assert_eq!(waiter.await, Ok(i * 2));
            }
            assert_eq!(pool.stats().in_use, 0);
        },
    ));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "smol's executor and reactor are unsupported or too slow under Miri"
)]
fn smol_pool_completed_from_a_thread_many_at_once() {
    let pool = SourcePool::<u64>::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let producer = thread::spawn(move || doubling_thread(rx));
    smol::block_on(smol_deadline(
        "smol_pool_completed_from_a_thread_many_at_once",
        async {
            let mut pending: FuturesUnordered<_> = (0..CONCURRENT)
                .map(|i| {
                    let (task, completer) = pool.rent();
                    tx.send((completer, i)).unwrap();
                    async move { (i, task.await) }
                })
                .collect();
            let mut seen = 0;
            while let Some((i, result)) = pending.next().await {
                assert_eq!(result, Ok(i * 2));
                seen += 1;
            }
            assert_eq!(seen, CONCURRENT);
        },
    ));
    drop(tx);
    producer.join().unwrap();
    assert_eq!(pool.stats().in_use, 0);
}
