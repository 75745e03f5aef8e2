//! `ValueTask::from_future`'s pooled blocks: placement, drop in place exactly once,
//! alignment, the `Box` fallback, trimming and thread exit. Small enough for Miri
//! (`cargo +nightly miri test --test future_pool`), which checks the block reuse for
//! undefined behaviour and leaks.
//!
//! The pool's shared stacks are process-wide, so every test holds [`serial`]'s lock, and
//! trims before letting go of it: the harness's thread of a finished test would otherwise
//! hand its cached blocks to the shared stacks while the next test counts them.

use std::cell::Cell;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use valuetask::future_pool::{
    self, BLOCK_SIZES, FallbackStats, SHARED_BLOCKS, SHARED_CAPACITY, SHARED_CLASS_BYTES,
    SHARED_MAX_BYTES, THREAD_CACHE_BLOCKS, THREAD_CACHE_CAPACITY, THREAD_CACHE_CLASS_BYTES,
    THREAD_CACHE_MAX_BYTES,
};
use valuetask::{Abandoned, SourcePool, ValueTask};

mod support;

// Every wait for a wake-up fails by name ("lost wake-up?") instead of hanging.
use support::poll::{block_on_deadline as block_on, poll_noop, yield_once};

/// Runs the tests one at a time; trims this thread's cache when the test ends.
struct Serial {
    _lock: MutexGuard<'static, ()>,
}

impl Drop for Serial {
    fn drop(&mut self) {
        future_pool::trim();
    }
}

fn serial() -> Serial {
    static LOCK: Mutex<()> = Mutex::new(());
    Serial {
        _lock: LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
    }
}

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn kind<T>(task: &ValueTask<'_, T>) -> String {
    format!("{task:?}")
}

#[test]
fn a_future_that_fits_goes_in_a_block_and_is_polled_in_place() {
    let _serial = serial();
    let mut task = ValueTask::from_future(async {
        let here = Cell::new(0usize);
        let first = &here as *const _ as usize;
        yield_once().await;
        // The future did not move between polls.
        first == &here as *const _ as usize
    });
    assert!(kind(&task).contains("pooled future"), "{}", kind(&task));
    assert!(!task.is_ready());
    assert_eq!(poll_noop(&mut task), Poll::Pending);
    assert_eq!(poll_noop(&mut task), Poll::Ready(true));
}

#[test]
fn a_finished_block_is_reused_by_the_next_call_on_this_thread() {
    let _serial = serial();
    fn address_of_state() -> ValueTask<'static, usize> {
        ValueTask::from_future(async {
            let here = 0u64;
            let address = &here as *const _ as usize;
            yield_once().await;
            address
        })
    }
    let first = block_on(address_of_state());
    let second = block_on(address_of_state());
    assert_eq!(first, second, "the block came back to this thread's cache");
}

#[test]
fn the_future_is_dropped_in_place_exactly_once() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let output_drops = Arc::new(AtomicUsize::new(0));
    let make = || {
        let state = Counted(Arc::clone(&drops));
        let output = Counted(Arc::clone(&output_drops));
        ValueTask::from_future(async move {
            let _state = state;
            yield_once().await;
            output
        })
    };

    // Completed: the future is dropped when it returns, the output when the caller drops it.
    let mut task = make();
    assert_eq!(poll_noop(&mut task).map(drop), Poll::Pending);
    let Poll::Ready(output) = poll_noop(&mut task) else {
        panic!("the future suspends once")
    };
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(output_drops.load(Ordering::SeqCst), 0);
    drop(output);
    drop(task);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(output_drops.load(Ordering::SeqCst), 1);

    // Dropped mid-flight: the future and everything it owns (the unreturned output) once.
    let mut task = make();
    assert!(poll_noop(&mut task).is_pending());
    drop(task);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(output_drops.load(Ordering::SeqCst), 2);

    // Never polled.
    drop(make());
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert_eq!(output_drops.load(Ordering::SeqCst), 3);
}

#[test]
fn a_future_that_borrows_its_caller_needs_no_static() {
    let _serial = serial();
    let name = String::from("valuetask");
    let task = ValueTask::from_future(async {
        yield_once().await;
        name.len()
    });
    assert_eq!(block_on(task), 9);
}

