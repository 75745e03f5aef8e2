//! [`SourcePool`]: recycled completion slots for operations completed elsewhere.

mod local;
mod slot;
mod storage;

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use self::slot::Slot;
use self::storage::Shared;
use crate::raw::RawTask;
use crate::task::ValueTask;

/// A pool of recycled completion slots: the article's pooled `IValueTaskSource`, for
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
/// that cached one of its free slots let go of it: a thread keeps at most one free slot
/// (of the pool it last recycled a slot of) and lets go of it when it recycles a slot
/// of another pool, when the pool's last handle is dropped on that thread, or when the
/// thread exits.
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
    shared: NonNull<Shared<T, E>>,
    _owns: PhantomData<Shared<T, E>>,
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
    /// Leave one slot of headroom per thread that awaits pooled tasks: a thread keeps
    /// the last slot its task released in a small cache for its own next rent, where
    /// other threads cannot rent it ([`PoolStats::cached`]).
    pub fn with_capacity(capacity: usize) -> Self {
        let shared = Shared::new(capacity, || E::from(Abandoned));
        Self {
            // SAFETY: `Shared::new` returns a pointer from `Box::into_raw`.
            shared: unsafe { NonNull::new_unchecked(shared.cast_mut()) },
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
        let slot = unsafe { Shared::rent(self.shared.as_ptr()) };
        // SAFETY: a freshly rented slot is held by these two halves alone; its vtable's
        // functions are sound from any thread since `T` and `E` are `Send`.
        let task = unsafe {
            RawTask::new(
                NonNull::new_unchecked(slot.cast_mut()).cast(),
                Slot::<T, E>::TASK_VTABLE,
            )
        };
        let completer = Completer {
            // SAFETY: `rent` returns a pointer into an installed chunk.
            slot: unsafe { NonNull::new_unchecked(slot.cast_mut()) },
            _owns: PhantomData,
        };
        (ValueTask::from_raw(task), completer)
    }
}

impl<T, E> SourcePool<T, E> {
    /// How many slots the pool has, how many are rented and how many are free.
    ///
    /// It visits every slot (the hot path keeps no counters), so it costs time in
    /// proportion to the capacity: a call for monitoring, not for every request.
    pub fn stats(&self) -> PoolStats {
        // SAFETY: `self` is a handle, which keeps the pool alive.
        let shared = unsafe { self.shared.as_ref() };
        let capacity = shared.capacity();
        let (in_use, cached) = shared.census();
        let in_use = in_use.min(capacity);
        let cached = cached.min(capacity - in_use);
        PoolStats {
            capacity,
            in_use,
            cached,
            available: capacity - in_use - cached,
            chunks: shared.chunks(),
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
        unsafe { self.shared.as_ref() }.acquire_handle();
        Self {
            shared: self.shared,
            _owns: PhantomData,
        }
    }
}

impl<T, E> Drop for SourcePool<T, E> {
    fn drop(&mut self) {
        // SAFETY: we give up this handle; rented halves keep their own counts.
        unsafe { Shared::release_handle(self.shared.as_ptr()) };
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
    /// Free slots kept in threads' caches: each thread keeps at most one, of the pool it
    /// last recycled a slot of, for its next rent.
    pub cached: usize,
    /// Free slots on the shared free list, rentable from any thread without growing:
    /// `capacity - in_use - cached`.
    pub available: usize,
    /// Chunks allocated; chunk `k` is twice the size of chunk `k - 1`.
    pub chunks: usize,
}

/// The producer half of a rented slot: completes its [`ValueTask`] once.
///
/// Dropping it without completing resolves the task to `Err(E::from(Abandoned))`, so a
/// waiter never hangs on a producer that gave up or panicked.
#[must_use = "dropping a Completer resolves its task to Err(Abandoned)"]
pub struct Completer<T, E = Abandoned> {
    slot: NonNull<Slot<T, E>>,
    _owns: PhantomData<Result<T, E>>,
}

// SAFETY: the completer moves its `Result<T, E>` into the slot for another thread;
// `T: Send` and `E: Send` make that sound.
unsafe impl<T: Send, E: Send> Send for Completer<T, E> {}
// SAFETY: `&Completer` only reads an atomic flag.
unsafe impl<T: Send, E: Send> Sync for Completer<T, E> {}

impl<T, E> Completer<T, E> {
    /// Completes the task with `result` and wakes it.
    ///
    /// Returns `Err(result)` when the task was dropped: nobody would read the result, so
    /// it comes back to you.
    pub fn complete(self, result: Result<T, E>) -> Result<(), Result<T, E>> {
        let this = ManuallyDrop::new(self);
        // SAFETY: we hold the completer half and give it up here, once: `this` is not
        // dropped.
        unsafe { Slot::complete(this.slot.as_ptr(), result) }
    }

    /// Completes the task with `Ok(value)`; `Err(value)` if the task was dropped.
    pub fn succeed(self, value: T) -> Result<(), T> {
        self.complete(Ok(value)).map_err(|result| match result {
            Ok(value) => value,
            Err(_) => unreachable!("complete returns the result it was given"),
        })
    }

    /// Completes the task with `Err(error)`; `Err(error)` back if the task was dropped.
    pub fn fail(self, error: E) -> Result<(), E> {
        self.complete(Err(error)).map_err(|result| match result {
            Err(error) => error,
            Ok(_) => unreachable!("complete returns the result it was given"),
        })
    }

    /// Whether the task was dropped: nobody will read the result, and the work may be
    /// skipped.
    pub fn is_cancelled(&self) -> bool {
        // SAFETY: we hold the completer half.
        unsafe { Slot::is_task_gone(self.slot.as_ptr()) }
    }
}

impl<T, E> Drop for Completer<T, E> {
    fn drop(&mut self) {
        let slot = self.slot.as_ptr().cast_const();
        // SAFETY: we hold the completer half, which keeps the slot and its pool alive.
        let abandoned = unsafe { (*(*slot).shared).abandoned };
        // SAFETY: we hold the completer half and give it up here, once.
        let _ = unsafe { Slot::complete(slot, Err(abandoned())) };
    }
}

impl<T, E> fmt::Debug for Completer<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completer")
            // SAFETY: we hold the completer half.
            .field("generation", &unsafe {
                Slot::generation(self.slot.as_ptr())
            })
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The error a task resolves to when its [`Completer`] was dropped without completing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Abandoned;

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the completer was dropped without completing the operation")
    }
}

impl Error for Abandoned {}
