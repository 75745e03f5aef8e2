//! A pooled data provider (.NET's `PooledDataProvider` pattern) in Rust: zero allocations on the
//! asynchronous path too.
//!
//! `PooledDataProvider::get_data` returns a `ValueTask<'static, Result<u32, Abandoned>>`:
//!
//! 1. when the data is already buffered (.NET's `TryGetSyncResult`; here every
//!    fourth read) it returns [`ValueTask::ready`];
//! 2. otherwise it rents a slot from a [`SourcePool`] (.NET's `ConcurrentQueue` of
//!    `PooledSource`s and their `ManualResetValueTaskSourceCore`) and hands the
//!    [`Completer`] to a simulated I/O device: a dedicated thread that takes every queued
//!    request at once, waits a few hundred microseconds per batch, and completes the
//!    whole batch. The slot goes back to the pool when both halves are done: there is no
//!    `ReturnToPool` to forget and no `GetResult` token to misuse.
//!
//! The example runs 256 tokio tasks (so 256 calls in flight) on the multi-thread runtime
//! until 12,000 calls are done: 2,000 to warm up, then 10,000 measured. A counting global
//! allocator sees every allocation of the process, on every thread, and the example
//! prints allocations per call over the measured phase, the pool's stats, and what the
//! I/O thread did. It exits with an error unless every result arrived intact, every slot
//! went back to the pool and the measured phase allocated nothing.
//!
//! Completers travel to the I/O thread in a `Vec` behind a `Mutex` and a `Condvar`: the
//! device swaps it with its own batch `Vec`, and both are sized once for more requests
//! than can be in flight, so the steady state allocates nothing. The callers are 256
//! long-lived tasks, each awaiting one call at a time. (Other ways allocate: an unbounded
//! `mpsc::channel` a block every 31 messages; a blocking `recv` on any std channel
//! allocates the first time a thread waits, which can fall in the middle of a run;
//! `tokio::spawn` or `FuturesUnordered::push` per call allocate a task each.)
//!
//! Run it with:
//!
//! ```text
//! cargo run --example pooled_provider
//! ```

use std::cell::Cell;
use std::error::Error;
use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use valuetask::{Abandoned, Completer, PoolStats, SourcePool, ValueTask};

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{CountingAlloc, allocations_so_far as allocations, counted};

/// Counts every allocation of the process, on every thread, while `main`'s window is
/// open (the whole run, once the runtime's workers have started).
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// Tasks calling `get_data` in a loop: the number of calls in flight.
const LANES: usize = 256;
const WARMUP_CALLS: u64 = 2_000;
const MEASURED_CALLS: u64 = 10_000;
const TOTAL_CALLS: u64 = WARMUP_CALLS + MEASURED_CALLS;
/// How long the simulated device takes for one batch.
const IO_LATENCY: Duration = Duration::from_micros(300);
/// Room in the I/O queue: more than can ever be in flight, so it never reallocates.
const QUEUE_DEPTH: usize = 2 * LANES;
/// Slots in the pool: more than `LANES`, because a slot is not free again the instant
/// its task has the result. The completing thread may still be between publishing the
/// result and leaving the slot (then it recycles the slot itself), and a thread that
/// recycles a slot keeps one in its own cache for its next rental, which the I/O thread
/// never makes. With exactly `LANES` slots the pool grows by a second chunk in every
/// run, sometimes after the warm-up.
const POOL_CAPACITY: usize = 2 * LANES;

/// The value read number `id` yields, so that results can be checked.
fn data_for(id: u32) -> u32 {
    id.wrapping_mul(0x9E37_79B9) >> 7
}

/// A read on its way to the I/O thread.
struct IoRequest {
    id: u32,
    completer: Completer<u32>,
}

/// The device's submission queue.
struct IoQueue {
    state: Mutex<Submissions>,
    /// Signalled when the queue stops being empty, and when it closes.
    submitted: Condvar,
}

struct Submissions {
    requests: Vec<IoRequest>,
    closed: bool,
}

impl IoQueue {
    fn new() -> Self {
        Self {
            state: Mutex::new(Submissions {
                requests: Vec::with_capacity(QUEUE_DEPTH),
                closed: false,
            }),
            submitted: Condvar::new(),
        }
    }

    /// Queues a request; if the device is gone the request is dropped with its
    /// completer, which resolves the task to `Err(Abandoned)`.
    fn submit(&self, request: IoRequest) {
        let mut state = self.state.lock().expect("I/O queue lock");
        if state.closed {
            return;
        }
        let was_empty = state.requests.is_empty();
        state.requests.push(request);
        drop(state);
        // The device waits only on an empty queue.
        if was_empty {
            self.submitted.notify_one();
        }
    }

    /// Tells the device to finish what is queued and stop.
    fn close(&self) {
        self.state.lock().expect("I/O queue lock").closed = true;
        self.submitted.notify_one();
    }
}

