//! Many threads renting from one `SourcePool` at once, on every path a rental can take:
//! completed before the first poll, parked and completed from another thread, failed,
//! cancelled (the task dropped), abandoned (the completer dropped), and raced.
//!
//! Every value carries its operation's id and counts its drops in a shared ledger, so
//! the tests check that each task resolved to its own value, that every value was
//! dropped exactly once, and that every slot went back to the pool. Counts are bounded;
//! nothing depends on timing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::task::{Context, Poll, Waker};
use std::thread;

use valuetask::{Abandoned, Completer, SourcePool, ValueTask};

mod support;

// Every wait for a wake-up fails by name ("lost wake-up?") instead of hanging.
use support::poll::{WAKE_DEADLINE, block_on_deadline as block_on, park_until};
// A real waker: counts its wakes and unparks the thread that waits on it.
use support::waker::CountingWaker as Parker;

const THREADS: usize = 8;

/// Per-operation counters, indexed by operation id.
struct Ledger {
    created: Vec<AtomicU8>,
    dropped: Vec<AtomicU8>,
    /// How many times the operation's outcome was checked; each must end at 1.
    checked: Vec<AtomicU8>,
}

impl Ledger {
    fn new(ops: usize) -> Arc<Self> {
        let zeros = || (0..ops).map(|_| AtomicU8::new(0)).collect();
        Arc::new(Self {
            created: zeros(),
            dropped: zeros(),
            checked: zeros(),
        })
    }

    fn check(&self, id: u32) {
        self.checked[id as usize].fetch_add(1, Ordering::SeqCst);
    }
}

/// A value that records its creation and its drop in the ledger under its id.
#[derive(Debug)]
struct Tracked {
    id: u32,
    ledger: Arc<Ledger>,
}

