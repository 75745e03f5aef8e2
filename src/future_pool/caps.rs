//! The pool's size classes and caps: public, so users can see (and tests can check)
//! what a block holds and how much memory the pool keeps.
//!
//! Each cap is set in bytes per class and turned into a count of blocks here: a class of
//! small blocks keeps up to its block cap, a class of large ones as many as fit its
//! bytes. So adding a large class costs a known number of bytes, not a number of blocks
//! times its size.

/// The block sizes, in bytes: a future goes into the smallest that holds it and its
/// bookkeeping (a flag and a pointer, 16 bytes).
pub const BLOCK_SIZES: [usize; 8] = [64, 128, 256, 512, 1024, 2048, 4096, 8192];

/// The alignment of every block: a future aligned to more than this is boxed.
pub const BLOCK_ALIGN: usize = 64;

/// The most free blocks of one class a thread's cache keeps (the small classes reach
/// it; see [`THREAD_CACHE_CAPACITY`]).
pub const THREAD_CACHE_BLOCKS: usize = 32;

/// The most bytes of free blocks of one class a thread's cache keeps.
pub const THREAD_CACHE_CLASS_BYTES: usize = 32 * 1024;

/// The most free blocks a thread's cache keeps, per class: [`THREAD_CACHE_BLOCKS`], or
/// as many as fit [`THREAD_CACHE_CLASS_BYTES`] when that is fewer
/// (`[32, 32, 32, 32, 32, 16, 8, 4]`).
pub const THREAD_CACHE_CAPACITY: [usize; CLASSES] =
    capacity(THREAD_CACHE_BLOCKS, THREAD_CACHE_CLASS_BYTES);

/// The most bytes of free blocks a thread's cache keeps, all classes together: 161,792
/// bytes (158 KiB).
pub const THREAD_CACHE_MAX_BYTES: usize = bytes_of(&THREAD_CACHE_CAPACITY);

/// The most free blocks of one class the shared stacks keep (the small classes reach
/// it; see [`SHARED_CAPACITY`]). (Two under loom, so the models reach the cap.)
pub const SHARED_BLOCKS: usize = if cfg!(valuetask_loom) { 2 } else { 256 };

/// The most bytes of free blocks of one class the shared stacks keep.
pub const SHARED_CLASS_BYTES: usize = 256 * 1024;

/// The most free blocks the shared stacks keep, per class: [`SHARED_BLOCKS`], or as many
/// as fit [`SHARED_CLASS_BYTES`] when that is fewer
/// (`[256, 256, 256, 256, 256, 128, 64, 32]`).
pub const SHARED_CAPACITY: [usize; CLASSES] = capacity(SHARED_BLOCKS, SHARED_CLASS_BYTES);

/// The most bytes of free blocks the shared stacks keep, all classes together:
/// 1,294,336 bytes (1.23 MiB).
pub const SHARED_MAX_BYTES: usize = bytes_of(&SHARED_CAPACITY);

pub(super) const CLASSES: usize = BLOCK_SIZES.len();

// A full thread cache spills half its blocks, so every class must keep at least two.
const _: () = {
    let mut class = 0;
    while class < CLASSES {
        assert!(THREAD_CACHE_CAPACITY[class] >= 2);
        assert!(BLOCK_SIZES[class].is_multiple_of(BLOCK_ALIGN));
        class += 1;
    }
};

/// Per class, `blocks`, or fewer where that many would pass `bytes`.
const fn capacity(blocks: usize, bytes: usize) -> [usize; CLASSES] {
    let mut capacity = [0; CLASSES];
    let mut class = 0;
    while class < CLASSES {
        let fit = bytes / BLOCK_SIZES[class];
        capacity[class] = if fit < blocks { fit } else { blocks };
        class += 1;
    }
    capacity
}

/// The bytes of `capacity[class]` blocks of each class, summed.
const fn bytes_of(capacity: &[usize; CLASSES]) -> usize {
    let mut bytes = 0;
    let mut class = 0;
    while class < CLASSES {
        bytes += capacity[class] * BLOCK_SIZES[class];
        class += 1;
    }
    bytes
}