/// What the I/O thread did.
#[derive(Debug, Default)]
struct IoReport {
    completed: u64,
    cancelled: u64,
    batches: u64,
    largest_batch: usize,
}

/// The pooled data provider.
struct PooledDataProvider {
    pool: SourcePool<u32>,
    io: Arc<IoQueue>,
    next_id: AtomicU32,
    /// Calls answered on the synchronous path.
    synchronous: AtomicU64,
}

impl PooledDataProvider {
    /// A provider and the I/O thread that completes its asynchronous reads.
    fn start() -> (Self, JoinHandle<IoReport>) {
        let io = Arc::new(IoQueue::new());
        let device = thread::Builder::new()
            .name("io-device".into())
            .spawn({
                let io = Arc::clone(&io);
                move || run_device(&io)
            })
            .expect("spawn the I/O thread");
        let provider = Self {
            pool: SourcePool::with_capacity(POOL_CAPACITY),
            io,
            next_id: AtomicU32::new(0),
            synchronous: AtomicU64::new(0),
        };
        (provider, device)
    }

    fn get_data(&self) -> ValueTask<'static, Result<u32, Abandoned>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // 1. Try to complete synchronously.
        if let Some(data) = Self::try_get_sync_result(id) {
            self.synchronous.fetch_add(1, Ordering::Relaxed);
            return ValueTask::ready(Ok(data));
        }
        // 2. Rent a slot for the asynchronous path.
        let (task, completer) = self.pool.rent();
        // 3. Start the work.
        self.io.submit(IoRequest { id, completer });
        task
    }

    /// Every fourth read finds its data already buffered.
    fn try_get_sync_result(id: u32) -> Option<u32> {
        id.is_multiple_of(4).then(|| data_for(id))
    }
}

impl Drop for PooledDataProvider {
    fn drop(&mut self) {
        self.io.close();
    }
}

/// The simulated device: completes queued reads in batches until the queue is closed.
fn run_device(io: &IoQueue) -> IoReport {
    let mut report = IoReport::default();
    let mut batch = Vec::with_capacity(QUEUE_DEPTH);
    loop {
        let mut state = io.state.lock().expect("I/O queue lock");
        while state.requests.is_empty() && !state.closed {
            state = io.submitted.wait(state).expect("I/O queue lock");
        }
        if state.requests.is_empty() {
            return report; // closed, and nothing left to do
        }
        // Take the whole queue and leave the empty batch `Vec` in its place: both keep
        // their capacity, so this never allocates.
        std::mem::swap(&mut state.requests, &mut batch);
        drop(state);
        thread::sleep(IO_LATENCY);
        report.batches += 1;
        report.largest_batch = report.largest_batch.max(batch.len());
        for IoRequest { id, completer } in batch.drain(..) {
            match completer.succeed(data_for(id)) {
                Ok(()) => report.completed += 1,
                Err(_) => report.cancelled += 1, // the caller stopped waiting
            }
        }
    }
}

/// Shared progress of the lanes; the measured phase is bounded by call counts.
#[derive(Default)]
struct Run {
    started: AtomicU64,
    finished: AtomicU64,
    checksum: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
    /// The pool's capacity when the last warm-up call finished.
    capacity_at_warm: AtomicUsize,
    /// The allocation count when the last warm-up call finished.
    allocations_at_warm: AtomicUsize,
    /// The allocation count when the last call finished.
    allocations_at_end: AtomicUsize,
}

/// One caller: awaits one read at a time until every call is claimed.
async fn lane(provider: Arc<PooledDataProvider>, run: Arc<Run>) -> Result<(), Abandoned> {
    while run.started.fetch_add(1, Ordering::Relaxed) < TOTAL_CALLS {
        let in_flight = run.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        run.peak_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        let data = provider.get_data().await?;
        run.in_flight.fetch_sub(1, Ordering::Relaxed);
        run.checksum.fetch_add(u64::from(data), Ordering::Relaxed);
        match run.finished.fetch_add(1, Ordering::AcqRel) + 1 {
            WARMUP_CALLS => {
                run.allocations_at_warm
                    .store(allocations(), Ordering::Relaxed);
                let capacity = provider.pool.stats().capacity;
                run.capacity_at_warm.store(capacity, Ordering::Relaxed);
            }
            TOTAL_CALLS => run
                .allocations_at_end
                .store(allocations(), Ordering::Relaxed),
            _ => {}
        }
    }
    Ok(())
}

fn print_stats(when: &str, stats: PoolStats) {
    println!(
        "  {when:<18} capacity {}, in use {}, available {}, chunks {}",
        stats.capacity, stats.in_use, stats.available, stats.chunks
    );
}

