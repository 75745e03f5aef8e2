//! Loom models of `ResetCore` and the pool's two-half slots.
//!
//! Run with `.ci/loom.sh`, which builds with `--cfg valuetask_loom` (our own cfg name, so
//! dev-dependencies such as tokio keep their normal internals) and bounds preemptions
//! with `LOOM_MAX_PREEMPTIONS` (3 unless set).
//!
//! Each model is small on purpose: two or three threads and one operation each. What
//! every model checks on top of loom's own checks (data races on the cells, causality,
//! leaked loom objects) is written at its head.
#![cfg(valuetask_loom)]

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Notify};
use loom::thread;
use valuetask::{Abandoned, ResetCore, Source, SourcePool, Status, Token, ValueTask};

/// Runs `f` under loom, with the preemption bound from `LOOM_MAX_PREEMPTIONS` (3 if unset,
/// so a model run by hand without the script still finishes).
fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&iterations);
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    // Shown with `--nocapture`: how much of the model loom explored.
    eprintln!(
        "{}: {} interleavings (preemption bound {:?})",
        std::thread::current().name().unwrap_or("model"),
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        builder.preemption_bound,
    );
}

/// A waker that counts its wakes, so a model can tell which waker was woken and how often.
/// `std::task::Wake` needs a std `Arc`; its strong count tells whether anybody still holds
/// a clone of the waker.
struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            wakes: AtomicUsize::new(0),
        })
    }

    fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }

    fn waker(this: &std::sync::Arc<Self>) -> Waker {
        Waker::from(std::sync::Arc::clone(this))
    }
}

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// Whether anybody but the model itself still holds a clone of `waker`.
fn held_elsewhere(waker: &std::sync::Arc<CountingWaker>) -> bool {
    std::sync::Arc::strong_count(waker) != 1
}

/// A value that counts its drops, to prove that every value is dropped exactly once.
#[derive(Debug)]
struct Counted {
    drops: Arc<AtomicUsize>,
}

impl Counted {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Self {
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

/// A waker that unparks a loom thread blocked in [`block_on`].
struct Unparker(Notify);

impl Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.notify();
    }
}

/// Drives `future` to completion on the current loom thread, parking between polls.
/// A lost wake-up parks the thread forever, which loom reports as a deadlock.
/// (`loom::future::block_on` does the same but needs loom's `futures` feature.)
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let unparker = std::sync::Arc::new(Unparker(Notify::new()));
    let waker = Waker::from(std::sync::Arc::clone(&unparker));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        unparker.0.wait();
    }
}

fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

// ---------------------------------------------------------------------------------------
// ResetCore
// ---------------------------------------------------------------------------------------

/// The waker registration races the completion; the value must arrive (no lost wake-up).
#[test]
fn core_complete_vs_first_poll() {
    model(|| {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, 7))
        };
        assert_eq!(block_on(ValueTask::from_source(&*core, token)), 7);
        assert_eq!(completer.join().unwrap(), Ok(()));
        assert_eq!(core.status(token), Status::Consumed);
    });
}

/// A completion races a reset. The completer reads the token itself, so it may get the
/// old generation or the new one. The value is given back (`Err`: stale, or it ran into
/// the reset), dropped by the reset (it completed the old generation first), or still in
/// the core (it completed the new generation): dropped exactly once in every case.
#[test]
fn core_complete_vs_reset() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Counted>::new());
        let first = core.token();
        let completer = {
            let core = Arc::clone(&core);
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let token = core.token();
                match core.complete(token, Counted::new(&drops)) {
                    Ok(()) => Some(token),
                    Err(value) => {
                        assert_eq!(drops.load(SeqCst), 0, "a returned value was also dropped");
                        drop(value);
                        None
                    }
                }
            })
        };
        let next = core.reset();
        assert_ne!(next, first);
        match completer.join().unwrap() {
            Some(token) if token == next => {
                assert_eq!(
                    drops.load(SeqCst),
                    0,
                    "a value of the new generation was dropped"
                );
                assert_eq!(core.status(next), Status::Ready);
            }
            Some(token) => {
                assert_eq!(token, first);
                assert_eq!(drops.load(SeqCst), 1, "reset did not drop an untaken value");
                assert_eq!(core.status(next), Status::Pending);
            }
            None => {
                assert_eq!(drops.load(SeqCst), 1);
                assert_eq!(core.status(next), Status::Pending);
            }
        }
        drop(core);
        assert_eq!(drops.load(SeqCst), 1, "a value was dropped twice or never");
    });
}

