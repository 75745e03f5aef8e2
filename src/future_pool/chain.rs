//! Free blocks and the lists they form. A free block's first bytes hold the links; the
//! rest of it is unused until it is taken again.

use std::mem::{align_of, size_of};
use std::ptr::{self, NonNull};

use super::caps::{BLOCK_ALIGN, BLOCK_SIZES};

/// A free block's first bytes: the links of the free lists. Every block is at least 64
/// bytes and `BLOCK_ALIGN`-aligned, so this fits.
#[repr(C)]
#[derive(Debug)]
pub(super) struct FreeBlock {
    /// The next block of the same chain; null at its end.
    pub(super) next: *mut FreeBlock,
    /// On a chain's first block on a shared stack: the next chain, or null.
    pub(super) next_chain: *mut FreeBlock,
    /// On a chain's first block on a shared stack: the chain's length.
    pub(super) chain_len: usize,
}

const _: () = assert!(size_of::<FreeBlock>() <= BLOCK_SIZES[0]);
const _: () = assert!(align_of::<FreeBlock>() <= BLOCK_ALIGN);

/// A null-terminated list of free blocks of one class linked through `next`, owned by
/// whoever holds this value.
#[derive(Debug)]
pub(super) struct Chain {
    pub(super) head: NonNull<FreeBlock>,
    pub(super) len: usize,
}

impl Chain {
    /// A chain of the one block `block`.
    ///
    /// # Safety
    ///
    /// `block` is a free block owned by the caller, who gives it to the chain.
    pub(super) unsafe fn single(block: NonNull<FreeBlock>) -> Self {
        // SAFETY: as this function's contract: the block's memory is ours to write.
        unsafe { (*block.as_ptr()).next = ptr::null_mut() };
        Self {
            head: block,
            len: 1,
        }
    }

    /// The chain that starts at `head`, counted by walking it to its null end.
    ///
    /// # Safety
    ///
    /// `head` starts a null-terminated list of free blocks owned by the caller.
    pub(super) unsafe fn counted(head: NonNull<FreeBlock>) -> Self {
        let mut len = 1;
        let mut block = head.as_ptr();
        // SAFETY: every block of the list is free and ours; the walk stops at null.
        while let Some(next) = NonNull::new(unsafe { (*block).next }) {
            block = next.as_ptr();
            len += 1;
        }
        Self { head, len }
    }

    /// Takes the first block off the chain; the rest, if any, stays a chain.
    ///
    /// # Safety
    ///
    /// The chain's blocks are free and owned by the caller.
    pub(super) unsafe fn pop(self) -> (NonNull<FreeBlock>, Option<Chain>) {
        // SAFETY: the head is a free block of the chain, which we own.
        let rest = NonNull::new(unsafe { (*self.head.as_ptr()).next }).map(|head| Chain {
            head,
            len: self.len - 1,
        });
        (self.head, rest)
    }

    /// Splits the chain after its first `n` blocks (`0 < n < len`), walking `n` links;
    /// returns the rest.
    ///
    /// # Safety
    ///
    /// The chain's blocks are free and owned by the caller.
    pub(super) unsafe fn split_off(&mut self, n: usize) -> Chain {
        debug_assert!(0 < n && n < self.len);
        let mut last = self.head.as_ptr();
        for _ in 1..n {
            // SAFETY: fewer than `len` links are followed, all within the chain.
            last = unsafe { (*last).next };
        }
        // SAFETY: `last` is the chain's `n`th block and has a successor, since `n < len`.
        let rest = unsafe {
            let rest = NonNull::new_unchecked((*last).next);
            (*last).next = ptr::null_mut();
            rest
        };
        let rest = Chain {
            head: rest,
            len: self.len - n,
        };
        self.len = n;
        rest
    }
}
