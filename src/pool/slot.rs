//! One pooled completion slot and the protocol its two halves run.
//!
//! A slot has exactly two owners for one rental: the task (a [`ValueTask`]'s raw repr)
//! and the [`Completer`](super::Completer). Neither can be cloned, so each side knows it
//! is alone on its side; that lets a completion be one atomic operation, where
//! [`ResetCore`](crate::ResetCore) (shared by reference) needs a claim first. The slot
//! keeps the core's layout: one word with the generation in its high 32 bits and flags
//! in the low bits, a value cell and a waker cell.
//!
//! Whoever leaves last (task dropped or result taken, completer completed or dropped)
//! recycles the slot: drops what is left in the cells, moves to the next generation and
//! pushes the slot on the pool's free list. Recycling may free the whole pool, so every
//! function here works on a raw pointer to the slot, never on `&self`.
//!
//! [`ValueTask`]: crate::ValueTask

use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::storage::Shared;
use crate::raw::RawTaskVTable;
use crate::sync::{AtomicU32, AtomicU64, Ordering, UnsafeCell, spin};

/// The value cell holds the result. The completer wrote it and touches it no more; the
/// task may move it out.
const COMPLETE: u64 = 1 << 0;
/// The task moved the result out of the value cell.
const TAKEN: u64 = 1 << 1;
/// The waker cell holds the task's waker. While it is set the task only reads the cell,
/// and only the completer may clear it (in the step that sets `COMPLETE`), taking the
/// waker. While it is clear and `COMPLETE` is not set, the task owns the cell, or clears
/// the flag by compare-and-swap to take it back and store a new waker.
const WAKER: u64 = 1 << 2;
/// The task is gone: its result was taken or it was dropped.
const TASK_GONE: u64 = 1 << 3;
/// The completer is gone: it completed (and finished with the waker) or was dropped.
const COMPLETER_GONE: u64 = 1 << 4;
/// The slot is rented: set by `rent` (alone with the slot then), cleared by `recycle`.
const RENTED: u64 = 1 << 5;
/// The slot is free and sits in a thread's cache; set and cleared by that thread alone.
const CACHED: u64 = 1 << 6;

const GENERATION_SHIFT: u32 = 32;

/// How many times a task that found its result waits for the completer to finish
/// leaving before it leaves first; bounded, so a preempted completer costs nothing more.
const COMPLETER_SPINS: u32 = 16;

pub(super) struct Slot<T, E> {
    state: AtomicU64,
    value: UnsafeCell<MaybeUninit<Result<T, E>>>,
    waker: UnsafeCell<MaybeUninit<Waker>>,
    /// The free list's link: the next free slot's index plus one, 0 for none.
    pub(super) next: AtomicU32,
    /// This slot's index in its pool.
    pub(super) index: u32,
    /// The pool this slot belongs to; it outlives every rented slot.
    pub(super) shared: *const Shared<T, E>,
}

impl<T, E> Slot<T, E> {
    pub(super) fn new(index: u32, shared: *const Shared<T, E>) -> Self {
        Self {
            state: AtomicU64::new(0),
            value: UnsafeCell::new(MaybeUninit::uninit()),
            waker: UnsafeCell::new(MaybeUninit::uninit()),
            next: AtomicU32::new(0),
            index,
            shared,
        }
    }

