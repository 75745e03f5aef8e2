//! Loom models of the future pool: shared stacks and home inboxes.
//!
//! Part of `tests/loom.rs` (see the matrix there); shares its support code.

use super::*;

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

/// Reuses a freed block at once, as the thread that freed one would race: a new pooled
/// future of the same size class (under loom it comes from the shared stack when a
/// block is there), suspended once and polled to its end, which writes and reads its
/// whole block.
fn reuse_future_block() {
    let mut yielded = false;
    let task = ValueTask::from_future(std::future::poll_fn(move |cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(2_u64)
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }));
    assert_eq!(block_on(task), 2);
}

/// Blocks taken on one thread are freed on others, while a third thread takes one: no
/// block is lost or freed twice, each future is dropped once, and what is not in use sits
/// on the shared stack, within its cap.
#[test]
fn future_blocks_freed_on_other_threads() {
    model(250_000, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let finished = counted_future_task(&drops);
        let dropped = counted_future_task(&drops);
        let finisher = thread::spawn(move || {
            let output = block_on(finished);
            reuse_future_block();
            output
        });
        let dropper = thread::spawn(move || {
            drop(dropped);
            reuse_future_block();
        });
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
    model(30_000, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let tasks = [
            counted_future_task(&drops),
            counted_future_task(&drops),
            counted_future_task(&drops),
        ];
        assert_eq!(valuetask::future_pool::stats().allocated_blocks, 3);
        let [a, b, c] = tasks;
        let a = thread::spawn(move || {
            drop(a);
            reuse_future_block();
        });
        let b = thread::spawn(move || drop(b));
        drop(c);
        reuse_future_block();
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
    model(4_000, || {
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

/// Two threads each take a block, finish their task and trim, while a third frees a
/// block it did not take: two takes, two trims and frees at once. No block is lost or
/// freed twice (loom's leak check sees every block), each future is dropped once, and
/// what is left sits on the shared stack, which one more trim empties.
#[test]
fn future_pool_two_takers_trim_at_once() {
    model(100_000, || {
        let drops = Arc::new(AtomicUsize::new(0));
        let dropped = counted_future_task(&drops);
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let drops = Arc::clone(&drops);
                thread::spawn(move || {
                    assert_eq!(block_on(counted_future_task(&drops)), 1);
                    valuetask::future_pool::trim()
                })
            })
            .collect();
        drop(dropped);
        let trimmed: usize = takers.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(trimmed <= 3);
        assert_eq!(drops.load(SeqCst), 3);
        let stats = valuetask::future_pool::stats();
        assert_eq!(stats.allocated_blocks, stats.shared_blocks);
        assert_eq!(valuetask::future_pool::trim(), stats.shared_blocks);
        assert_eq!(valuetask::future_pool::stats().allocated_blocks, 0);
    });
}