/// What a poll of a token that may go stale at any moment came to.
#[derive(Debug, PartialEq)]
enum PollOutcome {
    Pending,
    Ready,
    /// The reset came first and the poll panicked on the stale token, as documented.
    Stale,
}

/// A poll races a reset. The poll either sees the stale token and panics (caught here:
/// that is the documented answer to misuse), or registers its waker, which the reset
/// then wakes exactly once and does not keep.
#[test]
fn core_poll_vs_reset() {
    model(|| {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let waker = CountingWaker::new();
        let poller = {
            let core = Arc::clone(&core);
            let waker = CountingWaker::waker(&waker);
            thread::spawn(move || {
                let polled = panic::catch_unwind(AssertUnwindSafe(|| {
                    let mut task = ValueTask::from_source(&*core, token);
                    poll_once(&mut task, &waker).is_ready()
                }));
                match polled {
                    Ok(true) => PollOutcome::Ready,
                    Ok(false) => PollOutcome::Pending,
                    Err(payload) => {
                        let message = payload
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| payload.downcast_ref::<&str>().copied())
                            .unwrap_or_default();
                        assert!(message.contains("token"), "unexpected panic: {message}");
                        PollOutcome::Stale
                    }
                }
            })
        };
        let next = core.reset();
        let outcome = poller.join().unwrap();
        match outcome {
            PollOutcome::Pending => assert_eq!(waker.wakes(), 1, "a stranded waiter was not woken"),
            PollOutcome::Stale => assert_eq!(waker.wakes(), 0),
            PollOutcome::Ready => panic!("nothing was completed, yet the poll was ready"),
        }
        assert!(!held_elsewhere(&waker), "the core kept a waker past reset");
        assert_eq!(core.status(next), Status::Pending);
    });
}

/// The task polls with waker A, then with waker B, while another thread completes.
/// Either a poll takes the value directly, or the latest waker is the one woken; a
/// replaced waker is dropped by the poll that replaced it.
#[test]
fn core_waker_change_between_polls() {
    model(|| {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completer = {
            let core = Arc::clone(&core);
            thread::spawn(move || core.complete(token, 3))
        };
        let a = CountingWaker::new();
        let b = CountingWaker::new();
        let mut task = ValueTask::from_source(&*core, token);

        let mut value = None;
        let mut parked_on_b = false;
        if let Poll::Ready(v) = poll_once(&mut task, &CountingWaker::waker(&a)) {
            value = Some(v);
        } else {
            match poll_once(&mut task, &CountingWaker::waker(&b)) {
                Poll::Ready(v) => value = Some(v),
                Poll::Pending => {
                    // Not completed when B was stored: A was never woken and is gone now.
                    assert_eq!(a.wakes(), 0);
                    assert!(!held_elsewhere(&a), "a replaced waker was kept");
                    parked_on_b = true;
                }
            }
        }
        assert_eq!(completer.join().unwrap(), Ok(()));
        if parked_on_b {
            assert_eq!(b.wakes(), 1, "the latest waker was not woken");
            assert_eq!(a.wakes(), 0, "a replaced waker was woken");
            let noop = Waker::noop();
            match poll_once(&mut task, noop) {
                Poll::Ready(v) => value = Some(v),
                Poll::Pending => panic!("woken, but the value is not there"),
            }
        } else {
            // The value was taken by a poll; B was never stored before completion, or
            // was stored and then dropped with the value taken, so it was never woken.
            assert_eq!(b.wakes(), 0);
            assert!(a.wakes() <= 1);
        }
        assert_eq!(value, Some(3));
        assert!(!held_elsewhere(&a));
        assert!(!held_elsewhere(&b));
    });
}

