//! The two cells of a [`ResetCore`], each access named, with the claim it needs.

use std::task::Waker;

use super::ResetCore;

impl<T> ResetCore<T> {
    /// Writes the value.
    ///
    /// # Safety
    ///
    /// The caller holds `COMPLETING`, and the value cell is empty.
    #[inline]
    pub(super) unsafe fn write_value(&self, value: T) {
        // SAFETY: as this function's contract: the cell is ours and empty.
        self.value.with_mut(|cell| unsafe { (*cell).write(value) });
    }

    /// Moves the value out.
    ///
    /// # Safety
    ///
    /// The caller owns the complete value: it holds `TAKING` or `RESETTING` over a
    /// complete state, or `&mut self` with `COMPLETE` set.
    #[inline]
    pub(super) unsafe fn take_value(&self) -> T {
        // SAFETY: as this function's contract.
        self.value
            .with(|cell| unsafe { (*cell).assume_init_read() })
    }

    /// Takes the waker out of its cell.
    ///
    /// # Safety
    ///
    /// The caller owns the waker cell: it holds `WAKING`, `REGISTERING` or `RESETTING`,
    /// or cleared `WAKER` while nobody else was in the cell.
    #[inline]
    pub(super) unsafe fn take_waker(&self) -> Option<Waker> {
        // SAFETY: as this function's contract.
        self.waker.with_mut(|cell| unsafe { (*cell).take() })
    }

    /// Stores `waker` in the empty waker cell.
    ///
    /// # Safety
    ///
    /// The caller holds `REGISTERING`, and `WAKER` is clear.
    #[inline]
    pub(super) unsafe fn store_waker(&self, waker: Waker) {
        // SAFETY: as this function's contract.
        self.waker.with_mut(|cell| unsafe { *cell = Some(waker) });
    }

    /// Whether the stored waker wakes the same task as `waker`.
    ///
    /// # Safety
    ///
    /// The caller holds `REGISTERING`.
    #[inline]
    pub(super) unsafe fn waker_will_wake(&self, waker: &Waker) -> bool {
        // SAFETY: as this function's contract.
        self.waker
            .with(|cell| unsafe { (*cell).as_ref() }.is_some_and(|w| w.will_wake(waker)))
    }
}
