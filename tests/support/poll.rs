//! Polling helpers shared by the tests, the examples and the benches: a one-shot poll,
//! a thread-parking `block_on` that allocates nothing per call, and a hang detector.

#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a test waits for a wake-up before it calls the wait lost. A hang detector,
/// not a timing assertion: anything that works finishes in far less.
pub(crate) const WAKE_DEADLINE: Duration = Duration::from_secs(60);

/// Polls `future` once with `waker`.
pub(crate) fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Polls `future` once with a waker that does nothing.
pub(crate) fn poll_noop<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_once(future, Waker::noop())
}

/// Wakes a thread parked in [`block_on`].
pub(crate) struct Unparker(pub Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker for the current thread, made once (it allocates) and reused by [`block_on`].
pub(crate) fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unparker(thread::current())))
}

/// Polls `future` to completion, parking the thread between polls; allocates nothing.
///
/// Panics with "lost wake-up?" if the future is still pending [`WAKE_DEADLINE`] after
/// the first poll, so a missing wake fails the test by name instead of hanging it.
#[track_caller]
pub(crate) fn block_on<F: Future + Unpin>(waker: &Waker, mut future: F) -> F::Output {
    let mut cx = Context::from_waker(waker);
    let deadline = Instant::now() + WAKE_DEADLINE;
    loop {
        if let Poll::Ready(value) = Pin::new(&mut future).poll(&mut cx) {
            return value;
        }
        let now = Instant::now();
        assert!(
            now < deadline,
            "still pending {WAKE_DEADLINE:?} after the first poll (lost wake-up?)"
        );
        // A spurious unpark, or the timeout, only costs one more poll.
        thread::park_timeout(deadline - now);
    }
}
