//! A pool's storage: chunks of slots that never move, the shared free list, the
//! per-thread caches, and the count that decides when the memory is freed.
//!
//! Counting: every pool handle and every slot off the free list (rented, or free in a
//! thread's cache) holds one count in `refs`. Renting from and recycling to a thread's
//! cache move no count, so the hot path touches no shared counter; the pool is freed
//! when the last count goes.

use std::ptr;

use super::free_list::FreeList;
use super::slot::{CompleterHalf, Shelf, Slot, SlotDeparture, TaskHalf, VacatedSlot};
use super::thread_cache::{self, List, Pushed};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering, fence, spin};

/// The most chunks a pool grows to; with 32-bit indices the last ones are never reached.
pub(super) const MAX_CHUNKS: usize = 32;
/// The smallest first chunk.
pub(super) const MIN_FIRST_CHUNK: usize = 16;
/// How many times a renter that found the free list empty just after another renter
/// installed a chunk retries before it grows one more; bounded, so a preempted grower
/// costs at most a chunk. (None under loom, where a spin yields: the models must reach
/// the growth.)
const GROWER_SPINS: u32 = if cfg!(valuetask_loom) { 0 } else { 64 };

/// A pool's id: a number no other pool of this process gets, so that what names a pool
/// (a thread cache) cannot mistake a later pool at the same address for it.
fn next_pool_id() -> u64 {
    // A std atomic even under loom: it only hands out distinct numbers and orders
    // nothing. 2^64 pools are never made, so it does not wrap.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub(super) struct Storage<T, E> {
    /// This pool's id (see [`next_pool_id`]).
    id: u64,
    pub(super) chunks: [AtomicPtr<Slot<T, E>>; MAX_CHUNKS],
    pub(super) first_chunk: usize,
    pub(super) free: FreeList,
    pub(super) capacity: AtomicUsize,
    /// Pool handles plus slots off the free list: the memory is freed when this is 0.
    refs: AtomicUsize,
    /// Pool handles alone: the last one flushes its thread's cached slots.
    handles: AtomicUsize,
    /// Builds the error a dropped completer resolves its task to. Captured here, where
    /// `E: From<Abandoned>` holds, because `Completer`'s `Drop` cannot ask for it.
    abandoned: fn() -> E,
}

impl<T, E> Storage<T, E> {
    /// A pool with one handle and room for at least `capacity` slots.
    pub(super) fn new(capacity: usize, abandoned: fn() -> E) -> *const Self {
        let first_chunk = capacity.max(MIN_FIRST_CHUNK).next_power_of_two();
        let storage = Box::into_raw(Box::new(Self {
            id: next_pool_id(),
            chunks: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            first_chunk,
            free: FreeList::new(),
            capacity: AtomicUsize::new(0),
            refs: AtomicUsize::new(1),
            handles: AtomicUsize::new(1),
            abandoned,
        }))
        .cast_const();
        if capacity > 0 {
            // SAFETY: `storage` was just made and is alive, and nobody else can install
            // its first chunk.
            let first = unsafe { Self::grow(storage, 0) }.expect("a new pool has no chunk");
            // SAFETY: as above; `first` is the first chunk's first slot, which `grow`
            // hands to its caller instead of pushing it.
            let storage = unsafe { &*storage };
            // SAFETY: `grow` installed the chunk holding `first`.
            let slot = unsafe { &*storage.slot(first) };
            storage.free.push_chain(first, slot.free_link());
        }
        storage
    }

