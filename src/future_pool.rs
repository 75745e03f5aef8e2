//! Recycled storage for the futures behind [`ValueTask::from_future`]: the tier .NET
//! calls `PoolingAsyncValueTaskMethodBuilder`.
//!
//! A `dyn` async method that really suspends must keep its state somewhere that outlives
//! the call; `Box::pin` allocates that place on every call. [`ValueTask::from_future`]
//! instead moves the future into a *block* taken from a pool, polls it there in place
//! (the block never moves, so pinning holds), drops it there when it finishes or when the
//! task is dropped, and gives the block back. In steady state nothing is allocated.
//!
//! # Blocks and size classes
//!
//! A block is [`BLOCK_ALIGN`]-aligned and one of [`BLOCK_SIZES`] bytes: the future, then
//! one byte that says whether it still needs dropping. A future goes into the smallest
//! class it fits. A future that fits none (over 1023 bytes, or aligned to more than
//! [`BLOCK_ALIGN`]) is boxed, as [`ValueTask::boxed`] does; so is a zero-sized future,
//! whose box allocates nothing.
//!
//! # Where free blocks wait, and how much memory that holds
//!
//! - **This thread's cache**: up to [`THREAD_CACHE_BLOCKS`] free blocks per class, touched
//!   by this thread alone. A task created and finished on one thread takes and returns
//!   its block here, with no atomic operation.
//! - **The shared stacks**: up to [`SHARED_BLOCKS`] free blocks per class, behind one lock
//!   per class. On a work-stealing runtime a task is often finished on another thread
//!   than the one that made it, so one thread's cache fills while another's empties: a
//!   full cache moves half its blocks here, an empty one takes a batch back, one lock
//!   per [`THREAD_CACHE_BLOCKS`]` / 2` blocks. A thread's cache also goes here when the
//!   thread exits.
//! - Blocks beyond both caps go back to the allocator at once.
//!
//! So at rest the pool holds at most `THREAD_CACHE_BLOCKS` × 1984 bytes (62 KiB, one of
//! each class 32 times) per thread and `SHARED_BLOCKS` × 1984 bytes (496 KiB) in the
//! shared stacks, whatever the peak was: a burst of 10 000 concurrent calls allocates
//! 10 000 blocks and hands all but those back to the allocator as the calls finish.
//! [`trim`] returns this thread's cache and the shared stacks at once; [`stats`] shows
//! what is held.
//!
//! Why these caps: 32 blocks per thread and class lets a thread run 32 tasks of one
//! class at a time, or trade blocks with another thread in batches of 16, without a lock
//! on every call; a batch moves only when a cache is full or empty, and after a move the
//! cache is half full, so a thread never flips between the two on every call. 256 per
//! class in the shared stacks absorbs the blocks of 16 such batches, enough for the
//! caches of a few busy threads to drain into one another (the 256 concurrent callers
//! .NET measured its pooling builder with fit in it), while keeping the worst case of the
//! largest class at 256 KiB.
//!
//! [`ValueTask::from_future`]: crate::ValueTask::from_future
//! [`ValueTask::boxed`]: crate::ValueTask::boxed

use std::alloc::{Layout, handle_alloc_error};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use crate::sync::{self, AtomicUsize, Mutex, Ordering};
use crate::task::{RawTask, RawTaskVTable};

/// The block sizes, in bytes: a future goes into the smallest that holds it and one byte.
pub const BLOCK_SIZES: [usize; 5] = [64, 128, 256, 512, 1024];

/// The alignment of every block: a future aligned to more than this is boxed.
pub const BLOCK_ALIGN: usize = 64;

/// The most free blocks per size class a thread keeps for itself.
pub const THREAD_CACHE_BLOCKS: usize = 32;

/// The most free blocks per size class the shared stacks keep. (Two under loom, so the
/// models reach the cap.)
pub const SHARED_BLOCKS: usize = if cfg!(valuetask_loom) { 2 } else { 256 };

