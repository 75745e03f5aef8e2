//! Running a function when the current thread exits, for the thread caches.
//!
//! The caches are thread-locals without destructors, so that reaching them is a plain
//! thread-pointer access on the hot path. Each registers its clean-up here on first use
//! instead: one guard per thread, with a destructor that runs the registered hooks.

#[cfg(not(valuetask_loom))]
use std::cell::Cell;

/// What a cache runs when its thread exits.
#[cfg_attr(valuetask_loom, allow(dead_code))]
pub(crate) type Hook = fn();

/// The thread caches of this crate, each with its own hook.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(valuetask_loom, allow(dead_code))]
pub(crate) enum CacheKind {
    /// The blocks of pooled futures.
    Futures = 0,
    /// The free slots of source pools.
    Slots = 1,
}

/// The hooks a thread can hold: one per thread cache.
#[cfg(not(valuetask_loom))]
const HOOKS: usize = 2;

/// Runs the registered hooks when the thread exits.
#[cfg(not(valuetask_loom))]
struct Guard([Cell<Option<Hook>>; HOOKS]);

#[cfg(not(valuetask_loom))]
impl Drop for Guard {
    fn drop(&mut self) {
        for hook in &self.0 {
            if let Some(hook) = hook.take() {
                hook();
            }
        }
    }
}

#[cfg(not(valuetask_loom))]
thread_local! {
    static GUARD: Guard = const { Guard([const { Cell::new(None) }; HOOKS]) };
}

/// The thread is already exiting: a hook can no longer be registered.
#[derive(Debug)]
pub(crate) struct Exiting;

/// Runs `hook` when this thread exits: the hook of cache `kind`, registered once.
#[cfg(not(valuetask_loom))]
pub(crate) fn on_exit(kind: CacheKind, hook: Hook) -> Result<(), Exiting> {
    GUARD
        .try_with(|guard| guard.0[kind as usize].set(Some(hook)))
        .map_err(|_| Exiting)
}

/// Under loom there are no thread caches, so nothing registers.
#[cfg(valuetask_loom)]
#[allow(dead_code)]
pub(crate) fn on_exit(_kind: CacheKind, _hook: Hook) -> Result<(), Exiting> {
    Err(Exiting)
}
