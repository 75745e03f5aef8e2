//! The one place atomics, cells and spin hints come from.
//!
//! Under `--cfg valuetask_loom` every type here is loom's instrumented twin, so the
//! same state machines run under the model checker unchanged.

#[cfg(not(valuetask_loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

#[cfg(valuetask_loom)]
pub(crate) use loom::sync::atomic::{
    AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};

/// Waits a little inside a spin loop; under loom it yields so the model can progress.
#[inline]
pub(crate) fn spin() {
    #[cfg(not(valuetask_loom))]
    std::hint::spin_loop();
    #[cfg(valuetask_loom)]
    loom::thread::yield_now();
}

/// An `UnsafeCell` whose accesses go through closures, so loom can check them.
#[cfg(not(valuetask_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(valuetask_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a mutable pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(valuetask_loom)]
pub(crate) use loom::cell::UnsafeCell;
