//! A future in its block, and the vtable that drives it.
//!
//! # Who leaves last
//!
//! A block has one holder at a time, so there is no race over who is last: the task
//! holds it from [`store`] until its `poll` returns `true` or its `discard` runs, and
//! then hands it to the recycler, which passes it on to exactly one place. Each hand-off
//! is the holder's last touch:
//!
//! | path | last touch of the block | why nothing follows it |
//! |---|---|---|
//! | `poll` finishes | `recycle::give_back` | `live` cleared, the future dropped and `home` read before; the output goes to the caller's place, not the block |
//! | `discard` (the task dropped) | `recycle::give_back`, run by a guard | `home` read first, the future dropped; the guard gives the block back once, even if the future's `Drop` panics |
//! | `give_back` to this thread's cache | the free list's link | the cache is this thread's alone: nobody else sees the block until this thread rents it |
//! | `give_back` to the home inbox | the compare-and-swap in `Inbox::push` | the link was written before it (Release); after it the home thread may take and reuse the block at once, and [`departed`](crate::sync::departed) marks the point for loom |
//! | `give_back` to the shared stack | the lock's release in `shared::give` | the chain was linked under the lock; the next thread to lock owns it |
//!
//! A home is an inbox, never freed and reused by a later thread when its thread exits
//! (see `inbox.rs`). So a block's home names a live inbox, and a block whose thread
//! exited goes to whichever thread holds that inbox now, or (while it is closed) to the
//! shared stack: a free block is untyped memory of its class, which any thread may
//! rent, so no later owner of the address can misread it. The class travels with the
//! type (`Pooled::CLASS`), never with the address.

use std::future::Future;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use super::caps::{BLOCK_ALIGN, BLOCK_SIZES, CLASSES};
use super::fallback::{self, Fallback};
use super::recycle::{self, Home};
use crate::raw::{RawTask, RawTaskVTable};

/// Moves `future` into a pooled block, or hands it back when it fits no size class.
///
/// Inlined into the caller, so that the compiler can build the future in the block
/// rather than on the stack and then copy it (a copy right after the future's own
/// stores stalls on store forwarding).
#[inline(always)]
pub(crate) fn store<F>(future: F) -> Result<RawTask<F::Output>, F>
where
    F: Future + Send,
{
    let class = match Pooled::<F>::CLASS {
        Ok(class) => class,
        Err(reason) => {
            fallback::count(reason);
            return Err(future);
        }
    };
    let (block, home) = recycle::acquire(class);
    let block = block.cast::<Block<F>>();
    // SAFETY: `acquire` returned a free block of `class`, held by nobody else, at least
    // `size_of::<Block<F>>()` bytes and `BLOCK_ALIGN`-aligned, which is at least
    // `align_of::<Block<F>>()` (`Pooled::CLASS` checked both).
    unsafe {
        block.as_ptr().write(Block {
            future,
            live: true,
            home,
        })
    };
    // SAFETY: the block stays allocated until the vtable's `poll` returns `true` or its
    // `discard` runs, each of which recycles it once; `F: Send` makes each function
    // sound on whatever thread the task moves to; and the task is the block's one holder.
    Ok(unsafe { RawTask::new(block.cast(), Pooled::<F>::VTABLE) })
}

/// A future in its block.
struct Block<F> {
    future: F,
    /// The future is there and not dropped. Cleared just before it is dropped in place,
    /// so that a panic in its `Drop` can never lead to a second drop.
    live: bool,
    /// Where the block goes back to: the thread that took it out.
    home: Home,
}

/// The smallest class that holds `size` bytes aligned to `align`.
pub(super) const fn class_of(size: usize, align: usize) -> Option<usize> {
    if align > BLOCK_ALIGN {
        return None;
    }
    let mut class = 0;
    while class < CLASSES {
        if size <= BLOCK_SIZES[class] {
            return Some(class);
        }
        class += 1;
    }
    None
}

/// The vtable of pooled futures of type `F`.
struct Pooled<F>(PhantomData<F>);