    /// The operations of the task half, for [`RawTask`](crate::raw::RawTask).
    pub(super) const TASK_VTABLE: &'static RawTaskVTable = &RawTaskVTable {
        poll: Self::raw_poll,
        is_ready: Self::raw_is_ready,
        discard: Self::raw_drop,
        kind: "pooled",
    };

    /// Marks a slot just taken from the free list as rented.
    ///
    /// # Safety
    ///
    /// The caller just took `slot` off the pool's free list (or cache) and is alone with it.
    pub(super) unsafe fn mark_rented(slot: *const Self) {
        // SAFETY: nobody else holds the slot: a plain store is enough, and the halves
        // reach other threads only through a synchronizing hand-over.
        let state = unsafe { &(*slot).state };
        state.store(
            (state.load(Ordering::Relaxed) & !CACHED) | RENTED,
            Ordering::Relaxed,
        );
    }

    /// Sets the state of a free slot that nobody else holds: `next` (a generation with
    /// no flags), marked as cached or not.
    ///
    /// # Safety
    ///
    /// The caller is alone with the free `slot`: it is recycling it, or the slot sits in
    /// the caller's thread cache.
    pub(super) unsafe fn set_free(slot: *const Self, next: u64, cached: bool) {
        let flags = if cached { CACHED } else { 0 };
        // SAFETY: the caller is alone with the slot; publishing it (a push on the free
        // list) synchronizes.
        unsafe { &(*slot).state }.store(next | flags, Ordering::Relaxed);
    }

    /// The state of a free slot that nobody else holds, without its cache mark.
    ///
    /// # Safety
    ///
    /// As for [`set_free`](Self::set_free).
    pub(super) unsafe fn free_state(slot: *const Self) -> u64 {
        // SAFETY: as this function's contract.
        unsafe { &(*slot).state }.load(Ordering::Relaxed) & !CACHED
    }

    /// Whether the slot is rented now (a snapshot, for stats).
    pub(super) fn is_rented(&self) -> bool {
        self.state.load(Ordering::Relaxed) & RENTED != 0
    }

    /// Whether the slot sits free in a thread's cache now (a snapshot, for stats).
    pub(super) fn is_cached(&self) -> bool {
        self.state.load(Ordering::Relaxed) & CACHED != 0
    }

    /// The generation the slot is at; the rental's token.
    ///
    /// # Safety
    ///
    /// `slot` is rented and the caller holds one of its halves.
    pub(super) unsafe fn generation(slot: *const Self) -> u32 {
        // SAFETY: a held half keeps the slot alive.
        let state = unsafe { &(*slot).state }.load(Ordering::Relaxed);
        (state >> GENERATION_SHIFT) as u32
    }

    /// Whether the task half is gone.
    ///
    /// # Safety
    ///
    /// The caller holds the completer half of `slot`.
    pub(super) unsafe fn is_task_gone(slot: *const Self) -> bool {
        // SAFETY: the completer half keeps the slot alive.
        unsafe { &(*slot).state }.load(Ordering::Acquire) & TASK_GONE != 0
    }

    /// Completes the rental with `result`, and gives up the completer half.
    ///
    /// Returns `Err(result)` when the task is gone, so nobody will read it.
    ///
    /// # Safety
    ///
    /// The caller holds the completer half of `slot` and gives it up.
    #[inline]
    pub(super) unsafe fn complete(
        slot: *const Self,
        result: Result<T, E>,
    ) -> Result<(), Result<T, E>> {
        // SAFETY: the completer half keeps the slot alive until it is given up below.
        let state_word = unsafe { &(*slot).state };
        let mut state = state_word.load(Ordering::Acquire);
        if state & TASK_GONE != 0 {
            // SAFETY: the task is gone and so are we: we are the last half.
            unsafe { Self::recycle(slot, state, false) };
            return Err(result);
        }
        // SAFETY: `COMPLETE` is not set and we are the one completer: the value cell is
        // ours and empty; the task reads it only after `COMPLETE`.
        unsafe { (*slot).value.with_mut(|cell| (*cell).write(result)) };
        loop {
            if state & TASK_GONE != 0 {
                // The task left before we published: nobody will read the value.
                // SAFETY: we wrote the value and never published it, and we are the last half.
                let result = unsafe { (*slot).value.with(|cell| (*cell).assume_init_read()) };
                // SAFETY: we are the last half.
                unsafe { Self::recycle(slot, state, false) };
                return Err(result);
            }
            if state & WAKER == 0 {
                match state_word.compare_exchange_weak(
                    state,
                    state | COMPLETE | COMPLETER_GONE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Ok(()),
                    Err(actual) => state = actual,
                }
                continue;
            }
            match state_word.compare_exchange_weak(
                state,
                (state & !WAKER) | COMPLETE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        // SAFETY: we cleared `WAKER` while it was set: its waker is ours, and the task
        // writes the cell no more now that `COMPLETE` is set.
        let waker = unsafe { (*slot).waker.with(|cell| (*cell).assume_init_read()) };
        let state = state_word.fetch_or(COMPLETER_GONE, Ordering::AcqRel) | COMPLETER_GONE;
        if state & TASK_GONE != 0 {
            // SAFETY: both halves are gone and we are the last.
            unsafe { Self::recycle(slot, state, false) };
        }
        waker.wake();
        Ok(())
    }

    /// # Safety
    ///
    /// `ptr` is a `Slot<T, E>` whose task half the caller holds and `out` points to a
    /// `MaybeUninit<Result<T, E>>`; on `true` the result was written there and the
    /// caller gave the task half up.
    unsafe fn raw_poll(ptr: NonNull<()>, cx: &mut Context<'_>, out: *mut ()) -> bool {
        // SAFETY: the caller holds the task half of this slot.
        match unsafe { Self::poll_task(ptr, cx) } {
            Poll::Ready(result) => {
                // SAFETY: the caller passes a place for the result.
                unsafe { out.cast::<Result<T, E>>().write(result) };
                true
            }
            Poll::Pending => false,
        }
    }

    /// # Safety
    ///
    /// As for `raw_poll`.
    #[inline(always)]
    unsafe fn poll_task(ptr: NonNull<()>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let slot = ptr.as_ptr().cast_const().cast::<Self>();
        // SAFETY: the task half keeps the slot alive until it is given up below.
        let state_word = unsafe { &(*slot).state };
        let mut state = state_word.load(Ordering::Acquire);
        loop {
            if state & COMPLETE != 0 {
                // SAFETY: `COMPLETE`: the value is initialized and only the task, which
                // we are, may move it out.
                let result = unsafe { (*slot).value.with(|cell| (*cell).assume_init_read()) };
                if state & COMPLETER_GONE == 0 {
                    // The completer is a few instructions from leaving (it is waking us).
                    // Wait for it a little, so that we leave last and the slot goes back
                    // to this thread's cache rather than across to the shared list.
                    for _ in 0..COMPLETER_SPINS {
                        spin();
                        state = state_word.load(Ordering::Acquire);
                        if state & COMPLETER_GONE != 0 {
                            break;
                        }
                    }
                }
                if state & COMPLETER_GONE == 0 {
                    state = state_word.fetch_or(TASK_GONE | TAKEN, Ordering::AcqRel);
                    if state & COMPLETER_GONE == 0 {
                        return Poll::Ready(result);
                    }
                }
                // SAFETY: the completer is gone and so are we: we are the last half.
                unsafe { Self::recycle(slot, state | TASK_GONE | TAKEN, true) };
                return Poll::Ready(result);
            }
            if state & WAKER != 0 {
                // SAFETY: `WAKER` is set: the cell holds a waker; the completer may be
                // reading it too, but nobody writes it while the flag is set.
                let same = unsafe {
                    (*slot)
                        .waker
                        .with(|cell| (*cell).assume_init_ref().will_wake(cx.waker()))
                };
                if same {
                    return Poll::Pending;
                }
                if let Err(actual) = state_word.compare_exchange_weak(
                    state,
                    state & !WAKER,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    state = actual;
                    continue;
                }
                // SAFETY: we cleared `WAKER` before `COMPLETE` was set: the old waker and
                // the cell are ours again.
                let old = unsafe { (*slot).waker.with(|cell| (*cell).assume_init_read()) };
                drop(old);
            }
            let waker = cx.waker().clone();
            // SAFETY: neither `WAKER` nor `COMPLETE` is set: the waker cell is ours and empty.
            unsafe { (*slot).waker.with_mut(|cell| (*cell).write(waker)) };
            state = state_word.fetch_or(WAKER, Ordering::AcqRel) | WAKER;
            if state & COMPLETE == 0 {
                return Poll::Pending;
            }
            // Completed while we stored the waker: the completer did not see it, so the
            // result is ours to take on the next turn; recycling drops the waker.
        }
    }

    /// # Safety
    ///
    /// `ptr` is a `Slot<T, E>` whose task half the caller holds.
    unsafe fn raw_is_ready(ptr: NonNull<()>) -> bool {
        let slot = ptr.as_ptr().cast_const().cast::<Self>();
        // SAFETY: the task half keeps the slot alive.
        unsafe { &(*slot).state }.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// # Safety
    ///
    /// `ptr` is a `Slot<T, E>` whose task half the caller holds and gives up.
    unsafe fn raw_drop(ptr: NonNull<()>) {
        let slot = ptr.as_ptr().cast_const().cast::<Self>();
        // SAFETY: the task half keeps the slot alive until this operation gives it up.
        let state = unsafe { &(*slot).state }.fetch_or(TASK_GONE, Ordering::AcqRel) | TASK_GONE;
        if state & COMPLETER_GONE != 0 {
            // SAFETY: both halves are gone and we are the last.
            unsafe { Self::recycle(slot, state, true) };
        }
    }

    /// Empties the slot, moves it to the next generation and returns it to its pool:
    /// to this thread's cache when the task half was last (`by_task`: the awaiting side,
    /// which usually rents again), else to the shared free list.
    ///
    /// # Safety
    ///
    /// Both halves of `slot` are gone, the caller was the last, and `state` is the
    /// slot's state as the last half left it.
    #[inline]
    unsafe fn recycle(slot: *const Self, state: u64, by_task: bool) {
        let result = (state & (COMPLETE | TAKEN) == COMPLETE).then(|| {
            // SAFETY: nobody else holds the slot; `COMPLETE` without `TAKEN` means an
            // unread value.
            unsafe { (*slot).value.with(|cell| (*cell).assume_init_read()) }
        });
        let waker = (state & WAKER != 0).then(|| {
            // SAFETY: nobody else holds the slot; `WAKER` means the cell holds a waker.
            unsafe { (*slot).waker.with(|cell| (*cell).assume_init_read()) }
        });
        let next =
            u64::from(((state >> GENERATION_SHIFT) as u32).wrapping_add(1)) << GENERATION_SHIFT;
        // SAFETY: nobody else holds the slot until `release_slot` publishes it; the pool
        // outlives its rented slots, and this slot counts until `release_slot`.
        unsafe { Shared::release_slot((*slot).shared, slot, next, by_task) };
        // User code runs last, on values we own, after the slot is back in the pool.
        drop(waker);
        drop(result);
    }
}

impl<T, E> Drop for Slot<T, E> {
    fn drop(&mut self) {
        let state = self.state.load(Ordering::Acquire);
        if state & (COMPLETE | TAKEN) == COMPLETE {
            // SAFETY: `&mut self`; `COMPLETE` without `TAKEN` means an unread value.
            self.value
                .with_mut(|cell| unsafe { (*cell).assume_init_drop() });
        }
        if state & WAKER != 0 {
            // SAFETY: `&mut self`; `WAKER` means the cell holds a waker.
            self.waker
                .with_mut(|cell| unsafe { (*cell).assume_init_drop() });
        }
    }
}
