//! The pool slot's protocol, whole: the slot's cells, its state word, the state diagram,
//! every named transition and every atomic step its two halves take.
//!
//! A rented slot has exactly two owners: its task ([`TaskHalf`], inside a `ValueTask`'s
//! raw repr) and its completer ([`CompleterHalf`], inside a `Completer`). Neither can be
//! cloned, so each side knows it is alone on its side; the types carry that, and the
//! steps below are safe methods on them. A step that leaves the slot says whether it
//! was the last to leave ([`Departure`]); the last one gets the slot alone
//! ([`Vacated`]) and hands it to its storage for recycling. Recycling may free the whole
//! pool, so no reference into a slot outlives the step that gives a half up: the halves
//! hold a raw pointer and each step borrows one field for one expression.
//!
//! Safe code can run these at the same moment on one rental: one of the task's poll,
//! drop, `into_ready` or `is_ready` (a task is not `Sync`: one at a time); the
//! completer's `complete` or drop (they consume it), or, while it lives, `is_cancelled`
//! and any number of `cancelled()` futures polled on any number of threads (they borrow
//! it); and `stats` loading every slot's word.
//!
//! # The state word
//!
//! One `u64`: the generation of the current rental in the high 32 bits (the token; it
//! changes only while the slot is free), the flags of [`State`] in the low bits.
//!
//! # The state diagram
//!
//! One rental, from the renter's store to the last half's departure. `T:` marks a step
//! of the task, `C:` one of the completer, `R:` one of a `cancelled()` poll (it runs on
//! the completer's side, borrowing it); the step's name follows, as in the code. Flags
//! not named stay as they are.
//!
//! ```text
//!  free (generation n) ── lease (renter, alone) ──▶ RENTED
//!
//!  The result, seen from the task:
//!
//!   RENTED ── T: register_waker (store, then RMW) ──▶ +WAKER ◀─┐
//!     │                                              │  │       │ T: reclaim_waker (CAS -WAKER),
//!     │                                              │  └───────┘    store another, +WAKER again
//!     │ C: publish (CAS                              │
//!     │    +COMPLETE +COMPLETER_GONE)                │ C: publish_taking_waker (CAS +COMPLETE -WAKER)
//!     ▼                                              ▼
//!   +COMPLETE +COMPLETER_GONE ◀── C: leave_after_waking (RMW +COMPLETER_GONE), then wake
//!     │
//!     │ T: poll sees COMPLETE (load); takes the value; completer gone: last, no RMW
//!     │    (not gone yet: T: leave_with_value, RMW +TAKEN +TASK_GONE; last if it
//!     │     finds COMPLETER_GONE in the word it replaced)
//!     ▼
//!   vacated ── last half: recycle ──▶ free (generation n + 1), +CACHED if a thread keeps it
//!
//!  The task leaving without its result (drop), from any state without COMPLETE:
//!
//!   ── T: leave_unread (CAS +TASK_GONE) ──▶ +TASK_GONE: C's complete sees it (its load,
//!        or its publish CAS failing on it), takes its value back (Err(value)) and,
//!        alone, is last without an RMW
//!   ── T: leave_unread when CANCEL_WAKER (CAS +TASK_GONE +CANCEL_WAKING) ──▶ T takes the
//!        cancel waker; T: end_cancel_waking (RMW -CANCEL_WAKING), then wakes it; whoever
//!        of T (finding COMPLETER_GONE) and C (C: leave_after_task, RMW +COMPLETER_GONE,
//!        finding CANCEL_WAKING gone) is second is last
//!
//!  The completer's cancel waker (`cancelled()` polled), only while T is not gone:
//!
//!   ── R: claim_cancel_cell (CAS +CANCEL_REGISTERING -CANCEL_WAKER) ──▶ R alone with the
//!        cell: takes the old waker out, stores its own (another R finding the claim
//!        held wakes its own task to poll again: Pending)
//!   ── R: register_cancel_waker (CAS -CANCEL_REGISTERING +CANCEL_WAKER) ──▶ T's drop takes
//!        it; the old waker is dropped (one `cancelled()` waits at a time)
//!   ── R: finding TASK_GONE instead, release_cancel_cell (RMW -CANCEL_REGISTERING), takes
//!        its waker back, wakes the old one (its future waited for this): Ready
//!   ── C: publish takes a registered cancel waker back (-CANCEL_WAKER in the same CAS)
//! ```
//!
//! Per rental, in atomic read-modify-writes: complete then poll costs one (the
//! completer's `publish`); poll then complete costs three (the task's `register_waker`,
//! the completer's `publish_taking_waker` and `leave_after_waking`); either side finding
//! the other gone with a load is alone with the slot and needs none.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::thread_cache::Holder;
use crate::state_word::state_word;
use crate::sync::{AtomicU32, AtomicU64, Ordering, UnsafeCell, spin};

