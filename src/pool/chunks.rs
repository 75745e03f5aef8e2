//! Where a pool's slots live: chunks that never move. Chunk `k` holds
//! `first_chunk << k` slots, so slot indices map to chunks with a logarithm, and a
//! chunk, once installed, lives as long as the pool.

use std::ptr;

use super::slot::Slot;
use super::storage::{MAX_CHUNKS, Storage};
use crate::sync::Ordering;

/// What a census of the slots found.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Census {
    pub(super) rented: usize,
    pub(super) cached: usize,
}

impl<T, E> Storage<T, E> {
    /// The slot at `index`.
    ///
    /// # Safety
    ///
    /// `index` was handed out by this pool (its chunk is installed).
    pub(super) unsafe fn slot(&self, index: u32) -> *const Slot<T, E> {
        let (chunk, offset) = self.locate(index as usize);
        // ORDERING: Acquire pairs with the exchange that installed the chunk in `grow`.
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

    /// Installs chunk `chunk`, pushes all its slots but the first on the free list and
    /// returns the first; `None` if another thread installed that chunk first.
    ///
    /// # Safety
    ///
    /// `this` is alive.
    pub(super) unsafe fn grow(this: *const Self, chunk: usize) -> Option<u32> {
        // SAFETY: the caller keeps the pool alive.
        let storage = unsafe { &*this };
        let len = storage.first_chunk << chunk;
        let start = storage.first_chunk * ((1 << chunk) - 1);
        let end = u32::try_from(start + len).expect("SourcePool: slot index overflows u32");
        let slots: Box<[Slot<T, E>]> = (start as u32..end)
            .map(|i| Slot::new(i, this.cast()))
            .collect();
        let base = Box::into_raw(slots).cast::<Slot<T, E>>();
        // Link slots start+1 .. end into a chain while the chunk is ours alone, so that
        // between its install and the push of its slots (when a renter finding the
        // list empty would grow the next chunk for nothing) there is only one push.
        for offset in 1..len.saturating_sub(1) {
            // SAFETY: unpublished slots of the chunk we own.
            unsafe { &*base.add(offset) }
                .free_link()
                .store(start as u32 + offset as u32 + 2, Ordering::Relaxed);
        }
        let installed = storage.chunks[chunk].compare_exchange(
            ptr::null_mut(),
            base,
            // ORDERING: Release publishes the new slots to every `Acquire` load of the
            // chunk pointer; Acquire on failure to use the winner's chunk.
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if installed.is_err() {
            // SAFETY: `base` came from `Box::into_raw` above and was never published.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
            return None;
        }
        storage.capacity.fetch_add(len, Ordering::Relaxed);
        if len > 1 {
            // The chain was linked before the chunk was installed: push it at once.
            // SAFETY: a slot of the chunk we installed.
            let last = unsafe { &*base.add(len - 1) };
            storage.free.push_chain(start as u32 + 1, last.free_link());
        }
        Some(start as u32)
    }

    /// The index of the first chunk not installed, looking from `chunk` on (installed
    /// chunks are a prefix).
    pub(super) fn installed_from(&self, mut chunk: usize) -> usize {
        // ORDERING: Acquire, as in `slot`.
        while chunk < MAX_CHUNKS && !self.chunks[chunk].load(Ordering::Acquire).is_null() {
            chunk += 1;
        }
        chunk
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Counts the rented slots and the free slots in threads' caches, one slot at a
    /// time: the hot path keeps no counter for either.
    pub(super) fn census(&self) -> Census {
        let mut census = Census::default();
        for (base, len) in self.installed() {
            // SAFETY: installed chunks hold `len` initialized slots for the pool's life.
            for slot in unsafe { std::slice::from_raw_parts(base, len) } {
                let state = slot.snapshot();
                census.rented += usize::from(state.is_rented());
                census.cached += usize::from(state.is_cached());
            }
        }
        census
    }

    pub(super) fn chunks(&self) -> usize {
        self.installed().count()
    }

    /// The installed chunks: their first slot and length.
    fn installed(&self) -> impl Iterator<Item = (*const Slot<T, E>, usize)> + '_ {
        self.chunks
            .iter()
            // ORDERING: Acquire, as in `slot`.
            .map(|chunk| chunk.load(Ordering::Acquire).cast_const())
            .take_while(|base| !base.is_null())
            .enumerate()
            .map(|(chunk, base)| (base, self.first_chunk << chunk))
    }
}

impl<T, E> Drop for Storage<T, E> {
    fn drop(&mut self) {
        for (chunk, base) in self.chunks.iter().enumerate() {
            // ORDERING: `&mut self`: every other holder's Release decrement was acquired
            // by the fence before this drop.
            let base = base.load(Ordering::Relaxed);
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
