//! The pool slot's protocol, whole: the slot's cells, its state word, the state diagram,
//! every named transition and every atomic step its two halves take.
//!
//! A rented slot has exactly two owners: its task ([`TaskHalf`], inside a `ValueTask`'s
//! raw repr) and its completer ([`CompleterHalf`], inside a `Completer`). Neither can be
//! cloned, so each side knows it is alone on its side; the types carry that, and the
//! steps below are methods on them. A step that leaves the slot says whether it was the
//! last to leave ([`SlotDeparture`]); the last one gets the slot alone ([`VacatedSlot`]) and
//! hands it to its storage for recycling, which may reuse it at once or free the pool.
//!
//! # The departure rule
//!
//! **A half's last touch of the slot is the step that may make the other side last.**
//! The halves own the slot pointer; the word and the cells are reached only through
//! `cells(&self)`, a borrow of a live half. Each leaving step consumes its half and
//! returns only its departure (the pointer comes back only in `SlotDeparture::Last`, to
//! the one side that is then alone): the borrow checker rejects a cell access after it.
//! What the leaving side still does afterwards (wake a waker, drop a value) it does on
//! values it moved out before, and only once its departure is handled (the slot
//! recycled if it was last: [`Wakeup`]), so user code that panics loses no slot.
//! Under `valuetask_loom`, `departed()` yields right after each leaving
//! read-modify-write, so the models run the other side (which then reuses the slot)
//! before the leaver's next instruction.
//!
//! | Departure path | Its leaving step (last touch) | Why nothing follows it |
//! |---|---|---|
//! | C completes, no task waker (complete first; task re-polling in `reclaim_waker`'s window) | `publish` CAS `+COMPLETE +COMPLETER_LEFT` | a `cancelled` waker was taken back before (`reclaim_cancel_waker`); it is dropped from our hands once the departure is handled (`Wakeup`) |
//! | C completes, task waker stored | `leave_after_waking` RMW `+COMPLETER_LEFT` | `publish_taking_waker` (not a departure) took the task waker and the cancel waker out first; both are woken/dropped from our hands once the departure is handled (`Wakeup`) |
//! | C dropped (`Abandoned`) | as the two rows above (the drop is `complete(Err(..))`) | as above |
//! | C finds T gone, no `CANCEL_WAKING` | a load (alone: no RMW) | T left in its last step; C holds `VacatedSlot` |
//! | C finds T gone, `CANCEL_WAKING` | `leave_after_task` RMW `+COMPLETER_LEFT` | the value was taken back before it |
//! | T takes the value, C gone | a load (alone) | C set `COMPLETER_LEFT` in its last step |
//! | T takes the value, C still leaving | `leave_with_value` RMW `+TAKEN +TASK_LEFT` | the value was moved out before it |
//! | T dropped unread (polled or not), no cancel waker | `leave_unread` CAS `+TASK_LEFT` | its task waker stays for recycling (`WAKER` in the last word) |
//! | T dropped unread, cancel waker waiting | `end_cancel_waking` RMW `-CANCEL_WAKING` | `leave_unread` set `CANCEL_WAKING`, so C cannot be last until this step; the waker was moved out before it and is woken once the departure is handled (`Wakeup`) |
//! | T dropped, C gone | a load (alone) | C left in its last step |
//!
//! Safe code can run these at the same moment on one rental: one of the task's poll,
//! drop, `into_ready` or `is_ready` (a task is not `Sync`: one at a time); one of the
//! completer's `complete`, drop or `cancelled()` poll (they take it by value or by
//! `&mut`), and any number of `is_cancelled` (loads); and `stats` loading every slot's
//! word.
//!
//! # The state word
//!
//! One `u64`: the generation of the current rental in the high 32 bits (the token; it
//! changes only while the slot is free), the flags of [`SlotState`] in the low bits.
//!
//! # The state diagram
//!
//! One rental, from the renter's store to the last half's departure. `T:` marks a step
//! of the task, `C:` one of the completer (a `cancelled()` poll included); the step's
//! name follows, as in the code. Flags not named stay as they are.
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
//!     │    +COMPLETE +COMPLETER_LEFT)                │ C: publish_taking_waker (CAS +COMPLETE -WAKER)
//!     ▼                                              ▼
//!   +COMPLETE +COMPLETER_LEFT ◀── C: leave_after_waking (RMW +COMPLETER_LEFT), then wake
//!     │    (T: register_waker finding COMPLETE in the word it replaced: C published
//!     │     with `publish` and is gone; T: withdraw_late_waker, a store -WAKER, takes
//!     │     its waker back and drops it while it still holds the slot)
//!     │
//!     │ T: poll sees COMPLETE (load); takes the value; completer gone: last, no RMW
//!     │    (not gone yet: T: leave_with_value, RMW +TAKEN +TASK_LEFT; last if it
//!     │     finds COMPLETER_LEFT in the word it replaced)
//!     ▼
//!   vacated ── last half: recycle ──▶ free (generation n + 1), +CACHED if a thread keeps it
//!
//!  Before either publish, C takes a cancel waker of its own back:
//!   ── C: reclaim_cancel_waker (CAS -CANCEL_WAKER, fails if T left) ──▶ the cell is C's
//!
//!  The task leaving without its result (drop), from any state without COMPLETE:
//!
//!   ── T: leave_unread (CAS +TASK_LEFT) ──▶ +TASK_LEFT: C's complete sees it (its load,
//!        or its publish CAS failing on it), takes its value back (Err(value)) and,
//!        alone, is last without an RMW
//!   ── T: leave_unread when CANCEL_WAKER (CAS +TASK_LEFT +CANCEL_WAKING) ──▶ T takes the
//!        cancel waker; T: end_cancel_waking (RMW -CANCEL_WAKING), then wakes it; whoever
//!        of T (finding COMPLETER_LEFT) and C (C: leave_after_task, RMW +COMPLETER_LEFT,
//!        finding CANCEL_WAKING gone) is second is last
//!
//!  The completer's cancel waker (`cancelled()` polled, `&mut` completer), only while T
//!  is not gone; while CANCEL_WAKER is clear the cell is C's alone:
//!
//!   ── C: register_cancel_waker (store, then CAS +CANCEL_WAKER) ──▶ T's drop takes it
//!   ── C: a later poll with another waker: reclaim_cancel_waker, store, register again
//!   ── C: finding TASK_LEFT instead: takes its own waker back: Ready
//! ```
//!
//! Per rental, in atomic read-modify-writes: complete then poll costs one (the
//! completer's `publish`); poll then complete costs three (the task's `register_waker`,
//! the completer's `publish_taking_waker` and `leave_after_waking`); either side finding
//! the other gone with a load is alone with the slot and needs none. A `cancelled()`
//! waker left registered adds one (`reclaim_cancel_waker`).

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::thread_cache::Holder;
use crate::state_word::state_word;
use crate::sync::{AtomicU32, AtomicU64, Ordering, UnsafeCell, departed, spin};
use crate::waker_cell::WakerCell;