const CLASSES: usize = BLOCK_SIZES.len();

/// How much the pool holds, for watching it and for tests.
///
/// The fields are read one after another, not at one instant.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct FuturePoolStats {
    /// Blocks allocated and not yet given back to the allocator: holding a future, or
    /// free in a cache.
    pub allocated_blocks: usize,
    /// The bytes of those blocks.
    pub allocated_bytes: usize,
    /// Free blocks on the shared stacks.
    pub shared_blocks: usize,
    /// The bytes of those blocks.
    pub shared_bytes: usize,
    /// Free blocks in the calling thread's cache.
    pub thread_cached_blocks: usize,
    /// The bytes of those blocks.
    pub thread_cached_bytes: usize,
}

/// What the pool holds now: allocated blocks, and the free ones in the shared stacks and
/// in this thread's cache. Takes each class's lock once.
pub fn stats() -> FuturePoolStats {
    let mut stats = FuturePoolStats::default();
    let global = global();
    for (class, size) in BLOCK_SIZES.into_iter().enumerate() {
        let allocated = global.allocated[class].load(Ordering::Relaxed);
        stats.allocated_blocks += allocated;
        stats.allocated_bytes += allocated * size;
        let shared = global.stacks[class].lock().blocks;
        stats.shared_blocks += shared;
        stats.shared_bytes += shared * size;
        let cached = local::len(class);
        stats.thread_cached_blocks += cached;
        stats.thread_cached_bytes += cached * size;
    }
    stats
}

/// Gives this thread's cached blocks and every block on the shared stacks back to the
/// allocator, and returns how many it gave back. Other threads keep their caches (at
/// most [`THREAD_CACHE_BLOCKS`] per class each) until they exit or trim.
///
/// Call it after a burst, when the process goes idle; the next calls allocate again.
///
/// # Examples
///
/// ```
/// let task = valuetask::ValueTask::from_future(async { 1 });
/// assert_eq!(futures::executor::block_on(task), 1);
/// assert!(valuetask::future_pool::stats().thread_cached_blocks >= 1);
/// valuetask::future_pool::trim();
/// assert_eq!(valuetask::future_pool::stats().thread_cached_blocks, 0);
/// ```
pub fn trim() -> usize {
    let global = global();
    let mut freed = 0;
    for class in 0..CLASSES {
        if let Some(chain) = local::take_all(class) {
            freed += chain.len;
            // SAFETY: the chain came out of this thread's cache: free blocks nobody holds.
            unsafe { chain.deallocate(class) };
        }
        let mut top = global.stacks[class].lock().take_all();
        while let Some(chain) = top {
            // SAFETY: the chains came off the shared stack: free blocks nobody holds.
            top = unsafe { chain.next_chain() };
            freed += chain.len;
            // SAFETY: as above.
            unsafe { chain.deallocate(class) };
        }
    }
    freed
}

/// Moves `future` into a pooled block, or hands it back when it fits no size class.
pub(crate) fn store<F>(future: F) -> Result<RawTask<F::Output>, F>
where
    F: Future + Send,
{
    let Some(class) = Pooled::<F>::CLASS else {
        return Err(future);
    };
    let block = acquire(class).cast::<Block<F>>();
    // SAFETY: `acquire` returned a free block of `class`, held by nobody else, at least
    // `size_of::<Block<F>>()` bytes and `BLOCK_ALIGN`-aligned, which is at least
    // `align_of::<Block<F>>()` (`Pooled::CLASS` checked both).
    unsafe { block.as_ptr().write(Block { future, live: true }) };
    // SAFETY: the block stays allocated until the vtable's `poll` returns `true` or its
    // `drop` runs, each of which recycles it once; `F: Send` makes each function sound
    // on whatever thread the task moves to; and the task is the block's one holder.
    Ok(unsafe { RawTask::new(block.cast(), Pooled::<F>::VTABLE) })
}