impl Tracked {
    fn new(id: u32, ledger: &Arc<Ledger>) -> Self {
        ledger.created[id as usize].fetch_add(1, Ordering::SeqCst);
        Self {
            id,
            ledger: Arc::clone(ledger),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.ledger.dropped[self.id as usize].fetch_add(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ledger")
    }
}

#[derive(Debug)]
enum StressError {
    Abandoned,
    Failed(Tracked),
}

impl From<Abandoned> for StressError {
    fn from(_: Abandoned) -> Self {
        Self::Abandoned
    }
}

type Task = ValueTask<'static, Result<Tracked, StressError>>;

fn poll_with(task: &mut Task, parker: &Arc<Parker>) -> Poll<Result<Tracked, StressError>> {
    let waker = Waker::from(Arc::clone(parker));
    Pin::new(task).poll(&mut Context::from_waker(&waker))
}

/// What the task of an operation must resolve to.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Value,
    Failed,
    Abandoned,
    /// Completed with a value that the task drops unread.
    DropUnread,
}

/// Checks a resolved task's result against its operation, then drops the result.
fn check_result(ledger: &Ledger, id: u32, expect: Expect, result: Result<Tracked, StressError>) {
    match (expect, result) {
        (Expect::Value, Ok(value)) => assert_eq!(value.id, id, "another operation's value"),
        (Expect::Failed, Err(StressError::Failed(value))) => {
            assert_eq!(value.id, id, "another operation's error");
        }
        (Expect::Abandoned, Err(StressError::Abandoned)) => {}
        (expect, result) => panic!("operation {id}: expected {expect:?}, got {result:?}"),
    }
    ledger.check(id);
}

/// What the thread that receives a completer does with it.
#[derive(Debug)]
enum Order {
    Succeed,
    Fail,
    Abandon,
    /// The task was dropped before the completer was sent.
    ExpectCancelled,
    /// The task is dropped around the time the completer is used: either outcome is fine.
    RaceCancel,
}

struct Job {
    id: u32,
    order: Order,
    completer: Completer<Tracked, StressError>,
}

fn run_job(ledger: &Arc<Ledger>, job: Job) {
    let Job {
        id,
        order,
        completer,
    } = job;
    match order {
        Order::Succeed => completer.succeed(Tracked::new(id, ledger)).unwrap(),
        Order::Fail => completer
            .fail(StressError::Failed(Tracked::new(id, ledger)))
            .unwrap(),
        Order::Abandon => drop(completer),
        Order::ExpectCancelled => {
            assert!(
                completer.is_cancelled(),
                "operation {id}: task dropped, not seen"
            );
            let back = completer.succeed(Tracked::new(id, ledger)).unwrap_err();
            assert_eq!(back.id, id);
            ledger.check(id);
        }
        Order::RaceCancel => {
            let cancelled = completer.is_cancelled();
            match completer.succeed(Tracked::new(id, ledger)) {
                Ok(()) => assert!(!cancelled, "operation {id}: cancelled, then accepted"),
                Err(back) => assert_eq!(back.id, id),
            }
            ledger.check(id);
        }
    }
}

/// A task that was pending when last polled, waiting for its wake.
struct Parked {
    id: u32,
    expect: Expect,
    task: Task,
    parker: Arc<Parker>,
}

impl Parked {
    /// Polls the task after its wake: a woken task must be ready, woken exactly once.
    fn finish(mut self, ledger: &Ledger) {
        if let Expect::DropUnread = self.expect {
            // Woken, so completed: dropping the task now drops the unread value here.
            assert!(
                self.task.is_ready(),
                "operation {}: woken but not ready",
                self.id
            );
            let dropped = &ledger.dropped[self.id as usize];
            assert_eq!(dropped.load(Ordering::SeqCst), 0);
            drop(self.task);
            assert_eq!(dropped.load(Ordering::SeqCst), 1, "operation {}", self.id);
            assert_eq!(self.parker.wakes(), 1, "operation {}", self.id);
            assert_eq!(Arc::strong_count(&self.parker), 1, "operation {}", self.id);
            ledger.check(self.id);
            return;
        }
        let result = match poll_with(&mut self.task, &self.parker) {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("operation {}: woken but not ready", self.id),
        };
        assert_eq!(self.parker.wakes(), 1, "operation {}", self.id);
        check_result(ledger, self.id, self.expect, result);
        // Both halves are gone: nothing holds the waker any more.
        drop(self.task);
        assert_eq!(Arc::strong_count(&self.parker), 1, "operation {}", self.id);
    }
}

/// How an operation goes, spread evenly but not in lockstep across ids.
fn mode(id: u32) -> u32 {
    let mut x = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    (x % 8) as u32
}

fn worker(
    first_id: u32,
    ops: u32,
    pool: SourcePool<Tracked, StressError>,
    ledger: Arc<Ledger>,
    next: Sender<Job>,
    inbox: Receiver<Job>,
) {
    let mut parked: Vec<Parked> = Vec::new();
    let mut unpolled: Vec<(u32, Task)> = Vec::new();
    for id in first_id..first_id + ops {
        let (mut task, completer) = pool.rent();
        match mode(id) {
            // Completed before the first poll, on this thread.
            0 => {
                completer.succeed(Tracked::new(id, &ledger)).unwrap();
                assert!(task.is_ready());
                let result = if id % 2 == 0 {
                    task.into_ready()
                        .unwrap_or_else(|_| panic!("operation {id}: completed, not ready"))
                } else {
                    block_on(task)
                };
                check_result(&ledger, id, Expect::Value, result);
            }
            // Parked with a real waker, then completed (or failed, or abandoned) elsewhere.
            mode @ 1..=3 => {
                let parker = Parker::unparking();
                assert!(poll_with(&mut task, &parker).is_pending());
                let (order, expect) = match mode {
                    1 if id % 3 == 0 => (Order::Succeed, Expect::DropUnread),
                    1 => (Order::Succeed, Expect::Value),
                    2 => (Order::Fail, Expect::Failed),
                    _ => (Order::Abandon, Expect::Abandoned),
                };
                next.send(Job {
                    id,
                    order,
                    completer,
                })
                .unwrap();
                parked.push(Parked {
                    id,
                    expect,
                    task,
                    parker,
                });
            }
            // Abandoned before the first poll: here, so it is ready at once, or on the
            // next thread, awaited at the end (blocking now could wait in a cycle).
            4 => {
                if id % 2 == 0 {
                    drop(completer);
                    assert!(task.is_ready());
                    let result = task
                        .into_ready()
                        .unwrap_or_else(|_| panic!("operation {id}: abandoned, not ready"));
                    check_result(&ledger, id, Expect::Abandoned, result);
                } else {
                    next.send(Job {
                        id,
                        order: Order::Abandon,
                        completer,
                    })
                    .unwrap();
                    unpolled.push((id, task));
                }
            }
            // Cancelled: the task is dropped (after a pending poll for odd ids), and the
            // completer elsewhere sees it and gets its value back.
            5 => {
                if id % 2 == 1 {
                    let parker = Parker::unparking();
                    assert!(poll_with(&mut task, &parker).is_pending());
                    drop(task);
                    assert_eq!(parker.wakes(), 0);
                } else {
                    drop(task);
                }
                assert!(completer.is_cancelled());
                next.send(Job {
                    id,
                    order: Order::ExpectCancelled,
                    completer,
                })
                .unwrap();
            }
            // Cancelled while the completer may already be completing elsewhere.
            6 => {
                next.send(Job {
                    id,
                    order: Order::RaceCancel,
                    completer,
                })
                .unwrap();
                drop(task);
            }
            // Completed elsewhere while this thread polls: either order may win.
            _ => {
                next.send(Job {
                    id,
                    order: Order::Succeed,
                    completer,
                })
                .unwrap();
                let parker = Parker::unparking();
                match poll_with(&mut task, &parker) {
                    Poll::Ready(result) => {
                        assert!(parker.wakes() <= 1);
                        check_result(&ledger, id, Expect::Value, result);
                    }
                    Poll::Pending => parked.push(Parked {
                        id,
                        expect: Expect::Value,
                        task,
                        parker,
                    }),
                }
            }
        }

        // Serve the previous thread's completers, and finish whatever was woken.
        while let Ok(job) = inbox.try_recv() {
            run_job(&ledger, job);
        }
        let mut i = 0;
        while i < parked.len() {
            if parked[i].parker.wakes() > 0 {
                parked.swap_remove(i).finish(&ledger);
            } else {
                i += 1;
            }
        }
    }

    // No more sends: the next thread's inbox closes once it has all of ours. Ours closes
    // when the previous thread is done sending, which never waits on anything.
    drop(next);
    drop(pool);
    for job in inbox {
        run_job(&ledger, job);
    }
    for (id, task) in unpolled {
        check_result(&ledger, id, Expect::Abandoned, block_on(task));
    }
    for waiting in parked {
        park_until(&format_args!("operation {}", waiting.id), || {
            waiting.parker.wakes() > 0
        });
        waiting.finish(&ledger);
    }
}

/// Runs `ops_per_thread` operations on each of `THREADS` threads sharing one pool.
fn stress(ops_per_thread: u32) {
    let total = THREADS * ops_per_thread as usize;
    let ledger = Ledger::new(total);
    let pool: SourcePool<Tracked, StressError> = SourcePool::new();

    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| channel()).unzip();
    let mut senders: Vec<Option<Sender<Job>>> = senders.into_iter().map(Some).collect();
    let workers: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, inbox)| {
            // Thread `t` sends its completers to thread `t + 1`.
            let next = senders[(t + 1) % THREADS].take().unwrap();
            let pool = pool.clone();
            let ledger = Arc::clone(&ledger);
            let first_id = t as u32 * ops_per_thread;
            thread::spawn(move || worker(first_id, ops_per_thread, pool, ledger, next, inbox))
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }

    let stats = pool.stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
    assert_eq!(stats.available, stats.capacity);
    for id in 0..total {
        let created = ledger.created[id].load(Ordering::SeqCst);
        let dropped = ledger.dropped[id].load(Ordering::SeqCst);
        let checked = ledger.checked[id].load(Ordering::SeqCst);
        let expected_created = match mode(id as u32) {
            3 | 4 => 0,
            _ => 1,
        };
        assert_eq!(created, expected_created, "operation {id} created");
        assert_eq!(dropped, created, "operation {id}: dropped {dropped} times");
        assert_eq!(
            checked, 1,
            "operation {id}: outcome checked {checked} times"
        );
    }
    drop(pool);
    assert_eq!(Arc::strong_count(&ledger), 1, "a value was leaked");
}

