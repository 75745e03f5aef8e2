//! Futures the size of real services' (object_store's S3 `put_opts` future is 5,112
//! bytes) are pooled in the 8 KiB class and allocate nothing per call in steady state,
//! through `ValueTask::from_future` and through a `dyn` method of
//! `#[valuetask::async_trait]`: finished or dropped on this thread, and finished or
//! dropped on another thread. Counted with a process-wide allocator (every thread's
//! allocations count).
//!
//! One `#[test]` runs every case one after another, so other tests do not allocate into
//! the counter meanwhile, and it waits for the harness to settle before it counts.

use std::hint::black_box;
use std::sync::{Condvar, Mutex};
use std::task::Poll;
use std::thread;

use valuetask::{Abandoned, Completer, SourcePool, ValueTask, future_pool};

mod support;

use support::counting_alloc::{
    CountingAlloc, Counts, counted_after_warm_up, wait_until_the_harness_waits,
};
use support::poll::poll_noop;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

const WARM_UP: u64 = 1_000;
const ITERATIONS: u64 = 10_000;

/// The bytes each body holds across its await: the size of the S3 `put_opts` future.
const PAYLOAD: usize = 5_112;

/// Runs `op` `WARM_UP` times, then `ITERATIONS` times while counting the allocations of
/// all threads.
fn allocations_of(op: impl FnMut(u64)) -> Counts {
    counted_after_warm_up(WARM_UP, ITERATIONS, op)
}

type Reply = ValueTask<'static, Result<u64, Abandoned>>;

/// The body both tiers run: `PAYLOAD` bytes held across an await of `reply`.
async fn put_payload(reply: Reply) -> u64 {
    let payload = [1u8; PAYLOAD];
    let value = reply.await.expect("completed");
    value + u64::from(black_box(&payload)[PAYLOAD - 1])
}

/// A `dyn` method returning `ValueTask::from_future` of a 5 KiB future.
trait Store: Send + Sync {
    fn put(&self, reply: Reply) -> ValueTask<'_, u64>;
}

struct FromFuture;

impl Store for FromFuture {
    fn put(&self, reply: Reply) -> ValueTask<'_, u64> {
        ValueTask::from_future(put_payload(reply))
    }
}

/// The same method under `#[valuetask::async_trait]`: its future holds the body's.
#[valuetask::async_trait]
trait AsyncStore: Send + Sync {
    async fn put(&self, reply: Reply) -> u64;
}

struct ThroughTheAttribute;

#[valuetask::async_trait]
impl AsyncStore for ThroughTheAttribute {
    async fn put(&self, reply: Reply) -> u64 {
        put_payload(reply).await
    }
}

/// The two ways to make the call, behind one signature.
type Call = fn(Reply) -> ValueTask<'static, u64>;

fn call_from_future(reply: Reply) -> ValueTask<'static, u64> {
    static STORE: FromFuture = FromFuture;
    black_box(&STORE as &dyn Store).put(reply)
}

fn call_through_the_attribute(reply: Reply) -> ValueTask<'static, u64> {
    static STORE: ThroughTheAttribute = ThroughTheAttribute;
    black_box(&STORE as &dyn AsyncStore).put(reply)
}