state_word! {
    /// A snapshot of a slot's state word.
    pub(super) struct SlotState(u64) with generation {
        /// The value cell holds the result. The completer wrote it and touches it no
        /// more; the task may move it out.
        COMPLETE = 0 => is_complete, with_complete;
        /// The task moved the result out of the value cell.
        TAKEN = 1 => is_taken;
        /// The task's waker cell holds the task's waker. While it is set the task only
        /// reads the cell, and only the completer may clear it (in the step that sets
        /// `COMPLETE`), taking the waker; or the task clears it by compare-and-swap,
        /// before `COMPLETE`, to take it back and store another.
        WAKER = 2 => has_waker;
        /// The task is gone: its result was taken or it was dropped. The task touches
        /// neither the word nor a cell after setting it (but with `CANCEL_WAKING`).
        TASK_LEFT = 3 => has_task_left, with_task_left;
        /// The completer is gone: it completed (and finished with the waker) or was
        /// dropped. It touches neither the word nor a cell after setting it.
        COMPLETER_LEFT = 4 => has_completer_left, with_completer_left;
        /// The cancel waker cell holds the waker of a `Completer::cancelled` future. Set
        /// by a `cancelled` poll (the cell is the completer's while it is clear); the
        /// task's drop takes it
        /// (setting `TASK_LEFT` and `CANCEL_WAKING` in the same step), a later poll
        /// takes it back, or `complete` takes it back before it publishes.
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
    }
}

/// The named transitions: each is the word a step moves to from the word it checked.
impl SlotState {
    /// The task leaving with its result, by read-modify-write (`fetch_or`).
    const LEFT_WITH_VALUE: SlotState = SlotState::TAKEN.union(SlotState::TASK_LEFT);