/// An owner whose operations reset the core when their task lets go of it, the common
/// shape of an embedded `ResetCore` (.NET's `Reset` in `GetResult`).
struct Owner {
    core: ResetCore<Counted>,
}

impl Source<Counted> for Owner {
    fn poll_result(&self, token: Token, cx: &mut Context<'_>) -> Poll<Counted> {
        self.core.poll_result(token, cx)
    }

    fn status(&self, token: Token) -> Status {
        self.core.status(token)
    }

    fn release(&self, token: Token) {
        if self.core.token() == token {
            self.core.reset();
        }
    }
}

/// A `ValueTask::from_source` is polled once and dropped (its release resets the core)
/// while another thread completes. The value is taken, dropped by the reset, or given
/// back to the completer: exactly one drop. A parked waker is woken exactly once, by the
/// completion or by the reset, and not kept.
#[test]
fn core_release_vs_complete() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let owner = Arc::new(Owner {
            core: ResetCore::new(),
        });
        let token = owner.core.token();
        let completer = {
            let owner = Arc::clone(&owner);
            let drops = Arc::clone(&drops);
            thread::spawn(move || owner.core.complete(token, Counted::new(&drops)).is_ok())
        };
        let waker = CountingWaker::new();
        let mut task = ValueTask::from_source(&*owner, token);
        let polled = poll_once(&mut task, &CountingWaker::waker(&waker));
        let parked = polled.is_pending();
        drop(polled);
        drop(task);
        let _ = completer.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        if parked {
            assert_eq!(
                waker.wakes(),
                1,
                "a parked waiter was not woken exactly once"
            );
        } else {
            assert_eq!(waker.wakes(), 0);
        }
        assert!(!held_elsewhere(&waker));
        drop(owner);
        assert_eq!(drops.load(SeqCst), 1, "a value was dropped twice");
    });
}

/// Two completers race for one operation while the task waits: exactly one wins, and
/// the task gets the winner's value.
#[test]
fn core_two_completers() {
    model(|| {
        let core = Arc::new(ResetCore::<usize>::new());
        let token = core.token();
        let completers: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let core = Arc::clone(&core);
                thread::spawn(move || core.complete(token, value).is_ok().then_some(value))
            })
            .collect();
        let received = block_on(ValueTask::from_source(&*core, token));
        let winners: Vec<usize> = completers
            .into_iter()
            .filter_map(|c| c.join().unwrap())
            .collect();
        assert_eq!(winners, [received], "exactly one completer must win");
    });
}

/// Two completers race with drop-counting values and nobody polls: one value stays in
/// the core and one comes back; each is dropped exactly once.
#[test]
fn core_two_completers_drop_once() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let core = Arc::new(ResetCore::<Counted>::new());
        let token = core.token();
        let completers: Vec<_> = (0..2)
            .map(|_| {
                let core = Arc::clone(&core);
                let drops = Arc::clone(&drops);
                thread::spawn(move || core.complete(token, Counted::new(&drops)).is_ok())
            })
            .collect();
        let oks = completers
            .into_iter()
            .map(|c| c.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(oks, 1);
        assert_eq!(drops.load(SeqCst), 1, "the losing value was not given back");
        assert_eq!(core.status(token), Status::Ready);
        drop(core);
        assert_eq!(drops.load(SeqCst), 2);
    });
}

// ---------------------------------------------------------------------------------------
// SourcePool
// ---------------------------------------------------------------------------------------

/// The completer completes while the task is dropped: the value comes back from
/// `complete` or is dropped with the slot, exactly once, and the slot is returned.
#[test]
fn pool_complete_vs_task_drop() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool: SourcePool<Counted> = SourcePool::with_capacity(1);
        let (task, completer) = pool.rent();
        let producer = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || match completer.succeed(Counted::new(&drops)) {
                Ok(()) => true,
                Err(value) => {
                    assert_eq!(drops.load(SeqCst), 0, "a value given back was also dropped");
                    drop(value);
                    false
                }
            })
        };
        drop(task);
        let _ = producer.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// The completer is dropped while the task waits: the task wakes with `Err(Abandoned)`.