/// A future in its block. The flag follows the future so that the block needs no room
/// before it: a future of up to `size - 1` bytes fits a class.
#[repr(C)]
struct Block<F> {
    future: F,
    /// The future is there and not dropped. Cleared just before it is dropped in place,
    /// so that a panic in its `Drop` can never lead to a second drop.
    live: bool,
}

/// The smallest class that holds `size` bytes aligned to `align`.
const fn class_of(size: usize, align: usize) -> Option<usize> {
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
    /// The class a block of `F` goes in; `None` boxes it (too large, over-aligned, or
    /// zero-sized, where a box allocates nothing).
    const CLASS: Option<usize> = if size_of::<F>() == 0 {
        None
    } else {
        class_of(size_of::<Block<F>>(), align_of::<Block<F>>())
    };

    /// `CLASS` for the vtable's functions, which exist only when it is `Some`.
    const CLASS_INDEX: usize = match Self::CLASS {
        Some(class) => class,
        None => 0,
    };

    const VTABLE: &'static RawTaskVTable = &RawTaskVTable {
        poll: Self::poll,
        is_ready: Self::is_ready,
        drop: Self::drop,
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
        // dropped in place below or by `drop`: the block never moves, so pinning holds.
        let future = unsafe { Pin::new_unchecked(&mut (*block).future) };
        let Poll::Ready(output) = future.poll(cx) else {
            return false;
        };
        // SAFETY: the future is done and is dropped once: `live` is cleared first, so if
        // its `Drop` panics, the task's own drop later recycles the block without
        // dropping it again.
        unsafe {
            (*block).live = false;
            ptr::drop_in_place(&raw mut (*block).future);
        }
        // SAFETY: the caller passes a place for the output.
        unsafe { out.cast::<F::Output>().write(output) };
        // SAFETY: the future is gone and the task gives up the block: nobody holds it.
        unsafe { release(Self::CLASS_INDEX, ptr.cast()) };
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
    unsafe fn drop(ptr: NonNull<()>) {
        /// Recycles the block even when the future's `Drop` panics.
        struct Recycle(NonNull<u8>, usize);
        impl Drop for Recycle {
            fn drop(&mut self) {
                // SAFETY: made below for a block the task gave up, after which only the
                // future's drop touches it; this runs after that drop, once.
                unsafe { release(self.1, self.0) };
            }
        }
        let recycle = Recycle(ptr.cast(), Self::CLASS_INDEX);
        let block = ptr.cast::<Block<F>>().as_ptr();
        // SAFETY: the task held the block until now: the `Block<F>` is initialized, and
        // a `live` future is dropped once, since `live` is cleared first.
        unsafe {
            if (*block).live {
                (*block).live = false;
                ptr::drop_in_place(&raw mut (*block).future);
            }
        }
        drop(recycle);
    }
}

/// A free block's first bytes: the links of the free lists. Every block is at least 64
/// bytes and `BLOCK_ALIGN`-aligned, so this fits.
#[repr(C)]
struct FreeBlock {
    /// The next block of the same chain; null at its end.
    next: *mut FreeBlock,
    /// On a chain's first block on the shared stack: the next chain, or null.
    next_chain: *mut FreeBlock,
    /// On a chain's first block on the shared stack: the chain's length.
    chain_len: usize,
}

const _: () = assert!(size_of::<FreeBlock>() <= BLOCK_SIZES[0]);
const _: () = assert!(align_of::<FreeBlock>() <= BLOCK_ALIGN);

/// A null-terminated list of free blocks linked through `next`, owned by whoever holds
/// this value.
struct Chain {
    head: NonNull<FreeBlock>,
    len: usize,
}

