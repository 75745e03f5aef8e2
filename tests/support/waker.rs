//! A waker that counts its wakes, for tests that check "woken exactly once", and
//! optionally unparks the thread that made it, for tests that park until woken.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};
use std::thread::{self, Thread};

/// Counts the wakes of every [`Waker`] made from it; `Arc::strong_count` of it says how
/// many such wakers are alive.
///
/// The count lives outside the `Arc<CountingWaker>` and a consuming wake bumps it after
/// letting go of its `Arc`, so a thread that sees the wake also sees that waker gone.
#[derive(Debug)]
pub(crate) struct CountingWaker {
    wakes: Arc<AtomicUsize>,
    unpark: Option<Thread>,
}

impl CountingWaker {
    /// A counter and a waker that feeds it.
    pub(crate) fn new() -> (Arc<Self>, Waker) {
        let counter = Self::counter();
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    /// A counter alone: make its wakers with `Waker::from(Arc::clone(&counter))`.
    pub(crate) fn counter() -> Arc<Self> {
        Arc::new(Self {
            wakes: Arc::new(AtomicUsize::new(0)),
            unpark: None,
        })
    }

    /// A counter whose wakes also unpark the current thread.
    pub(crate) fn unparking() -> Arc<Self> {
        Arc::new(Self {
            wakes: Arc::new(AtomicUsize::new(0)),
            unpark: Some(thread::current()),
        })
    }

    /// Wakes so far.
    pub(crate) fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        let wakes = Arc::clone(&self.wakes);
        let unpark = self.unpark.clone();
        drop(self);
        wakes.fetch_add(1, Ordering::SeqCst);
        if let Some(thread) = unpark {
            thread.unpark();
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if let Some(thread) = &self.unpark {
            thread.unpark();
        }
    }
}