/// What this thread hands the worker thread, and what comes back.
enum Message {
    Idle,
    /// Complete the source, then poll the call to its end.
    Finish(ValueTask<'static, u64>, Completer<u64>, u64),
    /// Drop the call mid-flight.
    Drop(ValueTask<'static, u64>, Completer<u64>),
    Done(u64),
    Stop,
}

/// A hand-off to one worker thread over a mutex and a condition variable, which
/// allocate nothing per message.
struct Worker {
    slot: Mutex<Message>,
    changed: Condvar,
}

impl Worker {
    const fn new() -> Self {
        Self {
            slot: Mutex::new(Message::Idle),
            changed: Condvar::new(),
        }
    }

    /// Gives the worker `message` and waits for its answer.
    fn run(&self, message: Message) -> u64 {
        let mut slot = self.slot.lock().unwrap();
        *slot = message;
        self.changed.notify_all();
        loop {
            slot = self.changed.wait(slot).unwrap();
            if let Message::Done(answer) = *slot {
                *slot = Message::Idle;
                return answer;
            }
        }
    }

    fn stop(&self) {
        *self.slot.lock().unwrap() = Message::Stop;
        self.changed.notify_all();
    }

    /// The worker thread's loop.
    fn serve(&self) {
        let mut slot = self.slot.lock().unwrap();
        loop {
            let answer = match std::mem::replace(&mut *slot, Message::Idle) {
                Message::Finish(mut task, completer, value) => {
                    completer.succeed(value).unwrap();
                    match poll_noop(&mut task) {
                        Poll::Ready(answer) => answer,
                        Poll::Pending => panic!("the source was complete"),
                    }
                }
                Message::Drop(task, completer) => {
                    drop(task);
                    u64::from(completer.is_cancelled())
                }
                Message::Stop => return,
                idle => {
                    *slot = idle;
                    slot = self.changed.wait(slot).unwrap();
                    continue;
                }
            };
            *slot = Message::Done(answer);
            self.changed.notify_all();
        }
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "counts allocations with a global allocator, slow under Miri"
)]
fn five_kib_futures_allocate_nothing_after_warm_up_on_one_thread_and_across_threads() {
    wait_until_the_harness_waits();
    let pool = SourcePool::<u64>::with_capacity(64);
    static WORKER: Worker = Worker::new();
    let worker = thread::spawn(|| WORKER.serve());
    let mut failures = Vec::new();

    for (tier, call) in [
        ("ValueTask::from_future", call_from_future as Call),
        (
            "#[valuetask::async_trait]",
            call_through_the_attribute as Call,
        ),
    ] {
        // The call's future is pooled, in the largest class: a fresh block of 8 KiB.
        future_pool::trim();
        let before = future_pool::stats();
        let (reply, completer) = pool.rent();
        let mut task = call(reply);
        assert!(format!("{task:?}").contains("pooled future"), "{task:?}");
        assert_eq!(
            future_pool::stats().allocated_bytes - before.allocated_bytes,
            8192,
            "{tier}: the future should take one 8 KiB block"
        );
        assert!(poll_noop(&mut task).is_pending());
        completer.succeed(1).unwrap();
        assert_eq!(poll_noop(&mut task), Poll::Ready(2));

        let mut check = |case: &str, counts: Counts| {
            if counts.allocs != 0 {
                failures.push(format!(
                    "{tier}, {case}, {ITERATIONS} calls: {}",
                    counts.explain()
                ));
            }
        };
        check(
            "suspends, the source completes, polled again here",
            allocations_of(|i| {
                let (reply, completer) = pool.rent();
                let mut task = call(reply);
                assert!(poll_noop(&mut task).is_pending());
                completer.succeed(i).unwrap();
                assert_eq!(poll_noop(&mut task), Poll::Ready(i + 1));
            }),
        );
        check(
            "suspends, dropped mid-flight here",
            allocations_of(|_| {
                let (reply, completer) = pool.rent();
                let mut task = call(reply);
                assert!(poll_noop(&mut task).is_pending());
                drop(task);
                assert!(completer.is_cancelled());
            }),
        );
        check(
            "suspends here, finished on another thread",
            allocations_of(|i| {
                let (reply, completer) = pool.rent();
                let mut task = call(reply);
                assert!(poll_noop(&mut task).is_pending());
                assert_eq!(WORKER.run(Message::Finish(task, completer, i)), i + 1);
            }),
        );
        check(
            "suspends here, dropped mid-flight on another thread",
            allocations_of(|_| {
                let (reply, completer) = pool.rent();
                let mut task = call(reply);
                assert!(poll_noop(&mut task).is_pending());
                assert_eq!(WORKER.run(Message::Drop(task, completer)), 1);
            }),
        );
        assert_eq!(
            future_pool::stats().fallbacks,
            before.fallbacks,
            "{tier}: no call fell back to a box"
        );
    }

    WORKER.stop();
    worker.join().unwrap();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