state_word! {
    /// A snapshot of a slot's state word.
    pub(super) struct State {
        /// The value cell holds the result. The completer wrote it and touches it no
        /// more; the task may move it out.
        COMPLETE = 0 => is_complete, with_complete;
        /// The task moved the result out of the value cell.
        TAKEN = 1 => is_taken, with_taken;
        /// The task's waker cell holds the task's waker. While it is set the task only
        /// reads the cell, and only the completer may clear it (in the step that sets
        /// `COMPLETE`), taking the waker; or the task clears it by compare-and-swap,
        /// before `COMPLETE`, to take it back and store another.
        WAKER = 2 => has_waker, with_waker;
        /// The task is gone: its result was taken or it was dropped. The task touches
        /// neither the word nor a cell after setting it (but with `CANCEL_WAKING`).
        TASK_GONE = 3 => is_task_gone, with_task_gone;
        /// The completer is gone: it completed (and finished with the waker) or was
        /// dropped. It touches neither the word nor a cell after setting it.
        COMPLETER_GONE = 4 => is_completer_gone, with_completer_gone;
        /// The cancel waker cell holds the waker of a `Completer::cancelled` future. Set
        /// by a `cancelled` poll that claimed the cell; the task's drop takes it
        /// (setting `TASK_GONE` and `CANCEL_WAKING` in the same step), a later poll
        /// claims it back, or `complete` takes it back as it publishes.
        CANCEL_WAKER = 5 => has_cancel_waker, with_cancel_waker;
        /// The slot is rented: set by the renter (alone with the slot), cleared on
        /// recycling.
        RENTED = 6 => is_rented, with_rented;
        /// The slot is free in a thread's cache; set and cleared by that thread alone.
        CACHED = 7 => is_cached, with_cached;
        /// The task, leaving, took the cancel waker and is still waking it: the
        /// completer, even if it leaves next, is not the last out; the task clears this
        /// flag when it is done and recycles the slot if the completer left meanwhile.
        CANCEL_WAKING = 8 => is_cancel_waking, with_cancel_waking;
        /// A `cancelled` poll holds the cancel waker cell (`CANCEL_WAKER` is clear
        /// meanwhile): it replaces the waker there; other polls stay out of the cell
        /// and the task's drop leaves it alone.
        CANCEL_REGISTERING = 9 claim => is_cancel_registering, with_cancel_registering;
    }
}

/// The named transitions: each is the word a step moves to from the word it checked.
impl State {
    /// The task leaving with its result, by read-modify-write (`fetch_or`).
    const LEFT_WITH_VALUE: State = State::TAKEN.union(State::TASK_GONE);

    /// A free slot rented: the renter's plain store.
    const fn leased(self) -> Self {
        self.without(State::CACHED).with_rented()
    }

    /// The free state of the next rental.
    const fn next_free(self) -> Self {
        Self::fresh(self.token().next())
    }

    /// A free slot put on `shelf`: `CACHED` says whether a thread's cache keeps it.
    const fn shelved(self, shelf: Shelf) -> Self {
        match shelf {
            Shelf::ThreadCache => self.with_cached(),
            Shelf::FreeList => self.without(State::CACHED),
        }
    }

    /// The word the task's `register_waker` left when it found `COMPLETE` in `before`.
    const fn waker_registered_late(before: State) -> Self {
        before.with_waker()
    }

    /// The last word of a rental the task left by `leave_with_value`, from the word it
    /// saw or replaced.
    const fn left_with_value(self) -> Self {
        self.union(State::LEFT_WITH_VALUE)
    }

    /// The last word of a rental the completer left, from the word it saw or replaced.
    const fn completer_left(self) -> Self {
        self.with_completer_gone()
    }

    /// The last word of a rental the task left unread, with no cancel waker to wake.
    const fn task_left(self) -> Self {
        self.with_task_gone()
    }

    /// The last word of a rental whose task finished waking the cancel waker, from the
    /// word its `end_cancel_waking` replaced.
    const fn cancel_waking_ended(self) -> Self {
        self.without(State::CANCEL_WAKING)
    }

    /// The completer publishes its result and leaves in one step (no waker to wake);
    /// a cancel waker of its own comes back to it.
    const fn published(self) -> Self {
        self.without(State::CANCEL_WAKER)
            .with_complete()
            .with_completer_gone()
    }

    /// The completer publishes its result and takes the task's waker (and its own cancel
    /// waker) to wake it before it leaves.
    const fn published_taking_waker(self) -> Self {
        self.without(State::CANCEL_WAKER.union(State::WAKER))
            .with_complete()
    }

    /// The task takes its stored waker back to store another.
    const fn waker_reclaimed(self) -> Self {
        self.without(State::WAKER)
    }

    /// The task leaves without its result; it takes the cancel waker when one waits.
    const fn left_unread(self) -> Self {
        if self.has_cancel_waker() {
            self.with_task_gone().with_cancel_waking()
        } else {
            self.with_task_gone()
        }
    }

