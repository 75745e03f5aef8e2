//! The task half of a rented slot: the vtable that a [`ValueTask`]'s raw repr drives.
//!
//! [`ValueTask`]: crate::ValueTask

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::task::Context;

use super::slot::{Polled, TaskHalf};
use super::storage::Storage;
use crate::raw::{RawTask, RawTaskVTable};
use crate::task::ValueTask;

/// The task of a freshly rented slot.
///
/// # Safety
///
/// `T` and `E` are `Send` when the task may move between threads (the vtable's
/// functions are sound from any thread then).
#[inline(always)]
pub(super) unsafe fn task<'t, T, E>(half: TaskHalf<T, E>) -> ValueTask<'t, Result<T, E>> {
    // SAFETY: the half keeps its slot alive until a `Ready` poll or the discard gives it
    // up, after which the raw task does not use the pointer; `poll` writes the result
    // when it returns `true`; thread-safety as this function's contract.
    let raw = unsafe { RawTask::new(half.into_raw(), TaskVTable::<T, E>::VTABLE) };
    ValueTask::from_raw(raw)
}

struct TaskVTable<T, E>(PhantomData<(T, E)>);

impl<T, E> TaskVTable<T, E> {
    const VTABLE: &'static RawTaskVTable = &RawTaskVTable {
        poll: Self::poll,
        is_ready: Self::is_ready,
        discard: Self::discard,
        kind: "pooled",
    };

    /// # Safety
    ///
    /// `ptr` carries the task half of a `Slot<T, E>`, still held by the caller, and `out`
    /// points to a `MaybeUninit<Result<T, E>>`; on `true` the result was written there
    /// and the half was given up.
    #[inline(always)]
    unsafe fn poll(ptr: NonNull<()>, cx: &mut Context<'_>, out: *mut ()) -> bool {
        // SAFETY: as this function's contract.
        let half = unsafe { TaskHalf::<T, E>::from_raw(ptr) };
        match half.poll(cx) {
            Polled::Ready(result, departure) => {
                // SAFETY: the caller passes a place for the result.
                unsafe { out.cast::<Result<T, E>>().write(result) };
                Storage::after(departure);
                true
            }
            // The caller keeps the half, carried as `ptr`.
            Polled::Pending(_half) => false,
        }
    }

    /// # Safety
    ///
    /// `ptr` carries the task half of a `Slot<T, E>`, still held by the caller.
    unsafe fn is_ready(ptr: NonNull<()>) -> bool {
        // SAFETY: as this function's contract; the caller keeps the half.
        unsafe { TaskHalf::<T, E>::from_raw(ptr) }.is_ready()
    }

    /// # Safety
    ///
    /// `ptr` carries the task half of a `Slot<T, E>`, held by the caller, who gives it up.
    unsafe fn discard(ptr: NonNull<()>) {
        // SAFETY: as this function's contract.
        let half = unsafe { TaskHalf::<T, E>::from_raw(ptr) };
        let (departure, wakeup) = half.discard();
        Storage::after(departure);
        wakeup.run();
    }
}
