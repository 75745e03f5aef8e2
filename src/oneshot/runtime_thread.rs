//! Whether the calling thread drives a tokio runtime, for
//! [`Receiver::blocking_recv`](super::Receiver::blocking_recv) (the `tokio` feature).

/// Panics as tokio's own blocking calls do ("Cannot block the current thread from within
/// a runtime...") when this thread drives a tokio runtime: inside `Runtime::block_on`
/// (either flavour) or a task on a worker thread. Returns on any other thread, among
/// them `spawn_blocking`'s and those in `block_in_place`.
///
/// tokio keeps that state private, so we ask it the way its own `blocking_*` methods
/// do: a blocking lock of a fresh, uncontended `tokio::sync::Mutex` runs tokio's check
/// and takes the lock at once. The mutex holds no heap memory, so this allocates
/// nothing. Without tokio's `rt` feature anywhere in the build no runtime can exist,
/// and tokio checks nothing.
#[track_caller]
pub(super) fn refuse_runtime_thread() {
    let probe = tokio::sync::Mutex::new(());
    drop(probe.blocking_lock());
}