    /// A `cancelled` poll claims the cancel waker cell (and any waker in it).
    const fn cancel_cell_claimed(self) -> Self {
        self.without(State::CANCEL_WAKER).with_cancel_registering()
    }

    /// A `cancelled` poll leaves its waker in the cell for the task's drop.
    const fn cancel_waker_registered(self) -> Self {
        self.without(State::CANCEL_REGISTERING).with_cancel_waker()
    }

    /// Whether the result is there for the task: completed and not yet taken.
    const fn has_unread_value(self) -> bool {
        self.is_complete() && !self.is_taken()
    }
}

/// How many times a task that found its result waits for the completer to finish
/// leaving before it leaves first; bounded, so a preempted completer costs nothing more.
/// (None under loom, where a spin yields to the completer: the models must reach the
/// task leaving first.)
const COMPLETER_SPINS: u32 = if cfg!(valuetask_loom) { 0 } else { 16 };

/// `repr(C)` so that `holder` comes first: the thread cache reaches it through a
/// type-erased slot pointer.
#[repr(C)]
pub(super) struct Slot<T, E> {
    /// Storage bookkeeping that only the slot's exclusive holder touches: the thread
    /// cache's link and the renting thread.
    holder: std::cell::UnsafeCell<Holder>,
    state: AtomicU64,
    value: UnsafeCell<MaybeUninit<Result<T, E>>>,
    task_waker: UnsafeCell<MaybeUninit<Waker>>,
    cancel_waker: UnsafeCell<MaybeUninit<Waker>>,
    /// The free list's link: the next free slot's index plus one, 0 for none.
    next_free: AtomicU32,
    /// This slot's index in its pool.
    index: u32,
    /// The pool's storage, type-erased (it outlives every rented slot).
    pool: *const (),
}

impl<T, E> Slot<T, E> {
    pub(super) fn new(index: u32, pool: *const ()) -> Self {
        Self {
            holder: std::cell::UnsafeCell::new(Holder::EMPTY),
            state: AtomicU64::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            task_waker: UnsafeCell::new(MaybeUninit::uninit()),
            cancel_waker: UnsafeCell::new(MaybeUninit::uninit()),
            next_free: AtomicU32::new(0),
            index,
            pool,
        }
    }

    /// This slot's index in its pool.
    pub(super) fn index(&self) -> u32 {
        self.index
    }

    /// The free list's link in this slot (the free list's to read and write).
    pub(super) fn free_link(&self) -> &AtomicU32 {
        &self.next_free
    }

    /// The storage bookkeeping of a slot.
    ///
    /// # Safety
    ///
    /// The caller is alone with `slot` (free in its hands), for as long as it uses the
    /// pointer.
    pub(super) unsafe fn holder(slot: *const Self) -> *mut Holder {
        // SAFETY: a slot of a live pool; the caller's exclusivity covers the use.
        unsafe { (*slot).holder.get() }
    }

    /// A snapshot of the state, for statistics and `Debug`.
    pub(super) fn snapshot(&self) -> State {
        State::from_bits(self.state.load(Ordering::Relaxed))
    }

    // -----------------------------------------------------------------------------------
    // A free slot: the storage's, alone
    // -----------------------------------------------------------------------------------

    /// Marks a free slot as put on `shelf`.
    ///
    /// # Safety
    ///
    /// The caller is alone with `slot`: it is free in the caller's hands (just popped,
    /// or in the caller's thread cache).
    pub(super) unsafe fn shelve(slot: *const Self, shelf: Shelf) {
        // SAFETY: the caller is alone with the slot.
        let word = unsafe { &(*slot).state };
        let free = State::from_bits(word.load(Ordering::Relaxed));
        let free = free.shelved(shelf);
        // A plain store: a free slot is in one holder's hands (the cache's thread, or
        // whoever popped or is pushing it); `stats` only loads the word, and handing the
        // slot to another thread later (a free-list push, a rental's halves) synchronizes,
        // so Relaxed is enough.
        word.store(free.bits(), Ordering::Relaxed);
    }

    /// Rents a free slot out: marks it rented by the cache `home` and makes its halves.
    ///
    /// # Safety
    ///
    /// `slot` is a slot of a live pool, free and in the caller's hands alone, with a
    /// count on its pool that the halves take over.
    #[inline(always)]
    pub(super) unsafe fn lease(
        slot: *const Self,
        home: *const (),
    ) -> (TaskHalf<T, E>, CompleterHalf<T, E>) {
        // SAFETY: the caller is alone with the slot.
        unsafe { (*Self::holder(slot)).home = home };
        // SAFETY: as above.
        let word = unsafe { &(*slot).state };
        let free = State::from_bits(word.load(Ordering::Relaxed));
        // A plain store: the slot is free and the caller's alone (popped from the free
        // list, whose Acquire pop made its last recycling visible, or from this thread's
        // cache); no half exists yet, and `stats` only loads. The halves reach other
        // threads through whatever sends them, which synchronizes.
        word.store(free.leased().bits(), Ordering::Relaxed);
        // SAFETY: a slot pointer is never null.
        let slot = unsafe { NonNull::new_unchecked(slot.cast_mut()) };
        (
            TaskHalf {
                slot,
                _owns: PhantomData,
            },
            CompleterHalf {
                slot,
                _owns: PhantomData,
            },
        )
    }

