//! A thread's inbox: where other threads put the blocks it took out and they freed.
//!
//! On a work-stealing runtime a task is often made on one thread and finished on
//! another. If the finishing thread kept the block, the maker would run dry and
//! allocate while the finisher's cache filled, and how often depended on scheduling.
//! Instead a block remembers the inbox of the thread that took it (its *home*) and a
//! foreign thread pushes it there: one compare-and-swap. The home thread takes the whole
//! inbox with one swap when its own cache is empty. So each thread's blocks circulate
//! back to it, and a thread never holds more blocks than it had tasks alive at once.
//!
//! Each class has a Treiber stack head. Pushing is ABA-safe (a push only links its own
//! block to whatever head it saw); the owner never pops one block, it swaps the whole
//! list out, which is ABA-safe too. When the owning thread exits its inbox is *closed*:
//! the head becomes the `CLOSED` marker, pushes fail, and late blocks go to the shared
//! stacks instead. Inboxes are never freed (a block may still point at one); a closed
//! inbox is reopened for the next new thread, whose it then is: a late push there only
//! gives that thread a free block, which is harmless. So the address a block keeps as
//! its home always names a live inbox (kept alive for the process), and what it may
//! deliver there, a free block of the class the pusher names, means the same thing to
//! every owner the inbox ever has.

use std::ptr::{self, NonNull};

use super::caps::CLASSES;
use super::chain::{Chain, FreeBlock};
use crate::sync::{AtomicPtr, Ordering};

/// The head value of a closed inbox: no block has this address (blocks are aligned to
/// 64 bytes and never at address 1).
const CLOSED: usize = 1;

fn closed() -> *mut FreeBlock {
    ptr::without_provenance_mut(CLOSED)
}

/// One thread's inbox: a stack of freed blocks per class.
#[derive(Debug)]
#[repr(align(64))] // its own cache line: other threads write it, its owner swaps it
pub(super) struct Inbox {
    heads: [AtomicPtr<FreeBlock>; CLASSES],
    /// While the inbox waits in the recycler: the next one there. Touched only under
    /// the recycler's lock.
    next_recycled: AtomicPtr<Inbox>,
}

impl Inbox {
    pub(super) fn new() -> Self {
        Self {
            heads: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            next_recycled: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes a block of `class` that another thread freed; hands it back if the inbox
    /// is closed (its thread has exited).
    ///
    /// # Safety
    ///
    /// `block` is a free block of `class`, owned by the caller, who gives it up on `Ok`.
    pub(super) unsafe fn push(
        &self,
        class: usize,
        block: NonNull<FreeBlock>,
    ) -> Result<(), NonNull<FreeBlock>> {
        let head = &self.heads[class];
        let mut current = head.load(Ordering::Relaxed);
        loop {
            if current.addr() == CLOSED {
                return Err(block);
            }
            // SAFETY: the block is free and ours until the exchange below succeeds.
            unsafe { (*block.as_ptr()).next = current };
            match head.compare_exchange_weak(
                current,
                block.as_ptr(),
                // ORDERING: Release publishes the link just written and everything this
                // thread did to the block before freeing it (the future's drop in place);
                // pairs with the Acquire swap in `take_all` and `close`.
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // The block is the home thread's now: it may reuse it at once.
                    crate::sync::departed();
                    return Ok(());
                }
                Err(now) => current = now,
            }
        }
    }

    /// Takes every block of `class` pushed so far. Called by the owning thread only.
    pub(super) fn take_all(&self, class: usize) -> Option<Chain> {
        let head = &self.heads[class];
        // An empty inbox costs a load, not a read-modify-write.
        if head.load(Ordering::Relaxed).is_null() {
            return None;
        }
        // ORDERING: Acquire pairs with the Release exchange in `push`: the blocks'
        // links and their freed contents are visible before we walk and reuse them.
        let first = head.swap(ptr::null_mut(), Ordering::Acquire);
        debug_assert_ne!(
            first.addr(),
            CLOSED,
            "an open inbox is never closed under its owner"
        );
        // SAFETY: the swap made us the owner of the whole list, null-terminated by the
        // first push into an empty inbox.
        NonNull::new(first).map(|first| unsafe { Chain::counted(first) })
    }

    /// Closes the inbox of `class` for good (until [`reopen`](Self::reopen)) and
    /// returns what was in it. Called by the owning thread as it exits.
    pub(super) fn close(&self, class: usize) -> Option<Chain> {
        // ORDERING: Acquire, as in `take_all`: we take the blocks pushed so far.
        let first = self.heads[class].swap(closed(), Ordering::Acquire);
        // SAFETY: as in `take_all`.
        NonNull::new(first).map(|first| unsafe { Chain::counted(first) })
    }

    /// Opens a closed inbox for a new owner.
    fn reopen(&self) {
        for head in &self.heads {
            // Relaxed: the inbox reaches its new owner through the recycler's lock, and a
            // pusher that still sees `CLOSED` sends its block to the shared stacks.
            head.store(ptr::null_mut(), Ordering::Relaxed);
        }
    }
}

/// Closed inboxes of exited threads, for new threads to reuse: the first of a list
/// linked through `next_recycled` (a list, so that a thread's exit never allocates).
static RECYCLED: std::sync::Mutex<Option<&'static Inbox>> = std::sync::Mutex::new(None);

/// An inbox for a new thread: a closed one reopened, or a new one that lives for the
/// rest of the process.
#[cfg_attr(valuetask_loom, allow(dead_code))]
pub(super) fn adopt() -> &'static Inbox {
    let recycled = {
        let mut first = RECYCLED.lock().unwrap_or_else(|e| e.into_inner());
        first.take().inspect(|inbox| {
            let next = inbox.next_recycled.load(Ordering::Relaxed);
            // SAFETY: every pointer on the list came from a `&'static Inbox` in `retire`.
            *first = unsafe { next.as_ref() };
        })
    };
    match recycled {
        Some(inbox) => {
            inbox.reopen();
            inbox
        }
        None => Box::leak(Box::new(Inbox::new())),
    }
}

