//! `ValueTask::from_future` allocates nothing per call in steady state, even when the
//! async body really suspends, counted with a process-wide allocator (every thread's
//! allocations count, tokio's workers included).
//!
//! One `#[test]` runs every case one after another, so the harness and other tests do
//! not allocate into the counter meanwhile.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::{Condvar, Mutex};
use std::task::{Poll, Waker};

use valuetask::{Abandoned, Completer, ResetCore, SourcePool, ValueTask, future_pool};

mod support;

use support::counting_alloc::{CountingAlloc, counted, wait_until_the_harness_waits};
use support::poll::{WAKE_DEADLINE, Watchdog, block_on, poll_noop, thread_waker};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const WARM_UP: u64 = 1_000;
const ITERATIONS: u64 = 10_000;

/// Runs `op` `WARM_UP` times, then `ITERATIONS` times while counting the allocations of
/// all threads; returns the count, with the first allocation's backtrace if asked for.
fn allocations_of(mut op: impl FnMut(u64)) -> (usize, String) {
    for i in 0..WARM_UP {
        op(i);
    }
    let (counts, ()) = counted(|| {
        for i in 0..ITERATIONS {
            op(i);
        }
    });
    (counts.allocs, counts.explain())
}

type Reply = ValueTask<'static, Result<u64, Abandoned>>;

/// The `dyn` method of the issue: its async body awaits a pooled source that is
/// completed later, so it really suspends.
trait Service: Send + Sync {
    fn call(&self, reply: Reply) -> ValueTask<'_, u64>;
}

struct AddOffset(u64);

impl Service for AddOffset {
    fn call(&self, reply: Reply) -> ValueTask<'_, u64> {
        ValueTask::from_future(async move {
            let value = reply.await.expect("completed");
            value + self.0
        })
    }
}

/// How many of the runtime's worker threads have gone idle at least once.
static WORKERS_IDLE: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

thread_local! {
    static WENT_IDLE: Cell<bool> = const { Cell::new(false) };
}

/// `on_thread_park`: counts a worker's first park, the end of its start-up.
fn worker_went_idle() {
    if !WENT_IDLE.replace(true) {
        *WORKERS_IDLE.0.lock().unwrap() += 1;
        WORKERS_IDLE.1.notify_all();
    }
}

