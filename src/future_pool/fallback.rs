//! The futures that `ValueTask::from_future` boxed instead of pooling, counted per
//! reason for every thread of the process.
//!
//! Only read for statistics, so `Relaxed` throughout: a count may lag another thread's
//! latest fallback, never lose one.

use crate::sync::{AtomicUsize, Ordering};

/// Why a future got a `Box` instead of a block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Fallback {
    /// With its bookkeeping it is larger than the largest block.
    TooBig = 0,
    /// It is aligned to more than a block.
    OverAligned = 1,
    /// It is zero-sized, and its box allocates nothing.
    ZeroSized = 2,
}

const REASONS: usize = 3;

#[cfg(not(valuetask_loom))]
static FALLBACKS: [AtomicUsize; REASONS] = [const { AtomicUsize::new(0) }; REASONS];

#[cfg(valuetask_loom)]
loom::lazy_static! {
    static ref FALLBACKS: [AtomicUsize; REASONS] = std::array::from_fn(|_| AtomicUsize::new(0));
}

/// Counts one future boxed for `reason`.
#[inline]
pub(super) fn count(reason: Fallback) {
    FALLBACKS[reason as usize].fetch_add(1, Ordering::Relaxed);
}

/// How many futures [`ValueTask::from_future`] boxed instead of pooling, per reason,
/// since the process started, on every thread. Part of
/// [`FuturePoolStats`](super::FuturePoolStats).
///
/// A future that fits a block is never counted; nor is [`ValueTask::boxed`], which
/// boxes on purpose. The counts only grow (wrapping at `usize::MAX`): to see how often
/// a workload falls back, read them before and after it.
///
/// [`ValueTask::from_future`]: crate::ValueTask::from_future
/// [`ValueTask::boxed`]: crate::ValueTask::boxed
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct FallbackStats {
    /// Futures that, with the 16 bytes of a block's bookkeeping, are larger than the
    /// largest of [`BLOCK_SIZES`](super::BLOCK_SIZES): one allocation each.
    pub too_big: usize,
    /// Futures aligned to more than [`BLOCK_ALIGN`](super::BLOCK_ALIGN) bytes: one
    /// allocation each.
    pub over_aligned: usize,
    /// Zero-sized futures: boxed because their box allocates nothing.
    pub zero_sized: usize,
}

impl FallbackStats {
    /// The counts now.
    pub(super) fn now() -> Self {
        let read = |reason: Fallback| FALLBACKS[reason as usize].load(Ordering::Relaxed);
        Self {
            too_big: read(Fallback::TooBig),
            over_aligned: read(Fallback::OverAligned),
            zero_sized: read(Fallback::ZeroSized),
        }
    }
}
