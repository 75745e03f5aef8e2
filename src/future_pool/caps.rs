//! The pool's size classes and caps: public, so users can see (and tests can check)
//! what a block holds and how much memory the pool keeps.

/// The block sizes, in bytes: a future goes into the smallest that holds it and its
/// bookkeeping (a flag and a pointer).
pub const BLOCK_SIZES: [usize; 5] = [64, 128, 256, 512, 1024];

/// The alignment of every block: a future aligned to more than this is boxed.
pub const BLOCK_ALIGN: usize = 64;

/// The most free blocks per size class a thread keeps for itself.
pub const THREAD_CACHE_BLOCKS: usize = 32;

/// The most free blocks per size class the shared stacks keep. (Two under loom, so the
/// models reach the cap.)
pub const SHARED_BLOCKS: usize = if cfg!(valuetask_loom) { 2 } else { 256 };

pub(super) const CLASSES: usize = BLOCK_SIZES.len();
