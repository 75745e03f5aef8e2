//! A per-thread cache of free slots, so that a steady rent → complete → await loop on
//! one thread touches no shared atomic for the pool's bookkeeping: popping and pushing
//! here are plain loads and stores.
//!
//! The cache holds slots of one pool at a time (the pool this thread last recycled a
//! slot of), linked through the slots' [`Holder`]. It names that pool by its id, a
//! number no later pool gets (not by its address, which a later pool can reuse once
//! this one is freed), and takes its `flush` only with the id: a flush never runs on
//! another pool's slots. Only slots that this thread rented
//! come back here (the storage checks the slot's `home`), so a thread never parks
//! slots that another thread needs: a thread with at most `n` rentals alive at once
//! holds at most `n` slots, and a pool sized for its peak never grows later. Cached
//! slots keep their count on their pool, so the pool cannot be freed under the cache.
//! The cache gives its slots back to their pool when it fills up (half of them), when
//! the thread recycles a slot of another pool, when the pool's last handle is dropped on
//! this thread, and when the thread exits.
//!
//! Under loom the cache is off ([`current`] answers `None`): the models exercise the shared
//! free list instead.

#[cfg(not(valuetask_loom))]
use std::cell::Cell;
use std::ptr;

/// The most free slots a thread keeps.
#[cfg_attr(valuetask_loom, allow(dead_code))]
pub(super) const THREAD_CACHE_SLOTS: u32 = 64;

/// Storage bookkeeping kept in every slot (its first field), touched only by whoever
/// holds the slot alone.
#[derive(Clone, Copy, Debug)]
pub(super) struct Holder {
    /// In a thread's cache: the next cached slot, or null.
    pub(super) next_cached: *const (),
    /// The cache of the thread that rented the slot (that thread's identity), or null.
    pub(super) home: *const (),
}

impl Holder {
    pub(super) const EMPTY: Holder = Holder {
        next_cached: ptr::null(),
        home: ptr::null(),
    };
}

/// Gives a list of cached slots back to their pool.
pub(super) type Flush = unsafe fn(List);

/// Slots of one pool, out of a cache, to give back with `flush`.
#[derive(Debug)]
pub(super) struct List {
    pub(super) pool: *const (),
    pub(super) head: *const (),
    pub(super) len: u32,
    pub(super) flush: Flush,
}

impl List {
    /// Gives the slots back to their pool.
    ///
    /// # Safety
    ///
    /// The list came out of a cache (which owned it), and is flushed once.
    pub(super) unsafe fn flush(self) {
        // SAFETY: cached slots hold counts on their pool: both are alive.
        unsafe { (self.flush)(self) }
    }
}

/// What [`Cache::push`] did, and left for the caller to flush.
#[cfg_attr(valuetask_loom, allow(dead_code))]
pub(super) enum Pushed {
    /// The slot was not cached (the thread is exiting): give it back to its pool.
    Refused,
    /// The slot is cached.
    Kept,
    /// The slot is cached; give these back (another pool's slots, or the older half of
    /// a full cache).
    Spilled(List),
}

/// One thread's cache.
///
/// It has no `Drop` of its own, so that reaching it is a plain thread-local access with
/// no lazy-registration check on the hot path; a thread-exit hook registered on the
/// cache's first use flushes it when the thread exits, and closes it so that nothing is
/// cached after that.
#[derive(Debug)]
pub(super) struct Cache {
    #[cfg(not(valuetask_loom))]
    state: Cell<CacheState>,
    #[cfg(not(valuetask_loom))]
    pool: Cell<*const ()>,
    /// The id of the pool whose slots (and `flush`) the cache holds; 0 for none yet.
    #[cfg(not(valuetask_loom))]
    pool_id: Cell<u64>,
    #[cfg(not(valuetask_loom))]
    head: Cell<*const ()>,
    #[cfg(not(valuetask_loom))]
    len: Cell<u32>,
    #[cfg(not(valuetask_loom))]
    flush: Cell<Option<Flush>>,
}

/// The [`Holder`] at the start of a slot.
///
/// # Safety
///
/// `slot` is a slot (whose first field is its `UnsafeCell<Holder>`) held by the caller
/// alone.
#[cfg(not(valuetask_loom))]
unsafe fn holder(slot: *const ()) -> *mut Holder {
    slot.cast::<std::cell::UnsafeCell<Holder>>()
        .cast_mut()
        .cast()
}

/// Where a thread's cache is in its life.
#[cfg(not(valuetask_loom))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CacheState {
    /// Never held a slot: the exit guard is not registered yet.
    Unused,
    /// May hold slots; the exit guard will flush them.
    Guarded,
    /// The thread is exiting and the guard flushed the cache: it takes no more slots.
    Closed,
}

#[cfg(not(valuetask_loom))]
thread_local! {
    static CACHE: Cache = const {
        Cache {
            state: Cell::new(CacheState::Unused),
            pool: Cell::new(ptr::null()),
            pool_id: Cell::new(0),
            head: Cell::new(ptr::null()),
            len: Cell::new(0),
            flush: Cell::new(None),
        }
    };
}

