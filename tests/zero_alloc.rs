//! The zero-allocation claims, checked with a process-wide counting allocator.
//!
//! Every allocation of every thread counts, so a completion made on another thread is
//! measured too (divan's profiler sees only its own thread). Because the test harness
//! and any concurrently running test would allocate into the same counter, this binary
//! has exactly one `#[test]`, which runs the cases one after another.

use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;

use valuetask::{Abandoned, Completer, ResetCore, SourcePool, Token, ValueTask};

mod support;

use support::counting_alloc::{CountingAlloc, counted, wait_until_the_harness_waits};
use support::poll::{block_on, poll_noop, thread_waker};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const WARM_UP: u64 = if cfg!(miri) { 4 } else { 1_000 };
const ITERATIONS: u64 = if cfg!(miri) { 16 } else { 10_000 };

/// Runs `op` `WARM_UP` times, then `ITERATIONS` times while counting the allocations of
/// all threads; returns the count and, if asked for, where the first came from.
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

/// The `dyn` method of the headline case: a cache that always hits.
trait Cache {
    fn get(&self, key: u64) -> ValueTask<'_, u64>;
}

struct AlwaysHit;

impl Cache for AlwaysHit {
    fn get(&self, key: u64) -> ValueTask<'_, u64> {
        ValueTask::ready(key.wrapping_mul(3))
    }
}

/// What the main thread asks of the worker thread. The requests travel through a
/// `ResetCore`, so the hand-off itself allocates nothing.
enum Request {
    /// Allocate once on the worker thread (the counter's cross-thread sanity check),
    /// then respond as [`Request::Respond`] does.
    AllocateAndRespond(Token, u64),
    /// Complete this pooled operation with the value.
    Succeed(Completer<u64>, u64),
    /// Complete generation `Token` of the worker's response core with the value.
    Respond(Token, u64),
    Stop,
}

/// A long-lived thread that serves [`Request`]s, one at a time.
struct Worker {
    requests: Arc<ResetCore<Request>>,
    responses: Arc<ResetCore<u64>>,
    handle: thread::JoinHandle<()>,
}

impl Worker {
    fn spawn() -> Self {
        let requests = Arc::new(ResetCore::new());
        let responses = Arc::new(ResetCore::new());
        let handle = {
            let requests = Arc::clone(&requests);
            let responses = Arc::clone(&responses);
            thread::spawn(move || {
                let waker = thread_waker();
                let mut token = requests.token();
                loop {
                    let request = block_on(&waker, ValueTask::from_source(&*requests, token));
                    // Move on before answering: once the main thread has its answer it
                    // sends the next request with the core's new token.
                    token = requests.reset();
                    match request {
                        Request::AllocateAndRespond(token, value) => {
                            drop(black_box(Box::new(value)));
                            responses.complete(token, value).unwrap();
                        }
                        Request::Succeed(completer, value) => completer.succeed(value).unwrap(),
                        Request::Respond(token, value) => responses.complete(token, value).unwrap(),
                        Request::Stop => return,
                    }
                }
            })
        };
        let worker = Self {
            requests,
            responses,
            handle,
        };
        // One round trip: the worker's start-up (its thread, its waker) is over before
        // anything is counted, rather than whenever the thread gets to run.
        let token = worker.responses.reset();
        worker.send(Request::Respond(token, 0));
        let waker = thread_waker();
        let first = block_on(&waker, ValueTask::from_source(&*worker.responses, token));
        assert_eq!(first, 0);
        worker
    }

    /// Hands `request` over; the worker is idle or about to be (it reset the core
    /// before answering the previous request).
    fn send(&self, request: Request) {
        if self
            .requests
            .complete(self.requests.token(), request)
            .is_err()
        {
            panic!("the worker had not taken the previous request");
        }
    }

    fn stop(self) {
        self.send(Request::Stop);
        self.handle.join().unwrap();
    }
}

struct Case {
    name: &'static str,
    allocations: usize,
    explain: String,
    expected: usize,
}

