//! Loom models of the pool slot and its free list.
//!
//! Part of `tests/loom.rs` (see the matrix there); shares its support code.

use super::*;

/// The completer completes while the task is dropped: the value comes back from
/// `complete` or is dropped with the slot, exactly once, and the slot is returned.
#[test]
fn pool_complete_vs_task_drop() {
    model(100, || {
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
    model(500, || {
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
    model(500, move || {
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
    model(30_000, move || {
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
    model(3_000, || {
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

/// The task, parked with a waker, takes its value while the completer is still leaving
/// (between publishing `COMPLETE` and setting `COMPLETER_LEFT`): the value is dropped
/// exactly once, by the task's owner, the waker is woken at most once and not kept, and
/// the slot comes back once.
#[test]
fn pool_task_takes_while_the_completer_leaves() {
    model(200, || {
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
    model(2_000, || {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (task, mut completer) = pool.rent();
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
    model(500, || {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (task, mut completer) = pool.rent();
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
    model(10_000, || {
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

/// The task asks `is_ready` and takes its result with `into_ready` while the completer
/// completes (or is dropped) on another thread. `into_ready` hands the task back when
/// the result is not there, and awaiting it then gets the value: it reaches the task
/// whatever the order, is dropped exactly once, and the slot comes back.
fn into_ready_vs(kind: Producer) {
    model(500, move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool: SourcePool<Counted> = SourcePool::with_capacity(1);
        let (task, completer) = pool.rent();
        let producer = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || match kind {
                Producer::Succeed => assert!(completer.succeed(Counted::new(&drops)).is_ok()),
                Producer::Abandon => drop(completer),
            })
        };
        let ready = task.is_ready();
        let result = match task.into_ready() {
            Ok(result) => result,
            Err(task) => {
                assert!(!ready, "a ready task refused into_ready");
                block_on(task)
            }
        };
        producer.join().unwrap();
        match kind {
            Producer::Succeed => assert!(result.is_ok(), "the value did not reach the task"),
            Producer::Abandon => assert_eq!(result.err(), Some(Abandoned)),
        }
        assert_eq!(drops.load(SeqCst), 0, "the pool dropped the task's value");
        assert_eq!(pool.stats().in_use, 0, "the slot was not returned");
    });
}

#[test]
fn pool_into_ready_vs_complete() {
    into_ready_vs(Producer::Succeed);
}

#[test]
fn pool_into_ready_vs_abandon() {
    into_ready_vs(Producer::Abandon);
}

/// The completer polls a `cancelled()` future with one waker, then another with a second
/// waker (taking the first back out of the cell: `reclaim_cancel_waker`), while the task
/// polls, asks `is_ready` and is dropped on another thread. No lost wake-up: if the last
/// poll was pending, its waker is woken; a replaced waker never is. Afterwards the poll
/// is `Ready`, the value comes back to the producer, and no waker is kept.
#[test]
fn pool_cancelled_polls_vs_task() {
    model(20_000, || {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (mut task, mut completer) = pool.rent();
        let wakers = [CountingWaker::new(), CountingWaker::new()];
        let producer = {
            let first = CountingWaker::waker(&wakers[0]);
            let second = CountingWaker::waker(&wakers[1]);
            thread::spawn(move || {
                let before = completer.is_cancelled();
                let polled = poll_once(&mut completer.cancelled(), &first);
                assert!(!before || polled.is_ready(), "a cancellation was forgotten");
                let pending = poll_once(&mut completer.cancelled(), &second).is_pending();
                (completer, pending)
            })
        };
        let waker = CountingWaker::new();
        assert!(poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        assert!(!task.is_ready());
        drop(task);
        let (mut completer, pending) = producer.join().unwrap();
        assert_eq!(wakers[1].wakes(), usize::from(pending), "a lost wake-up");
        // The first waker is woken only if the task left while it waited, never once
        // the second replaced it.
        assert!(wakers[0].wakes() <= usize::from(!pending));
        assert!(completer.is_cancelled());
        assert_eq!(poll_noop(&mut completer), Poll::Ready(()));
        assert_eq!(completer.succeed(7), Err(7));
        assert_eq!(waker.wakes(), 0);
        assert!(
            !held_elsewhere(&waker),
            "the task's waker outlived both halves"
        );
        for waker in &wakers {
            assert!(
                !held_elsewhere(waker),
                "a cancel waker outlived both halves"
            );
        }
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// Polls a `cancelled()` future of `completer` once with a waker that does nothing.
fn poll_noop(completer: &mut valuetask::Completer<usize>) -> Poll<()> {
    poll_once(&mut completer.cancelled(), std::task::Waker::noop())
}

/// One thread rents, completes and awaits (so its slot is recycled) while the halves of
/// another rental leave on two threads: its task is dropped, its completer polls
/// `cancelled()`, asks `is_cancelled` and is dropped, and `stats` walks every slot on
/// both of those threads meanwhile. Every value is dropped once, the counts stay within the two rentals, and
/// every slot comes back.
#[test]
fn pool_rent_vs_halves_leaving_and_stats() {
    model(360_000, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool: SourcePool<Counted> = SourcePool::with_capacity(1);
        let (task, mut completer) = pool.rent();
        let renter = {
            let pool = pool.clone();
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let (task, completer) = pool.rent();
                completer.succeed(Counted::new(&drops)).unwrap();
                drop(block_on(task).unwrap());
            })
        };
        let dropper = {
            let pool = pool.clone();
            thread::spawn(move || {
                drop(task);
                let stats = pool.stats();
                assert!(stats.in_use <= 2 && stats.capacity == 16, "{stats:?}");
            })
        };
        let cancelled = poll_once(&mut completer.cancelled(), std::task::Waker::noop());
        if cancelled.is_ready() {
            assert!(completer.is_cancelled());
        }
        let stats = pool.stats();
        assert!(stats.in_use <= 2 && stats.capacity == 16, "{stats:?}");
        drop(completer);
        renter.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        let stats = pool.stats();
        assert_eq!((stats.in_use, stats.available), (0, 16), "{stats:?}");
    });
}

/// Every handle of a pool is dropped on its own thread while the halves of its rentals
/// leave, another rental is made and completed, and `stats` walks the slots: the pool's memory stays until the last of them, the
/// value left unread is dropped once (when its slot is recycled), and each half gets
/// its answer.
#[test]
fn pool_handles_dropped_while_rentals_run() {
    model(400_000, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool: SourcePool<Counted> = SourcePool::with_capacity(1);
        let (task, mut completer) = pool.rent();
        let renter = {
            let pool = pool.clone();
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                let (task, completer) = pool.rent();
                drop(pool);
                completer.succeed(Counted::new(&drops)).unwrap();
                assert!(task.is_ready());
                drop(task); // the value is dropped unread, with the slot
            })
        };
        let leaver = {
            let pool = pool.clone();
            thread::spawn(move || {
                drop(task);
                assert!(pool.stats().in_use <= 2);
                drop(pool);
            })
        };
        let cancelled = completer.is_cancelled();
        let polled = poll_once(&mut completer.cancelled(), std::task::Waker::noop());
        assert!(
            !cancelled || polled.is_ready(),
            "a cancellation was forgotten"
        );
        drop(pool);
        drop(completer);
        renter.join().unwrap();
        leaver.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// The idiomatic `select!` where the work wins: the completer's `cancelled()` was polled
/// (its waker waits in the slot) and dropped, then the completer succeeds on another
/// thread while the task awaits. The task may be last the moment the completer
/// publishes; it then reuses the slot at once (a capacity-1 pool) and the next
/// rental's `cancelled()` writes the same cell: the completer must not touch it after
/// its leaving step.
#[test]
fn pool_reuse_after_cancelled_then_succeed() {
    model(2_000, || {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer).is_pending());
        let producer = thread::spawn(move || completer.succeed(1).unwrap());
        assert_eq!(block_on(task), Ok(1));
        let (task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer).is_pending());
        drop(task);
        assert!(poll_noop(&mut completer).is_ready());
        producer.join().unwrap();
        drop(completer);
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// Rents again and touches every cell of the next occupant: the task's waker (a poll),
/// the cancel waker (`cancelled()` polled), the value (complete, then take). From a
/// capacity-1 pool (one chunk, LIFO) this is the slot just vacated when one is free.
fn reuse(pool: &SourcePool<usize>) {
    let (mut task, mut completer) = pool.rent();
    assert!(poll_once(&mut task, std::task::Waker::noop()).is_pending());
    assert!(poll_noop(&mut completer).is_pending());
    completer.succeed(9).unwrap();
    assert_eq!(task.into_ready().ok(), Some(Ok(9)));
}

/// The task waits with a waker; the completer publishes taking it, leaves and wakes
/// it on another thread; the task (last, or leaving with the value while the completer
/// leaves) reuses the slot at once.
#[test]
fn pool_reuse_after_wake() {
    model(2_000, || {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (mut task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer).is_pending());
        let waker = CountingWaker::new();
        assert!(poll_once(&mut task, &CountingWaker::waker(&waker)).is_pending());
        let producer = thread::spawn(move || completer.succeed(1).unwrap());
        assert_eq!(block_on(task), Ok(1));
        reuse(&pool);
        producer.join().unwrap();
        assert!(!held_elsewhere(&waker));
        assert_eq!(pool.stats().in_use, 0);
    });
}

/// The task (polled, its completer's `cancelled()` waiting) is dropped while the
/// completer completes or is dropped; each side reuses the pool at once after its
/// departure, so whichever is last recycles under the other's next rental.
fn reuse_after_task_drop(kind: Producer) {
    model(20_000, move || {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (mut task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer).is_pending());
        assert!(poll_once(&mut task, std::task::Waker::noop()).is_pending());
        let producer = {
            let pool = pool.clone();
            thread::spawn(move || {
                match kind {
                    Producer::Succeed => drop(completer.succeed(2)),
                    Producer::Abandon => drop(completer),
                }
                reuse(&pool);
            })
        };
        drop(task);
        reuse(&pool);
        producer.join().unwrap();
        assert_eq!(pool.stats().in_use, 0);
    });
}

#[test]
fn pool_reuse_after_task_drop_vs_complete() {
    reuse_after_task_drop(Producer::Succeed);
}

#[test]
fn pool_reuse_after_task_drop_vs_abandon() {
    reuse_after_task_drop(Producer::Abandon);
}

/// As `pool_reuse_after_cancelled_then_succeed`, with the last pool handle dropped
/// before the task is awaited: the last half frees the pool, and a new pool is made
/// and used at once.
#[test]
fn pool_reuse_after_last_handle_dropped() {
    model(2_000, || {
        let pool: SourcePool<usize> = SourcePool::with_capacity(1);
        let (task, mut completer) = pool.rent();
        assert!(poll_noop(&mut completer).is_pending());
        let producer = thread::spawn(move || completer.succeed(1).unwrap());
        drop(pool);
        assert_eq!(block_on(task), Ok(1));
        let next: SourcePool<usize> = SourcePool::with_capacity(1);
        reuse(&next);
        producer.join().unwrap();
    });
}
