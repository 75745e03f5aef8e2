//! Work that migrates between threads allocates nothing in steady state: futures and
//! pool slots taken on some threads and freed on others, the pattern of a
//! work-stealing runtime, counted with a process-wide allocator.
//!
//! `N` creating threads each make tasks and hand every one to one of `M` finishing
//! threads (never itself), which finish and drop them. Each creator keeps at most
//! `IN_FLIGHT` tasks alive at once (a credit comes back only after the finisher is done
//! with a task), and the warm-up makes every creator reach that peak, so the steady
//! state is the same on every run: the counted window must allocate nothing, every run.
//!
//! One `#[test]` runs every shape one after another, so nothing else allocates into the
//! counter meanwhile.

use std::collections::VecDeque;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::task::Poll;
use std::thread;

use valuetask::{SourcePool, ValueTask};

mod support;

use support::counting_alloc::{CountingAlloc, counted, wait_until_the_harness_waits};
use support::poll::{Watchdog, poll_noop, thread_waker};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();

/// Tasks a creator may have alive at once.
const IN_FLIGHT: usize = 8;
const WARM_UP: usize = if cfg!(miri) { 16 } else { 2_000 };
const ITERATIONS: usize = if cfg!(miri) { 32 } else { 20_000 };

/// A blocking queue with room reserved up front, so that pushing never allocates.
struct Queue<T> {
    items: Mutex<VecDeque<T>>,
    ready: Condvar,
}

impl<T> Queue<T> {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::with_capacity(capacity)),
            ready: Condvar::new(),
        }
    }

    fn push(&self, item: T) {
        let mut items = self.items.lock().unwrap();
        assert!(items.len() < items.capacity(), "the queue never grows");
        items.push_back(item);
        self.ready.notify_one();
    }

    fn pop(&self) -> T {
        let mut items = self.items.lock().unwrap();
        loop {
            if let Some(item) = items.pop_front() {
                return item;
            }
            items = self.ready.wait(items).unwrap();
        }
    }
}

/// A creator's credits: how many more tasks it may have alive.
struct Credits {
    free: Mutex<usize>,
    returned: Condvar,
}

impl Credits {
    fn new() -> Self {
        Self {
            free: Mutex::new(IN_FLIGHT),
            returned: Condvar::new(),
        }
    }

    fn take(&self) {
        let mut free = self.free.lock().unwrap();
        while *free == 0 {
            free = self.returned.wait(free).unwrap();
        }
        *free -= 1;
    }

    fn give_back(&self) {
        *self.free.lock().unwrap() += 1;
        self.returned.notify_one();
    }

    /// Waits until every credit is back: no task of this creator is alive.
    fn wait_all(&self) {
        let mut free = self.free.lock().unwrap();
        while *free < IN_FLIGHT {
            free = self.returned.wait(free).unwrap();
        }
    }
}