#[test]
fn eight_threads_small() {
    stress(if cfg!(miri) { 30 } else { 500 });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "hundreds of thousands of operations take hours under Miri"
)]
fn eight_threads_320_thousand_operations() {
    stress(40_000);
}

/// Every thread rents a burst at once from a pool that starts empty, so chunks are
/// installed concurrently; the completions run in reverse on another thread.
fn bursts(rounds: usize, burst: usize) {
    let pool: SourcePool<usize> = SourcePool::new();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = pool.clone();
            thread::spawn(move || {
                for round in 0..rounds {
                    let base = (t * rounds + round) * burst;
                    let (tasks, completers): (Vec<_>, Vec<_>) =
                        (0..burst).map(|_| pool.rent()).unzip();
                    let producer = thread::spawn(move || {
                        for (i, completer) in completers.into_iter().enumerate().rev() {
                            completer.succeed(base + i).unwrap();
                        }
                    });
                    for (i, task) in tasks.into_iter().enumerate() {
                        assert_eq!(block_on(task), Ok(base + i));
                    }
                    producer.join().unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let stats = pool.stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
    assert!(stats.capacity >= burst, "{stats:?}");
}

#[test]
fn concurrent_bursts_grow_the_pool_safely() {
    if cfg!(miri) {
        bursts(2, 20);
    } else {
        bursts(50, 300);
    }
}

#[test]
#[cfg_attr(miri, ignore = "tokio's multi-thread runtime is slow under Miri")]
fn tokio_multi_thread_tasks_await_pooled_results() {
    const OPS: usize = 2_000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let pool: SourcePool<usize> = SourcePool::new();
    let run = async {
        let mut awaiters = Vec::with_capacity(OPS);
        for i in 0..OPS {
            let (task, completer) = pool.rent();
            awaiters.push(tokio::spawn(async move { (i, task.await) }));
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                if i % 5 == 0 {
                    drop(completer);
                } else {
                    // The awaiter may have been polled or not: both are fine.
                    completer.succeed(i).unwrap();
                }
            });
        }
        for awaiter in awaiters {
            let (i, result) = awaiter.await.unwrap();
            if i % 5 == 0 {
                assert_eq!(result, Err(Abandoned));
            } else {
                assert_eq!(result, Ok(i));
            }
        }
    };
    runtime
        .block_on(async { tokio::time::timeout(WAKE_DEADLINE, run).await })
        .expect("tokio_multi_thread_tasks_await_pooled_results: lost wake-up?");
    drop(runtime);
    assert_eq!(pool.stats().in_use, 0);
}
