//! [`SourcePool`]: recycled completion slots for operations completed elsewhere.

mod chunks;
mod completer;
mod free_list;
mod slot;
mod storage;
mod task_half;
mod thread_cache;

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

pub use self::completer::{Abandoned, Cancelled, Completer};
use self::storage::Storage;
use crate::task::ValueTask;

/// A pool of recycled completion slots: the pooled `IValueTaskSource` of .NET, for
/// request/response operations that are completed by another thread or an I/O callback.
///
/// [`rent`](Self::rent) hands out a slot as two halves: a [`ValueTask`] for the side that
/// awaits the result and a [`Completer`] for the side that produces it. When both halves
/// are done (whichever finishes last) the slot goes back to the pool, so in steady state
/// an operation allocates nothing, where a fresh oneshot channel would allocate once.
///
/// The pool grows in chunks when every slot is rented and never shrinks; a slot never
/// moves while rented. `SourcePool` is a cheap shared handle (`Clone`); its memory lives
/// until the last handle and the last rented half are gone, and until every thread
/// that cached some of its free slots let go of them. A thread keeps the slots it
/// rented and got back (up to 64, of the pool it last recycled a slot of) for its own
/// next rentals, with no atomic operation; it lets go of them when it recycles a slot
/// of another pool, when the pool's last handle is dropped on that thread, or when the
/// thread exits.
///
/// # Costs
///
/// A round trip that completes before the task is polled costs one atomic
/// read-modify-write (the completer's publication); one whose task waits first, three.
/// Renting and recycling on the same thread touch no shared atomic.
///
/// Every unhappy path resolves: a dropped [`Completer`] resolves its task to
/// `Err(E::from(Abandoned))`, a dropped task makes [`Completer::is_cancelled`] true and
/// hands the value back from [`Completer::complete`], and a value nobody read is dropped
/// when the last half goes.
///
/// # Examples
///
/// ```
/// use valuetask::{Abandoned, SourcePool};
///
/// let pool: SourcePool<String> = SourcePool::with_capacity(8);
/// let (task, completer) = pool.rent();
/// std::thread::spawn(move || completer.succeed("pong".to_string()).unwrap());
/// assert_eq!(futures::executor::block_on(task).as_deref(), Ok("pong"));
///
/// let (task, completer) = pool.rent();
/// drop(completer); // the producer gave up
/// assert_eq!(futures::executor::block_on(task), Err(Abandoned));
/// assert_eq!(pool.stats().in_use, 0);
/// ```
pub struct SourcePool<T, E = Abandoned> {
    storage: NonNull<Storage<T, E>>,
    _owns: PhantomData<Storage<T, E>>,
}

// SAFETY: the pool moves `T` and `E` between the threads of its halves and never shares
// a `&T` or `&E`; its own state is atomics and chunks that never move.
unsafe impl<T: Send, E: Send> Send for SourcePool<T, E> {}
// SAFETY: as for `Send`: `&SourcePool` only rents slots and reads stats, both thread-safe.
unsafe impl<T: Send, E: Send> Sync for SourcePool<T, E> {}

impl<T: Send, E: Send + From<Abandoned>> SourcePool<T, E> {
    /// An empty pool; the first rent allocates its first chunk of slots.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A pool with at least `capacity` slots allocated up front (a power of two, at
    /// least 16), so that `capacity` concurrent rentals allocate nothing.
    ///
    /// A thread keeps the slots it rented and got back in a small cache for its own next
    /// rentals, where other threads cannot rent them ([`PoolStats::cached`]): size the
    /// pool for the rentals alive at once, counting those a thread keeps.
    pub fn with_capacity(capacity: usize) -> Self {
        let storage = Storage::new(capacity, || E::from(Abandoned));
        Self {
            // SAFETY: `Storage::new` returns a pointer from `Box::into_raw`.
            storage: unsafe { NonNull::new_unchecked(storage.cast_mut()) },
            _owns: PhantomData,
        }
    }

    /// Rents a slot: the task to await and the completer to fulfil it.
    ///
    /// Allocates only when every slot is rented and the pool grows by a chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = valuetask::SourcePool::<u64>::new();
    /// let (task, completer) = pool.rent();
    /// assert!(!task.is_ready());
    /// completer.succeed(7).unwrap();
    /// assert_eq!(task.into_ready().ok(), Some(Ok(7)));
    /// ```
    #[inline]
    pub fn rent<'t>(&self) -> (ValueTask<'t, Result<T, E>>, Completer<T, E>)
    where
        T: 't,
        E: 't,
    {
        // SAFETY: `self` is a handle, which keeps the pool alive.
        let (task, completer) = unsafe { Storage::rent(self.storage.as_ptr()) };
        // SAFETY: `T: Send` and `E: Send`, so the task may move between threads.
        (unsafe { task_half::task(task) }, Completer::new(completer))
    }
}

impl<T, E> SourcePool<T, E> {
    /// How many slots the pool has, how many are rented and how many are free.
    ///
    /// It visits every slot (the hot path keeps no counters), so it costs time in
    /// proportion to the capacity: a call for monitoring, not for every request.
    pub fn stats(&self) -> PoolStats {
        // SAFETY: `self` is a handle, which keeps the pool alive.
        let storage = unsafe { self.storage.as_ref() };
        let capacity = storage.capacity();
        let census = storage.census();
        let in_use = census.rented.min(capacity);
        let cached = census.cached.min(capacity - in_use);
        PoolStats {
            capacity,
            in_use,
            cached,
            available: capacity - in_use - cached,
            chunks: storage.chunks(),
        }
    }
}

impl<T: Send, E: Send + From<Abandoned>> Default for SourcePool<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, E> Clone for SourcePool<T, E> {
    fn clone(&self) -> Self {
        // SAFETY: `self` is a handle, which keeps the pool alive.
        unsafe { self.storage.as_ref() }.add_handle();
        Self {
            storage: self.storage,
            _owns: PhantomData,
        }
    }
}

impl<T, E> Drop for SourcePool<T, E> {
    fn drop(&mut self) {
        // SAFETY: we give up this handle; rented halves keep their own counts.
        unsafe { Storage::drop_handle(self.storage.as_ptr()) };
    }
}

impl<T, E> fmt::Debug for SourcePool<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourcePool")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of a [`SourcePool`]'s size, for sizing it (`with_capacity`) and watching it.
///
/// Under concurrent use the fields are read one after another, not at one instant.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// Slots allocated. The pool never shrinks, so this is also the high-water mark of
    /// concurrent rentals, rounded up to whole chunks.
    pub capacity: usize,
    /// Slots rented now: a half of each is still alive.
    pub in_use: usize,
    /// Free slots kept in threads' caches: each thread keeps the slots it rented and got
    /// back (at most 64, of the pool it last recycled a slot of) for its next rentals.
    pub cached: usize,
    /// Free slots on the shared free list, rentable from any thread without growing:
    /// `capacity - in_use - cached`.
    pub available: usize,
    /// Chunks allocated; chunk `k` is twice the size of chunk `k - 1`.
    pub chunks: usize,
}
