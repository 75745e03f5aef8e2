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
//! A block is [`BLOCK_ALIGN`]-aligned and one of [`BLOCK_SIZES`] bytes (64 bytes to
//! 8 KiB, doubling): the future, then a flag that says whether it still needs dropping
//! and the block's home thread (16 bytes in all). A future goes into the smallest class
//! it fits, so a 5,112-byte future (an S3 upload's, say) takes an 8 KiB block.
//!
//! Three kinds of future get a `Box` instead, as [`ValueTask::boxed`] does:
//!
//! - one over 8176 bytes (the largest block less the bookkeeping): one allocation each;
//! - one aligned to more than [`BLOCK_ALIGN`]: one allocation each;
//! - a zero-sized one, whose box allocates nothing.
//!
//! [`stats`] counts them, per reason, for the whole process
//! ([`FuturePoolStats::fallbacks`]). To see how often a service falls back, read the
//! counts before and after a run of requests:
//!
//! ```
//! use valuetask::{ValueTask, future_pool};
//!
//! let before = future_pool::stats().fallbacks;
//! // A future holding 10,000 bytes across an await: too big for any block.
//! let big = ValueTask::from_future(async {
//!     let buffer = [1u8; 10_000];
//!     std::future::ready(()).await;
//!     buffer[9_999]
//! });
//! assert_eq!(futures::executor::block_on(big), 1);
//! let after = future_pool::stats().fallbacks;
//! assert!(after.too_big > before.too_big);
//! ```
//!
//! (The counts are process-wide, so with other threads at work they may have grown by
//! more than this thread's fallbacks.)
//!
//! # Where free blocks wait, and how much memory that holds
//!
//! - **This thread's cache**: up to [`THREAD_CACHE_CAPACITY`] free blocks per class
//!   (32 of each class up to 1 KiB, and 32 KiB worth of each larger one), touched by
//!   this thread alone. A task created and finished on one thread takes and returns its
//!   block here, with no atomic operation.
//! - **This thread's inbox**: a block remembers the thread that took it out. When a task
//!   is finished on another thread (work-stealing runtimes do this all the time), that
//!   thread pushes the block onto the taker's inbox with one compare-and-swap, and the
//!   taker collects its whole inbox with one swap when its cache runs dry. Blocks so go
//!   back to the thread that makes the tasks instead of piling up where they finish.
//! - **The shared stacks**: up to [`SHARED_CAPACITY`] free blocks per class (256 of
//!   each class up to 1 KiB, and 256 KiB worth of each larger one), behind one lock per
//!   class: a full cache moves half its blocks here, an exiting thread all of its blocks
//!   (its inbox closes; later frees of its blocks come here too), and a thread whose
//!   cache and inbox are empty takes a batch from here before it allocates.
//! - Blocks beyond both caps go back to the allocator at once.
//!
//! # What a thread may hold at most
//!
//! At rest a thread's cache holds at most [`THREAD_CACHE_MAX_BYTES`] bytes of free
//! blocks (161,792 bytes, 158 KiB, all classes full), and the shared stacks at most
//! [`SHARED_MAX_BYTES`] (1,294,336 bytes, 1.23 MiB), whatever the peak was. The caps are
//! set in bytes per class ([`THREAD_CACHE_CLASS_BYTES`], [`SHARED_CLASS_BYTES`]) and
//! turned into blocks: a thread keeps 32 free 64-byte blocks but only 4 free 8 KiB ones.
//! On top of that sits what waits in the inboxes of threads that have not looked since:
//! a burst of 10 000 concurrent calls allocates 10 000 blocks and hands all but those
//! back to the allocator as the calls finish (or, for blocks freed on other threads,
//! when their thread next collects). [`trim`] returns this thread's cache and inbox and
//! the shared stacks at once; [`stats`] shows what is held. Each thread that uses the
//! pool also keeps one 128-byte inbox for the life of the process, reused by later
//! threads when it exits.
//!
//! # When a steady state allocates nothing
//!
//! A thread never allocates a block while one of its own is free in its cache, its
//! inbox or the shared stack. So a thread that has at most `n` tasks of one class alive
//! at once (made by it, finished anywhere) allocates at most `n` blocks of that class
//! over its life, as long as `n` fits the caps (`n <= THREAD_CACHE_CAPACITY[class] +
//! SHARED_CAPACITY[class]`, less what other threads park on the shared stack): after a
//! warm-up that reached that peak, it allocates nothing, whichever threads the tasks
//! finish on and however a runtime moves them. A block freed on another thread is on
//! its way home once the freeing thread's `poll` or `drop` returns.
//!
//! Why these caps: 32 blocks per thread and class lets a thread run 32 tasks of one
//! class at a time without a lock on every call; a batch moves to the shared stack only
//! when a cache is full, and after a move the cache is half full, so a thread never flips
//! between the two on every call. 256 per class in the shared stacks absorbs the blocks
//! of 16 such batches (the 256 concurrent callers .NET measured its pooling builder with
//! fit in it). Counting large classes in bytes keeps what one 8 KiB class may hold
//! (32 KiB per thread, 256 KiB shared) to what the 1 KiB class holds, so the classes
//! that hold real services' futures do not multiply the memory an idle process keeps.
//!
//! [`ValueTask::from_future`]: crate::ValueTask::from_future
//! [`ValueTask::boxed`]: crate::ValueTask::boxed

mod block;
mod caps;
mod chain;
mod fallback;
mod inbox;
mod lend;
mod memory;
mod recycle;
mod shared;
mod thread_cache;

pub(crate) use block::store;
pub(crate) use lend::{BlockHome, class_for, give_back_block, rent_block};

use caps::CLASSES;
pub use caps::{
    BLOCK_ALIGN, BLOCK_SIZES, SHARED_BLOCKS, SHARED_CAPACITY, SHARED_CLASS_BYTES, SHARED_MAX_BYTES,
    THREAD_CACHE_BLOCKS, THREAD_CACHE_CAPACITY, THREAD_CACHE_CLASS_BYTES, THREAD_CACHE_MAX_BYTES,
};
pub use fallback::FallbackStats;

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
    /// The futures boxed instead of pooled since the process started, per reason, on
    /// every thread.
    pub fallbacks: FallbackStats,
}

/// What the pool holds now: allocated blocks, the free ones in the shared stacks and in
/// this thread's cache, and how many futures were boxed instead. Collects this thread's
/// inbox first (blocks other threads freed for it), and takes each class's lock once.
pub fn stats() -> FuturePoolStats {
    let mut stats = FuturePoolStats {
        fallbacks: FallbackStats::now(),
        ..FuturePoolStats::default()
    };
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
/// caches (at most [`THREAD_CACHE_MAX_BYTES`] each) until they exit or trim.
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