#[test]
fn pool_abandon_vs_poll() {
    model(|| {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (task, completer) = pool.rent();
        let producer = thread::spawn(move || drop(completer));
        assert_eq!(block_on(task), Err(Abandoned));
        producer.join().unwrap();
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// What the completer's side of `last_one_out` does.
#[derive(Clone, Copy)]
enum Producer {
    Succeed,
    Abandon,
}

/// Both halves live on their own threads: the task polls once and is dropped, the
/// completer completes (or is dropped). Whichever leaves last returns the slot: no slot
/// stays rented, no waker is kept, the value is dropped exactly once, and the slot rents
/// again.
fn last_one_out(kind: Producer) {
    model(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool: SourcePool<Counted> = SourcePool::with_capacity(1);
        let (mut task, completer) = pool.rent();
        let waker = CountingWaker::new();
        let consumer = {
            let waker = CountingWaker::waker(&waker);
            thread::spawn(move || {
                let polled = poll_once(&mut task, &waker);
                let parked = polled.is_pending();
                drop(polled);
                drop(task);
                parked
            })
        };
        let producer = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || match kind {
                Producer::Succeed => drop(completer.succeed(Counted::new(&drops))),
                Producer::Abandon => drop(completer),
            })
        };
        let parked = consumer.join().unwrap();
        producer.join().unwrap();
        let expected_drops = match kind {
            Producer::Succeed => 1,
            Producer::Abandon => 0,
        };
        assert_eq!(drops.load(SeqCst), expected_drops);
        assert!(waker.wakes() <= usize::from(parked));
        assert!(!held_elsewhere(&waker), "a waker outlived both halves");
        assert_eq!(pool.stats().in_use, 0, "the slot was not returned");

        let (task, completer) = pool.rent();
        assert_eq!(pool.stats().in_use, 1);
        completer.succeed(Counted::new(&drops)).unwrap();
        drop(task.into_ready().ok().unwrap());
        assert_eq!(pool.stats().in_use, 0);
        assert_eq!(drops.load(SeqCst), expected_drops + 1);
    });
}

#[test]
fn pool_last_one_out_complete() {
    last_one_out(Producer::Succeed);
}

#[test]
fn pool_last_one_out_abandon() {
    last_one_out(Producer::Abandon);
}

/// Two threads each rent, complete and await on one pool. `preallocated`
/// says whether the pool starts with slots (no growth) or empty (both threads may race
/// to install the first chunk; the loser frees its chunk and takes a slot from the
/// winner's).
fn rent_and_return(preallocated: bool) {
    model(move || {
        let pool: SourcePool<usize> = if preallocated {
            SourcePool::with_capacity(1)
        } else {
            SourcePool::new()
        };
        let workers: Vec<_> = [1, 2]
            .into_iter()
            .map(|value| {
                let pool = pool.clone();
                thread::spawn(move || {
                    let (task, completer) = pool.rent();
                    completer.succeed(value).unwrap();
                    assert_eq!(block_on(task), Ok(value));
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let stats = pool.stats();
        assert_eq!(stats.in_use, 0);
        if preallocated {
            assert_eq!(
                (stats.chunks, stats.capacity),
                (1, 16),
                "grew with free slots"
            );
        } else {
            // A thread that finds the free list empty while the first chunk is installed
            // but its slots not yet pushed grows a second chunk: wasteful, not wrong.
            // A thread that loses the race to install the same chunk frees its own.
            assert!(stats.chunks == 1 || stats.chunks == 2);
            assert_eq!(stats.capacity, 16 * ((1 << stats.chunks) - 1));
        }
    });
}

#[test]
fn pool_rent_and_return_no_growth() {
    rent_and_return(true);
}

#[test]
fn pool_rent_and_return_with_growth() {
    rent_and_return(false);
}

/// The pool handle is dropped first while its halves live on other threads: the pool's
/// memory must stay valid until the last half leaves, and the value arrives.
#[test]
fn pool_handle_dropped_first() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool: SourcePool<Counted> = SourcePool::with_capacity(1);
        let (task, completer) = pool.rent();
        let consumer = thread::spawn(move || block_on(task).is_ok());
        let producer = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || completer.succeed(Counted::new(&drops)).is_ok())
        };
        drop(pool);
        assert!(consumer.join().unwrap(), "the task did not get the value");
        assert!(producer.join().unwrap());
        assert_eq!(drops.load(SeqCst), 1);
    });
}

