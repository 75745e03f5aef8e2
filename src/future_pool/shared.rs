//! The shared stacks: free blocks any thread may take, one stack of chains per class
//! behind a lock, at most [`SHARED_CAPACITY`] blocks each. Blocks move here in chains
//! (a full thread cache's spill, an exiting thread's cache), so a lock is taken once per
//! batch, not once per block.

use std::ptr::{self, NonNull};

use super::caps::{CLASSES, SHARED_CAPACITY};
use super::chain::Chain;
use super::memory;
use crate::sync::Mutex;

/// The free blocks of one class: a stack of chains.
#[derive(Debug)]
struct SharedStack {
    /// The first block of the top chain, or null. Each chain's first block links to
    /// the next chain (`next_chain`) and carries its chain's length (`chain_len`).
    top: *mut super::chain::FreeBlock,
    /// Blocks in all chains.
    blocks: usize,
}

// SAFETY: the stack owns free blocks, raw memory that any thread may use or free.
unsafe impl Send for SharedStack {}

impl SharedStack {
    const EMPTY: Self = Self {
        top: ptr::null_mut(),
        blocks: 0,
    };

    /// Pushes as much of `chain` as the cap of `class` allows; returns what did not fit.
    fn push(&mut self, class: usize, mut chain: Chain) -> Option<Chain> {
        let room = SHARED_CAPACITY[class] - self.blocks;
        if room == 0 {
            return Some(chain);
        }
        // SAFETY: we own the chain's free blocks.
        let rest = (chain.len > room).then(|| unsafe { chain.split_off(room) });
        let head = chain.head.as_ptr();
        // SAFETY: we own the chain's first block, which joins the stack here.
        unsafe {
            (*head).next_chain = self.top;
            (*head).chain_len = chain.len;
        }
        self.top = head;
        self.blocks += chain.len;
        rest
    }

    /// Pops the top chain.
    fn pop(&mut self) -> Option<Chain> {
        let head = NonNull::new(self.top)?;
        // SAFETY: the stack owns its chains; their heads carry their length and the
        // link to the next chain.
        let (len, next) = unsafe { ((*head.as_ptr()).chain_len, (*head.as_ptr()).next_chain) };
        self.top = next;
        self.blocks -= len;
        Some(Chain { head, len })
    }
}

#[cfg(not(valuetask_loom))]
static STACKS: [Mutex<SharedStack>; CLASSES] = [const { Mutex::new(SharedStack::EMPTY) }; CLASSES];

#[cfg(valuetask_loom)]
loom::lazy_static! {
    static ref STACKS: Stacks = Stacks(std::array::from_fn(|_| Mutex::new(SharedStack::EMPTY)));
}

/// Under loom the stacks are dropped at the end of every execution, which reports the
/// blocks not freed by then as leaks; outside loom they live in a static, never dropped.
#[cfg(valuetask_loom)]
struct Stacks([Mutex<SharedStack>; CLASSES]);

#[cfg(valuetask_loom)]
impl std::ops::Deref for Stacks {
    type Target = [Mutex<SharedStack>; CLASSES];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[cfg(valuetask_loom)]
impl Drop for Stacks {
    fn drop(&mut self) {
        for (class, stack) in self.0.iter().enumerate() {
            while let Some(chain) = stack.lock().pop() {
                let mut block = chain.head.as_ptr();
                for _ in 0..chain.len {
                    // SAFETY: a free block of the chain, freed once; the class counters
                    // are being dropped too, so they are left alone.
                    unsafe {
                        let next = (*block).next;
                        crate::sync::dealloc(block.cast(), memory::layout(class));
                        block = next;
                    }
                }
            }
        }
    }
}

/// Takes the top chain of free blocks of `class`.
pub(super) fn take(class: usize) -> Option<Chain> {
    STACKS[class].lock().pop()
}

/// Puts `chain` on the stack of `class`; what does not fit goes to the allocator.
///
/// # Safety
///
/// The chain's blocks are free blocks of `class`, owned by the caller.
pub(super) unsafe fn give(class: usize, chain: Chain) {
    let rest = STACKS[class].lock().push(class, chain);
    if let Some(rest) = rest {
        // SAFETY: free blocks of `class` we own, which did not fit.
        unsafe { memory::deallocate(rest, class) };
    }
}

/// Free blocks of `class` on the stack.
pub(super) fn len(class: usize) -> usize {
    STACKS[class].lock().blocks
}

/// Gives every block on the stack of `class` now back to the allocator (blocks pushed
/// meanwhile stay); returns how many.
pub(super) fn trim(class: usize) -> usize {
    let mut top = {
        let mut stack = STACKS[class].lock();
        let top = NonNull::new(stack.top);
        stack.top = ptr::null_mut();
        stack.blocks = 0;
        top
    };
    let mut freed = 0;
    while let Some(head) = top {
        // SAFETY: the chains came off the stack, ours now; their heads carry their
        // length and the link to the next chain.
        let (len, next) = unsafe { ((*head.as_ptr()).chain_len, (*head.as_ptr()).next_chain) };
        top = NonNull::new(next);
        freed += len;
        // SAFETY: free blocks of `class` nobody else holds.
        unsafe { memory::deallocate(Chain { head, len }, class) };
    }
    freed
}