/// What a creator hands a finisher: a task to finish (or drop), whose creator gets its
/// credit back afterwards; or the end of a phase.
enum Job {
    Future(ValueTask<'static, usize>, usize),
    Slot(
        ValueTask<'static, Result<usize, valuetask::Abandoned>>,
        usize,
    ),
    Drop(ValueTask<'static, usize>, usize),
    EndOfPhase,
}

/// A future that is pending on its first poll and ready on its second, holding some
/// state across the suspension, as an async body does.
fn suspending(i: usize) -> ValueTask<'static, usize> {
    ValueTask::from_future(async move {
        let state = [i; 4];
        let mut first = true;
        std::future::poll_fn(|_| {
            if std::mem::take(&mut first) {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        state.iter().sum::<usize>() / 4
    })
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `ValueTask::from_future`, polled once by its creator, finished elsewhere.
    Futures,
    /// `ValueTask::from_future`, polled once by its creator, dropped elsewhere.
    DroppedFutures,
    /// `SourcePool` slots rented and completed by the creator, awaited elsewhere, so the
    /// slot is recycled by the finishing thread.
    Slots,
}

/// Runs `shape` with `creators` and `finishers` threads; returns the allocations of
/// every thread in the counted window, explained.
fn run(shape: Shape, creators: usize, finishers: usize) -> (usize, String) {
    let pool = SourcePool::<usize>::with_capacity(creators * IN_FLIGHT + finishers + 1);
    let queues: Arc<Vec<Queue<Job>>> = Arc::new(
        (0..finishers)
            .map(|_| Queue::with_capacity(creators * (IN_FLIGHT + 1)))
            .collect(),
    );
    let credits: Arc<Vec<Credits>> = Arc::new((0..creators).map(|_| Credits::new()).collect());
    // Every creator and finisher, and this thread, meet at the start and end of each
    // phase: warm-up, then the counted window.
    let phase = Arc::new(Barrier::new(creators + finishers + 1));

    let finisher_threads: Vec<_> = (0..finishers)
        .map(|f| {
            let (queues, credits, phase) = (queues.clone(), credits.clone(), phase.clone());
            thread::spawn(move || {
                let waker = thread_waker();
                for _ in 0..2 {
                    phase.wait();
                    let mut ended = 0;
                    while ended < creators {
                        match queues[f].pop() {
                            Job::Future(task, creator) => {
                                let mut task = task;
                                assert!(support::poll::poll_once(&mut task, &waker).is_ready());
                                credits[creator].give_back();
                            }
                            Job::Slot(task, creator) => {
                                assert!(support::poll::block_on(&waker, task).is_ok());
                                credits[creator].give_back();
                            }
                            Job::Drop(task, creator) => {
                                drop(task);
                                credits[creator].give_back();
                            }
                            Job::EndOfPhase => ended += 1,
                        }
                    }
                    phase.wait();
                }
                // Leave only after the counted window closed: a thread's exit is not
                // the steady state.
                phase.wait();
            })
        })
        .collect();

    let creator_threads: Vec<_> = (0..creators)
        .map(|c| {
            let (queues, credits, phase, pool) =
                (queues.clone(), credits.clone(), phase.clone(), pool.clone());
            thread::spawn(move || {
                for (round, count) in [WARM_UP, ITERATIONS].into_iter().enumerate() {
                    phase.wait();
                    if round == 0 {
                        // Reach the peak at once: IN_FLIGHT tasks alive before any
                        // finishes, so the counted window never needs more.
                        let held: Vec<Job> =
                            (0..IN_FLIGHT).map(|i| make(shape, &pool, c, i)).collect();
                        for (i, job) in held.into_iter().enumerate() {
                            credits[c].take();
                            queues[(c + i) % finishers].push(job);
                        }
                    }
                    for i in 0..count {
                        credits[c].take();
                        let job = make(shape, &pool, c, i);
                        queues[(c + i) % finishers].push(job);
                    }
                    credits[c].wait_all();
                    for queue in queues.iter() {
                        queue.push(Job::EndOfPhase);
                    }
                    phase.wait();
                }
                phase.wait();
            })
        })
        .collect();

    // Warm-up.
    phase.wait();
    phase.wait();
    // The counted window: from the start of the second phase to its end.
    let (counts, ()) = counted(|| {
        phase.wait();
        phase.wait();
    });
    phase.wait();
    for thread in creator_threads.into_iter().chain(finisher_threads) {
        thread.join().unwrap();
    }
    assert_eq!(pool.stats().in_use, 0, "every slot came back");
    (counts.allocs, counts.explain())
}

/// One job of `shape`, made on creator thread `creator`.
fn make(shape: Shape, pool: &SourcePool<usize>, creator: usize, i: usize) -> Job {
    match shape {
        Shape::Futures => {
            let mut task = suspending(i);
            assert!(poll_noop(&mut task).is_pending());
            Job::Future(task, creator)
        }
        Shape::DroppedFutures => {
            let mut task = suspending(i);
            assert!(poll_noop(&mut task).is_pending());
            Job::Drop(task, creator)
        }
        Shape::Slots => {
            let (task, completer) = pool.rent();
            completer.succeed(i).unwrap();
            Job::Slot(task, creator)
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "counts allocations process-wide over many threads")]
fn tasks_made_on_some_threads_and_finished_on_others_allocate_nothing() {
    // The threads also wait on barriers and condition variables, which no deadline
    // reaches: if one of them stops (a lost wake-up fails its `block_on`), the others
    // would wait forever. Armed before any counted window.
    let _watchdog =
        Watchdog::arm("tasks_made_on_some_threads_and_finished_on_others_allocate_nothing");
    // The harness's own thread allocates when it starts waiting for this test's result;
    // let it get there before the first measurement.
    wait_until_the_harness_waits();
    let mut failures = Vec::new();
    for shape in [Shape::Futures, Shape::DroppedFutures, Shape::Slots] {
        for (creators, finishers) in [(2, 2), (1, 3), (3, 1)] {
            let (allocations, explain) = run(shape, creators, finishers);
            if allocations != 0 {
                failures.push(format!(
                    "{shape:?}, {creators} creating and {finishers} finishing threads: {explain}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
