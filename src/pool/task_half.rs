//! The task half of a rented slot: the vtable that a [`ValueTask`]'s raw repr drives.
//!
//! [`ValueTask`]: crate::ValueTask

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::slot::Slot;
use super::storage::Storage;
use crate::raw::{RawTask, RawTaskVTable};
use crate::task::ValueTask;

/// The task half of a freshly rented `slot`.
///
/// # Safety
///
/// `slot` is rented and its task half is given to the returned task; `T` and `E` are
/// `Send` when the task may move between threads (the vtable's functions are sound
/// from any thread then).
#[inline(always)]
pub(super) unsafe fn task<'t, T, E>(slot: *const Slot<T, E>) -> ValueTask<'t, Result<T, E>> {
    // SAFETY: as this function's contract; a slot pointer is never null.
    let raw = unsafe {
        RawTask::new(
            NonNull::new_unchecked(slot.cast_mut()).cast(),
            TaskHalf::<T, E>::VTABLE,
        )
    };
    ValueTask::from_raw(raw)
}

struct TaskHalf<T, E>(PhantomData<(T, E)>);

impl<T, E> TaskHalf<T, E> {
    const VTABLE: &'static RawTaskVTable = &RawTaskVTable {
        poll: Self::poll,
        is_ready: Self::is_ready,
        discard: Self::discard,
        kind: "pooled",
    };

    /// # Safety
    ///
    /// `ptr` is a `Slot<T, E>` whose task half the caller holds and `out` points to a
    /// `MaybeUninit<Result<T, E>>`; on `true` the result was written there and the
    /// caller gave the task half up.
    #[inline(always)]
    unsafe fn poll(ptr: NonNull<()>, cx: &mut Context<'_>, out: *mut ()) -> bool {
        let slot = ptr.as_ptr().cast_const().cast::<Slot<T, E>>();
        // SAFETY: the caller holds the task half of this slot.
        match unsafe { Slot::poll_task(slot, cx) } {
            Poll::Ready((result, departure)) => {
                // SAFETY: the caller passes a place for the result.
                unsafe { out.cast::<Result<T, E>>().write(result) };
                // SAFETY: the half was given up; the departure says whether we were last.
                unsafe { Storage::after(slot, departure) };
                true
            }
            Poll::Pending => false,
        }
    }

    /// # Safety
    ///
    /// `ptr` is a `Slot<T, E>` whose task half the caller holds.
    unsafe fn is_ready(ptr: NonNull<()>) -> bool {
        // SAFETY: as this function's contract.
        unsafe { Slot::<T, E>::is_ready(ptr.as_ptr().cast_const().cast()) }
    }

    /// # Safety
    ///
    /// `ptr` is a `Slot<T, E>` whose task half the caller holds and gives up.
    unsafe fn discard(ptr: NonNull<()>) {
        let slot = ptr.as_ptr().cast_const().cast::<Slot<T, E>>();
        // SAFETY: as this function's contract.
        let departure = unsafe { Slot::discard_task(slot) };
        // SAFETY: the half was given up; the departure says whether we were last.
        unsafe { Storage::after(slot, departure) };
    }
}