    /// Takes a free slot, growing the pool when none is free, and rents it out to this
    /// thread: its two halves.
    ///
    /// # Safety
    ///
    /// `this` is alive: the caller holds a pool handle.
    #[inline(always)]
    pub(super) unsafe fn rent(this: *const Self) -> (TaskHalf<T, E>, CompleterHalf<T, E>) {
        let cache = thread_cache::current();
        let home = cache.map_or(ptr::null(), |cache| cache.id());
        // SAFETY: the caller's handle keeps the pool alive.
        let id = unsafe { (*this).id };
        let slot = match cache.and_then(|cache| cache.pop(id)) {
            // A cached slot carries its count over.
            Some(slot) => slot.cast::<Slot<T, E>>(),
            // SAFETY: the caller's handle keeps the pool alive.
            None => unsafe { Self::rent_shared(this) },
        };
        // SAFETY: the slot came off the cache or the free list: we are alone with it, and
        // it holds a count on the pool, which the halves take over.
        unsafe { Slot::lease(slot, home) }
    }

    /// Takes a slot off the free list, or grows the pool, and counts it.
    ///
    /// # Safety
    ///
    /// `this` is alive.
    #[cold]
    unsafe fn rent_shared(this: *const Self) -> *const Slot<T, E> {
        // SAFETY: the caller keeps the pool alive.
        let storage = unsafe { &*this };
        storage.refs.fetch_add(1, Ordering::Relaxed);
        let mut chunk = storage.installed_from(0);
        let mut spins = 0;
        loop {
            let next_of = |index| {
                // SAFETY: indices on the free list belong to installed chunks.
                let link = unsafe { (*storage.slot(index)).free_link() };
                link.load(Ordering::Relaxed)
            };
            if let Some(index) = storage.free.pop(next_of) {
                // SAFETY: as above.
                return unsafe { storage.slot(index) };
            }
            let seen = chunk;
            chunk = storage.installed_from(chunk);
            if chunk != seen && spins < GROWER_SPINS {
                // Another renter installed a chunk since we looked: its slots are one
                // push away. Wait for them a little before growing another.
                spins += 1;
                spin();
                continue;
            }
            assert!(
                chunk < MAX_CHUNKS,
                "SourcePool: more than 2^32 slots rented at once"
            );
            // SAFETY: the caller's handle keeps the pool alive.
            if let Some(index) = unsafe { Self::grow(this, chunk) } {
                // SAFETY: `grow` installed the chunk that holds `index`.
                return unsafe { storage.slot(index) };
            }
        }
    }

    /// Recycles a slot both halves left: empties it, moves it to its next generation
    /// and returns it to this thread's cache (if this thread rented it) or the shared
    /// free list, then drops what the rental left in it. Gives up the slot's count.
    #[inline(always)]
    fn recycle(vacated: VacatedSlot<T, E>) {
        let pool = vacated.pool();
        let cache = thread_cache::current().filter(|cache| vacated.home() == cache.id());
        let Some(cache) = cache else {
            let (slot, leftovers) = vacated.empty(Shelf::FreeList);
            // SAFETY: the slot is free, ours, of `pool` (which its count keeps alive); its
            // count is given up here.
            unsafe { Self::give_back(pool.cast(), slot, slot, 1) };
            // User code runs last, on values we own, after the slot is back in the pool.
            drop(leftovers);
            return;
        };
        let (slot, leftovers) = vacated.empty(Shelf::ThreadCache);
        // SAFETY: the slot is free, ours, of `pool`, and holds a count, which the cache
        // takes over unless it refuses.
        // SAFETY: the slot's count keeps its pool alive.
        let id = unsafe { (*pool.cast::<Self>()).id };
        // SAFETY: as above.
        match unsafe { cache.push(pool, id, slot.cast(), Self::flush) } {
            Pushed::Kept => {}
            Pushed::Spilled(list) => {
                // SAFETY: the list came out of the cache, once.
                unsafe { list.flush() };
            }
            Pushed::Refused => {
                // SAFETY: the cache refused the slot: it is still ours alone, and its
                // count is given up here.
                unsafe {
                    Slot::shelve(slot, Shelf::FreeList);
                    Self::give_back(pool.cast(), slot, slot, 1);
                }
            }
        }
        drop(leftovers);
    }

    /// Recycles the slot of a half that just left, if it was the last.
    #[inline(always)]
    pub(super) fn after(departure: SlotDeparture<T, E>) {
        if let SlotDeparture::Last(vacated) = departure {
            Self::recycle(vacated);
        }
    }

