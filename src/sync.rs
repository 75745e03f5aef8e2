//! The one place atomics, cells, locks, raw allocation and spin hints come from.
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

/// Marks the point right after a half's leaving read-modify-write: a no-op normally;
/// under loom a yield, so that the models explore the other side disposing of (and
/// reusing) the memory before the departed thread takes another step.
#[inline(always)]
pub(crate) fn departed() {
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

/// A lock that ignores poisoning: every critical section in this crate leaves its data
/// consistent before anything in it can panic.
#[derive(Debug)]
pub(crate) struct Mutex<T>(MutexImpl<T>);

#[cfg(not(valuetask_loom))]
type MutexImpl<T> = std::sync::Mutex<T>;
#[cfg(valuetask_loom)]
type MutexImpl<T> = loom::sync::Mutex<T>;

#[cfg(not(valuetask_loom))]
pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;
#[cfg(valuetask_loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    #[cfg(not(valuetask_loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    #[cfg(valuetask_loom)]
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    #[inline]
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Raw allocation; under loom it is tracked, so a block that is never freed fails the
/// model as a leak.
#[cfg(not(valuetask_loom))]
pub(crate) use std::alloc::{alloc, dealloc};

#[cfg(valuetask_loom)]
pub(crate) use loom::alloc::{alloc, dealloc};