// ---------------------------------------------------------------------------------------
// Pooled future blocks: the shared stacks
// ---------------------------------------------------------------------------------------
//
// Under loom the per-thread caches are off and the shared stacks hold at most
// `SHARED_BLOCKS` (2) blocks per class, so every block taken or freed goes through the
// locked stack and the cap is reached. Loom's leak check sees every block: the stacks are
// a loom static, dropped (and their blocks freed) at the end of each execution.

/// A pooled task whose future owns a [`Counted`] and suspends once before returning 1.
fn counted_future_task(drops: &Arc<AtomicUsize>) -> ValueTask<'static, u64> {
    let state = Counted::new(drops);
    let mut yielded = false;
    ValueTask::from_future(std::future::poll_fn(move |cx| {
        let _ = &state;
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(1)
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }))
}

/// Blocks taken on one thread are freed on others, while a third thread takes one: no
/// block is lost or freed twice, each future is dropped once, and what is not in use sits
/// on the shared stack, within its cap.
#[test]
fn future_blocks_freed_on_other_threads() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let finished = counted_future_task(&drops);
        let dropped = counted_future_task(&drops);
        let finisher = thread::spawn(move || block_on(finished));
        let dropper = thread::spawn(move || drop(dropped));
        // Meanwhile this thread takes a block: a freed one or a new one.
        assert_eq!(block_on(counted_future_task(&drops)), 1);
        assert_eq!(finisher.join().unwrap(), 1);
        dropper.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3);
        let stats = valuetask::future_pool::stats();
        assert!(stats.shared_blocks <= valuetask::future_pool::SHARED_BLOCKS);
        assert_eq!(stats.allocated_blocks, stats.shared_blocks);
    });
}

/// Three blocks freed at once on three threads, with room for two on the shared stack:
/// the one that does not fit goes back to the allocator.
#[test]
fn future_blocks_over_the_shared_cap_are_freed() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let tasks = [
            counted_future_task(&drops),
            counted_future_task(&drops),
            counted_future_task(&drops),
        ];
        assert_eq!(valuetask::future_pool::stats().allocated_blocks, 3);
        let [a, b, c] = tasks;
        let a = thread::spawn(move || drop(a));
        let b = thread::spawn(move || drop(b));
        drop(c);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(drops.load(SeqCst), 3);
        let stats = valuetask::future_pool::stats();
        assert_eq!(stats.shared_blocks, valuetask::future_pool::SHARED_BLOCKS);
        assert_eq!(stats.allocated_blocks, stats.shared_blocks);
    });
}

/// `trim` races a block being freed and another being taken: whatever the order, every
/// block ends on the stack or back with the allocator, never both.
#[test]
fn future_pool_trim_races_free_and_take() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let task = counted_future_task(&drops);
        drop(counted_future_task(&drops)); // one block waits on the stack
        let dropper = thread::spawn(move || drop(task));
        let taker = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || block_on(counted_future_task(&drops)))
        };
        let trimmed = valuetask::future_pool::trim();
        dropper.join().unwrap();
        assert_eq!(taker.join().unwrap(), 1);
        assert!(trimmed <= 2);
        assert_eq!(drops.load(SeqCst), 3);
        let stats = valuetask::future_pool::stats();
        assert_eq!(stats.allocated_blocks, stats.shared_blocks);
        assert_eq!(valuetask::future_pool::trim(), stats.shared_blocks);
        assert_eq!(valuetask::future_pool::stats().allocated_blocks, 0);
    });
}

// ---------------------------------------------------------------------------------------
// The pool's newer transitions
// ---------------------------------------------------------------------------------------

