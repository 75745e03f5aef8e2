//! Blocks to and from the allocator, with a count per class of those allocated.

use std::alloc::{Layout, handle_alloc_error};
use std::ptr::NonNull;

use super::caps::{BLOCK_ALIGN, BLOCK_SIZES, CLASSES};
use super::chain::Chain;
use crate::sync::{self, AtomicUsize, Ordering};

/// Blocks of each class allocated and not yet given back. Only read for statistics, so
/// `Relaxed` throughout.
#[cfg(not(valuetask_loom))]
static ALLOCATED: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];

#[cfg(valuetask_loom)]
loom::lazy_static! {
    static ref ALLOCATED: [AtomicUsize; CLASSES] = std::array::from_fn(|_| AtomicUsize::new(0));
}

/// The layout of every block of `class`.
pub(super) fn layout(class: usize) -> Layout {
    // SAFETY: every size is a nonzero multiple of the alignment, a power of two.
    unsafe { Layout::from_size_align_unchecked(BLOCK_SIZES[class], BLOCK_ALIGN) }
}

/// Blocks of `class` allocated and not yet given back.
pub(super) fn allocated(class: usize) -> usize {
    ALLOCATED[class].load(Ordering::Relaxed)
}

/// A new block of `class` from the allocator.
#[cold]
pub(super) fn allocate(class: usize) -> NonNull<u8> {
    let layout = layout(class);
    // SAFETY: the layout's size is nonzero.
    let block = unsafe { sync::alloc(layout) };
    let Some(block) = NonNull::new(block) else {
        handle_alloc_error(layout)
    };
    ALLOCATED[class].fetch_add(1, Ordering::Relaxed);
    block
}

/// Gives every block of `chain` back to the allocator.
///
/// # Safety
///
/// The chain's blocks are free blocks of `class`, owned by the caller.
pub(super) unsafe fn deallocate(chain: Chain, class: usize) {
    let mut block = chain.head.as_ptr();
    for _ in 0..chain.len {
        // SAFETY: a free block of the chain, which we own.
        let next = unsafe { (*block).next };
        // SAFETY: allocated by `allocate` with this class's layout, and free.
        unsafe { sync::dealloc(block.cast(), layout(class)) };
        block = next;
    }
    ALLOCATED[class].fetch_sub(chain.len, Ordering::Relaxed);
}
