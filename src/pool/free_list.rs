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

    /// Pops the top index. `next_of(i)` reads the `next_free` link of slot `i` (with
    /// `Relaxed`: the slot may be popped by another thread meanwhile, and the tag makes
    /// our exchange fail then).
    pub(super) fn pop(&self, next_of: impl Fn(u32) -> u32) -> Option<u32> {
        // ORDERING: Acquire pairs with the Release exchange in `push_chain`: the popped
        // slot's link and its recycled state are visible.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let top = (head & INDEX_MASK) as u32;
            if top == 0 {
                return None;
            }
            let next = next_of(top - 1);
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

/// Under loom the atomics work only inside a model: there `tests/loom.rs` races real
/// threads through the list instead.
#[cfg(all(test, not(valuetask_loom)))]
mod tests {
    use std::cell::Cell;

    use super::FreeList;
    use crate::sync::{AtomicU32, Ordering};

    /// The ABA window, replayed on one thread: a pop reads the top slot's link, then
    /// (inside that window) another user pops that slot and the next one and pushes the
    /// first back, so the head names the same slot again with another link. The stale
    /// exchange must fail, and every later pop must return a free slot, once.
    #[test]
    fn a_stale_pop_fails_after_pop_pop_push() {
        // Slots 0 -> 1 -> 2; links hold the next index plus one, 0 for the end.
        let links: Vec<AtomicU32> = [2, 3, 0].into_iter().map(AtomicU32::new).collect();
        let list = FreeList::new();
        list.push_chain(0, &links[2]);
        let next_of = |i: u32| links[i as usize].load(Ordering::Relaxed);

        let interfered = Cell::new(false);
        let popped = list.pop(|i| {
            let next = next_of(i);
            if !interfered.replace(true) {
                // Another user, between our read of the link and our exchange.
                assert_eq!(list.pop(next_of), Some(0));
                assert_eq!(list.pop(next_of), Some(1)); // stays rented
                list.push_chain(0, &links[0]); // 0 is free again, now linked to 2
            }
            next
        });
        assert_eq!(popped, Some(0), "the retry pops the slot that is free");
        assert_eq!(list.pop(next_of), Some(2));
        assert_eq!(
            list.pop(next_of),
            None,
            "slot 1 is rented, never on the list"
        );
    }
}
