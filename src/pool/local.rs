//! A per-thread cache of one free slot, so that a steady rent → complete → await loop on
//! one thread touches no shared atomics for the pool's bookkeeping.
//!
//! The cached slot keeps its count on its pool (it stays counted as if rented), so the
//! pool cannot be freed under the cache. The cache gives the slot back to its pool when
//! the thread caches a slot of another pool, when the pool's last handle is dropped on
//! this thread, and when the thread exits. Until one of those, a pool whose every
//! handle and half is gone keeps its memory: at most one pool per thread.
//!
//! Under loom the cache is off: it is single-threaded by construction, and the models
//! exercise the shared free list instead.

/// Gives a cached slot back to its pool: pushes it on the free list and drops its count.
pub(super) type Flush = unsafe fn(pool: *const (), slot: *const ());

#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) pool: *const (),
    pub(super) slot: *const (),
    pub(super) flush: Flush,
}

impl Entry {
    /// Gives the slot back to its pool.
    ///
    /// # Safety
    ///
    /// The entry came out of the cache (which owned it) and is used once.
    pub(super) unsafe fn flush(self) {
        // SAFETY: a cached slot holds a count on its pool, so both are alive; the caller
        // owns the entry.
        unsafe { (self.flush)(self.pool, self.slot) }
    }
}

/// What [`put`] did with a slot.
pub(super) enum Put {
    /// The slot is cached; it keeps its count.
    Cached,
    /// The slot is cached and this other pool's slot was pushed out: flush it.
    Evicted(Entry),
    /// Not cached (a slot of the same pool is cached already, or the thread is exiting):
    /// return it to its pool.
    Refused,
}

#[cfg(not(valuetask_loom))]
mod imp {
    use std::cell::Cell;

    use super::{Entry, Put};

    struct Cache(Cell<Option<Entry>>);

    impl Drop for Cache {
        fn drop(&mut self) {
            if let Some(entry) = self.0.take() {
                // SAFETY: the entry was the cache's, and is taken out once.
                unsafe { entry.flush() };
            }
        }
    }

    thread_local! {
        static CACHE: Cache = const { Cache(Cell::new(None)) };
    }

    /// Takes this thread's cached slot of `pool`, if there is one.
    #[inline]
    pub(in crate::pool) fn take(pool: *const ()) -> Option<*const ()> {
        CACHE
            .try_with(|cache| match cache.0.get() {
                Some(entry) if entry.pool == pool => {
                    cache.0.set(None);
                    Some(entry.slot)
                }
                _ => None,
            })
            .ok()
            .flatten()
    }

    /// Offers a recycled slot to this thread's cache.
    #[inline]
    pub(in crate::pool) fn put(entry: Entry) -> Put {
        CACHE
            .try_with(|cache| match cache.0.get() {
                None => {
                    cache.0.set(Some(entry));
                    Put::Cached
                }
                Some(old) if old.pool == entry.pool => Put::Refused,
                Some(old) => {
                    cache.0.set(Some(entry));
                    Put::Evicted(old)
                }
            })
            .unwrap_or(Put::Refused)
    }

    /// Takes this thread's cached slot if it belongs to `pool`, to flush it.
    pub(in crate::pool) fn take_entry(pool: *const ()) -> Option<Entry> {
        CACHE
            .try_with(|cache| match cache.0.get() {
                Some(entry) if entry.pool == pool => cache.0.take(),
                _ => None,
            })
            .ok()
            .flatten()
    }
}

#[cfg(valuetask_loom)]
mod imp {
    use super::{Entry, Put};

    pub(in crate::pool) fn take(_pool: *const ()) -> Option<*const ()> {
        None
    }

    pub(in crate::pool) fn put(_entry: Entry) -> Put {
        Put::Refused
    }

    pub(in crate::pool) fn take_entry(_pool: *const ()) -> Option<Entry> {
        None
    }
}

pub(super) use imp::{put, take, take_entry};