impl Chain {
    /// The chain that follows this one on the shared stack.
    ///
    /// # Safety
    ///
    /// The chain came off the shared stack (its head's `next_chain` is set).
    unsafe fn next_chain(&self) -> Option<Chain> {
        // SAFETY: as this function's contract: we own the head, a free block.
        let head = NonNull::new(unsafe { (*self.head.as_ptr()).next_chain })?;
        // SAFETY: chain heads on the shared stack carry their chain's length.
        let len = unsafe { (*head.as_ptr()).chain_len };
        Some(Chain { head, len })
    }

    /// Splits the chain after its first `n` blocks (`0 < n < len`), walking `n` links.
    ///
    /// # Safety
    ///
    /// The chain's blocks are free and owned by the caller.
    unsafe fn split_off(&mut self, n: usize) -> Chain {
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

    /// Gives every block of the chain back to the allocator.
    ///
    /// # Safety
    ///
    /// The chain's blocks are free blocks of `class`, owned by the caller.
    unsafe fn deallocate(self, class: usize) {
        let mut block = self.head.as_ptr();
        for _ in 0..self.len {
            // SAFETY: a free block of the chain, which we own.
            let next = unsafe { (*block).next };
            // SAFETY: allocated by `allocate` with this class's layout, and free.
            unsafe { sync::dealloc(block.cast(), layout(class)) };
            block = next;
        }
        global().allocated[class].fetch_sub(self.len, Ordering::Relaxed);
    }
}

/// The shared free blocks of one class: a stack of chains, at most `SHARED_BLOCKS`
/// blocks in all.
struct SharedStack {
    /// The first block of the top chain, or null.
    top: *mut FreeBlock,
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

    /// Pushes as much of `chain` as the cap allows; returns what did not fit.
    fn push(&mut self, mut chain: Chain) -> Option<Chain> {
        let room = SHARED_BLOCKS - self.blocks;
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
        let chain = Chain {
            head,
            // SAFETY: the stack owns its chains; heads carry their length.
            len: unsafe { (*head.as_ptr()).chain_len },
        };
        // SAFETY: as above; heads carry the link to the next chain.
        self.top = unsafe { (*head.as_ptr()).next_chain };
        self.blocks -= chain.len;
        Some(chain)
    }

    /// Takes every chain: the top one, which links to the rest through `next_chain`.
    fn take_all(&mut self) -> Option<Chain> {
        let top = self.pop()?;
        self.top = ptr::null_mut();
        self.blocks = 0;
        Some(top)
    }
}

#[cfg(valuetask_loom)]
impl Drop for Global {
    /// Loom drops its statics at the end of every execution and reports blocks not freed
    /// by then as leaks. (Outside loom the stacks live in a static, never dropped.)
    fn drop(&mut self) {
        for (class, stack) in self.stacks.iter().enumerate() {
            let mut top = stack.lock().take_all();
            while let Some(chain) = top {
                // SAFETY: the chains came off the stack: free blocks nobody else holds.
                top = unsafe { chain.next_chain() };
                let mut block = chain.head.as_ptr();
                for _ in 0..chain.len {
                    // SAFETY: a free block of the chain, freed once; the counters are
                    // being dropped too, so they are left alone.
                    unsafe {
                        let next = (*block).next;
                        sync::dealloc(block.cast(), layout(class));
                        block = next;
                    }
                }
            }
        }
    }
}

/// The pool's state shared by all threads.
struct Global {
    stacks: [Mutex<SharedStack>; CLASSES],
    /// Blocks of each class allocated and not yet given back.
    allocated: [AtomicUsize; CLASSES],
}

#[cfg(not(valuetask_loom))]
static GLOBAL: Global = Global {
    stacks: [const { Mutex::new(SharedStack::EMPTY) }; CLASSES],
    allocated: [const { AtomicUsize::new(0) }; CLASSES],
};

#[cfg(valuetask_loom)]
loom::lazy_static! {
    static ref GLOBAL: Global = Global {
        stacks: std::array::from_fn(|_| Mutex::new(SharedStack::EMPTY)),
        allocated: std::array::from_fn(|_| AtomicUsize::new(0)),
    };
}

#[inline(always)]
fn global() -> &'static Global {
    &GLOBAL
}