/// What the test thread hands to the tokio task: a suspended call to finish or drop
/// there, through a `ResetCore` so that the hand-off allocates nothing.
enum Request {
    Finish(ValueTask<'static, u64>, Completer<u64>, u64),
    Drop(ValueTask<'static, u64>, Completer<u64>),
    Stop,
}

#[test]
#[cfg_attr(miri, ignore = "counts allocations of tokio's multi-thread runtime")]
fn dyn_async_calls_allocate_nothing_after_warm_up() {
    let service: &'static dyn Service = Box::leak(Box::new(AddOffset(1)));
    let pool = SourcePool::<u64>::with_capacity(64);
    let mut failures = Vec::new();
    let mut check = |name: &str, (allocations, explain): (usize, String)| {
        if allocations != 0 {
            failures.push(format!("{name}: in {ITERATIONS} calls, {explain}"));
        }
    };

    // The last wait (for the tokio task to stop) is not a poll of ours: a watchdog
    // bounds it. Armed before any counted window.
    let _watchdog = Watchdog::arm("dyn_async_calls_allocate_nothing_after_warm_up");
    // The harness's own thread allocates when it starts waiting for this test's result;
    // let it get there before the first measurement.
    wait_until_the_harness_waits();

    // Sanity: the counter sees a plain boxed future.
    let (boxed, _) = allocations_of(|i| {
        // `black_box` lets the task escape: with every step of a boxed task inlined, the
        // compiler may otherwise see that the box never leaves this loop and elide it.
        let mut task = black_box(ValueTask::boxed(async move { black_box(i) }));
        assert_eq!(poll_noop(&mut task), Poll::Ready(i));
    });
    assert_eq!(boxed, ITERATIONS as usize, "the counter sees every box");

    // A zero-sized future is boxed (not pooled), and its box allocates nothing.
    let zero_sized = ValueTask::from_future(std::future::pending::<u64>());
    assert!(
        format!("{zero_sized:?}").contains("boxed"),
        "{zero_sized:?}"
    );
    drop(zero_sized);
    check(
        "a zero-sized future given to from_future, polled, dropped",
        allocations_of(|_| {
            let mut task = ValueTask::from_future(std::future::pending::<u64>());
            assert!(poll_noop(&mut task).is_pending());
        }),
    );

    check(
        "dyn call suspends, the source completes, polled again",
        allocations_of(|i| {
            let (reply, completer) = pool.rent();
            let mut task = black_box(service).call(reply);
            assert!(poll_noop(&mut task).is_pending());
            completer.succeed(i).unwrap();
            assert_eq!(poll_noop(&mut task), Poll::Ready(i + 1));
        }),
    );

    check(
        "dyn call suspends, then is dropped mid-flight",
        allocations_of(|i| {
            let (reply, completer) = pool.rent();
            let mut task = black_box(service).call(reply);
            assert!(poll_noop(&mut task).is_pending());
            drop(task);
            assert!(completer.is_cancelled());
            assert_eq!(completer.succeed(i), Err(i));
        }),
    );

    // Created and first polled here; finished (or dropped) by a task on tokio's
    // multi-thread runtime, so blocks are taken on this thread and freed on a worker.
    const WORKERS: usize = 2;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .on_thread_park(worker_went_idle)
        .build()
        .unwrap();
    let requests = Arc::new(ResetCore::<Request>::new());
    let responses = Arc::new(ResetCore::<u64>::new());
    let worker = {
        let requests = Arc::clone(&requests);
        let responses = Arc::clone(&responses);
        runtime.spawn(async move {
            let mut token = requests.token();
            loop {
                let request = ValueTask::from_source(&*requests, token).await;
                token = requests.reset();
                let response = responses.token();
                match request {
                    Request::Finish(task, completer, value) => {
                        completer.succeed(value).unwrap();
                        let out = task.await;
                        responses.complete(response, out).unwrap();
                    }
                    Request::Drop(task, completer) => {
                        drop(task);
                        let cancelled = completer.is_cancelled();
                        drop(completer);
                        responses.complete(response, u64::from(cancelled)).unwrap();
                    }
                    Request::Stop => return,
                }
            }
        })
    };
    let waker: Waker = thread_waker();
    // Let the runtime's threads finish starting (they allocate once each): wait until
    // each has gone idle once.
    let idle = WORKERS_IDLE.0.lock().unwrap();
    let (idle, _) = WORKERS_IDLE
        .1
        .wait_timeout_while(idle, WAKE_DEADLINE, |idle| *idle < WORKERS)
        .unwrap();
    assert_eq!(*idle, WORKERS, "the runtime's workers never went idle");
    drop(idle);
    let send = |request: Request| {
        let token = responses.reset();
        if requests.complete(requests.token(), request).is_err() {
            panic!("the worker had not taken the previous request");
        }
        token
    };

    check(
        "dyn call created here, finished on a tokio worker",
        allocations_of(|i| {
            let (reply, completer) = pool.rent();
            let mut task = black_box(service).call(reply);
            assert!(poll_noop(&mut task).is_pending());
            let token = send(Request::Finish(task, completer, i));
            assert_eq!(
                block_on(&waker, ValueTask::from_source(&*responses, token)),
                i + 1
            );
        }),
    );

    check(
        "dyn call created here, dropped mid-flight on a tokio worker",
        allocations_of(|_| {
            let (reply, completer) = pool.rent();
            let mut task = black_box(service).call(reply);
            assert!(poll_noop(&mut task).is_pending());
            let token = send(Request::Drop(task, completer));
            assert_eq!(
                block_on(&waker, ValueTask::from_source(&*responses, token)),
                1
            );
        }),
    );

    send(Request::Stop);
    runtime.block_on(worker).unwrap();
    drop(runtime);

    let stats = future_pool::stats();
    assert!(stats.shared_blocks <= future_pool::SHARED_BLOCKS);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
