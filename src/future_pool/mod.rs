//! Recycled storage for the futures behind [`ValueTask::from_future`]: the tier .NET
//! calls `PoolingAsyncValueTaskMethodBuilder`.
//!
//! A `dyn` async method that really suspends must keep its state somewhere that outlives
//! the call; `Box::pin` allocates that place on every call. [`ValueTask::from_future`]
//! instead moves the future into a *block* taken from a pool, polls it there in place
//! (the block never moves, so pinning holds), drops it there when it finishes or when the
//! task is dropped, and gives the block back. In steady state nothing is allocated.
//!
//! # Blocks and size classes
//!
//! A block is [`BLOCK_ALIGN`]-aligned and one of [`BLOCK_SIZES`] bytes: the future, then
//! a flag that says whether it still needs dropping and the block's home thread (16
//! bytes in all). A future goes into the smallest class it fits. A future that fits
//! none (over about 1008 bytes, or aligned to more than
//! [`BLOCK_ALIGN`]) is boxed, as [`ValueTask::boxed`] does; so is a zero-sized future,
//! whose box allocates nothing.
//!
//! # Where free blocks wait, and how much memory that holds
//!
//! - **This thread's cache**: up to [`THREAD_CACHE_BLOCKS`] free blocks per class, touched
//!   by this thread alone. A task created and finished on one thread takes and returns
//!   its block here, with no atomic operation.
//! - **This thread's inbox**: a block remembers the thread that took it out. When a task
//!   is finished on another thread (work-stealing runtimes do this all the time), that
//!   thread pushes the block onto the taker's inbox with one compare-and-swap, and the
//!   taker collects its whole inbox with one swap when its cache runs dry. Blocks so go
//!   back to the thread that makes the tasks instead of piling up where they finish.
//! - **The shared stacks**: up to [`SHARED_BLOCKS`] free blocks per class, behind one lock
//!   per class: a full cache moves half its blocks here, an exiting thread all of its
//!   blocks (its inbox closes; later frees of its blocks come here too), and a thread
//!   whose cache and inbox are empty takes a batch from here before it allocates.
//! - Blocks beyond both caps go back to the allocator at once.
//!
//! # When a steady state allocates nothing
//!
//! A thread never allocates a block while one of its own is free in its cache, its
//! inbox or the shared stack. So a thread that has at most `n` tasks of one class alive
//! at once (made by it, finished anywhere) allocates at most `n` blocks of that class
//! over its life, as long as `n` fits the caps (`n <= THREAD_CACHE_BLOCKS +
//! SHARED_BLOCKS`, less what other threads park on the shared stack): after a warm-up
//! that reached that peak, it allocates nothing, whichever threads the tasks finish on
//! and however a runtime moves them. A block freed on another thread is on its way home
//! once the freeing thread's `poll` or `drop` returns.
//!
//! At rest the pool holds at most `THREAD_CACHE_BLOCKS` × 1984 bytes (62 KiB, one of
//! each class 32 times) per thread and `SHARED_BLOCKS` × 1984 bytes (496 KiB) in the
//! shared stacks, whatever the peak was, plus what sits in the inboxes of threads that
//! have not looked since: a burst of 10 000 concurrent calls allocates 10 000 blocks and
//! hands all but those back to the allocator as the calls finish (or, for blocks freed
//! on other threads, when their thread next collects). [`trim`] returns this thread's
//! cache and inbox and the shared stacks at once; [`stats`] shows what is held. Each
//! thread that uses the pool also keeps one 64-byte inbox for the life of the process,
//! reused by later threads when it exits.
//!
//! Why these caps: 32 blocks per thread and class lets a thread run 32 tasks of one
//! class at a time without a lock on every call; a batch moves to the shared stack only
//! when a cache is full, and after a move the cache is half full, so a thread never flips
//! between the two on every call. 256 per class in the shared stacks absorbs the blocks
//! of 16 such batches (the 256 concurrent callers .NET measured its pooling builder with
//! fit in it), while keeping the worst case of the largest class at 256 KiB.
//!
//! [`ValueTask::from_future`]: crate::ValueTask::from_future
//! [`ValueTask::boxed`]: crate::ValueTask::boxed

mod block;
mod caps;
mod chain;
mod inbox;
mod lend;
mod memory;
mod recycle;
mod shared;
mod thread_cache;

pub(crate) use block::store;
pub(crate) use lend::{BlockHome, class_for, give_back_block, rent_block};

use caps::CLASSES;
pub use caps::{BLOCK_ALIGN, BLOCK_SIZES, SHARED_BLOCKS, THREAD_CACHE_BLOCKS};

/// How much the pool holds, for watching it and for tests.
///
/// The fields are read one after another, not at one instant.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct FuturePoolStats {
    /// Blocks allocated and not yet given back to the allocator: holding a future, or
    /// free in a cache, an inbox or a shared stack.
    pub allocated_blocks: usize,
    /// The bytes of those blocks.
    pub allocated_bytes: usize,
    /// Free blocks on the shared stacks.
    pub shared_blocks: usize,
    /// The bytes of those blocks.
    pub shared_bytes: usize,
    /// Free blocks in the calling thread's cache (after collecting its inbox).
    pub thread_cached_blocks: usize,
    /// The bytes of those blocks.
    pub thread_cached_bytes: usize,
}

/// What the pool holds now: allocated blocks, and the free ones in the shared stacks and
/// in this thread's cache. Collects this thread's inbox first (blocks other threads
/// freed for it), and takes each class's lock once.
pub fn stats() -> FuturePoolStats {
    let mut stats = FuturePoolStats::default();
    for (class, size) in BLOCK_SIZES.into_iter().enumerate() {
        let cached = thread_cache::current().map_or(0, |cache| {
            cache.collect(class);
            cache.len(class)
        });
        stats.thread_cached_blocks += cached;
        stats.thread_cached_bytes += cached * size;
        let shared = shared::len(class);
        stats.shared_blocks += shared;
        stats.shared_bytes += shared * size;
        let allocated = memory::allocated(class);
        stats.allocated_blocks += allocated;
        stats.allocated_bytes += allocated * size;
    }
    stats
}

/// Gives this thread's cached blocks, its inbox and every block on the shared stacks
/// back to the allocator, and returns how many it gave back. Other threads keep their
/// caches (at most [`THREAD_CACHE_BLOCKS`] per class each) until they exit or trim.
///
/// Call it after a burst, when the process goes idle; the next calls allocate again.
///
/// # Examples
///
/// ```
/// let task = valuetask::ValueTask::from_future(async { 1 });
/// assert_eq!(futures::executor::block_on(task), 1);
/// assert!(valuetask::future_pool::stats().thread_cached_blocks >= 1);
/// valuetask::future_pool::trim();
/// assert_eq!(valuetask::future_pool::stats().thread_cached_blocks, 0);
/// ```
pub fn trim() -> usize {
    let mut freed = 0;
    for class in 0..CLASSES {
        let mine = thread_cache::current().and_then(|cache| {
            cache.collect(class);
            cache.take_all(class)
        });
        if let Some(chain) = mine {
            freed += chain.len;
            // SAFETY: the chain came out of this thread's cache: free blocks nobody holds.
            unsafe { memory::deallocate(chain, class) };
        }
        freed += shared::trim(class);
    }
    freed
}