fn layout(class: usize) -> Layout {
    // SAFETY: every size is a nonzero multiple of the alignment, a power of two.
    unsafe { Layout::from_size_align_unchecked(BLOCK_SIZES[class], BLOCK_ALIGN) }
}

/// Takes a free block of `class`: from this thread's cache, else a batch from the shared
/// stack, else a new allocation.
#[inline]
fn acquire(class: usize) -> NonNull<u8> {
    match local::pop(class) {
        Some(block) => block.cast(),
        None => acquire_slow(class),
    }
}

#[cold]
fn acquire_slow(class: usize) -> NonNull<u8> {
    let popped = global().stacks[class].lock().pop();
    let Some(mut chain) = popped else {
        return allocate(class);
    };
    let block = chain.head;
    if chain.len > 1 {
        // SAFETY: we own the chain's free blocks.
        let rest = unsafe { chain.split_off(1) };
        if let Some(rest) = local::refill(class, rest) {
            // This thread's cache is gone (it is exiting): the rest goes back.
            if let Some(rest) = global().stacks[class].lock().push(rest) {
                // SAFETY: free blocks we own.
                unsafe { rest.deallocate(class) };
            }
        }
    }
    block.cast()
}

#[cold]
fn allocate(class: usize) -> NonNull<u8> {
    let layout = layout(class);
    // SAFETY: the layout's size is nonzero.
    let block = unsafe { sync::alloc(layout) };
    let Some(block) = NonNull::new(block) else {
        handle_alloc_error(layout)
    };
    global().allocated[class].fetch_add(1, Ordering::Relaxed);
    block
}

/// Gives a free block back: to this thread's cache, or, if that is full, after moving
/// half the cache to the shared stack; or straight to the shared stack if this thread's
/// cache is gone; or to the allocator if the shared stack is full too.
///
/// # Safety
///
/// `block` is a block of `class`, free, and held by nobody else.
#[inline]
unsafe fn release(class: usize, block: NonNull<u8>) {
    let block = block.cast::<FreeBlock>();
    // SAFETY: as this function's contract.
    if let Some(spill) = unsafe { local::push(class, block) } {
        release_slow(class, spill);
    }
}

#[cold]
fn release_slow(class: usize, chain: Chain) {
    if let Some(rest) = global().stacks[class].lock().push(chain) {
        // SAFETY: free blocks we own, which did not fit the shared stack.
        unsafe { rest.deallocate(class) };
    }
}

#[cfg(not(valuetask_loom))]
mod local {
    //! This thread's cache: a free list per class, touched by this thread alone.

    use std::cell::Cell;
    use std::ptr::{self, NonNull};

    use super::{CLASSES, Chain, FreeBlock, THREAD_CACHE_BLOCKS};

    /// How many blocks a full cache moves to the shared stacks at once.
    const BATCH: usize = THREAD_CACHE_BLOCKS / 2;

    struct FreeList {
        head: Cell<*mut FreeBlock>,
        len: Cell<usize>,
    }

    struct Cache([FreeList; CLASSES]);

    impl Drop for Cache {
        /// The thread is exiting: its blocks go to the shared stacks, or to the allocator.
        fn drop(&mut self) {
            for class in 0..CLASSES {
                if let Some(chain) = take(&self.0[class]) {
                    super::release_slow(class, chain);
                }
            }
        }
    }

    thread_local! {
        static CACHE: Cache = const {
            Cache([const { FreeList { head: Cell::new(ptr::null_mut()), len: Cell::new(0) } }; CLASSES])
        };
    }

    fn take(list: &FreeList) -> Option<Chain> {
        let head = NonNull::new(list.head.replace(ptr::null_mut()))?;
        Some(Chain {
            head,
            len: list.len.replace(0),
        })
    }

