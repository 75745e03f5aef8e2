//! `ValueTask::from_future` allocates nothing per call in steady state, even when the
//! async body really suspends, counted with a process-wide allocator (every thread's
//! allocations count, tokio's workers included).
//!
//! One `#[test]` runs every case one after another, so the harness and other tests do
//! not allocate into the counter meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use valuetask::{Abandoned, Completer, ResetCore, SourcePool, ValueTask, future_pool};

/// Counts every allocation (`alloc`, `alloc_zeroed`, `realloc`) made by any thread.
struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counter has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we forward.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: as for `alloc`: `ptr` and `layout` come from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`: `ptr` and `layout` come from this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const WARM_UP: u64 = 1_000;
const ITERATIONS: u64 = 10_000;

/// Runs `op` `WARM_UP` times, then `ITERATIONS` times while counting the allocations of
/// all threads.
fn allocations_of(mut op: impl FnMut(u64)) -> usize {
    for i in 0..WARM_UP {
        op(i);
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for i in 0..ITERATIONS {
        op(i);
    }
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

fn poll_noop<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to completion, parking the thread between polls. Allocates nothing.
fn block_on<F: Future + Unpin>(waker: &Waker, mut future: F) -> F::Output {
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(value) = Pin::new(&mut future).poll(&mut cx) {
            return value;
        }
        thread::park();
    }
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
    let mut check = |name: &str, allocations: usize| {
        if allocations != 0 {
            failures.push(format!(
                "{name}: {allocations} allocations in {ITERATIONS} calls"
            ));
        }
    };

    // Sanity: the counter sees a plain boxed future.
    let boxed = allocations_of(|i| {
        let mut task = ValueTask::boxed(async move { black_box(i) });
        assert_eq!(poll_noop(&mut task), Poll::Ready(i));
    });
    assert_eq!(boxed, ITERATIONS as usize, "the counter sees every box");

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    // Let the runtime's threads finish starting (they allocate once each).
    thread::sleep(Duration::from_millis(50));
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