#[repr(align(32))]
struct Align32([u8; 32]);
#[repr(align(64))]
struct Align64([u8; 64]);
#[repr(align(128))]
struct Align128([u8; 128]);

/// A task whose future holds `value` across a suspension and gives it back if it sat at
/// an address aligned to `align`.
fn aligned<'a, V: Send + 'a>(value: V, align: usize) -> ValueTask<'a, Option<V>> {
    ValueTask::from_future(async move {
        let value = value;
        yield_once().await;
        (&value as *const V as usize)
            .is_multiple_of(align)
            .then_some(value)
    })
}

#[test]
fn futures_aligned_to_32_and_64_bytes_are_pooled_and_aligned() {
    let _serial = serial();
    let task = aligned(Align32([1; 32]), 32);
    assert!(kind(&task).contains("pooled future"), "{}", kind(&task));
    assert_eq!(block_on(task).map(|v| v.0[31]), Some(1));
    let task = aligned(Align64([2; 64]), 64);
    assert!(kind(&task).contains("pooled future"), "{}", kind(&task));
    assert_eq!(block_on(task).map(|v| v.0[63]), Some(2));
}

#[test]
fn a_future_aligned_to_128_bytes_is_boxed_and_aligned() {
    let _serial = serial();
    let task = aligned(Align128([3; 128]), 128);
    assert!(kind(&task).contains("boxed"), "{}", kind(&task));
    assert_eq!(block_on(task).map(|v| v.0[127]), Some(3));
}

#[test]
fn each_size_class_holds_its_futures_and_larger_ones_are_boxed() {
    let _serial = serial();
    // A future that holds `N` bytes across its suspension is a little over `N` bytes.
    fn holding<const N: usize>() -> ValueTask<'static, u8> {
        ValueTask::from_future(async {
            let bytes = [7u8; N];
            yield_once().await;
            bytes[N - 1]
        })
    }
    for (task, size) in [
        (holding::<40>(), 64),
        (holding::<100>(), 128),
        (holding::<200>(), 256),
        (holding::<400>(), 512),
        (holding::<1000>(), 1024),
        (holding::<2000>(), 2048),
        (holding::<4000>(), 4096),
        // The future of object_store's S3 `put_opts` is 5,112 bytes.
        (holding::<5112>(), 8192),
        (holding::<8000>(), 8192),
    ] {
        assert!(kind(&task).contains("pooled future"), "{}", kind(&task));
        future_pool::trim();
        assert_eq!(block_on(task), 7);
        // The task's block is the one free block now: it shows the class it was of.
        assert_eq!(future_pool::stats().thread_cached_bytes, size);
        assert_eq!(future_pool::trim(), 1);
    }
    let large = holding::<8192>();
    assert!(kind(&large).contains("boxed"), "{}", kind(&large));
    assert_eq!(block_on(large), 7);
    assert_eq!(BLOCK_SIZES.last(), Some(&8192));
}

/// The reasons a future is boxed, as counted: the change in each count since `before`.
fn fallbacks_since(before: FallbackStats) -> [usize; 3] {
    let now = future_pool::stats().fallbacks;
    [
        now.too_big - before.too_big,
        now.over_aligned - before.over_aligned,
        now.zero_sized - before.zero_sized,
    ]
}

#[test]
fn each_fallback_to_a_box_is_counted_once_under_its_reason() {
    let _serial = serial();
    let before = future_pool::stats().fallbacks;
    let too_big = ValueTask::from_future(async {
        let bytes = [7u8; 8192];
        yield_once().await;
        bytes[8191]
    });
    assert_eq!(fallbacks_since(before), [1, 0, 0]);
    assert_eq!(block_on(too_big), 7);

    let before = future_pool::stats().fallbacks;
    let over_aligned = aligned(Align128([3; 128]), 128);
    assert_eq!(fallbacks_since(before), [0, 1, 0]);
    drop(over_aligned);

    let before = future_pool::stats().fallbacks;
    for _ in 0..3 {
        drop(ValueTask::from_future(std::future::pending::<u8>()));
    }
    assert_eq!(fallbacks_since(before), [0, 0, 3]);
}

