//! Polling helpers shared by the tests: a one-shot poll, thread-parking
//! `block_on`s that fail by name instead of hanging, and a watchdog for waits that are
//! not polls.

use std::future::Future;
use std::io::Write;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// How long a test waits for a wake-up before it calls the wait lost. A hang detector,
/// not a timing assertion: anything that works finishes in far less. Under Miri the
/// clock is virtual (it runs with the interpreter's steps and jumps ahead when every
/// thread sleeps), so a lost wake-up still fails at once there, and a slow interpreted
/// run never does.
pub(crate) const WAKE_DEADLINE: Duration = if cfg!(miri) {
    Duration::from_secs(24 * 60 * 60)
} else {
    Duration::from_secs(60)
};

/// Polls `future` once with `waker`.
pub(crate) fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Polls `future` once with a waker that does nothing.
pub(crate) fn poll_noop<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_once(future, Waker::noop())
}

/// Returns `Pending` once (waking its waker at once), then `Ready`: makes an async body
/// really suspend.
pub(crate) fn yield_once() -> YieldOnce {
    YieldOnce(false)
}

/// See [`yield_once`].
pub(crate) struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Wakes a thread parked in [`block_on`], and counts its wakes, so that a wait that
/// outlasts [`WAKE_DEADLINE`] can tell a wake that never came from one that came while
/// the thread was not run.
pub(crate) struct Unparker {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Unparker {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            thread: thread::current(),
            wakes: AtomicUsize::new(0),
        })
    }
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst, as every atomic in the tests: counted before the unpark it announces.
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A waker for the current thread, made once (it allocates) and reused by [`block_on`].
pub(crate) fn thread_waker() -> Waker {
    Waker::from(Unparker::new())
}

/// The name the harness gave this thread (the test's, when tests run in parallel).
fn this_thread() -> String {
    thread::current()
        .name()
        .unwrap_or("an unnamed thread")
        .to_owned()
}

/// Polls `future` to completion, parking the thread between polls; allocates nothing.
///
/// Panics with "lost wake-up?" if a park lasts [`WAKE_DEADLINE`] (the future was not
/// woken, whether or not it would be ready by then), so a missing wake fails the test
/// by name instead of hanging it or passing late.
#[track_caller]
pub(crate) fn block_on<F: Future + Unpin>(waker: &Waker, mut future: F) -> F::Output {
    drive(waker, None, Pin::new(&mut future))
}

/// [`block_on`] for any future (pinned here) with a waker of its own: one allocation
/// per call, for the tests that do not count them.
///
/// Its waker counts its wakes: past the deadline, a future that was woken since its
/// last poll (the thread was not run in time: a stalled machine, not a lost wake-up) is
/// polled once more, and the test fails only if it is still not ready; a future never
/// woken fails as in [`block_on`].
#[track_caller]
pub(crate) fn block_on_deadline<F: Future>(future: F) -> F::Output {
    let unparker = Unparker::new();
    drive(
        &Waker::from(Arc::clone(&unparker)),
        Some(&unparker.wakes),
        pin!(future),
    )
}

#[track_caller]
fn drive<F: Future + ?Sized>(
    waker: &Waker,
    wakes: Option<&AtomicUsize>,
    mut future: Pin<&mut F>,
) -> F::Output {
    let mut cx = Context::from_waker(waker);
    let deadline = Instant::now() + WAKE_DEADLINE;
    let woken = || wakes.map(|wakes| wakes.load(Ordering::SeqCst));
    loop {
        let before_poll = woken();
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        // A spurious unpark only costs one more poll. A park that lasts to the deadline
        // fails before polling again, unless the waker counted a wake since the poll: a
        // future that is ready by then but never woke us lost its wake-up, and a late
        // poll would hide that.
        thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
        if Instant::now() < deadline {
            continue;
        }
        let since_poll = woken().zip(before_poll).map(|(now, then)| now - then);
        let Some(wakes @ 1..) = since_poll else {
            panic!(
                "{}: not woken {WAKE_DEADLINE:?} after the first poll (lost wake-up?)",
                this_thread()
            );
        };
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        panic!(
            "{}: woken {wakes} times since its last poll, but still pending \
             {WAKE_DEADLINE:?} after the first",
            this_thread()
        );
    }
}

/// Parks this thread until `woken()` holds; panics with "lost wake-up?" and `what` if it
/// still does not [`WAKE_DEADLINE`] later. For tests that park on a waker of their own.
#[track_caller]
pub(crate) fn park_until(what: &dyn std::fmt::Display, mut woken: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAKE_DEADLINE;
    while !woken() {
        // As in `drive`: a park that lasts to the deadline fails before looking again.
        thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
        if Instant::now() >= deadline {
            panic!(
                "{}: {what}: not woken {WAKE_DEADLINE:?} after parking (lost wake-up?)",
                this_thread()
            );
        }
    }
}

/// Aborts the process, naming `test`, if it is still alive [`WAKE_DEADLINE`] after
/// [`Watchdog::arm`]: for tests that wait on something other than a poll (a barrier, a
/// condition variable, a thread's end), where a lost wake-up would hang the test
/// where no deadline can reach it. Dropping the watchdog disarms it.
///
/// Arming spawns its thread and waits until it sleeps, so in a binary that counts
/// allocations it must be armed before the first counted window; afterwards it
/// allocates nothing until it fires or is dropped. Under Miri it does nothing: Miri
/// reports a deadlock itself, and its clock is virtual.
pub(crate) struct Watchdog {
    shared: Arc<(Mutex<WatchState>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct WatchState {
    sleeping: bool,
    disarmed: bool,
}

impl Watchdog {
    /// Starts watching the test named `test`.
    pub(crate) fn arm(test: &'static str) -> Self {
        let shared = Arc::new((Mutex::new(WatchState::default()), Condvar::new()));
        if cfg!(miri) {
            return Self {
                shared,
                thread: None,
            };
        }
        let thread = thread::Builder::new()
            .name(format!("watchdog of {test}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || watch(test, &shared)
            })
            .expect("spawn the watchdog");
        let (state, changed) = &*shared;
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        while !state.sleeping {
            state = changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        Self {
            shared,
            thread: Some(thread),
        }
    }
}

fn watch(test: &str, shared: &(Mutex<WatchState>, Condvar)) {
    let (state, changed) = shared;
    let deadline = Instant::now() + WAKE_DEADLINE;
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.sleeping = true;
    changed.notify_all();
    while !state.disarmed {
        let now = Instant::now();
        if now >= deadline {
            // Straight to the process's stderr: the harness captures `eprintln!`, and
            // would never print what it captured.
            let _ = writeln!(
                std::io::stderr(),
                "\n{test}: still running {WAKE_DEADLINE:?} after it started (lost wake-up?); \
                 aborting, since a hung thread cannot be unwound"
            );
            std::process::abort();
        }
        state = changed
            .wait_timeout(state, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (state, changed) = &*self.shared;
        state.lock().unwrap_or_else(|e| e.into_inner()).disarmed = true;
        changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