#[test]
fn hot_paths_allocate_nothing_counting_every_thread() {
    let mut cases: Vec<Case> = Vec::with_capacity(16);
    let mut record =
        |name: &'static str, (allocations, explain): (usize, String), expected: usize| {
            cases.push(Case {
                name,
                allocations,
                explain,
                expected,
            });
        };
    let iterations = ITERATIONS as usize;

    // Everything that allocates once is made up front.
    let waker = thread_waker();
    let worker = Worker::spawn();
    let pool = SourcePool::<u64>::with_capacity(16);
    let core = ResetCore::<u64>::new();
    let cache: &dyn Cache = &AlwaysHit;
    // The harness's own thread allocates when it starts waiting for this test's result;
    // let it get there before the first measurement.
    wait_until_the_harness_waits();

    // Sanity: the counter sees an allocation on this thread and on the worker thread,
    // so the zeros below mean something.
    record(
        "sanity: Box::new on this thread counts one per iteration",
        allocations_of(|i| drop(black_box(Box::new(i)))),
        iterations,
    );
    record(
        "sanity: Box::new on the worker thread counts one per iteration",
        allocations_of(|i| {
            let token = worker.responses.reset();
            worker.send(Request::AllocateAndRespond(token, i));
            assert_eq!(
                block_on(&waker, ValueTask::from_source(&*worker.responses, token)),
                i
            );
        }),
        iterations,
    );

    record(
        "dyn method returning ValueTask::ready, polled with a no-op waker",
        allocations_of(|i| {
            let mut task = black_box(cache).get(i);
            assert_eq!(poll_noop(&mut task), Poll::Ready(i.wrapping_mul(3)));
        }),
        0,
    );

    record(
        "map on a ready task stays ready, polled with a no-op waker",
        allocations_of(|i| {
            let mut task = black_box(cache).get(i).map(|n| n + 1);
            assert!(task.is_ready());
            assert_eq!(poll_noop(&mut task), Poll::Ready(i.wrapping_mul(3) + 1));
        }),
        0,
    );

    record(
        "a pooled rental: wait on Completer::cancelled, drop the task",
        allocations_of(|_| {
            let (task, mut completer) = pool.rent();
            let mut cancelled = completer.cancelled();
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut cancelled).poll(&mut cx).is_pending());
            drop(task);
            assert!(Pin::new(&mut cancelled).poll(&mut cx).is_ready());
            drop(completer);
        }),
        0,
    );

    record(
        "ResetCore round trip: reset, complete, poll",
        allocations_of(|i| {
            let token = core.reset();
            core.complete(token, i).unwrap();
            let mut task = ValueTask::from_source(&core, token);
            assert_eq!(poll_noop(&mut task), Poll::Ready(i));
        }),
        0,
    );

    record(
        "ResetCore round trip: reset, poll (pending), complete, poll",
        allocations_of(|i| {
            let token = core.reset();
            let mut task = ValueTask::from_source(&core, token);
            let mut cx = Context::from_waker(&waker);
            assert_eq!(Pin::new(&mut task).poll(&mut cx), Poll::Pending);
            core.complete(token, i).unwrap();
            assert_eq!(Pin::new(&mut task).poll(&mut cx), Poll::Ready(i));
        }),
        0,
    );

    record(
        "SourcePool: rent, complete, await",
        allocations_of(|i| {
            let (task, completer) = pool.rent();
            completer.succeed(i).unwrap();
            assert_eq!(block_on(&waker, task), Ok(i));
        }),
        0,
    );

    record(
        "SourcePool: rent, poll (pending), complete, poll",
        allocations_of(|i| {
            let (mut task, completer) = pool.rent();
            let mut cx = Context::from_waker(&waker);
            assert_eq!(Pin::new(&mut task).poll(&mut cx), Poll::Pending);
            completer.succeed(i).unwrap();
            assert_eq!(Pin::new(&mut task).poll(&mut cx), Poll::Ready(Ok(i)));
        }),
        0,
    );

    record(
        "SourcePool: rent, drop the task (cancel), complete gives the value back",
        allocations_of(|i| {
            let (task, completer) = pool.rent();
            drop(task);
            assert!(completer.is_cancelled());
            assert_eq!(completer.succeed(i), Err(i));
        }),
        0,
    );

    record(
        "SourcePool: rent, drop the completer (abandon), the task gets Err(Abandoned)",
        allocations_of(|_| {
            let (mut task, completer) = pool.rent();
            drop(completer);
            assert_eq!(poll_noop(&mut task), Poll::Ready(Err(Abandoned)));
        }),
        0,
    );

    record(
        "SourcePool: completed on another thread, awaited here",
        allocations_of(|i| {
            let (task, completer) = pool.rent();
            worker.send(Request::Succeed(completer, i));
            assert_eq!(block_on(&waker, task), Ok(i));
        }),
        0,
    );

    record(
        "ResetCore: completed on another thread, awaited here",
        allocations_of(|i| {
            let token = worker.responses.reset();
            worker.send(Request::Respond(token, i));
            assert_eq!(
                block_on(&waker, ValueTask::from_source(&*worker.responses, token)),
                i
            );
        }),
        0,
    );

    worker.stop();
    assert_eq!(pool.stats().in_use, 0, "every rented slot came back");

    let failures: Vec<String> = cases
        .iter()
        .filter(|case| case.allocations != case.expected)
        .map(|case| {
            format!(
                "{}: in {} iterations, expected {}, saw {}",
                case.name, ITERATIONS, case.expected, case.explain
            )
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