#[test]
fn a_future_that_fits_and_a_deliberate_box_are_not_counted() {
    let _serial = serial();
    let before = future_pool::stats().fallbacks;
    let small = ValueTask::from_future(async {
        yield_once().await;
        1u8
    });
    let large = ValueTask::from_future(async {
        let bytes = [2u8; 5112];
        yield_once().await;
        bytes[5111]
    });
    let aligned_64 = aligned(Align64([4; 64]), 64);
    let boxed = ValueTask::boxed(async { 3u8 });
    assert_eq!(block_on(small), 1);
    assert_eq!(block_on(large), 2);
    assert!(block_on(aligned_64).is_some());
    assert_eq!(block_on(boxed), 3);
    assert_eq!(future_pool::stats().fallbacks, before);
}

#[test]
fn the_caps_are_set_in_bytes_per_class() {
    let _serial = serial();
    assert_eq!(THREAD_CACHE_CAPACITY, [32, 32, 32, 32, 32, 16, 8, 4]);
    assert_eq!(SHARED_CAPACITY, [256, 256, 256, 256, 256, 128, 64, 32]);
    for (class, size) in BLOCK_SIZES.into_iter().enumerate() {
        assert!(THREAD_CACHE_CAPACITY[class] <= THREAD_CACHE_BLOCKS);
        assert!(THREAD_CACHE_CAPACITY[class] * size <= THREAD_CACHE_CLASS_BYTES);
        assert!(SHARED_CAPACITY[class] <= SHARED_BLOCKS);
        assert!(SHARED_CAPACITY[class] * size <= SHARED_CLASS_BYTES);
    }
    // The figures the module docs give.
    assert_eq!(THREAD_CACHE_MAX_BYTES, 161_792);
    assert_eq!(SHARED_MAX_BYTES, 1_294_336);
}

/// That boxing it allocates nothing is counted in `tests/zero_alloc_futures.rs`, whose
/// binary has the counting allocator.
#[test]
fn a_zero_sized_future_is_boxed() {
    let _serial = serial();
    let task = ValueTask::from_future(std::future::pending::<u8>());
    assert!(kind(&task).contains("boxed"), "{}", kind(&task));
}

#[test]
fn boxed_always_boxes() {
    let _serial = serial();
    let task = ValueTask::boxed(async { 3 });
    assert!(kind(&task).contains("boxed"), "{}", kind(&task));
    assert_eq!(block_on(task), 3);
}

/// A future that suspends once, then returns 5, and whose `Drop` panics after counting.
struct PanicOnDrop {
    drops: Arc<AtomicUsize>,
    polled: bool,
}

impl PanicOnDrop {
    fn new(drops: &Arc<AtomicUsize>) -> Self {
        Self {
            drops: Arc::clone(drops),
            polled: false,
        }
    }
}

impl Future for PanicOnDrop {
    type Output = u64;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u64> {
        if std::mem::replace(&mut self.polled, true) {
            Poll::Ready(5)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        panic!("PanicOnDrop");
    }
}

#[test]
fn a_panic_while_dropping_the_finished_future_never_drops_it_twice() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut task = ValueTask::from_future(PanicOnDrop::new(&drops));
    assert!(kind(&task).contains("pooled future"), "{}", kind(&task));
    assert!(poll_noop(&mut task).is_pending());
    let cached = future_pool::stats().thread_cached_blocks;
    let panicked = panic::catch_unwind(AssertUnwindSafe(|| poll_noop(&mut task)));
    assert!(panicked.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let again = panic::catch_unwind(AssertUnwindSafe(|| poll_noop(&mut task)));
    let message = again.expect_err("polling again panics");
    let message = message.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("polled again"), "{message}");
    drop(task);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // The block went back to this thread's cache: nothing was lost.
    assert_eq!(future_pool::stats().thread_cached_blocks, cached + 1);
}

#[test]
fn a_panic_while_dropping_an_unfinished_future_still_recycles_its_block() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut task = ValueTask::from_future(PanicOnDrop::new(&drops));
    assert!(poll_noop(&mut task).is_pending());
    let cached = future_pool::stats().thread_cached_blocks;
    assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(task))).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(future_pool::stats().thread_cached_blocks, cached + 1);
}