/// Closes an exiting thread's inbox, hands it to the recycler and returns, per class,
/// what was in it. Allocates nothing.
#[cfg_attr(valuetask_loom, allow(dead_code))]
pub(super) fn retire(inbox: &'static Inbox) -> [Option<Chain>; CLASSES] {
    let chains = std::array::from_fn(|class| inbox.close(class));
    let mut first = RECYCLED.lock().unwrap_or_else(|e| e.into_inner());
    let next = first.map_or(ptr::null_mut(), |next| ptr::from_ref(next).cast_mut());
    // Relaxed: read only under the same lock, in `adopt`.
    inbox.next_recycled.store(next, Ordering::Relaxed);
    *first = Some(inbox);
    chains
}

/// Loom models of the inbox: frees from other threads racing the owner's collection and
/// its exit. Every block ends up exactly once with the owner or back with its pusher.
#[cfg(all(test, valuetask_loom))]
mod loom_models {
    use std::ptr::NonNull;

    use loom::sync::Arc;
    use loom::thread;

    use super::super::chain::{Chain, FreeBlock};
    use super::super::memory;
    use super::Inbox;
    use crate::sync;

    fn block() -> NonNull<FreeBlock> {
        // SAFETY: the layout's size is nonzero.
        NonNull::new(unsafe { sync::alloc(memory::layout(0)) })
            .expect("loom allocation")
            .cast()
    }

    fn free(block: NonNull<FreeBlock>) {
        // SAFETY: allocated by `block` with this layout, freed once.
        unsafe { sync::dealloc(block.as_ptr().cast(), memory::layout(0)) };
    }

    /// Frees the chain's blocks; returns how many.
    fn free_chain(chain: Option<Chain>) -> usize {
        let Some(chain) = chain else {
            return 0;
        };
        let mut next = Some(chain.head);
        let mut freed = 0;
        while let Some(block) = next {
            // SAFETY: the chain's blocks are ours; read the link before freeing.
            next = NonNull::new(unsafe { (*block.as_ptr()).next });
            free(block);
            freed += 1;
        }
        assert_eq!(freed, chain.len, "a chain counts its blocks");
        freed
    }

    /// The most interleavings the model may explore: about three times what it does at
    /// `LOOM_MAX_PREEMPTIONS=3`, so that a bug that makes it grow fails it.
    const MAX_INTERLEAVINGS: usize = 1_200;

    #[test]
    fn two_frees_race_collection_and_exit() {
        let explored = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&explored);
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound.get_or_insert(3);
        builder.check(move || {
            let explored = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            assert!(
                explored <= MAX_INTERLEAVINGS,
                "the inbox model grew past {MAX_INTERLEAVINGS} interleavings"
            );
            let inbox = Arc::new(Inbox::new());
            let pushers: Vec<_> = (0..2)
                .map(|_| {
                    let inbox = Arc::clone(&inbox);
                    thread::spawn(move || {
                        let block = block();
                        // SAFETY: a fresh free block, ours to give.
                        match unsafe { inbox.push(0, block) } {
                            Ok(()) => 0,
                            Err(back) => {
                                free(back);
                                1
                            }
                        }
                    })
                })
                .collect();
            let collected = free_chain(inbox.take_all(0));
            let at_exit = free_chain(inbox.close(0));
            let refused: usize = pushers.into_iter().map(|p| p.join().unwrap()).sum();
            assert_eq!(collected + at_exit + refused, 2);
        });
        // Shown with `--nocapture`: how much of the model loom explored.
        eprintln!(
            "inbox model: {} interleavings (bound {MAX_INTERLEAVINGS})",
            explored.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}