/// Flushes this thread's cache and closes it when the thread exits. (`CACHE` has no
/// destructor, so it is still there while other thread-locals are being destroyed.)
#[cfg(not(valuetask_loom))]
fn close_on_exit() {
    CACHE.with(|cache| {
        cache.state.set(CacheState::Closed);
        if let Some(list) = cache.take_list() {
            // SAFETY: the list came out of the cache, once.
            unsafe { list.flush() };
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
    (cache.state.get() != CacheState::Closed).then_some(cache)
}

/// Under loom there is no thread cache.
#[cfg(valuetask_loom)]
pub(super) fn current() -> Option<&'static Cache> {
    None
}

#[cfg(not(valuetask_loom))]
impl Cache {
    /// This thread's identity, recorded in the slots it rents.
    #[inline(always)]
    pub(super) fn id(&self) -> *const () {
        ptr::from_ref(self).cast()
    }

    /// Pops a cached slot of the pool `pool_id`.
    #[inline(always)]
    pub(super) fn pop(&self, pool_id: u64) -> Option<*const ()> {
        let head = self.head.get();
        if self.pool_id.get() != pool_id || head.is_null() {
            return None;
        }
        // SAFETY: cached slots are free and this cache's alone.
        self.head.set(unsafe { (*holder(head)).next_cached });
        self.len.set(self.len.get() - 1);
        Some(head)
    }

    /// Pushes a free slot of `pool`, whose id is `pool_id`, which this thread rented.
    ///
    /// # Safety
    ///
    /// `slot` is a free slot of `pool`, held by nobody else, with a count on its pool
    /// that the cache takes over; `flush` gives slots of `pool` back.
    #[inline(always)]
    pub(super) unsafe fn push(
        &self,
        pool: *const (),
        pool_id: u64,
        slot: *const (),
        flush: Flush,
    ) -> Pushed {
        let mut pushed = Pushed::Kept;
        if self.state.get() == CacheState::Unused {
            // The first slot: make sure the thread's exit flushes the cache. A thread
            // already exiting cannot register the guard any more: then it caches nothing.
            if crate::thread_exit::on_exit(crate::thread_exit::CacheKind::Slots, close_on_exit)
                .is_err()
            {
                self.state.set(CacheState::Closed);
                return Pushed::Refused;
            }
            self.state.set(CacheState::Guarded);
        }
        if self.pool_id.get() != pool_id {
            if let Some(old) = self.take_list() {
                pushed = Pushed::Spilled(old);
            }
            self.pool_id.set(pool_id);
            self.flush.set(Some(flush));
        } else if self.len.get() == THREAD_CACHE_SLOTS {
            pushed = Pushed::Spilled(self.split_half());
        }
        // Always the caller's pointer, whose provenance is the live pool's.
        self.pool.set(pool);
        // SAFETY: the caller gives us the free slot.
        unsafe { (*holder(slot)).next_cached = self.head.get() };
        self.head.set(slot);
        self.len.set(self.len.get() + 1);
        pushed
    }

    /// Takes the older half of a full list out.
    fn split_half(&self) -> List {
        let keep = THREAD_CACHE_SLOTS / 2;
        let mut last = self.head.get();
        for _ in 1..keep {
            // SAFETY: cached slots are ours; fewer than `len` links are followed.
            last = unsafe { (*holder(last)).next_cached };
        }
        // SAFETY: as above; `last` is the `keep`th slot and has a successor.
        let rest = unsafe { std::mem::replace(&mut (*holder(last)).next_cached, ptr::null()) };
        let spilled = self.len.get() - keep;
        self.len.set(keep);
        List {
            pool: self.pool.get(),
            head: rest,
            len: spilled,
            flush: self
                .flush
                .get()
                .expect("a cache with slots knows their flush"),
        }
    }

    /// Takes every cached slot out, whatever their pool.
    pub(super) fn take_list(&self) -> Option<List> {
        let head = self.head.replace(ptr::null());
        if head.is_null() {
            return None;
        }
        Some(List {
            pool: self.pool.get(),
            head,
            len: self.len.replace(0),
            flush: self
                .flush
                .get()
                .expect("a cache with slots knows their flush"),
        })
    }

    /// Takes every cached slot out if they are the pool `pool_id`'s (at `pool`).
    pub(super) fn take_list_of(&self, pool: *const (), pool_id: u64) -> Option<List> {
        if self.pool_id.get() != pool_id {
            return None;
        }
        // The caller's pointer, not the cached one (see `push`).
        self.take_list().map(|list| List { pool, ..list })
    }
}

/// Under loom the cache is never reached ([`current`] answers `None`); these only let the
/// callers compile unchanged.
#[cfg(valuetask_loom)]
impl Cache {
    pub(super) fn id(&self) -> *const () {
        ptr::null()
    }
    pub(super) fn pop(&self, _pool_id: u64) -> Option<*const ()> {
        None
    }
    pub(super) unsafe fn push(
        &self,
        _pool: *const (),
        _pool_id: u64,
        _slot: *const (),
        _flush: Flush,
    ) -> Pushed {
        unreachable!("there is no thread cache under loom")
    }
    pub(super) fn take_list_of(&self, _pool: *const (), _pool_id: u64) -> Option<List> {
        None
    }
}