    /// Pops a free block of `class`.
    #[inline]
    pub(super) fn pop(class: usize) -> Option<NonNull<FreeBlock>> {
        CACHE
            .try_with(|cache| {
                let list = &cache.0[class];
                let head = NonNull::new(list.head.get())?;
                // SAFETY: blocks in the cache are free and ours; the head links to the next.
                list.head.set(unsafe { (*head.as_ptr()).next });
                list.len.set(list.len.get() - 1);
                Some(head)
            })
            .ok()
            .flatten()
    }

    /// Pushes a free block of `class`. Returns a chain for the shared stack: the top
    /// half of a full cache, or the block itself if the cache is gone.
    ///
    /// # Safety
    ///
    /// `block` is a free block of `class`, held by nobody else.
    #[inline]
    pub(super) unsafe fn push(class: usize, block: NonNull<FreeBlock>) -> Option<Chain> {
        let pushed = CACHE.try_with(|cache| {
            let list = &cache.0[class];
            let mut spill = None;
            if list.len.get() == THREAD_CACHE_BLOCKS {
                let mut chain = take(list).expect("a full cache has blocks");
                // SAFETY: blocks in the cache are free and ours.
                let rest = unsafe { chain.split_off(BATCH) };
                list.head.set(rest.head.as_ptr());
                list.len.set(rest.len);
                spill = Some(chain);
            }
            // SAFETY: the caller gives us the free block.
            unsafe { (*block.as_ptr()).next = list.head.get() };
            list.head.set(block.as_ptr());
            list.len.set(list.len.get() + 1);
            spill
        });
        match pushed {
            Ok(spill) => spill,
            Err(_) => {
                // SAFETY: the caller gives us the free block; it starts a chain of one.
                unsafe { (*block.as_ptr()).next = ptr::null_mut() };
                Some(Chain {
                    head: block,
                    len: 1,
                })
            }
        }
    }

    /// Fills the empty cache of `class` with `chain`; gives the chain back if the cache
    /// is gone.
    pub(super) fn refill(class: usize, chain: Chain) -> Option<Chain> {
        let mut chain = Some(chain);
        let _ = CACHE.try_with(|cache| {
            let list = &cache.0[class];
            let chain = chain.take().expect("taken once");
            debug_assert_eq!(list.len.get(), 0);
            list.head.set(chain.head.as_ptr());
            list.len.set(chain.len);
        });
        chain
    }

    /// Takes every block of `class` out of this thread's cache.
    pub(super) fn take_all(class: usize) -> Option<Chain> {
        CACHE.try_with(|cache| take(&cache.0[class])).ok().flatten()
    }

    /// How many free blocks of `class` this thread's cache holds.
    pub(super) fn len(class: usize) -> usize {
        CACHE
            .try_with(|cache| cache.0[class].len.get())
            .unwrap_or(0)
    }
}

#[cfg(valuetask_loom)]
mod local {
    //! Under loom there is no thread cache: every block goes through the shared stacks,
    //! which the models exercise.

    use std::ptr::{self, NonNull};

    use super::{Chain, FreeBlock};

    pub(super) fn pop(_class: usize) -> Option<NonNull<FreeBlock>> {
        None
    }

    /// # Safety
    ///
    /// `block` is a free block, held by nobody else.
    pub(super) unsafe fn push(_class: usize, block: NonNull<FreeBlock>) -> Option<Chain> {
        // SAFETY: the caller gives us the free block.
        unsafe { (*block.as_ptr()).next = ptr::null_mut() };
        Some(Chain {
            head: block,
            len: 1,
        })
    }

    pub(super) fn refill(_class: usize, chain: Chain) -> Option<Chain> {
        Some(chain)
    }

    pub(super) fn take_all(_class: usize) -> Option<Chain> {
        None
    }

    pub(super) fn len(_class: usize) -> usize {
        0
    }
}