    // -----------------------------------------------------------------------------------
    // The cells, each access named, with what makes it sound
    // -----------------------------------------------------------------------------------

    /// # Safety
    ///
    /// The caller is the completer before `COMPLETE`: the value cell is its, empty.
    #[inline(always)]
    unsafe fn write_value(slot: *const Self, result: Result<T, E>) {
        // SAFETY: as this function's contract.
        unsafe { (*slot).value.with_mut(|cell| (*cell).write(result)) };
    }

    /// # Safety
    ///
    /// The cell holds a value that the caller now owns: the task after `COMPLETE`, the
    /// completer taking back a value it never published, or the last half recycling.
    #[inline(always)]
    unsafe fn take_value(slot: *const Self) -> Result<T, E> {
        // SAFETY: as this function's contract.
        unsafe { (*slot).value.with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// `WAKER` is clear and the caller is the task before `COMPLETE`: the cell is its,
    /// empty.
    #[inline(always)]
    unsafe fn write_task_waker(slot: *const Self, waker: Waker) {
        // SAFETY: as this function's contract.
        unsafe { (*slot).task_waker.with_mut(|cell| (*cell).write(waker)) };
    }

    /// # Safety
    ///
    /// The cell holds a waker that the caller now owns: it cleared `WAKER` while it was
    /// set, or is the last half and `WAKER` was set at the end.
    #[inline(always)]
    unsafe fn take_task_waker(slot: *const Self) -> Waker {
        // SAFETY: as this function's contract.
        unsafe { (*slot).task_waker.with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// `WAKER` is set and the caller is the task: the cell holds a waker that nobody
    /// writes or frees until the task clears the flag (the completer, taking it, only
    /// copies it out).
    #[inline(always)]
    unsafe fn task_waker_wakes(slot: *const Self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        unsafe {
            (*slot)
                .task_waker
                .with(|cell| (*cell).assume_init_ref().will_wake(waker))
        }
    }

    /// # Safety
    ///
    /// The caller holds the cancel waker cell (`CANCEL_REGISTERING` is its claim) and
    /// the cell is empty.
    unsafe fn write_cancel_waker(slot: *const Self, waker: Waker) {
        // SAFETY: as this function's contract.
        unsafe { (*slot).cancel_waker.with_mut(|cell| (*cell).write(waker)) };
    }

    /// # Safety
    ///
    /// The cell holds a waker that the caller now owns: a `cancelled` poll that claimed
    /// it, the task's drop that set `TASK_GONE` with `CANCEL_WAKING`, or the completer
    /// that cleared `CANCEL_WAKER` as it published.
    unsafe fn take_cancel_waker(slot: *const Self) -> Waker {
        // SAFETY: as this function's contract.
        unsafe { (*slot).cancel_waker.with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// The caller holds the cancel waker cell and it holds a waker.
    unsafe fn cancel_waker_wakes(slot: *const Self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        unsafe {
            (*slot)
                .cancel_waker
                .with(|cell| (*cell).assume_init_ref().will_wake(waker))
        }
    }
}

impl<T, E> Drop for Slot<T, E> {
    /// A pool is freed only when no slot is rented, so there is nothing left to drop:
    /// recycling emptied every slot.
    fn drop(&mut self) {
        debug_assert!(!self.snapshot().is_rented());
    }
}

/// Where a recycled slot goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Shelf {
    /// The cache of the thread that rented it.
    ThreadCache,
    /// The pool's shared free list.
    FreeList,
}

/// Whether a half that just left was the last of the two: then it alone holds the slot.
#[must_use]
pub(super) enum Departure<T, E> {
    /// The other half left first: the slot is this half's alone, to recycle.
    Last(Vacated<T, E>),
    /// The other half is still there and will recycle.
    NotLast,
}

/// A slot both halves left: the last one holds it alone, in its final state.
#[must_use]
pub(super) struct Vacated<T, E> {
    slot: NonNull<Slot<T, E>>,
    last: State,
}

/// What was left in a slot when its last half left: dropped after the slot is back in
/// its pool, so that user code never runs while the slot is held.
pub(super) struct Leftovers<T, E> {
    _value: Option<Result<T, E>>,
    _waker: Option<Waker>,
}

impl<T, E> Vacated<T, E> {
    /// The slot's pool's storage, type-erased.
    pub(super) fn pool(&self) -> *const () {
        // SAFETY: the slot's count keeps its pool, and so the slot, alive.
        unsafe { (*self.slot.as_ptr()).pool }
    }

    /// The cache of the thread that rented the slot.
    pub(super) fn home(&self) -> *const () {
        // SAFETY: we are alone with the slot.
        unsafe { (*Slot::holder(self.slot.as_ptr())).home }
    }

    /// Empties the slot and moves it to the next generation's free state on `shelf`;
    /// returns the free slot, to be put there, and what the rental left, to be dropped
    /// after.
    #[inline(always)]
    pub(super) fn empty(self, shelf: Shelf) -> (*const Slot<T, E>, Leftovers<T, E>) {
        let slot = self.slot.as_ptr().cast_const();
        let last = self.last;
        let leftovers = Leftovers {
            // SAFETY: both halves are gone: an unread value is initialized and ours.
            _value: last
                .has_unread_value()
                .then(|| unsafe { Slot::take_value(slot) }),
            // SAFETY: `WAKER` set at the end: the cell holds the task's waker, ours.
            _waker: last
                .has_waker()
                .then(|| unsafe { Slot::take_task_waker(slot) }),
        };
        let free = last.next_free().shelved(shelf);
        // A plain store: both halves left, they touch the word no more, no renter can
        // see the slot until it is pushed where it goes, and `stats` only loads.
        // SAFETY: we are alone with the slot.
        unsafe { &(*slot).state }.store(free.bits(), Ordering::Relaxed);
        (slot, leftovers)
    }
}

// ---------------------------------------------------------------------------------------
// The task half
// ---------------------------------------------------------------------------------------

/// What a task's poll came to.
pub(super) enum Polled<T, E> {
    /// The result; the task half is given up, and the departure says whether it was the
    /// last.
    Ready(Result<T, E>, Departure<T, E>),
    /// No result yet: the task half comes back, with its waker stored.
    Pending(TaskHalf<T, E>),
}

/// The task's hold on a rented slot. Only one exists per rental; it is not `Clone`.
pub(super) struct TaskHalf<T, E> {
    slot: NonNull<Slot<T, E>>,
    _owns: PhantomData<Result<T, E>>,
}

impl<T, E> TaskHalf<T, E> {
    /// The raw pointer the task half is carried as (in a `RawTask`).
    pub(super) fn into_raw(self) -> NonNull<()> {
        self.slot.cast()
    }

    /// The task half back from its raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`into_raw`](Self::into_raw) of a task half of a `Slot<T, E>` that
    /// the caller still holds (it was not given up by a `Ready` poll or a discard); the
    /// caller uses the hold only through the returned value while it lives.
    #[inline(always)]
    pub(super) unsafe fn from_raw(ptr: NonNull<()>) -> Self {
        Self {
            slot: ptr.cast(),
            _owns: PhantomData,
        }
    }

    fn slot(&self) -> *const Slot<T, E> {
        self.slot.as_ptr().cast_const()
    }

    fn word(&self) -> &AtomicU64 {
        // SAFETY: the task half keeps the slot alive while it is held.
        unsafe { &(*self.slot()).state }
    }

    /// Whether the result is there.
    pub(super) fn is_ready(&self) -> bool {
        // Relaxed: a flag, no cell is read after it; the poll that takes the value loads
        // the word again with Acquire.
        State::from_bits(self.word().load(Ordering::Relaxed)).is_complete()
    }

    /// Polls for the result. On `Ready` the task half is given up, and the departure says
    /// whether it was the last; on `Pending` it comes back.
    #[inline(always)]
    pub(super) fn poll(self, cx: &mut Context<'_>) -> Polled<T, E> {
        // ORDERING: Acquire pairs with the completer's Release `publish`: seeing
        // `COMPLETE` we see the value.
        let mut state = State::from_bits(self.word().load(Ordering::Acquire));
        loop {
            if state.is_complete() {
                // SAFETY: `COMPLETE`, seen with Acquire: the value is there and ours.
                let result = unsafe { Slot::take_value(self.slot()) };
                return Polled::Ready(result, self.leave_with_value(state));
            }
            if state.has_waker() {
                // SAFETY: `WAKER` is set and we are the task.
                if unsafe { Slot::task_waker_wakes(self.slot(), cx.waker()) } {
                    return Polled::Pending(self);
                }
                // reclaim_waker: checked `WAKER` set, `COMPLETE` clear; fails if the
                // completer took the waker as it published.
                let reclaimed = state.waker_reclaimed();
                // ORDERING: Acquire on both outcomes pairs with the completer's Release
                // `publish`, in case we find `COMPLETE`. No Release: we publish nothing.
                match self.word().compare_exchange_weak(
                    state.bits(),
                    reclaimed.bits(),
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // SAFETY: we cleared `WAKER` before the completer took the waker:
                        // the old waker and the cell are ours again.
                        drop(unsafe { Slot::take_task_waker(self.slot()) });
                        state = reclaimed;
                    }
                    Err(now) => state = State::from_bits(now),
                }
                continue;
            }
            // SAFETY: `WAKER` and `COMPLETE` are clear: the cell is ours, empty.
            unsafe { Slot::write_task_waker(self.slot(), cx.waker().clone()) };
            // register_waker: only the task sets `WAKER`, and it is clear, so an RMW that
            // sets it cannot undo anybody's step; what it replaced is checked below.
            // ORDERING: Release publishes the waker to the completer's Acquire
            // `publish_taking_waker`; Acquire pairs with its Release `publish`, in case
            // it published meanwhile.
            let before =
                State::from_bits(self.word().fetch_or(State::WAKER.bits(), Ordering::AcqRel));
            debug_assert!(!before.has_waker(), "only the task sets WAKER");
            if !before.is_complete() {
                return Polled::Pending(self);
            }
            // Completed while we stored the waker: the completer did not see it, so the
            // result is ours on the next turn; recycling drops the waker.
            state = State::waker_registered_late(before);
        }
    }

    /// The task leaves with the value, having seen `COMPLETE` in `seen`.
    #[inline(always)]
    fn leave_with_value(self, seen: State) -> Departure<T, E> {
        let mut state = seen;
        if !state.is_completer_gone() {
            // The completer is a few instructions from leaving (it is waking us). Wait
            // for it a little, so that we leave last without a read-modify-write and the
            // slot goes back to this thread.
            for _ in 0..COMPLETER_SPINS {
                spin();
                // ORDERING: Acquire pairs with the completer's Release
                // `leave_after_waking`: seeing it gone, we see all it did to the slot.
                state = State::from_bits(self.word().load(Ordering::Acquire));
                if state.is_completer_gone() {
                    break;
                }
            }
        }
        if state.is_completer_gone() {
            // No RMW: the completer is gone and touches the word no more; nobody else
            // writes it while the slot is rented (`stats` and `is_ready` only load).
            return Departure::Last(Vacated {
                slot: self.slot,
                last: state.left_with_value(),
            });
        }
        // leave_with_value: only the task sets these flags, and both are clear.
        // ORDERING: Release hands the slot (our read of the value) to the completer if it
        // is last; Acquire pairs with its Release `leave_after_waking` if we are.
        let before = State::from_bits(
            self.word()
                .fetch_or(State::LEFT_WITH_VALUE.bits(), Ordering::AcqRel),
        );
        debug_assert!(!before.is_task_gone(), "only the task sets TASK_GONE");
        if before.is_completer_gone() {
            Departure::Last(Vacated {
                slot: self.slot,
                last: before.left_with_value(),
            })
        } else {
            Departure::NotLast
        }
    }

    /// The task is dropped without its result, and gives up its half; wakes the
    /// completer's `cancelled` future if one waits.
    pub(super) fn discard(self) -> Departure<T, E> {
        // ORDERING: Acquire pairs with the completer's Release departures: seeing it
        // gone, we see all it did to the slot.
        let mut state = State::from_bits(self.word().load(Ordering::Acquire));
        loop {
            if state.is_completer_gone() {
                // No RMW: the completer is gone, so no `cancelled` poll can run either
                // (they borrow it); nobody else writes the word of a rented slot.
                return Departure::Last(Vacated {
                    slot: self.slot,
                    last: state.task_left(),
                });
            }
            // leave_unread: from the checked state, so a cancel waker registered after
            // our load makes the exchange fail and is seen on the retry.
            let leaving = state.left_unread();
            // ORDERING: Release hands the slot to the completer, who may be last now;
            // Acquire pairs with a `cancelled` poll's Release `register_cancel_waker`
            // (we take its waker) and with the completer's Release departures.
            match self.word().compare_exchange_weak(
                state.bits(),
                leaving.bits(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if leaving.is_cancel_waking() => break,
                Ok(_) => return Departure::NotLast,
                Err(now) => state = State::from_bits(now),
            }
        }
        // SAFETY: we set `TASK_GONE` while `CANCEL_WAKER` was set: the waker is ours
        // (polls stay out of a cell once the task is gone, `complete` takes it back only
        // by clearing the flag before us), and `CANCEL_WAKING` keeps the slot from being
        // recycled until we clear it.
        let waker = unsafe { Slot::take_cancel_waker(self.slot()) };
        // end_cancel_waking: only the task clears it, and it set it.
        // ORDERING: Release hands the slot (our read of the cell) to the completer if it
        // left meanwhile and it is the last out now; Acquire pairs with its Release
        // `leave_after_task` if we are the last out.
        let before = State::from_bits(
            self.word()
                .fetch_and(!State::CANCEL_WAKING.bits(), Ordering::AcqRel),
        );
        waker.wake();
        if before.is_completer_gone() {
            Departure::Last(Vacated {
                slot: self.slot,
                last: before.cancel_waking_ended(),
            })
        } else {
            Departure::NotLast
        }
    }
}

// ---------------------------------------------------------------------------------------
// The completer half
// ---------------------------------------------------------------------------------------

/// The completer's hold on a rented slot. Only one exists per rental; it is not `Clone`.
pub(super) struct CompleterHalf<T, E> {
    slot: NonNull<Slot<T, E>>,
    _owns: PhantomData<Result<T, E>>,
}

impl<T, E> CompleterHalf<T, E> {
    fn slot(&self) -> *const Slot<T, E> {
        self.slot.as_ptr().cast_const()
    }

    fn word(&self) -> &AtomicU64 {
        // SAFETY: the completer half keeps the slot alive while it is held.
        unsafe { &(*self.slot()).state }
    }

    /// The slot's pool's storage, type-erased: alive while this half is.
    pub(super) fn pool(&self) -> *const () {
        // SAFETY: the completer half keeps the slot alive.
        unsafe { (*self.slot()).pool }
    }

    /// The generation of the rental.
    pub(super) fn generation(&self) -> u32 {
        // The generation changes only while the slot is free.
        State::from_bits(self.word().load(Ordering::Relaxed))
            .token()
            .generation()
    }

    /// Whether the task is gone.
    pub(super) fn is_task_gone(&self) -> bool {
        // Relaxed: a flag, no cell is read after it.
        State::from_bits(self.word().load(Ordering::Relaxed)).is_task_gone()
    }

    /// Completes the rental with `result`, and gives up the completer half. Returns
    /// `Err(result)` when the task is gone, so nobody will read it.
    #[inline(always)]
    pub(super) fn complete(
        self,
        result: Result<T, E>,
    ) -> (Result<(), Result<T, E>>, Departure<T, E>) {
        // ORDERING: Acquire pairs with the task's Release `leave_unread`: seeing it gone,
        // we see all it did to the slot, should we be last.
        let mut state = State::from_bits(self.word().load(Ordering::Acquire));
        if state.is_task_gone() {
            return (Err(result), self.leave_after_task(state));
        }
        // SAFETY: `COMPLETE` is not set and we are the one completer: the value cell is
        // ours and empty; the task reads it only after `COMPLETE`.
        unsafe { Slot::write_value(self.slot(), result) };
        loop {
            if state.is_task_gone() {
                // The task left before we published: nobody will read the value.
                // SAFETY: we wrote the value and never published it.
                let result = unsafe { Slot::take_value(self.slot()) };
                return (Err(result), self.leave_after_task(state));
            }
            // A `cancelled` waker of ours that nobody took comes back to us here (no poll
            // holds the cell: they borrow the completer, which this call consumed).
            let cancel_waker = state.has_cancel_waker();
            if !state.has_waker() {
                // publish: from the checked state, so a task that left or stored a waker
                // meanwhile makes it fail.
                // ORDERING: Release publishes the value to the task's Acquire load in
                // `poll`; Acquire pairs with the task's Release `leave_unread` and
                // `register_waker`, seen on failure.
                match self.word().compare_exchange_weak(
                    state.bits(),
                    state.published().bits(),
                    Ordering::Release,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // SAFETY: we cleared `CANCEL_WAKER` before the task left: ours.
                        drop(cancel_waker.then(|| unsafe { Slot::take_cancel_waker(self.slot()) }));
                        return (Ok(()), Departure::NotLast);
                    }
                    Err(now) => state = State::from_bits(now),
                }
                continue;
            }
            // publish_taking_waker: from the checked state, with `WAKER` set.
            // ORDERING: Release publishes the value to the task's Acquire load; Acquire
            // pairs with the task's Release `register_waker`, so we see its waker.
            match self.word().compare_exchange_weak(
                state.bits(),
                state.published_taking_waker().bits(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: we cleared `CANCEL_WAKER` before the task left: ours.
                    let cancel =
                        cancel_waker.then(|| unsafe { Slot::take_cancel_waker(self.slot()) });
                    return (Ok(()), self.leave_after_waking(cancel));
                }
                Err(now) => state = State::from_bits(now),
            }
        }
    }

    /// The completer published, taking the task's waker (and its own `cancel` waker,
    /// dropped here): leaves, then wakes the task.
    #[inline(always)]
    fn leave_after_waking(self, cancel: Option<Waker>) -> Departure<T, E> {
        // SAFETY: we cleared `WAKER` while it was set: its waker is ours, and the task
        // writes the cell no more now that `COMPLETE` is set.
        let waker = unsafe { Slot::take_task_waker(self.slot()) };
        // leave_after_waking: only the completer sets this flag, and it is clear.
        // ORDERING: Release hands the slot (our reads of the cells) to the task, whose
        // Acquire load in `leave_with_value` may then find it last; Acquire pairs with the
        // task's Release `leave_with_value` if we are last.
        let before = State::from_bits(
            self.word()
                .fetch_or(State::COMPLETER_GONE.bits(), Ordering::AcqRel),
        );
        debug_assert!(
            !before.is_completer_gone(),
            "only the completer sets it, once"
        );
        let departure = if before.is_task_gone() {
            Departure::Last(Vacated {
                slot: self.slot,
                last: before.completer_left(),
            })
        } else {
            Departure::NotLast
        };
        drop(cancel);
        waker.wake();
        departure
    }

    /// The completer leaves after finding the task gone in `seen`.
    fn leave_after_task(self, seen: State) -> Departure<T, E> {
        debug_assert!(seen.is_task_gone());
        if !seen.is_cancel_waking() {
            // No RMW: the task is finished with the slot (it set `TASK_GONE` in its last
            // step), no `cancelled` poll runs (they borrow us), and nobody else writes the
            // word of a rented slot: we are alone.
            return Departure::Last(Vacated {
                slot: self.slot,
                last: seen.completer_left(),
            });
        }
        // leave_after_task: the task is still waking our cancel waker; tell it we left.
        // Only the completer sets this flag, and it is clear.
        // ORDERING: Release hands the slot to the task if it is last; Acquire pairs with
        // its Release `end_cancel_waking` if we are.
        let before = State::from_bits(
            self.word()
                .fetch_or(State::COMPLETER_GONE.bits(), Ordering::AcqRel),
        );
        debug_assert!(
            !before.is_completer_gone(),
            "only the completer sets it, once"
        );
        if before.is_cancel_waking() {
            Departure::NotLast
        } else {
            Departure::Last(Vacated {
                slot: self.slot,
                last: before.completer_left(),
            })
        }
    }

    /// Polls for the task's departure: `Ready` once it is gone, else `Pending` with the
    /// context's waker stored for the task's drop to wake. Polls of several `cancelled`
    /// futures may run at once on several threads: the cell is claimed first.
    pub(super) fn poll_cancelled(&self, cx: &mut Context<'_>) -> Poll<()> {
        // ORDERING: Acquire pairs with the task's Release `leave_unread`: what the task's
        // owner did before dropping it happens before the `cancelled` future's return,
        // as a channel's close does.
        let mut state = State::from_bits(self.word().load(Ordering::Acquire));
        loop {
            if state.is_task_gone() {
                return Poll::Ready(());
            }
            if state.is_cancel_registering() {
                // Another `cancelled` poll holds the cell for a few instructions: poll
                // again soon rather than wait here.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // claim_cancel_cell: from the checked state (task here, cell unclaimed).
            // ORDERING: Acquire pairs with the Release `register_cancel_waker` of the poll
            // whose waker we may find in the cell (perhaps on another thread).
            match self.word().compare_exchange_weak(
                state.bits(),
                state.cancel_cell_claimed().bits(),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = State::from_bits(now),
            }
        }
        // SAFETY: we hold the claim; the cell holds a waker if `CANCEL_WAKER` was set.
        let keep = state.has_cancel_waker()
            && unsafe { Slot::cancel_waker_wakes(self.slot(), cx.waker()) };
        let mut replaced = None;
        if !keep {
            if state.has_cancel_waker() {
                // SAFETY: we hold the claim and the cell holds a waker.
                replaced = Some(unsafe { Slot::take_cancel_waker(self.slot()) });
            }
            // SAFETY: we hold the claim and the cell is empty.
            unsafe { Slot::write_cancel_waker(self.slot(), cx.waker().clone()) };
        }
        let mut state = state.cancel_cell_claimed();
        loop {
            if state.is_task_gone() {
                // The task left while we held the cell, so it took no waker and woke
                // nobody: take ours back and report the departure.
                // release_cancel_cell: only the claim's holder clears it. Relaxed: the
                // task is gone and no poll reads the cell once it is.
                self.word()
                    .fetch_and(!State::CANCEL_REGISTERING.bits(), Ordering::Relaxed);
                // SAFETY: we held the claim until just now, and the task never touches the
                // cell after leaving without `CANCEL_WAKING`; polls find the task gone.
                drop(unsafe { Slot::take_cancel_waker(self.slot()) });
                // The future we replaced waits for the departure it would have been woken
                // for, had we not taken its waker: wake it.
                if let Some(replaced) = replaced {
                    replaced.wake();
                }
                return Poll::Ready(());
            }
            // register_cancel_waker: from the checked state, our claim still set (only we
            // clear it) and the task still here.
            debug_assert!(state.is_cancel_registering(), "the claim is ours");
            // ORDERING: Release publishes the waker to the task's Acquire `leave_unread`
            // and to the next poll's Acquire `claim_cancel_cell`; Acquire pairs with the
            // task's Release `leave_unread`, seen on failure.
            match self.word().compare_exchange_weak(
                state.bits(),
                state.cancel_waker_registered().bits(),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // One `cancelled` future waits at a time, the one polled last: the
                    // waker it replaced is dropped, not woken.
                    drop(replaced);
                    return Poll::Pending;
                }
                Err(now) => state = State::from_bits(now),
            }
        }
    }
}