impl<F: Future> Pooled<F> {
    /// The class a block of `F` goes in, or why `F` is boxed instead (a zero-sized
    /// future is, because its box allocates nothing).
    const CLASS: Result<usize, Fallback> = if size_of::<F>() == 0 {
        Err(Fallback::ZeroSized)
    } else if align_of::<Block<F>>() > BLOCK_ALIGN {
        Err(Fallback::OverAligned)
    } else {
        match class_of(size_of::<Block<F>>(), align_of::<Block<F>>()) {
            Some(class) => Ok(class),
            None => Err(Fallback::TooBig),
        }
    };

    /// `CLASS` for the vtable's functions, which exist only when it is `Ok`.
    const CLASS_INDEX: usize = match Self::CLASS {
        Ok(class) => class,
        Err(_) => 0,
    };

    const VTABLE: &'static RawTaskVTable = &RawTaskVTable {
        poll: Self::poll,
        is_ready: Self::is_ready,
        discard: Self::discard,
        kind: "pooled future",
    };

    /// Polls the future in place; when it is done, drops it, writes its output to `out`
    /// and recycles the block.
    ///
    /// # Safety
    ///
    /// `ptr` is a `Block<F>` of class `CLASS` that the calling task holds, `out` points
    /// to a `MaybeUninit<F::Output>`; on `true` the task gave up the block.
    unsafe fn poll(ptr: NonNull<()>, cx: &mut Context<'_>, out: *mut ()) -> bool {
        let block = ptr.cast::<Block<F>>().as_ptr();
        // SAFETY: the task holds the block, which holds an initialized `Block<F>`.
        if !unsafe { (*block).live } {
            panic!("ValueTask polled again after its future panicked while being dropped");
        }
        // SAFETY: `live`: the future is there. It stays at this address until it is
        // dropped in place below or by `discard`: the block never moves, so pinning holds.
        let future = unsafe { Pin::new_unchecked(&mut (*block).future) };
        let Poll::Ready(output) = future.poll(cx) else {
            return false;
        };
        // SAFETY: the future is done and is dropped once: `live` is cleared first, so if
        // its `Drop` panics, the task's own drop later recycles the block without
        // dropping it again.
        let home = unsafe {
            (*block).live = false;
            ptr::drop_in_place(&raw mut (*block).future);
            (*block).home
        };
        // SAFETY: the caller passes a place for the output.
        unsafe { out.cast::<F::Output>().write(output) };
        // SAFETY: the future is gone and the task gives up the block: nobody holds it.
        unsafe { recycle::give_back(Self::CLASS_INDEX, ptr.cast(), home) };
        true
    }

    /// A pooled future is never polled to find out: false.
    ///
    /// # Safety
    ///
    /// None needed; the signature is the vtable's.
    unsafe fn is_ready(_ptr: NonNull<()>) -> bool {
        false
    }

    /// Drops the future in place, if it is still there, and recycles the block.
    ///
    /// # Safety
    ///
    /// `ptr` is a `Block<F>` of class `CLASS` that the calling task holds and gives up.
    unsafe fn discard(ptr: NonNull<()>) {
        /// Recycles the block even when the future's `Drop` panics.
        struct Recycle(NonNull<u8>, usize, Home);
        impl Drop for Recycle {
            fn drop(&mut self) {
                // SAFETY: made below for a block the task gave up, after which only the
                // future's drop touches it; this runs after that drop, once.
                unsafe { recycle::give_back(self.1, self.0, self.2) };
            }
        }
        let block = ptr.cast::<Block<F>>().as_ptr();
        // SAFETY: the task held the block until now: the `Block<F>` is initialized.
        let recycle = Recycle(ptr.cast(), Self::CLASS_INDEX, unsafe { (*block).home });
        // SAFETY: as above; a `live` future is dropped once, since `live` is cleared first.
        unsafe {
            if (*block).live {
                (*block).live = false;
                ptr::drop_in_place(&raw mut (*block).future);
            }
        }
        drop(recycle);
    }
}
