//! The crate's one waker cell: a place for one `Waker` that a protocol's state word
//! guards.
//!
//! The cell does not know whether it holds a waker: it starts uninitialized (so that a
//! protocol whose task never waits writes no waker and drops none), and the protocol's
//! state word says whether a waker is there (the oneshot's `*_STORED` flags, given to
//! [`store`](WakerCell::store) as an [`Occupancy`]; the pool slot's `WAKER` and
//! `CANCEL_WAKER`, ResetCore's `WAKER`, which [`put`](WakerCell::put) and
//! [`take`](WakerCell::take) follow). The cell never drops a waker by itself. Every
//! access is `unsafe`, and its contract names what the protocol must guarantee: who
//! alone may write the cell, and when the other side may read it. Under loom the cell
//! is loom's, so a read that races a write fails the model.

use std::mem::MaybeUninit;
use std::task::Waker;

use crate::sync::UnsafeCell;

/// Whether a waker cell holds a waker, as the protocol's state word says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Occupancy {
    /// Nothing was ever stored, or the waker was taken out.
    Empty,
    /// A waker is there.
    HoldsWaker,
}

/// A place for one waker, guarded by the state word of the protocol it belongs to.
pub(crate) struct WakerCell(UnsafeCell<MaybeUninit<Waker>>);

impl WakerCell {
    /// An empty cell.
    #[cfg(not(valuetask_loom))]
    pub(crate) const fn new() -> Self {
        Self(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// An empty cell. (Loom's cells have no `const` constructor.)
    #[cfg(valuetask_loom)]
    pub(crate) fn new() -> Self {
        Self(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// Whether `waker` would wake the task the stored waker wakes.
    ///
    /// # Safety
    ///
    /// The cell holds a waker, and nobody writes it during the call: the caller is the
    /// side that stored it, and the protocol lets only that side write the cell.
    #[inline]
    pub(crate) unsafe fn wakes_as(&self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract: initialized, reads only.
        self.0
            .with(|cell| unsafe { (*cell).assume_init_ref() }.will_wake(waker))
    }

    /// Stores a clone of `waker`, dropping the one there before if `now` says there is
    /// one.
    ///
    /// # Safety
    ///
    /// Nobody else reads or writes the cell during the call (the protocol's state word
    /// says the other side will not look at it), and `now` is what the word says the
    /// cell holds.
    #[inline]
    pub(crate) unsafe fn store(&self, waker: &Waker, now: Occupancy) {
        let waker = waker.clone();
        // SAFETY: as this function's contract: nobody else touches the cell; `now` says
        // whether it holds a waker to drop.
        self.0.with_mut(|cell| unsafe {
            match now {
                Occupancy::HoldsWaker => *(*cell).assume_init_mut() = waker,
                Occupancy::Empty => {
                    (*cell).write(waker);
                }
            }
        });
    }

    /// Moves `waker` into the empty cell. For a protocol that clones the waker before it
    /// may touch the cell, so that no executor code runs while it holds the cell.
    ///
    /// # Safety
    ///
    /// The cell is empty, and nobody else reads or writes it during the call.
    #[inline]
    pub(crate) unsafe fn put(&self, waker: Waker) {
        // SAFETY: as this function's contract: nobody else touches the cell, and there
        // is no waker in it to drop.
        self.0.with_mut(|cell| unsafe {
            (*cell).write(waker);
        });
    }

    /// Wakes the stored waker by reference, leaving it in the cell.
    ///
    /// # Safety
    ///
    /// The cell holds a waker, and nobody writes it during the call: the protocol has
    /// handed the right to read it to the caller (the side that stored it no longer
    /// writes it), and the caller has not left.
    #[inline]
    pub(crate) unsafe fn wake_by_ref(&self) {
        // SAFETY: as this function's contract: initialized, reads only.
        self.0
            .with(|cell| unsafe { (*cell).assume_init_ref() }.wake_by_ref());
    }

    /// Moves the waker out; the cell counts as empty afterwards. A write access for the
    /// model checker: a read that overlaps it is a race.
    ///
    /// # Safety
    ///
    /// The cell holds a waker, and nobody else reads or writes it during the call (for
    /// instance, the caller is the last one out).
    #[inline]
    pub(crate) unsafe fn take(&self) -> Waker {
        // SAFETY: as this function's contract.
        self.0
            .with_mut(|cell| unsafe { (*cell).assume_init_read() })
    }

    /// Moves the waker out, as [`take`](Self::take), with a read access: the side that
    /// stored it may still be comparing it ([`wakes_as`](Self::wakes_as)) while the
    /// protocol hands it to the caller. Only a bitwise copy is made; the cell itself is
    /// not written, and the stored side compares the waker without calling into it.
    ///
    /// # Safety
    ///
    /// The cell holds a waker that the protocol just handed to the caller: nobody writes
    /// the cell during the call, nobody but the caller drops or wakes that waker, and
    /// the only reader that may overlap is a `wakes_as` of the side that stored it.
    #[inline]
    pub(crate) unsafe fn take_beside_reader(&self) -> Waker {
        // SAFETY: as this function's contract.
        self.0.with(|cell| unsafe { (*cell).assume_init_read() })
    }
}