#[test]
fn a_future_that_panics_in_poll_is_dropped_once_with_its_task() {
    let _serial = serial();
    let drops = Arc::new(AtomicUsize::new(0));
    let state = Counted(Arc::clone(&drops));
    let mut task = ValueTask::from_future(async move {
        let _state = state;
        yield_once().await;
        panic!("the body failed");
    });
    assert!(poll_noop(&mut task).is_pending());
    assert!(panic::catch_unwind(AssertUnwindSafe(|| poll_noop(&mut task))).is_err());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "unwinding dropped the body's locals"
    );
    drop(task);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// The dyn method of the issue: its async body awaits a pooled source completed later.
trait Service: Sync {
    fn call(&self, reply: ValueTask<'static, Result<u64, Abandoned>>) -> ValueTask<'_, u64>;
}

struct AddOffset(u64);

impl Service for AddOffset {
    fn call(&self, reply: ValueTask<'static, Result<u64, Abandoned>>) -> ValueTask<'_, u64> {
        ValueTask::from_future(async move { reply.await.unwrap_or(0) + self.0 })
    }
}

#[test]
fn a_dyn_async_method_created_here_and_finished_on_another_thread() {
    let _serial = serial();
    let service: &'static dyn Service = &AddOffset(1);
    let pool = SourcePool::<u64>::new();
    for i in 0..8 {
        let (reply, completer) = pool.rent();
        let mut task = service.call(reply);
        assert!(poll_noop(&mut task).is_pending());
        let finished = std::thread::spawn(move || {
            completer.succeed(i).unwrap();
            block_on(task)
        });
        assert_eq!(finished.join().unwrap(), i + 1);
    }
}

#[test]
fn trim_gives_back_this_threads_cache_and_the_shared_stacks() {
    let _serial = serial();
    future_pool::trim();
    let before = future_pool::stats();
    assert_eq!(before.thread_cached_blocks, 0);
    assert_eq!(before.shared_blocks, 0);

    // Three tasks at once take three blocks; finished, they wait in this thread's cache.
    let tasks = suspended_tasks(3);
    let held = future_pool::stats();
    assert_eq!(held.allocated_blocks, before.allocated_blocks + 3);
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(block_on(task), i as u64);
    }
    let cached = future_pool::stats();
    assert_eq!(cached.thread_cached_blocks, 3);
    assert_eq!(cached.thread_cached_bytes, 3 * BLOCK_SIZES[0]);
    assert_eq!(cached.allocated_blocks, before.allocated_blocks + 3);

    assert_eq!(future_pool::trim(), 3);
    let trimmed = future_pool::stats();
    assert_eq!(trimmed.thread_cached_blocks, 0);
    assert_eq!(trimmed.allocated_blocks, before.allocated_blocks);
}

/// `count` pooled tasks, each suspended once (its block taken on this thread); task `i`
/// returns `i` when polled again.
fn suspended_tasks(count: usize) -> Vec<ValueTask<'static, u64>> {
    let mut tasks: Vec<_> = (0..count as u64)
        .map(|i| {
            ValueTask::from_future(async move {
                yield_once().await;
                i
            })
        })
        .collect();
    for task in &mut tasks {
        assert!(poll_noop(task).is_pending());
    }
    tasks
}

/// A fresh thread (an empty cache, no inbox) runs one pooled task: its block comes
/// from the shared stacks, so nothing is allocated beyond what `after` counted.
fn another_thread_takes_a_shared_block(after: &future_pool::FuturePoolStats) {
    std::thread::spawn(|| {
        block_on(ValueTask::from_future(async {
            yield_once().await;
        }));
    })
    .join()
    .unwrap();
    assert_eq!(
        future_pool::stats().allocated_blocks,
        after.allocated_blocks
    );
}

#[test]
fn an_exiting_thread_returns_its_blocks_to_the_shared_stack() {
    let _serial = serial();
    future_pool::trim();
    let before = future_pool::stats();
    std::thread::spawn(|| {
        drop(suspended_tasks(4));
        assert_eq!(future_pool::stats().thread_cached_blocks, 4);
    })
    .join()
    .unwrap();
    let after = future_pool::stats();
    assert_eq!(after.shared_blocks, before.shared_blocks + 4);
    assert_eq!(after.allocated_blocks, before.allocated_blocks + 4);
    another_thread_takes_a_shared_block(&after);
    assert_eq!(future_pool::trim(), 4);
}

