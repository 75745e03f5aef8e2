//! The pool's shared free list: a Treiber stack of slot indices whose head is tagged
//! against ABA.
//!
//! The head packs the index of the top slot plus one (0 for an empty list) in its low
//! 32 bits and, in its high 32 bits, a tag bumped by every push and pop: a
//! compare-and-swap against a head that was popped and pushed back in between fails.
//! The links live in the slots (`next_free`), reached through the function the caller
//! passes, so this file knows nothing of slots.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

const INDEX_MASK: u64 = u32::MAX as u64;
const TAG_ONE: u64 = 1 << 32;

#[derive(Debug)]
pub(super) struct FreeList {
    head: AtomicU64,
}

impl FreeList {
    pub(super) fn new() -> Self {
        Self {
            head: AtomicU64::new(0),
        }
    }

    /// Pops the top index. `link(i)` is the `next_free` link of slot `i`.
    pub(super) fn pop<'a>(&self, link: impl Fn(u32) -> &'a AtomicU32) -> Option<u32> {
        // ORDERING: Acquire pairs with the Release exchange in `push_chain`: the popped
        // slot's link and its recycled state are visible.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = (head & INDEX_MASK) as u32;
            if top == 0 {
                return None;
            }
            // The slot may be popped and rented by another thread meanwhile; its link is
            // atomic, and the tag makes our exchange fail then.
            let next = link(top - 1).load(Ordering::Relaxed);
            let new = (head & !INDEX_MASK).wrapping_add(TAG_ONE) | u64::from(next);
            // ORDERING: Acquire on both outcomes, as the load above.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(top - 1),
                Err(actual) => head = actual,
            }
        }
    }

    /// Pushes the chain of slots from index `first` to `last`, already linked from
    /// `first` to `last` through their links; `last_link` is `last`'s.
    pub(super) fn push_chain(&self, first: u32, last_link: &AtomicU32) {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            last_link.store((head & INDEX_MASK) as u32, Ordering::Relaxed);
            let new = (head & !INDEX_MASK).wrapping_add(TAG_ONE) | u64::from(first + 1);
            let head_word = &self.head;
            // ORDERING: Release publishes the chain's links and the slots' recycled
            // state; pairs with the Acquire in `pop`.
            let pushed =
                head_word.compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed);
            match pushed {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }
}
