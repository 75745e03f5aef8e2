//! Where a block comes from and where it goes back: the policy over the thread cache,
//! the inboxes, the shared stacks and the allocator.
//!
//! Taking a block: this thread's list, else its inbox (blocks other threads freed for
//! it), else a chain from the shared stack, else the allocator. Giving one back: to the
//! list of the thread that took it (its *home*) when that is this thread; else to the
//! home's inbox; else (the home thread exited, or this thread is exiting) to the shared
//! stack. So a thread that keeps at most `n` of its pooled futures alive at once never
//! holds more than `n` blocks of a class, wherever those futures finish.

use std::ptr::NonNull;

use super::chain::{Chain, FreeBlock};
use super::inbox::Inbox;
use super::thread_cache::{self, Cache};
use super::{memory, shared};

/// The inbox of the thread that took a block out, or `None` if it took it while exiting.
pub(super) type Home = Option<&'static Inbox>;

/// Takes a free block of `class` for this thread; returns it and its home.
#[inline(always)]
pub(super) fn acquire(class: usize) -> (NonNull<u8>, Home) {
    let taken = thread_cache::current().and_then(|cache| match cache.pop(class) {
        // A block in the cache means the inbox was adopted.
        Some(block) => Some((block.cast(), cache.home())),
        None => acquire_slow(cache, class),
    });
    taken.unwrap_or_else(|| (acquire_homeless(class), None))
}

/// `None` when this thread can no longer have a home (it is exiting).
#[cold]
fn acquire_slow(cache: &Cache, class: usize) -> Option<(NonNull<u8>, Home)> {
    let home = cache.home()?;
    let Some(chain) = home.take_all(class).or_else(|| shared::take(class)) else {
        return Some((memory::allocate(class), Some(home)));
    };
    // SAFETY: the chain's free blocks are ours, from our inbox or the shared stack.
    let (block, rest) = unsafe { chain.pop() };
    if let Some(excess) = rest.and_then(|rest| cache.refill(class, rest)) {
        // SAFETY: free blocks of `class` we own that did not fit our list.
        unsafe { shared::give(class, excess) };
    }
    Some((block.cast(), Some(home)))
}

/// A block for a thread whose cache is gone.
#[cold]
fn acquire_homeless(class: usize) -> NonNull<u8> {
    let Some(chain) = shared::take(class) else {
        return memory::allocate(class);
    };
    // SAFETY: the chain's free blocks are ours, from the shared stack.
    let (block, rest) = unsafe { chain.pop() };
    if let Some(rest) = rest {
        // SAFETY: as above.
        unsafe { shared::give(class, rest) };
    }
    block.cast()
}

/// Gives back a block of `class` that was taken by the thread of `home`.
///
/// # Safety
///
/// `block` is a block of `class`, free, and held by nobody else.
#[inline]
pub(super) unsafe fn give_back(class: usize, block: NonNull<u8>, home: Home) {
    let block = block.cast::<FreeBlock>();
    match thread_cache::current() {
        Some(cache) if cache.is_home(home) => {
            // SAFETY: as this function's contract.
            if let Some(spill) = unsafe { cache.push(class, block) } {
                // SAFETY: free blocks of `class` that were in our list.
                unsafe { shared::give(class, spill) };
            }
        }
        // SAFETY: as this function's contract.
        _ => unsafe { give_back_foreign(class, block, home) },
    }
}

/// Gives a block back to its home thread's inbox, or to the shared stack.
///
/// # Safety
///
/// As for [`give_back`].
unsafe fn give_back_foreign(class: usize, block: NonNull<FreeBlock>, home: Home) {
    let block = match home {
        // SAFETY: as this function's contract.
        Some(inbox) => match unsafe { inbox.push(class, block) } {
            Ok(()) => return,
            Err(block) => block,
        },
        None => block,
    };
    // SAFETY: the block is free and ours.
    unsafe { shared::give(class, Chain::single(block)) };
}
