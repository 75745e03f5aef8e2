//! This thread's cache: a free list per class, touched by this thread alone, and the
//! thread's [`Inbox`] for blocks that other threads freed for it.
//!
//! Under loom there is no thread cache: [`current`] answers `None`, so every block goes
//! through the shared stacks, which the models exercise.

use std::cell::Cell;
use std::ptr::{self, NonNull};

use super::caps::{CLASSES, THREAD_CACHE_CAPACITY};
use super::chain::{Chain, FreeBlock};
use super::inbox::{self, Inbox};
use super::shared;

#[derive(Debug)]
#[cfg_attr(valuetask_loom, allow(dead_code))]
struct FreeList {
    head: Cell<*mut FreeBlock>,
    len: Cell<usize>,
}

#[cfg_attr(valuetask_loom, allow(dead_code))]
impl FreeList {
    fn take(&self) -> Option<Chain> {
        let head = NonNull::new(self.head.replace(ptr::null_mut()))?;
        Some(Chain {
            head,
            len: self.len.replace(0),
        })
    }

    fn set(&self, chain: Chain) {
        self.head.set(chain.head.as_ptr());
        self.len.set(chain.len);
    }
}

/// One thread's free lists and inbox.
///
/// It has no `Drop` of its own, so that reaching it is a plain thread-local access; a
/// thread-exit hook, registered when the thread adopts its inbox (before its first
/// block can come back to it), empties and closes it.
#[derive(Debug)]
#[cfg_attr(valuetask_loom, allow(dead_code))]
pub(super) struct Cache {
    lists: [FreeList; CLASSES],
    /// Adopted on the first block this thread takes out.
    inbox: Cell<Option<&'static Inbox>>,
    /// The thread is exiting and the cache was emptied: it takes no more blocks.
    closed: Cell<bool>,
}

#[cfg(not(valuetask_loom))]
thread_local! {
    static CACHE: Cache = const {
        Cache {
            lists: [const { FreeList { head: Cell::new(ptr::null_mut()), len: Cell::new(0) } }; CLASSES],
            inbox: Cell::new(None),
            closed: Cell::new(false),
        }
    };
}

/// The thread is exiting: its free blocks and its inbox's go to the shared stacks (or
/// the allocator), and its inbox closes. (`CACHE` has no destructor, so it is still
/// there while other thread-locals are being destroyed.)
#[cfg(not(valuetask_loom))]
fn close_on_exit() {
    CACHE.with(|cache| {
        cache.closed.set(true);
        for (class, list) in cache.lists.iter().enumerate() {
            if let Some(chain) = list.take() {
                // SAFETY: blocks in the cache are free blocks of `class` and ours.
                unsafe { shared::give(class, chain) };
            }
        }
        if let Some(home) = cache.inbox.take() {
            for (class, chain) in inbox::retire(home).into_iter().enumerate() {
                if let Some(chain) = chain {
                    // SAFETY: closing the inbox gave us its free blocks of `class`.
                    unsafe { shared::give(class, chain) };
                }
            }
        }
    });
}

/// This thread's cache; `None` once the thread is exiting and its cache is closed (and
/// always under loom).
///
/// The reference is `'static` because the cache has no destructor: it lives as long as
/// the thread, and a `&Cache` cannot leave the thread (`Cache` is not `Sync`).
#[cfg(not(valuetask_loom))]
#[inline(always)]
pub(super) fn current() -> Option<&'static Cache> {
    // Only the address comes out of the closure, so that the access inlines to a plain
    // thread-pointer offset.
    let cache = CACHE.with(ptr::from_ref);
    // SAFETY: `CACHE` has no destructor, so it lives as long as this thread; `Cache` is
    // not `Sync`, so the reference stays on this thread.
    let cache = unsafe { &*cache };
    (!cache.closed.get()).then_some(cache)
}

/// Under loom there is no thread cache.
#[cfg(valuetask_loom)]
pub(super) fn current() -> Option<&'static Cache> {
    None
}