    /// Gives a list of cached slots back to their pool: the [`thread_cache::Flush`] of
    /// this pool.
    ///
    /// # Safety
    ///
    /// As for [`List::flush`].
    unsafe fn flush(list: List) {
        let pool = list.pool.cast::<Self>();
        let first = list.head.cast::<Slot<T, E>>();
        let mut last = first;
        for i in 0..list.len {
            // SAFETY: cached slots are free and now ours; they stop being cached.
            unsafe {
                Slot::shelve(last, Shelf::FreeList);
                let next = (*Slot::holder(last)).next_cached.cast::<Slot<T, E>>();
                if i + 1 < list.len {
                    (*last)
                        .free_link()
                        .store((*next).index() + 1, Ordering::Relaxed);
                    last = next;
                }
            }
        }
        // SAFETY: free slots of `pool` linked from `first` to `last`, with one count
        // each, given up.
        unsafe { Self::give_back(pool, first, last, list.len as usize) };
    }

    /// Pushes the free slots `first..=last` (linked through `next_free`) on the free
    /// list and drops their counts; frees the pool if those were the last.
    ///
    /// # Safety
    ///
    /// `this` is alive; the slots are free, its, held by nobody, and hold `count` counts.
    unsafe fn give_back(
        this: *const Self,
        first: *const Slot<T, E>,
        last: *const Slot<T, E>,
        count: usize,
    ) {
        // SAFETY: the slots' counts keep the pool alive until `drop_counts` below.
        let storage = unsafe { &*this };
        // SAFETY: slots of this pool: alive as long as it is.
        let (first, last) = unsafe { ((*first).index(), (*last).free_link()) };
        storage.free.push_chain(first, last);
        // SAFETY: these counts are the ones we drop.
        unsafe { Self::drop_counts(this, count) };
    }

    /// The error a dropped completer resolves its task to.
    pub(super) fn abandoned(&self) -> E {
        (self.abandoned)()
    }

    /// Adds a pool handle.
    pub(super) fn add_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a pool handle; frees the pool if nothing else holds it.
    ///
    /// # Safety
    ///
    /// The caller holds a handle and gives it up.
    pub(super) unsafe fn drop_handle(this: *const Self) {
        // SAFETY: the caller's handle keeps the pool alive until `drop_counts`.
        if unsafe { &*this }.handles.fetch_sub(1, Ordering::Relaxed) == 1 {
            // The last handle: give back this thread's cached slots now rather than at
            // thread exit, so a single-threaded user sees the pool freed right here.
            // SAFETY: the caller's handle keeps the pool alive.
            let id = unsafe { (*this).id };
            let list =
                thread_cache::current().and_then(|cache| cache.take_list_of(this.cast(), id));
            if let Some(list) = list {
                // SAFETY: the list came out of the cache, once; its counts and our
                // handle's keep the pool alive.
                unsafe { list.flush() };
            }
        }
        // SAFETY: the caller's handle's count is the one we drop.
        unsafe { Self::drop_counts(this, 1) };
    }

    /// Drops `count` counts; the last frees the pool.
    ///
    /// # Safety
    ///
    /// The caller holds `count` counts of `this` and gives them up.
    unsafe fn drop_counts(this: *const Self, count: usize) {
        // ORDERING: Release so that everything this holder did happens before the free;
        // pairs with the Acquire fence of whoever drops the last count.
        // SAFETY: the caller's counts keep the pool alive until this decrement.
        if unsafe { &(*this).refs }.fetch_sub(count, Ordering::Release) != count {
            return;
        }
        // ORDERING: Acquire pairs with every other holder's Release decrement.
        fence(Ordering::Acquire);
        // SAFETY: nobody holds the pool any more; it came from `Box::into_raw` in `new`.
        drop(unsafe { Box::from_raw(this.cast_mut()) });
    }
}