/// The task, parked with a waker, takes its value while the completer is still leaving
/// (between publishing `COMPLETE` and setting `COMPLETER_GONE`): the value is dropped
/// exactly once, by the task's owner, the waker is woken at most once and not kept, and
/// the slot comes back once.
#[test]
fn pool_task_takes_while_the_completer_leaves() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool: SourcePool<Counted> = SourcePool::with_capacity(1);
        let (mut task, completer) = pool.rent();
        let waker = CountingWaker::new();
        assert!(poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        let producer = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || completer.succeed(Counted::new(&drops)).is_ok())
        };
        let spin_waker = CountingWaker::waker(&waker);
        let value = loop {
            if let Poll::Ready(value) = poll_once(&mut task, &spin_waker) {
                break value;
            }
            thread::yield_now();
        };
        assert!(producer.join().unwrap());
        assert_eq!(
            drops.load(SeqCst),
            0,
            "the value is the task's, not dropped by the pool"
        );
        drop(value.ok().unwrap());
        assert_eq!(drops.load(SeqCst), 1);
        drop(spin_waker);
        drop(task);
        assert!(waker.wakes() <= 1);
        assert!(!held_elsewhere(&waker), "a waker outlived both halves");
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// The completer waits on `cancelled` while the task is dropped on another thread: the
/// producer is woken exactly once, no waker is kept, and whoever leaves last returns
/// the slot (the task's `CANCEL_WAKING` step keeps the completer from recycling under
/// it).
#[test]
fn pool_cancelled_vs_task_drop() {
    model(|| {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (task, completer) = pool.rent();
        let dropper = thread::spawn(move || drop(task));
        block_on(completer.cancelled());
        assert!(completer.is_cancelled());
        assert_eq!(completer.succeed(1), Err(1));
        dropper.join().unwrap();
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// The completer registers a `cancelled` waker and then completes while the task is
/// dropped: the completer either takes its waker back or the task wakes it; either
/// way it is dropped once and nothing is left rented.
#[test]
fn pool_cancel_waker_vs_complete_vs_task_drop() {
    model(|| {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (task, completer) = pool.rent();
        let waker = CountingWaker::new();
        let dropper = thread::spawn(move || drop(task));
        let mut cancelled = completer.cancelled();
        let first = poll_once(&mut cancelled, &CountingWaker::waker(&waker));
        drop(cancelled);
        let sent = completer.succeed(5);
        dropper.join().unwrap();
        // The value came back only if the task was already gone.
        if sent.is_ok() {
            assert!(first.is_pending());
        }
        assert!(waker.wakes() <= 1);
        assert!(
            !held_elsewhere(&waker),
            "the cancel waker outlived both halves"
        );
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// The free list's ABA window: one thread pops a slot (reading its link), while the
/// other pops that slot and the next one and pushes the first back, so the head is the
/// same slot again with another link. The head's tag makes the stale exchange fail (the
/// thread caches are off under loom, so every rental goes through the list): no slot is
/// rented twice (loom would flag two completers in one cell), each task gets its own
/// value, and all slots come back.
#[test]
fn pool_free_list_pop_push_pop() {
    model(|| {
        let pool: SourcePool<usize> = SourcePool::with_capacity(2);
        let single = {
            let pool = pool.clone();
            thread::spawn(move || {
                let (task, completer) = pool.rent();
                completer.succeed(1).unwrap();
                task.into_ready().ok().unwrap()
            })
        };
        let (first, first_completer) = pool.rent();
        let (second, second_completer) = pool.rent();
        first_completer.succeed(2).unwrap();
        assert_eq!(first.into_ready().ok().unwrap(), Ok(2)); // pushed back first
        second_completer.succeed(3).unwrap();
        assert_eq!(second.into_ready().ok().unwrap(), Ok(3));
        assert_eq!(single.join().unwrap(), Ok(1));
        let stats = pool.stats();
        assert_eq!(stats.in_use, 0);
        assert_eq!(
            stats.available, stats.capacity,
            "every slot is back on the list"
        );
    });
}
