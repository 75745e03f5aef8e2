//! The type-erased task behind the two pooled tiers: a pooled slot of a `SourcePool`
//! and a pooled future's block. Both build a [`RawTask`] from a pointer and a vtable of
//! their own; `ValueTask` drives it without knowing which one it is.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// A task whose storage is managed by this crate, driven through a hand-written vtable
/// so that it fits in two words and can give up its storage through a raw pointer:
/// giving it up may free the memory the pointer names, so no reference to it may live.
pub(crate) struct RawTask<T> {
    ptr: NonNull<()>,
    vtable: &'static RawTaskVTable,
    _output: PhantomData<fn() -> T>,
}

/// The operations of a [`RawTask`]. The output type is erased (so that the table can be
/// `'static` whatever `T` lives for): `poll` writes it through a pointer to a
/// `MaybeUninit<T>`.
#[derive(Debug)]
pub(crate) struct RawTaskVTable {
    /// Polls for the result; on `true` it wrote the output and gave up the task's hold
    /// on `ptr`, which is not used again.
    pub(crate) poll: unsafe fn(NonNull<()>, &mut Context<'_>, *mut ()) -> bool,
    /// Whether the result is there without waiting. Never panics.
    pub(crate) is_ready: unsafe fn(NonNull<()>) -> bool,
    /// Gives up the task's hold on `ptr` without taking the result.
    pub(crate) discard: unsafe fn(NonNull<()>),
    /// What the task is, for `Debug`.
    pub(crate) kind: &'static str,
}

impl<T> RawTask<T> {
    /// # Safety
    ///
    /// `ptr` must stay valid for the vtable's functions until one of `poll` returning
    /// `true` or `discard` has run; `poll` must write a `T` when it returns `true`; each
    /// function must be sound to call from any thread when `T: Send` (the task moves
    /// between threads); and the caller gives up its hold on `ptr` to the task.
    pub(crate) unsafe fn new(ptr: NonNull<()>, vtable: &'static RawTaskVTable) -> Self {
        Self {
            ptr,
            vtable,
            _output: PhantomData,
        }
    }

    /// What the task is, for `Debug`.
    pub(crate) fn kind(&self) -> &'static str {
        self.vtable.kind
    }

    /// # Safety
    ///
    /// The task still holds `ptr`: `poll` never returned `Ready` and `discard` never ran.
    #[inline]
    pub(crate) unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut out = MaybeUninit::<T>::uninit();
        // SAFETY: the caller guarantees the hold; `out` is a valid place for a `T`.
        if unsafe { (self.vtable.poll)(self.ptr, cx, out.as_mut_ptr().cast()) } {
            // SAFETY: `poll` returned `true`, so it wrote the `T`.
            Poll::Ready(unsafe { out.assume_init() })
        } else {
            Poll::Pending
        }
    }

    /// # Safety
    ///
    /// As for [`poll`](Self::poll).
    #[inline]
    pub(crate) unsafe fn is_ready(&self) -> bool {
        // SAFETY: the caller guarantees the hold.
        unsafe { (self.vtable.is_ready)(self.ptr) }
    }

    /// Gives up the task's hold without taking the result.
    ///
    /// # Safety
    ///
    /// As for [`poll`](Self::poll); the task is not used again.
    #[inline]
    pub(crate) unsafe fn discard(&self) {
        // SAFETY: the caller guarantees the hold and gives it up here.
        unsafe { (self.vtable.discard)(self.ptr) }
    }
}

// SAFETY: `RawTask::new`'s contract makes the vtable's functions sound from any thread
// when `T: Send`, and the task is the only user of its hold on `ptr`.
unsafe impl<T: Send> Send for RawTask<T> {}
