//! Raw blocks for the rest of the crate: the `oneshot` channel keeps its slot in a block
//! of a size class, taken and given back through the same thread caches, home inboxes
//! and shared stacks as a future's block, so a slot freed on another thread goes home.

use std::ptr::NonNull;

use super::block::class_of;
use super::recycle::{self, Home};

/// Where a rented block goes back to (the inbox of the thread that rented it), to be
/// kept beside the block and handed to [`give_back_block`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BlockHome(Home);

/// The smallest class whose blocks hold `size` bytes aligned to `align`; `None` when
/// none does (over 8192 bytes, or aligned to more than 64).
pub(crate) const fn class_for(size: usize, align: usize) -> Option<usize> {
    class_of(size, align)
}

/// Takes a free block of `class` for this thread: from its cache, its inbox, the shared
/// stack, or (only when all are empty) the allocator. The block is uninitialized memory
/// of the class's size, aligned to 64 bytes, held by the caller alone.
#[inline(always)]
pub(crate) fn rent_block(class: usize) -> (NonNull<u8>, BlockHome) {
    let (block, home) = recycle::acquire(class);
    (block, BlockHome(home))
}

/// Gives a block back to the thread that rented it (or to the shared stack).
///
/// # Safety
///
/// `block` came from [`rent_block`] of the same `class` with this `home`, nothing in it
/// needs dropping any more, and nobody will touch it again.
#[inline]
pub(crate) unsafe fn give_back_block(class: usize, block: NonNull<u8>, home: BlockHome) {
    // SAFETY: as this function's contract: a block of `class`, free, held by nobody else.
    unsafe { recycle::give_back(class, block, home.0) };
}
