//! Slot storage: chunks that never move, and a lock-free free list of slot indices.
//!
//! Chunk `k` holds `first_chunk << k` slots, so slot indices map to chunks with a
//! logarithm and a chunk, once installed, lives as long as the pool. The free list is a
//! Treiber stack of indices whose head is tagged against ABA.

use std::ptr;

use super::local::{self, Entry, Put};
use super::slot::Slot;
use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

/// The most chunks a pool grows to; with 32-bit indices the last ones are never reached.
const MAX_CHUNKS: usize = 32;
/// The smallest first chunk.
const MIN_FIRST_CHUNK: usize = 16;

/// The free list's head: the index of the top slot plus one (0 for an empty list) in the
/// low 32 bits, and in the high 32 bits a tag bumped by every push and pop, so a
/// compare-and-swap against a head that was popped and pushed back in between fails.
const INDEX_MASK: u64 = u32::MAX as u64;
const TAG_ONE: u64 = 1 << 32;

pub(super) struct Shared<T, E> {
    chunks: [AtomicPtr<Slot<T, E>>; MAX_CHUNKS],
    first_chunk: usize,
    free: AtomicU64,
    capacity: AtomicUsize,
    /// Pool handles plus rented slots plus slots in threads' caches: the pool's memory is
    /// freed when this reaches zero.
    refs: AtomicUsize,
    /// Pool handles alone: the last one flushes its thread's cached slot.
    handles: AtomicUsize,
    /// Builds the error a dropped completer resolves its task to. Captured here, where
    /// `E: From<Abandoned>` holds, because `Completer`'s `Drop` cannot ask for it.
    pub(super) abandoned: fn() -> E,
}

impl<T, E> Shared<T, E> {
    /// A pool with one handle and room for at least `capacity` slots.
    pub(super) fn new(capacity: usize, abandoned: fn() -> E) -> *const Self {
        let first_chunk = capacity.max(MIN_FIRST_CHUNK).next_power_of_two();
        let shared = Box::into_raw(Box::new(Self {
            chunks: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            first_chunk,
            free: AtomicU64::new(0),
            capacity: AtomicUsize::new(0),
            refs: AtomicUsize::new(1),
            handles: AtomicUsize::new(1),
            abandoned,
        }))
        .cast_const();
        if capacity > 0 {
            // SAFETY: `shared` was just made and is alive, and nobody else can install
            // its first chunk.
            let first = unsafe { Self::grow(shared, 0) }.expect("a new pool has no chunk");
            // SAFETY: as above; `first` is the first chunk's first slot, which `grow`
            // hands to its caller instead of pushing it.
            unsafe { (*shared).push_chain(first, &*(*shared).slot(first)) };
        }
        shared
    }

    /// The slot at `index`.
    ///
    /// # Safety
    ///
    /// `index` was handed out by this pool (its chunk is installed).
    unsafe fn slot(&self, index: u32) -> *const Slot<T, E> {
        let (chunk, offset) = self.locate(index as usize);
        let base = self.chunks[chunk].load(Ordering::Acquire);
        debug_assert!(!base.is_null());
        // SAFETY: the chunk is installed and `offset` is below its length.
        unsafe { base.add(offset) }
    }

    /// Which chunk holds slot `index`, and where in it.
    fn locate(&self, index: usize) -> (usize, usize) {
        let blocks = index / self.first_chunk + 1;
        let chunk = (usize::BITS - 1 - blocks.leading_zeros()) as usize;
        (chunk, index - self.first_chunk * ((1 << chunk) - 1))
    }

    /// Takes a free slot, growing the pool when none is free, and counts it as rented.
    ///
    /// # Safety
    ///
    /// `this` is alive: the caller holds a pool handle.
    pub(super) unsafe fn rent(this: *const Self) -> *const Slot<T, E> {
        let slot = match local::take(this.cast()) {
            // A cached slot carries its count over.
            Some(slot) => slot.cast::<Slot<T, E>>(),
            // SAFETY: the caller's handle keeps the pool alive.
            None => unsafe { Self::rent_shared(this) },
        };
        // SAFETY: the slot came off the cache or the free list: we are alone with it.
        unsafe { Slot::mark_rented(slot) };
        slot
    }