    /// A free slot rented: the renter's plain store.
    const fn leased(self) -> Self {
        self.without(SlotState::CACHED).with_rented()
    }

    /// The free state of the next rental.
    const fn next_free(self) -> Self {
        Self::fresh(self.token().next())
    }

    /// A free slot put on `shelf`: `CACHED` says whether a thread's cache keeps it.
    const fn shelved(self, shelf: Shelf) -> Self {
        match shelf {
            Shelf::ThreadCache => self.with_cached(),
            Shelf::FreeList => self.without(SlotState::CACHED),
        }
    }

    /// The word the task's `register_waker` left when it found `COMPLETE` in `before`,
    /// once the task took its waker back (`withdraw_late_waker`).
    const fn late_waker_withdrawn(before: SlotState) -> Self {
        before.without(SlotState::WAKER)
    }

    /// The last word of a rental the task left by `leave_with_value`, from the word it
    /// saw or replaced.
    const fn left_with_value(self) -> Self {
        self.union(SlotState::LEFT_WITH_VALUE)
    }

    /// The last word of a rental the completer left, from the word it saw or replaced.
    const fn completer_left(self) -> Self {
        self.with_completer_left()
    }

    /// The last word of a rental the task left unread, with no cancel waker to wake.
    const fn task_left(self) -> Self {
        self.with_task_left()
    }

    /// The last word of a rental whose task finished waking the cancel waker, from the
    /// word its `end_cancel_waking` replaced.
    const fn cancel_waking_ended(self) -> Self {
        self.without(SlotState::CANCEL_WAKING)
    }

    /// The completer publishes its result and leaves in one step (no waker to wake, its
    /// cancel waker already taken back).
    const fn published(self) -> Self {
        self.with_complete().with_completer_left()
    }

    /// The completer publishes its result and takes the task's waker to wake it before
    /// it leaves (its cancel waker already taken back).
    const fn published_taking_waker(self) -> Self {
        self.without(SlotState::WAKER).with_complete()
    }

    /// The task takes its stored waker back to store another.
    const fn waker_reclaimed(self) -> Self {
        self.without(SlotState::WAKER)
    }

