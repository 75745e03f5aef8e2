//! `valuetask::oneshot` allocates nothing in steady state, counted process-wide: tens of
//! thousands of channels of several value sizes, their senders on another thread,
//! receivers that take the value, wait first, or are dropped early, so either half is
//! the last one out, on either thread. And a value beyond the largest block costs
//! exactly one allocation per channel, as the module docs say.
//!
//! One `#[test]`, so no other test allocates into the same counter.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;
use std::thread;

use valuetask::oneshot::{self, Receiver, Sender};

mod support;

use support::counting_alloc::{CountingAlloc, counted, wait_until_the_harness_waits};
use support::poll::{block_on, poll_noop, thread_waker};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// Channels in flight at once: within the thread cache, so each block comes back.
const BATCH: usize = 16;
/// Under Miri, 8 warm-up batches left some schedules (seed 1, and the default seed on
/// some builds) one or two allocations short of steady state; 24 reach it.
const WARM_UP_BATCHES: usize = if cfg!(miri) { 24 } else { 200 };
const BATCHES: usize = if cfg!(miri) { 4 } else { 1_000 };

/// An 8144-byte value: the largest that still fits the largest (8 KiB) block.
type Largest = [u8; 8144];
/// One byte more: beyond the line, one allocation per channel.
type TooLarge = [u8; 8145];

/// What the worker thread does with a sender.
#[derive(Clone, Copy, Debug)]
enum Act {
    Send,
    Drop,
}

/// A sender of one of the value types, and what to do with it.
enum Job {
    Byte(Sender<u8>, Act),
    Word(Sender<u64>, Act),
    Block(Sender<[u64; 16]>, Act),
    Largest(Sender<Largest>, Act),
    TooLarge(Sender<TooLarge>, Act),
}

impl Job {
    fn run(self) {
        fn act<T>(sender: Sender<T>, act: Act, value: T) {
            match act {
                Act::Send => drop(sender.send(value)),
                Act::Drop => drop(sender),
            }
        }
        match self {
            Job::Byte(s, a) => act(s, a, 1),
            Job::Word(s, a) => act(s, a, 2),
            Job::Block(s, a) => act(s, a, [3; 16]),
            Job::Largest(s, a) => act(s, a, [4; 8144]),
            Job::TooLarge(s, a) => act(s, a, [5; 8145]),
        }
    }
}

/// The worker thread: takes jobs from a queue whose capacity was reserved up front
/// (so the hand-off allocates nothing), until told to stop.
struct Worker {
    queue: Arc<std::sync::Mutex<VecDeque<Job>>>,
    /// Jobs finished: the main thread waits for all of a batch's, so that no more than
    /// `BATCH` channels are ever alive (the warm-up then reaches the peak).
    done: Arc<AtomicUsize>,
    given: std::cell::Cell<usize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Worker {
    fn start() -> Self {
        let queue = Arc::new(std::sync::Mutex::new(VecDeque::<Job>::with_capacity(
            4 * BATCH,
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (queue, stop, done) = (Arc::clone(&queue), Arc::clone(&stop), Arc::clone(&done));
            thread::spawn(move || {
                loop {
                    let job = queue.lock().unwrap().pop_front();
                    match job {
                        Some(job) => {
                            job.run();
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        None if stop.load(Ordering::SeqCst) => return,
                        None => thread::yield_now(),
                    }
                }
            })
        };
        Self {
            queue,
            done,
            given: std::cell::Cell::new(0),
            stop,
            thread: Some(thread),
        }
    }

    fn give(&self, job: Job) {
        self.queue.lock().unwrap().push_back(job);
        self.given.set(self.given.get() + 1);
    }

    /// Waits until the worker finished every job given so far.
    fn wait_idle(&self) {
        while self.done.load(Ordering::SeqCst) != self.given.get() {
            thread::yield_now();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// How the receiver ends, chosen per channel so that every ending meets every act.
#[derive(Clone, Copy)]
enum End {
    /// Dropped before the worker even gets the sender.
    DropEarly,
    /// Polled once (waits, a waker stored), then awaited to the end.
    PollFirst,
    /// Awaited to the end.
    Await,
    /// Polled once, then dropped while the worker may be sending.
    PollThenDrop,
}

/// One batch of `BATCH` channels of `T`.
fn batch<T: Send + 'static>(
    worker: &Worker,
    waker: &std::task::Waker,
    seed: usize,
    job: fn(Sender<T>, Act) -> Job,
) {
    let mut receivers: [Option<(Receiver<T>, End)>; BATCH] = std::array::from_fn(|_| None);
    for (i, slot) in receivers.iter_mut().enumerate() {
        let (tx, mut rx) = oneshot::channel::<T>();
        let n = seed + i;
        let end = [
            End::DropEarly,
            End::PollFirst,
            End::Await,
            End::PollThenDrop,
        ][n % 4];
        let act = if n % 7 == 3 { Act::Drop } else { Act::Send };
        match end {
            End::DropEarly => drop(rx),
            End::PollFirst | End::PollThenDrop => {
                assert!(matches!(poll_noop(&mut rx), Poll::Pending));
                *slot = Some((rx, end));
            }
            End::Await => *slot = Some((rx, end)),
        }
        worker.give(job(tx, act));
    }
    for (rx, end) in receivers.into_iter().flatten() {
        match end {
            End::PollThenDrop => drop(rx),
            _ => drop(block_on(waker, rx)),
        }
    }
    worker.wait_idle();
}

/// Makes `BATCH` channels of `T` and only then drops them all.
fn hold_a_batch_at_once<T>() {
    let channels: [(Sender<T>, Receiver<T>); BATCH] = std::array::from_fn(|_| oneshot::channel());
    drop(channels);
}

fn run_batches(worker: &Worker, waker: &std::task::Waker, batches: usize) {
    for b in 0..batches {
        batch(worker, waker, b, Job::Byte);
        batch(worker, waker, b + 1, Job::Word);
        batch(worker, waker, b + 2, Job::Block);
        batch(worker, waker, b + 3, Job::Largest);
    }
}

#[test]
fn oneshot_channels_allocate_nothing_in_steady_state() {
    wait_until_the_harness_waits();
    let worker = Worker::start();
    let waker = thread_waker();
    // The peak, made sure of: a batch has at most `BATCH` channels of a type alive at
    // once, but how many it really has at once depends on how fast the worker frees
    // the ones it finishes, so the warm-up alone may stay below the peak that a
    // descheduled worker reaches later. Holding `BATCH` of each type at once puts that
    // many blocks of each class in this thread's cache before anything is counted.
    hold_a_batch_at_once::<u8>();
    hold_a_batch_at_once::<u64>();
    hold_a_batch_at_once::<[u64; 16]>();
    hold_a_batch_at_once::<Largest>();
    run_batches(&worker, &waker, WARM_UP_BATCHES);

    let (counts, ()) = counted(|| run_batches(&worker, &waker, BATCHES));
    let channels = BATCHES * 4 * BATCH;
    assert_eq!(
        counts.allocs,
        0,
        "{channels} channels: {}",
        counts.explain()
    );

    // Beyond the largest block: one allocation per channel, no more.
    let (counts, ()) = counted(|| {
        for b in 0..BATCHES / 10 {
            batch(&worker, &waker, b, Job::TooLarge);
        }
    });
    assert_eq!(counts.allocs, BATCHES / 10 * BATCH, "{}", counts.explain());
    drop(worker);
}