    /// Takes a slot off the free list, or grows the pool, and counts it.
    ///
    /// # Safety
    ///
    /// `this` is alive.
    #[cold]
    unsafe fn rent_shared(this: *const Self) -> *const Slot<T, E> {
        // SAFETY: the caller keeps the pool alive.
        let shared = unsafe { &*this };
        shared.refs.fetch_add(1, Ordering::Relaxed);
        let mut chunk = 0;
        loop {
            if let Some(index) = shared.pop() {
                // SAFETY: popped indices belong to installed chunks.
                return unsafe { shared.slot(index) };
            }
            while chunk < MAX_CHUNKS && !shared.chunks[chunk].load(Ordering::Acquire).is_null() {
                chunk += 1;
            }
            assert!(
                chunk < MAX_CHUNKS,
                "SourcePool: more than 2^32 slots rented at once"
            );
            // SAFETY: the caller's handle keeps the pool alive.
            if let Some(index) = unsafe { Self::grow(this, chunk) } {
                // SAFETY: `grow` installed the chunk that holds `index`.
                return unsafe { shared.slot(index) };
            }
        }
    }

    /// Installs chunk `chunk`, pushes all its slots but the first on the free list and
    /// returns the first; `None` if another thread installed that chunk first.
    ///
    /// # Safety
    ///
    /// `this` is alive.
    unsafe fn grow(this: *const Self, chunk: usize) -> Option<u32> {
        // SAFETY: the caller keeps the pool alive.
        let shared = unsafe { &*this };
        let len = shared.first_chunk << chunk;
        let start = shared.first_chunk * ((1 << chunk) - 1);
        let end = u32::try_from(start + len).expect("SourcePool: slot index overflows u32");
        let slots: Box<[Slot<T, E>]> = (start as u32..end).map(|i| Slot::new(i, this)).collect();
        let base = Box::into_raw(slots).cast::<Slot<T, E>>();
        let installed = shared.chunks[chunk].compare_exchange(
            ptr::null_mut(),
            base,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if installed.is_err() {
            // SAFETY: `base` came from `Box::into_raw` above and was never published.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
            return None;
        }
        shared.capacity.fetch_add(len, Ordering::Relaxed);
        if len > 1 {
            // Link slots start+1 .. end into a chain, then push the chain at once.
            for offset in 1..len - 1 {
                // SAFETY: unpublished slots of the chunk we own.
                unsafe { &*base.add(offset) }
                    .next
                    .store(start as u32 + offset as u32 + 2, Ordering::Relaxed);
            }
            // SAFETY: as above.
            let last = unsafe { &*base.add(len - 1) };
            // SAFETY: as above.
            let first = unsafe { &*base.add(1) };
            shared.push_chain(first.index, last);
        }
        Some(start as u32)
    }

    fn pop(&self) -> Option<u32> {
        let mut head = self.free.load(Ordering::Acquire);
        loop {
            let top = (head & INDEX_MASK) as u32;
            if top == 0 {
                return None;
            }
            // SAFETY: indices on the free list belong to installed chunks. The slot may
            // be popped and rented by another thread meanwhile; `next` is atomic and the
            // tag makes our compare-and-swap fail then.
            let next = unsafe { &*self.slot(top - 1) }.next.load(Ordering::Relaxed);
            let new = (head & !INDEX_MASK).wrapping_add(TAG_ONE) | u64::from(next);
            match self
                .free
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(top - 1),
                Err(actual) => head = actual,
            }
        }
    }