#[cfg_attr(valuetask_loom, allow(dead_code))]
impl Cache {
    /// Pops a free block of `class`.
    #[inline]
    pub(super) fn pop(&self, class: usize) -> Option<NonNull<FreeBlock>> {
        let list = &self.lists[class];
        let head = NonNull::new(list.head.get())?;
        // SAFETY: blocks in the cache are free and ours; the head links to the next.
        list.head.set(unsafe { (*head.as_ptr()).next });
        list.len.set(list.len.get() - 1);
        Some(head)
    }

    /// Pushes a free block of `class`. When the list was full, returns the top
    /// half of it for the shared stacks.
    ///
    /// # Safety
    ///
    /// `block` is a free block of `class`, owned by the caller, who gives it up.
    #[inline]
    pub(super) unsafe fn push(&self, class: usize, block: NonNull<FreeBlock>) -> Option<Chain> {
        let list = &self.lists[class];
        let mut spill = None;
        if list.len.get() == THREAD_CACHE_CAPACITY[class] {
            let mut full = list.take().expect("a full cache has blocks");
            // A full cache moves half its blocks, so the next pushes and pops stay here.
            // SAFETY: blocks in the cache are free and ours.
            let rest = unsafe { full.split_off(THREAD_CACHE_CAPACITY[class] / 2) };
            list.set(rest);
            spill = Some(full);
        }
        // SAFETY: the caller gives us the free block.
        unsafe { (*block.as_ptr()).next = list.head.get() };
        list.head.set(block.as_ptr());
        list.len.set(list.len.get() + 1);
        spill
    }

    /// This thread's inbox, adopted on first use; `None` if the thread is exiting and
    /// can no longer arrange to close an inbox.
    #[inline]
    pub(super) fn home(&self) -> Option<&'static Inbox> {
        match self.inbox.get() {
            Some(home) => Some(home),
            None => self.adopt_inbox(),
        }
    }

    #[cold]
    fn adopt_inbox(&self) -> Option<&'static Inbox> {
        #[cfg(not(valuetask_loom))]
        if crate::thread_exit::on_exit(crate::thread_exit::CacheKind::Futures, close_on_exit)
            .is_err()
        {
            self.closed.set(true);
            return None;
        }
        let home = inbox::adopt();
        self.inbox.set(Some(home));
        Some(home)
    }

    /// Whether `home` is this thread's inbox.
    #[inline]
    pub(super) fn is_home(&self, home: Option<&Inbox>) -> bool {
        match (home, self.inbox.get()) {
            (Some(home), Some(mine)) => ptr::eq(home, mine),
            _ => false,
        }
    }

    /// Fills the empty list of `class` with up to its capacity of blocks of `chain`;
    /// returns the rest.
    pub(super) fn refill(&self, class: usize, mut chain: Chain) -> Option<Chain> {
        let list = &self.lists[class];
        debug_assert_eq!(list.len.get(), 0);
        let capacity = THREAD_CACHE_CAPACITY[class];
        let rest = (chain.len > capacity)
            // SAFETY: the chain's blocks are free and ours.
            .then(|| unsafe { chain.split_off(capacity) });
        list.set(chain);
        rest
    }

    /// Moves the blocks other threads freed into this thread's inbox onto its
    /// list of `class`, spilling to the shared stacks as a full list does.
    pub(super) fn collect(&self, class: usize) {
        let Some(inbox) = self.inbox.get() else {
            return;
        };
        let mut next = inbox.take_all(class);
        while let Some(chain) = next {
            // SAFETY: the inbox gave us these free blocks of `class`.
            let (block, rest) = unsafe { chain.pop() };
            next = rest;
            // SAFETY: as above; the block is ours to give.
            if let Some(spill) = unsafe { self.push(class, block) } {
                // SAFETY: free blocks of `class` that were in our list.
                unsafe { shared::give(class, spill) };
            }
        }
    }

    /// Takes every block of `class` out of the list.
    pub(super) fn take_all(&self, class: usize) -> Option<Chain> {
        self.lists[class].take()
    }

    /// How many free blocks of `class` the list holds.
    pub(super) fn len(&self, class: usize) -> usize {
        self.lists[class].len.get()
    }
}