/// Runtime worker threads that have gone idle at least once.
static WORKERS_IDLE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WAS_IDLE: Cell<bool> = const { Cell::new(false) };
}

/// A multi-thread runtime whose workers have all started and gone idle once. A thread's
/// start-up allocates, and on a busy machine a worker can start late, in the middle of a
/// measurement; waiting for each worker's first park keeps that out of the count.
fn runtime() -> io::Result<Runtime> {
    let workers = thread::available_parallelism().map_or(2, NonZeroUsize::get);
    let runtime = Builder::new_multi_thread()
        .worker_threads(workers)
        .on_thread_park(|| {
            if !WAS_IDLE.replace(true) {
                WORKERS_IDLE.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()?;
    while WORKERS_IDLE.load(Ordering::SeqCst) < workers {
        thread::sleep(Duration::from_micros(100));
    }
    Ok(runtime)
}

fn main() -> Result<(), Box<dyn Error>> {
    let runtime = runtime()?;
    let workers = runtime.metrics().num_workers();
    counted(|| runtime.block_on(run(workers))).1
}

async fn run(workers: usize) -> Result<(), Box<dyn Error>> {
    let (provider, device) = PooledDataProvider::start();
    let provider = Arc::new(provider);
    let run = Arc::new(Run::default());
    println!(
        "PooledDataProvider: {TOTAL_CALLS} calls ({WARMUP_CALLS} warm-up + {MEASURED_CALLS} \
         measured), {LANES} in flight on {workers} tokio workers, I/O latency {IO_LATENCY:?} per batch"
    );
    println!("\npool:");
    print_stats("before the run", provider.pool.stats());

    let allocations_at_start = allocations();
    let started = Instant::now();
    let lanes: Vec<_> = (0..LANES)
        .map(|_| tokio::spawn(lane(Arc::clone(&provider), Arc::clone(&run))))
        .collect();
    for lane in lanes {
        lane.await??;
    }
    let elapsed = started.elapsed();
    print_stats("after the run", provider.pool.stats());
    println!(
        "  calls in flight    {} at most",
        run.peak_in_flight.load(Ordering::Relaxed)
    );

    let stats = provider.pool.stats();
    let synchronous = provider.synchronous.load(Ordering::Relaxed);
    drop(provider);
    let report = device.join().expect("the I/O thread panicked");

    println!("\ncalls ({elapsed:.2?}):");
    println!("  completed synchronously (ValueTask::ready)  {synchronous}");
    println!(
        "  completed by the I/O thread                 {} in {} batches (largest {})",
        report.completed, report.batches, report.largest_batch
    );
    println!(
        "  cancelled                                   {}",
        report.cancelled
    );

    let expected: u64 = (0..TOTAL_CALLS as u32)
        .map(|id| u64::from(data_for(id)))
        .sum();
    let checksum = run.checksum.load(Ordering::Relaxed);
    let at_warm = run.allocations_at_warm.load(Ordering::Relaxed);
    let at_end = run.allocations_at_end.load(Ordering::Relaxed);
    let warmup = at_warm - allocations_at_start;
    let steady = at_end - at_warm;
    let grew_while_measured = stats.capacity != run.capacity_at_warm.load(Ordering::Relaxed);
    println!("\nallocations (counted process-wide: runtime workers and the I/O thread too):");
    println!(
        "  warm-up        {warmup:>6} over {WARMUP_CALLS} calls (spawning {LANES} tasks, first \
         use of the runtime and of each thread)"
    );
    println!(
        "  steady state   {steady:>6} over {MEASURED_CALLS} calls = {:.4} per call",
        steady as f64 / MEASURED_CALLS as f64
    );
    if steady == 0 {
        println!(
            "  nothing allocates per call: the slot is recycled by the pool, the completer \
             travels in a queue Vec sized once ({QUEUE_DEPTH}) that the device swaps with its \
             batch Vec, and waking a tokio task from another thread allocates nothing"
        );
    } else if grew_while_measured {
        println!(
            "  not zero: the pool grew while measured (capacity {} now, {} chunks): more \
             slots were held at once than it had",
            stats.capacity, stats.chunks
        );
    } else {
        println!(
            "  not zero, and the pool did not grow while measured: these come from the \
             runtime or the queue (e.g. a waker list growing past its earlier high-water mark)"
        );
    }

    if steady != 0 {
        return Err(format!("the steady state allocated {steady} times, expected 0").into());
    }
    if checksum != expected {
        return Err(format!("checksum {checksum}, expected {expected}: a result was lost").into());
    }
    if synchronous + report.completed != TOTAL_CALLS || report.cancelled != 0 {
        return Err("every call must complete exactly once".into());
    }
    if stats.in_use != 0 {
        return Err(format!("{} slots still rented after the run", stats.in_use).into());
    }
    println!("\nok: every result arrived and matched, every slot went back to the pool");
    Ok(())
}