/// A thread makes tasks, hands them to this thread and exits; they are dropped here after
/// it is gone. Their blocks are homed on the exited thread, whose exit closed its inbox:
/// they come to the shared stacks, where another thread takes them instead of allocating.
/// (An exit that left the inbox open would strand them there, in nobody's reach.)
#[test]
fn blocks_freed_after_their_thread_exited_reach_the_shared_stack() {
    let _serial = serial();
    future_pool::trim();
    let before = future_pool::stats();
    let tasks = std::thread::spawn(|| suspended_tasks(4)).join().unwrap();
    assert_eq!(
        future_pool::stats().allocated_blocks,
        before.allocated_blocks + 4
    );
    // Two finish here, two are dropped unfinished: both paths give the block back.
    for (i, task) in tasks.into_iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(block_on(task), i as u64);
        } else {
            drop(task);
        }
    }
    let after = future_pool::stats();
    assert_eq!(
        after.shared_blocks,
        before.shared_blocks + 4,
        "blocks of an exited thread are stranded in its inbox"
    );
    assert_eq!(after.thread_cached_blocks, 0, "blocks homed elsewhere");
    another_thread_takes_a_shared_block(&after);
    assert_eq!(future_pool::trim(), 4);
}

#[test]
fn caches_are_bounded_whatever_the_burst() {
    let _serial = serial();
    future_pool::trim();
    let before = future_pool::stats();
    let burst = if cfg!(miri) {
        2 * THREAD_CACHE_BLOCKS + 8
    } else {
        10_000
    };
    let mut tasks = suspended_tasks(burst);
    assert_eq!(
        future_pool::stats().allocated_blocks,
        before.allocated_blocks + burst
    );
    for task in &mut tasks {
        assert!(poll_noop(task).is_ready());
    }
    drop(tasks);
    let idle = future_pool::stats();
    assert!(idle.thread_cached_blocks <= THREAD_CACHE_BLOCKS);
    assert!(idle.shared_blocks <= SHARED_BLOCKS);
    assert_eq!(
        idle.allocated_blocks,
        before.allocated_blocks + idle.thread_cached_blocks + idle.shared_blocks
    );
    assert_eq!(
        future_pool::trim(),
        idle.thread_cached_blocks + idle.shared_blocks
    );
    assert_eq!(
        future_pool::stats().allocated_blocks,
        before.allocated_blocks
    );
}

#[test]
fn a_burst_of_8_kib_futures_leaves_only_the_byte_caps_of_their_class() {
    let _serial = serial();
    future_pool::trim();
    let before = future_pool::stats();
    let large = BLOCK_SIZES.len() - 1;
    let burst = THREAD_CACHE_CAPACITY[large] + SHARED_CAPACITY[large] + 8;
    let mut tasks: Vec<_> = (0..burst)
        .map(|_| {
            ValueTask::from_future(async {
                let bytes = [5u8; 5112];
                yield_once().await;
                bytes[5111]
            })
        })
        .collect();
    for task in &mut tasks {
        assert!(poll_noop(task).is_pending());
    }
    assert_eq!(
        future_pool::stats().allocated_bytes,
        before.allocated_bytes + burst * BLOCK_SIZES[large]
    );
    for task in &mut tasks {
        assert_eq!(poll_noop(task), Poll::Ready(5));
    }
    drop(tasks);
    let idle = future_pool::stats();
    assert!(idle.thread_cached_bytes <= THREAD_CACHE_CLASS_BYTES);
    assert!(idle.shared_bytes <= SHARED_CLASS_BYTES);
    assert_eq!(
        idle.allocated_bytes,
        before.allocated_bytes + idle.thread_cached_bytes + idle.shared_bytes,
        "the blocks beyond both caps went back to the allocator"
    );
    assert_eq!(
        future_pool::trim() * BLOCK_SIZES[large],
        idle.thread_cached_bytes + idle.shared_bytes
    );
}