    /// The task leaves without its result; it takes the cancel waker when one waits.
    const fn left_unread(self) -> Self {
        if self.has_cancel_waker() {
            self.with_task_left().with_cancel_waking()
        } else {
            self.with_task_left()
        }
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
    task_waker: WakerCell,
    cancel_waker: WakerCell,
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
            task_waker: WakerCell::new(),
            cancel_waker: WakerCell::new(),
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
    pub(super) fn snapshot(&self) -> SlotState {
        SlotState::from_bits(self.state.load(Ordering::Relaxed))
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
        let free = SlotState::from_bits(word.load(Ordering::Relaxed));
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
        let free = SlotState::from_bits(word.load(Ordering::Relaxed));
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
    unsafe fn write_value(&self, result: Result<T, E>) {
        // SAFETY: as this function's contract.
        unsafe { self.value.with_mut(|cell| (*cell).write(result)) };
    }

    /// # Safety
    ///
    /// The cell holds a value that the caller now owns: the task after `COMPLETE`, the
    /// completer taking back a value it never published, or the last half recycling.
    #[inline(always)]
    unsafe fn take_value(&self) -> Result<T, E> {
        // SAFETY: as this function's contract.
        unsafe { self.value.with(|cell| (*cell).assume_init_read()) }
    }

    /// # Safety
    ///
    /// `WAKER` is clear and the caller is the task before `COMPLETE`: the cell is its,
    /// empty.
    #[inline(always)]
    unsafe fn write_task_waker(&self, waker: Waker) {
        // SAFETY: as this function's contract.
        unsafe { self.task_waker.put(waker) };
    }

    /// # Safety
    ///
    /// The cell holds a waker that the caller now owns: it cleared `WAKER` while it was
    /// set, or is the last half and `WAKER` was set at the end. The task may still be
    /// comparing it (`task_waker_wakes`) when the completer takes it.
    #[inline(always)]
    unsafe fn take_task_waker(&self) -> Waker {
        // SAFETY: as this function's contract: the only reader that may overlap is the
        // task's `wakes_as`.
        unsafe { self.task_waker.take_beside_reader() }
    }

    /// # Safety
    ///
    /// `WAKER` is set and the caller is the task: the cell holds a waker that nobody
    /// writes or frees until the task clears the flag (the completer, taking it, only
    /// copies it out).
    #[inline(always)]
    unsafe fn task_waker_wakes(&self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        unsafe { self.task_waker.wakes_as(waker) }
    }

    /// # Safety
    ///
    /// The caller is the completer, `CANCEL_WAKER` is clear and the cell is empty.
    unsafe fn write_cancel_waker(&self, waker: Waker) {
        // SAFETY: as this function's contract.
        unsafe { self.cancel_waker.put(waker) };
    }

    /// # Safety
    ///
    /// The cell holds a waker that the caller now owns: the completer that cleared
    /// `CANCEL_WAKER` (or never set it), the task's drop that set `TASK_LEFT` with
    /// `CANCEL_WAKING` (the completer may still be comparing it then, in
    /// `cancel_waker_wakes`).
    unsafe fn take_cancel_waker(&self) -> Waker {
        // SAFETY: as this function's contract: the only reader that may overlap is the
        // completer's `wakes_as`.
        unsafe { self.cancel_waker.take_beside_reader() }
    }

    /// # Safety
    ///
    /// The caller is the completer and the cell holds its waker (`CANCEL_WAKER` set, the
    /// task here): the task's drop may copy it out meanwhile, but nobody writes the cell
    /// while the completer lives.
    unsafe fn cancel_waker_wakes(&self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        unsafe { self.cancel_waker.wakes_as(waker) }
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
pub(super) enum SlotDeparture<T, E> {
    /// The other half left first: the slot is this half's alone, to recycle.
    Last(VacatedSlot<T, E>),
    /// The other half is still there and will recycle.
    NotLast,
}

/// A slot both halves left: the last one holds it alone, in its final state.
#[must_use]
pub(super) struct VacatedSlot<T, E> {
    slot: NonNull<Slot<T, E>>,
    last: SlotState,
}

/// What was left in a slot when its last half left: dropped after the slot is back in
/// its pool, so that user code never runs while the slot is held.
pub(super) struct Leftovers<T, E> {
    _value: Option<Result<T, E>>,
    _waker: Option<Waker>,
}

/// Wakers a half took out of the slot as it left: one to wake, one to drop. They run
/// only once the caller has handled the departure (recycled the slot if it was last),
/// so a waker that panics (or runs anything) never finds a slot held, and no slot is
/// lost to it. The waker to wake goes first: a drop that panics cannot lose a wake-up.
#[must_use]
pub(super) struct Wakeup {
    wake: Option<Waker>,
    drop: Option<Waker>,
}

impl Wakeup {
    const NONE: Wakeup = Wakeup {
        wake: None,
        drop: None,
    };

    fn waking(wake: Waker, drop: Option<Waker>) -> Self {
        Self {
            wake: Some(wake),
            drop,
        }
    }

    fn dropping(drop: Option<Waker>) -> Self {
        Self { wake: None, drop }
    }

    /// Wakes the one waker, then drops the other.
    #[inline(always)]
    pub(super) fn run(self) {
        let Self { wake, drop } = self;
        if let Some(waker) = wake {
            waker.wake();
        }
        std::mem::drop(drop);
    }
}

impl<T, E> VacatedSlot<T, E> {
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
                .then(|| unsafe { (*slot).take_value() }),
            // SAFETY: `WAKER` set at the end: the cell holds the task's waker, ours.
            _waker: last
                .has_waker()
                .then(|| unsafe { (*slot).take_task_waker() }),
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
    Ready(Result<T, E>, SlotDeparture<T, E>),
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

    /// The slot, for as long as this half is borrowed: every access to its word and
    /// cells goes through a live half, so none can follow a step that gives it up.
    fn cells(&self) -> &Slot<T, E> {
        // SAFETY: the task half keeps the slot alive while it is held.
        unsafe { self.slot.as_ref() }
    }

    fn word(&self) -> &AtomicU64 {
        &self.cells().state
    }

    /// Whether the result is there.
    pub(super) fn is_ready(&self) -> bool {
        // Relaxed: a flag, no cell is read after it; the poll that takes the value loads
        // the word again with Acquire.
        SlotState::from_bits(self.word().load(Ordering::Relaxed)).is_complete()
    }

    /// Polls for the result. On `Ready` the task half is given up, and the departure says
    /// whether it was the last; on `Pending` it comes back.
    #[inline(always)]
    pub(super) fn poll(self, cx: &mut Context<'_>) -> Polled<T, E> {
        // ORDERING: Acquire pairs with the completer's Release `publish`: seeing
        // `COMPLETE` we see the value.
        let mut state = SlotState::from_bits(self.word().load(Ordering::Acquire));
        loop {
            if state.is_complete() {
                // SAFETY: `COMPLETE`, seen with Acquire: the value is there and ours.
                let result = unsafe { self.cells().take_value() };
                return Polled::Ready(result, self.leave_with_value(state));
            }
            if state.has_waker() {
                // SAFETY: `WAKER` is set and we are the task.
                if unsafe { self.cells().task_waker_wakes(cx.waker()) } {
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
                        drop(unsafe { self.cells().take_task_waker() });
                        state = reclaimed;
                    }
                    Err(now) => state = SlotState::from_bits(now),
                }
                continue;
            }
            // SAFETY: `WAKER` and `COMPLETE` are clear: the cell is ours, empty.
            unsafe { self.cells().write_task_waker(cx.waker().clone()) };
            // register_waker: only the task sets `WAKER`, and it is clear, so an RMW that
            // sets it cannot undo anybody's step; what it replaced is checked below.
            // ORDERING: Release publishes the waker to the completer's Acquire
            // `publish_taking_waker`; Acquire pairs with its Release `publish`, in case
            // it published meanwhile.
            let before = SlotState::from_bits(
                self.word()
                    .fetch_or(SlotState::WAKER.bits(), Ordering::AcqRel),
            );
            debug_assert!(!before.has_waker(), "only the task sets WAKER");
            if !before.is_complete() {
                return Polled::Pending(self);
            }
            // Completed while we stored the waker: the completer did not see it, so the
            // result is ours on the next turn. It published with `publish`, leaving in the
            // same step (`publish_taking_waker` needs `WAKER`, clear until our RMW): we
            // are alone with the slot.
            debug_assert!(
                before.has_completer_left(),
                "COMPLETE without WAKER is publish"
            );
            state = SlotState::late_waker_withdrawn(before);
            // withdraw_late_waker: the waker comes back out now, and is dropped while we
            // still hold the slot, so that a drop that panics leaves the task holding a
            // consistent slot (its value there, no waker), never one it gave up. A plain
            // store: the completer is gone (no `cancelled` poll either, they borrow it),
            // nobody else writes the word of a rented slot and `stats` only loads.
            self.word().store(state.bits(), Ordering::Relaxed);
            // SAFETY: we stored the waker and set `WAKER`; the completer, gone, never
            // took it, and the flag is cleared: the waker and the cell are ours.
            drop(unsafe { self.cells().take_task_waker() });
        }
    }

    /// The task leaves with the value, having seen `COMPLETE` in `seen`.
    #[inline(always)]
    fn leave_with_value(self, seen: SlotState) -> SlotDeparture<T, E> {
        // Nothing of ours is left for recycling to drop: a `Ready` poll runs no user code
        // after it gives up the slot (the raw task still holds it until `poll` returns).
        debug_assert!(
            !seen.has_waker(),
            "the task's waker was taken before it leaves"
        );
        let mut state = seen;
        if !state.has_completer_left() {
            // The completer is a few instructions from leaving (it is waking us). Wait
            // for it a little, so that we leave last without a read-modify-write and the
            // slot goes back to this thread.
            for _ in 0..COMPLETER_SPINS {
                spin();
                // ORDERING: Acquire pairs with the completer's Release
                // `leave_after_waking`: seeing it gone, we see all it did to the slot.
                state = SlotState::from_bits(self.word().load(Ordering::Acquire));
                if state.has_completer_left() {
                    break;
                }
            }
        }
        if state.has_completer_left() {
            // No RMW: the completer is gone and touches the word no more; nobody else
            // writes it while the slot is rented (`stats` and `is_ready` only load).
            return SlotDeparture::Last(VacatedSlot {
                slot: self.slot,
                last: state.left_with_value(),
            });
        }
        // leave_with_value: only the task sets these flags, and both are clear.
        // ORDERING: Release hands the slot (our read of the value) to the completer if it
        // is last; Acquire pairs with its Release `leave_after_waking` if we are.
        let before = SlotState::from_bits(
            self.word()
                .fetch_or(SlotState::LEFT_WITH_VALUE.bits(), Ordering::AcqRel),
        );
        departed();
        debug_assert!(!before.has_task_left(), "only the task sets TASK_LEFT");
        if before.has_completer_left() {
            SlotDeparture::Last(VacatedSlot {
                slot: self.slot,
                last: before.left_with_value(),
            })
        } else {
            SlotDeparture::NotLast
        }
    }

    /// The task is dropped without its result, and gives up its half; the completer's
    /// `cancelled` waker, if one waits, comes back in the [`Wakeup`], to wake once the
    /// departure is handled.
    pub(super) fn discard(self) -> (SlotDeparture<T, E>, Wakeup) {
        // ORDERING: Acquire pairs with the completer's Release departures: seeing it
        // gone, we see all it did to the slot.
        let mut state = SlotState::from_bits(self.word().load(Ordering::Acquire));
        loop {
            if state.has_completer_left() {
                // No RMW: the completer is gone, so no `cancelled` poll can run either
                // (they borrow it); nobody else writes the word of a rented slot.
                let vacated = VacatedSlot {
                    slot: self.slot,
                    last: state.task_left(),
                };
                return (SlotDeparture::Last(vacated), Wakeup::NONE);
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
                Ok(_) => {
                    departed();
                    return (SlotDeparture::NotLast, Wakeup::NONE);
                }
                Err(now) => state = SlotState::from_bits(now),
            }
        }
        // SAFETY: we set `TASK_LEFT` while `CANCEL_WAKER` was set: the waker is ours
        // (polls stay out of a cell once the task is gone, `complete` takes it back only
        // by clearing the flag before us), and `CANCEL_WAKING` keeps the slot from being
        // recycled until we clear it.
        let waker = unsafe { self.cells().take_cancel_waker() };
        // end_cancel_waking: only the task clears it, and it set it.
        // ORDERING: Release hands the slot (our read of the cell) to the completer if it
        // left meanwhile and it is the last out now; Acquire pairs with its Release
        // `leave_after_task` if we are the last out.
        let before = SlotState::from_bits(
            self.word()
                .fetch_and(!SlotState::CANCEL_WAKING.bits(), Ordering::AcqRel),
        );
        departed();
        let departure = if before.has_completer_left() {
            SlotDeparture::Last(VacatedSlot {
                slot: self.slot,
                last: before.cancel_waking_ended(),
            })
        } else {
            SlotDeparture::NotLast
        };
        (departure, Wakeup::waking(waker, None))
    }
}

// ---------------------------------------------------------------------------------------
// The completer half
// ---------------------------------------------------------------------------------------

/// What `complete` came to: `Err(result)` back if the task is gone, the completer's
/// departure, and the wakers to run once that is handled.
pub(super) type Completion<T, E> = (Result<(), Result<T, E>>, SlotDeparture<T, E>, Wakeup);

/// The completer's hold on a rented slot. Only one exists per rental; it is not `Clone`.
pub(super) struct CompleterHalf<T, E> {
    slot: NonNull<Slot<T, E>>,
    _owns: PhantomData<Result<T, E>>,
}

impl<T, E> CompleterHalf<T, E> {
    /// The slot, for as long as this half is borrowed: every access to its word and
    /// cells goes through a live half, so none can follow a step that gives it up.
    fn cells(&self) -> &Slot<T, E> {
        // SAFETY: the completer half keeps the slot alive while it is held.
        unsafe { self.slot.as_ref() }
    }

    fn word(&self) -> &AtomicU64 {
        &self.cells().state
    }

    /// The slot's pool's storage, type-erased: alive while this half is.
    pub(super) fn pool(&self) -> *const () {
        self.cells().pool
    }

    /// The generation of the rental.
    pub(super) fn generation(&self) -> u32 {
        // The generation changes only while the slot is free.
        SlotState::from_bits(self.word().load(Ordering::Relaxed))
            .token()
            .generation()
    }

    /// Whether the task is gone.
    pub(super) fn has_task_left(&self) -> bool {
        // Relaxed: a flag, no cell is read after it.
        SlotState::from_bits(self.word().load(Ordering::Relaxed)).has_task_left()
    }

    /// Completes the rental with `result`, and gives up the completer half. Returns
    /// `Err(result)` when the task is gone, so nobody will read it.
    ///
    /// A `cancelled` waker of ours still in its cell comes back to us first
    /// (`reclaim_cancel_waker`), before the step that may make the task last: after
    /// that step we touch no cell.
    #[inline(always)]
    pub(super) fn complete(mut self, result: Result<T, E>) -> Completion<T, E> {
        // ORDERING: Acquire pairs with the task's Release `leave_unread`: seeing it gone,
        // we see all it did to the slot, should we be last.
        let mut state = SlotState::from_bits(self.word().load(Ordering::Acquire));
        if state.has_task_left() {
            return (Err(result), self.leave_after_task(state), Wakeup::NONE);
        }
        // SAFETY: `COMPLETE` is not set and we are the one completer: the value cell is
        // ours and empty; the task reads it only after `COMPLETE`.
        unsafe { self.cells().write_value(result) };
        // Dropped only once our departure is handled (see `Wakeup`): user code never
        // runs while we hold the slot.
        let mut cancel_waker = None;
        loop {
            if state.has_task_left() {
                // The task left before we published: nobody will read the value.
                // SAFETY: we wrote the value and never published it.
                let result = unsafe { self.cells().take_value() };
                let departure = self.leave_after_task(state);
                return (Err(result), departure, Wakeup::dropping(cancel_waker));
            }
            if state.has_cancel_waker() {
                match self.reclaim_cancel_waker(state) {
                    Ok((waker, now)) => {
                        cancel_waker = Some(waker);
                        state = now;
                    }
                    Err(now) => state = now,
                }
                continue;
            }
            if !state.has_waker() {
                match self.publish(state) {
                    Ok(departure) => {
                        return (Ok(()), departure, Wakeup::dropping(cancel_waker));
                    }
                    Err((half, now)) => {
                        self = half;
                        state = now;
                    }
                }
                continue;
            }
            // publish_taking_waker: from the checked state, with `WAKER` set and
            // `CANCEL_WAKER` clear. Nothing leaves here: we still hold the slot.
            // ORDERING: Release publishes the value to the task's Acquire load; Acquire
            // pairs with the task's Release `register_waker`, so we see its waker.
            match self.word().compare_exchange_weak(
                state.bits(),
                state.published_taking_waker().bits(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: we cleared `WAKER` while it was set: its waker is ours, and
                    // the task writes the cell no more now that `COMPLETE` is set.
                    let waker = unsafe { self.cells().take_task_waker() };
                    let departure = self.leave_after_waking();
                    return (Ok(()), departure, Wakeup::waking(waker, cancel_waker));
                }
                Err(now) => state = SlotState::from_bits(now),
            }
        }
    }

    /// publish: the value and our departure in one step (no waker to wake, no cancel
    /// waker in its cell). A leaving step: it consumes the half; on failure (the word
    /// changed) the half comes back with the word seen.
    #[inline(always)]
    fn publish(self, seen: SlotState) -> Result<SlotDeparture<T, E>, (Self, SlotState)> {
        debug_assert!(!seen.has_cancel_waker() && !seen.has_waker());
        // ORDERING: Release publishes the value to the task's Acquire load in `poll`
        // and hands it the slot (it may be last now); Acquire pairs with the task's
        // Release `leave_unread` and `register_waker`, seen on failure.
        match self.word().compare_exchange_weak(
            seen.bits(),
            seen.published().bits(),
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                departed();
                Ok(SlotDeparture::NotLast)
            }
            Err(now) => Err((self, SlotState::from_bits(now))),
        }
    }

    /// leave_after_waking: the completer published and took the task's waker; it leaves
    /// (the waker is woken by the caller, from its own hands).
    #[inline(always)]
    fn leave_after_waking(self) -> SlotDeparture<T, E> {
        // Only the completer sets this flag, and it is clear.
        // ORDERING: Release hands the slot (our reads of the cells) to the task, whose
        // Acquire load in `leave_with_value` may then find it last; Acquire pairs with the
        // task's Release `leave_with_value` if we are last.
        let before = SlotState::from_bits(
            self.word()
                .fetch_or(SlotState::COMPLETER_LEFT.bits(), Ordering::AcqRel),
        );
        departed();
        debug_assert!(
            !before.has_completer_left(),
            "only the completer sets it, once"
        );
        if before.has_task_left() {
            SlotDeparture::Last(VacatedSlot {
                slot: self.slot,
                last: before.completer_left(),
            })
        } else {
            SlotDeparture::NotLast
        }
    }

    /// The completer leaves after finding the task gone in `seen`.
    fn leave_after_task(self, seen: SlotState) -> SlotDeparture<T, E> {
        debug_assert!(seen.has_task_left());
        if !seen.is_cancel_waking() {
            // No RMW: the task is finished with the slot (it set `TASK_LEFT` in its last
            // step), and nobody else writes the word of a rented slot: we are alone.
            return SlotDeparture::Last(VacatedSlot {
                slot: self.slot,
                last: seen.completer_left(),
            });
        }
        // leave_after_task: the task is still waking our cancel waker; tell it we left.
        // Only the completer sets this flag, and it is clear.
        // ORDERING: Release hands the slot to the task if it is last; Acquire pairs with
        // its Release `end_cancel_waking` if we are.
        let before = SlotState::from_bits(
            self.word()
                .fetch_or(SlotState::COMPLETER_LEFT.bits(), Ordering::AcqRel),
        );
        departed();
        debug_assert!(
            !before.has_completer_left(),
            "only the completer sets it, once"
        );
        if before.is_cancel_waking() {
            SlotDeparture::NotLast
        } else {
            SlotDeparture::Last(VacatedSlot {
                slot: self.slot,
                last: before.completer_left(),
            })
        }
    }

    /// reclaim_cancel_waker: takes our `cancelled` waker back out of its cell before the
    /// task's drop can take it. On success, the waker and the word we left; on failure
    /// (the task left, or took it), the word seen.
    fn reclaim_cancel_waker(&mut self, seen: SlotState) -> Result<(Waker, SlotState), SlotState> {
        debug_assert!(seen.has_cancel_waker() && !seen.has_task_left());
        let reclaimed = seen.without(SlotState::CANCEL_WAKER);
        // ORDERING: Acquire pairs with the Release `register_cancel_waker` that stored
        // the waker (perhaps on another thread, before the completer moved here), and on
        // failure with the task's Release `leave_unread`.
        match self.word().compare_exchange_weak(
            seen.bits(),
            reclaimed.bits(),
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            // SAFETY: we cleared `CANCEL_WAKER` while the task was here: the waker is
            // ours again, and the cell ours alone (the task takes it only with the flag).
            Ok(_) => Ok((unsafe { self.cells().take_cancel_waker() }, reclaimed)),
            Err(now) => Err(SlotState::from_bits(now)),
        }
    }

    /// Polls for the task's departure: `Ready` once it is gone, else `Pending` with the
    /// context's waker stored for the task's drop to wake. `&mut`: one poll at a time,
    /// never beside `complete`, so the cell needs no claim: while `CANCEL_WAKER` is clear
    /// it is ours alone.
    pub(super) fn poll_cancelled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // ORDERING: Acquire pairs with the task's Release `leave_unread`: what the task's
        // owner did before dropping it happens before the `cancelled` future's return,
        // as a channel's close does.
        let mut state = SlotState::from_bits(self.word().load(Ordering::Acquire));
        let mut waker = None;
        loop {
            if state.has_task_left() {
                return Poll::Ready(());
            }
            if !state.has_cancel_waker() {
                break;
            }
            // SAFETY: `CANCEL_WAKER` is set and the task is here: the cell holds our
            // waker; the task's drop may copy it out meanwhile, but nobody writes the
            // cell or frees the slot while we (the completer) are here.
            if unsafe { self.cells().cancel_waker_wakes(cx.waker()) } {
                return Poll::Pending;
            }
            match self.reclaim_cancel_waker(state) {
                Ok((old, now)) => {
                    waker = Some(old);
                    state = now;
                    break;
                }
                Err(now) => state = now,
            }
        }
        // The waker we took back was not the context's; it is dropped (its future is
        // gone: only one `cancelled` future can be alive, it borrows us mutably).
        drop(waker);
        // SAFETY: `CANCEL_WAKER` is clear and we are the completer: the cell is ours,
        // empty.
        unsafe { self.cells().write_cancel_waker(cx.waker().clone()) };
        loop {
            if state.has_task_left() {
                // The task left without seeing our waker: take it back.
                // SAFETY: we wrote it and never published it.
                drop(unsafe { self.cells().take_cancel_waker() });
                return Poll::Ready(());
            }
            // register_cancel_waker: from the checked state, the task still here.
            // ORDERING: Release publishes the waker to the task's Acquire `leave_unread`
            // and to our later Acquire `reclaim_cancel_waker`; Acquire pairs with the
            // task's Release `leave_unread`, seen on failure.
            match self.word().compare_exchange_weak(
                state.bits(),
                state.with_cancel_waker().bits(),
                Ordering::Release,
                Ordering::Acquire,
            ) {
                Ok(_) => return Poll::Pending,
                Err(now) => state = SlotState::from_bits(now),
            }
        }
    }
}