    /// Pushes the chain of slots from index `first` to `last` (linked through `next`).
    fn push_chain(&self, first: u32, last: &Slot<T, E>) {
        let mut head = self.free.load(Ordering::Relaxed);
        loop {
            last.next
                .store((head & INDEX_MASK) as u32, Ordering::Relaxed);
            let new = (head & !INDEX_MASK).wrapping_add(TAG_ONE) | u64::from(first + 1);
            match self
                .free
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// Returns a recycled slot, its state reset to `next`, to this thread's cache (when
    /// `cache` allows and the cache takes it) or else to the free list.
    ///
    /// # Safety
    ///
    /// `this` is alive, `slot` is one of its slots, was rented, is recycled and is held
    /// by nobody; its count is given up.
    #[inline]
    pub(super) unsafe fn release_slot(
        this: *const Self,
        slot: *const Slot<T, E>,
        next: u64,
        cache: bool,
    ) {
        if cache {
            let entry = Entry {
                pool: this.cast(),
                slot: slot.cast(),
                flush: Self::flush,
            };
            let evicted = match local::put(entry) {
                Put::Cached => None,
                Put::Evicted(old) => Some(old),
                Put::Refused => {
                    // SAFETY: as this function's contract.
                    unsafe { Slot::set_free(slot, next, false) };
                    // SAFETY: as this function's contract.
                    unsafe { Self::flush(this.cast(), slot.cast()) };
                    return;
                }
            };
            // SAFETY: the slot is in our thread's cache now: we are alone with it.
            unsafe { Slot::set_free(slot, next, true) };
            if let Some(old) = evicted {
                // SAFETY: the evicted entry came out of the cache and is flushed once.
                unsafe { old.flush() };
            }
            return;
        }
        // SAFETY: as this function's contract.
        unsafe { Slot::set_free(slot, next, false) };
        // SAFETY: as this function's contract.
        unsafe { Self::flush(this.cast(), slot.cast()) };
    }

    /// Pushes a free slot on the free list and drops its count; frees the pool if that
    /// was the last count. The [`local::Flush`] of this pool.
    ///
    /// # Safety
    ///
    /// `pool` is a live `Shared<T, E>`, `slot` one of its free slots, held by nobody,
    /// whose count is given up.
    unsafe fn flush(pool: *const (), slot: *const ()) {
        let this = pool.cast::<Self>();
        // SAFETY: the slot's count keeps the pool alive until `release` below.
        let shared = unsafe { &*this };
        let slot = slot.cast::<Slot<T, E>>();
        // SAFETY: a free slot nobody else holds; a cached one loses its cache mark here.
        unsafe { Slot::set_free(slot, Slot::free_state(slot), false) };
        // SAFETY: a slot of this pool: alive as long as the pool.
        let slot = unsafe { &*slot };
        shared.push_chain(slot.index, slot);
        // SAFETY: this slot's count is the one we drop.
        unsafe { Self::release(this) };
    }

    /// Adds a pool handle.
    pub(super) fn acquire_handle(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
        self.refs.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a pool handle; frees the pool if nothing else holds it.
    ///
    /// # Safety
    ///
    /// The caller holds a handle and gives it up.
    pub(super) unsafe fn release_handle(this: *const Self) {
        // SAFETY: the caller's handle keeps the pool alive until `release`.
        if unsafe { &*this }.handles.fetch_sub(1, Ordering::Relaxed) == 1 {
            // The last handle: give back this thread's cached slot now rather than at
            // thread exit, so a single-threaded user sees the pool freed right here.
            if let Some(entry) = local::take_entry(this.cast()) {
                // SAFETY: the entry came out of the cache and is flushed once; its count
                // and our handle's keep the pool alive.
                unsafe { entry.flush() };
            }
        }
        // SAFETY: the caller's handle's count is the one we drop.
        unsafe { Self::release(this) };
    }

    /// Drops one count; the last frees the pool.
    ///
    /// # Safety
    ///
    /// The caller holds a count of `this` and gives it up.
    unsafe fn release(this: *const Self) {
        // SAFETY: the caller's count keeps the pool alive until this decrement.
        if unsafe { &(*this).refs }.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // The last count: see every other holder's writes before freeing.
        fence(Ordering::Acquire);
        // SAFETY: nobody holds the pool any more; it came from `Box::into_raw` in `new`.
        drop(unsafe { Box::from_raw(this.cast_mut()) });
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Counts the rented slots and the free slots in threads' caches, one slot at a
    /// time: the hot path keeps no counter for either.
    pub(super) fn census(&self) -> (usize, usize) {
        let mut rented = 0;
        let mut cached = 0;
        for (base, len) in self.installed() {
            // SAFETY: installed chunks hold `len` initialized slots for the pool's life.
            for slot in unsafe { std::slice::from_raw_parts(base, len) } {
                rented += usize::from(slot.is_rented());
                cached += usize::from(slot.is_cached());
            }
        }
        (rented, cached)
    }

    pub(super) fn chunks(&self) -> usize {
        self.installed().count()
    }

    /// The installed chunks: their first slot and length.
    fn installed(&self) -> impl Iterator<Item = (*const Slot<T, E>, usize)> + '_ {
        self.chunks
            .iter()
            .map(|chunk| chunk.load(Ordering::Acquire).cast_const())
            .take_while(|base| !base.is_null())
            .enumerate()
            .map(|(chunk, base)| (base, self.first_chunk << chunk))
    }
}

impl<T, E> Drop for Shared<T, E> {
    fn drop(&mut self) {
        for (chunk, base) in self.chunks.iter().enumerate() {
            let base = base.load(Ordering::Acquire);
            if base.is_null() {
                break;
            }
            let len = self.first_chunk << chunk;
            // SAFETY: installed chunks came from `Box::into_raw` of a slice of `len`
            // slots in `grow`, and nobody uses them any more.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
        }
    }
}
