//! A process-wide counting allocator: every thread's allocations count.
//!
//! One copy, included with `#[path]` by the tests and the examples. Each
//! binary declares its own `#[global_allocator]` static of [`CountingAlloc`] (a crate
//! can have only one), then measures a window with [`counted`].
//!
//! Counting is off outside a window, so that timed samples pay one relaxed load per
//! allocation and no shared read-modify-write.
//!
//! Set `VALUETASK_ALLOC_BACKTRACE=1` to record the backtrace of the first allocation
//! made inside a window ([`Counts::first_backtrace`]): the way to find out *who*
//! allocated when a zero-allocation check fails.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Wraps an allocator (the system one by default), counting while a window is open.
pub(crate) struct CountingAlloc<A = System>(pub(crate) A);

impl CountingAlloc {
    /// Counts over the system allocator.
    pub(crate) const fn system() -> Self {
        CountingAlloc(System)
    }
}

static COUNTING: AtomicBool = AtomicBool::new(false);
static TRACE_NEXT: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static DEALLOCS: AtomicUsize = AtomicUsize::new(0);
static FREED_BYTES: AtomicUsize = AtomicUsize::new(0);
static FIRST_BACKTRACE: Mutex<Option<String>> = Mutex::new(None);
/// Signalled when [`FIRST_BACKTRACE`] is written.
static BACKTRACE_WRITTEN: Condvar = Condvar::new();

thread_local! {
    /// Set while this thread records a backtrace, whose own allocations are not counted.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

fn in_hook() -> bool {
    IN_HOOK.try_with(Cell::get).unwrap_or(true)
}

#[inline]
fn record_alloc(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) || in_hook() {
        return;
    }
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size, Ordering::Relaxed);
    if TRACE_NEXT.swap(false, Ordering::Relaxed) {
        IN_HOOK.with(|hook| hook.set(true));
        let trace = Backtrace::force_capture().to_string();
        *FIRST_BACKTRACE.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("allocation of {size} bytes\n{trace}"));
        BACKTRACE_WRITTEN.notify_all();
        IN_HOOK.with(|hook| hook.set(false));
    }
}

#[inline]
fn record_dealloc(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) || in_hook() {
        return;
    }
    DEALLOCS.fetch_add(1, Ordering::Relaxed);
    FREED_BYTES.fetch_add(size, Ordering::Relaxed);
}

// SAFETY: every method forwards to the wrapped allocator with the caller's arguments
// unchanged, so its guarantees are ours; counting touches only atomics (and, when a
// backtrace is asked for, memory of its own that it allocates through us, uncounted).
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAlloc<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_alloc(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_alloc(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record_alloc(new_size);
        record_dealloc(layout.size());
        // SAFETY: `ptr` was allocated by the wrapped allocator (every allocation goes
        // through us to it) with `layout`, as the caller guarantees.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record_dealloc(layout.size());
        // SAFETY: as for `realloc`.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}

/// What the allocator saw during one window, on every thread.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    /// Allocations, zeroed allocations and reallocations.
    pub(crate) allocs: usize,
    /// The bytes they asked for.
    pub(crate) bytes: usize,
    /// Deallocations (a reallocation counts as one too).
    pub(crate) deallocs: usize,
    /// The bytes given back.
    pub(crate) freed_bytes: usize,
    /// With `VALUETASK_ALLOC_BACKTRACE=1`: where the window's first allocation came from.
    pub(crate) first_backtrace: Option<String>,
}

impl Counts {
    /// Bytes allocated in the window and not given back in it.
    pub(crate) fn live_bytes(&self) -> isize {
        self.bytes as isize - self.freed_bytes as isize
    }

    /// A line for a failure message: the count, and the backtrace when one was recorded.
    pub(crate) fn explain(&self) -> String {
        match &self.first_backtrace {
            Some(trace) => format!("{} allocations; the first was {trace}", self.allocs),
            None => format!(
                "{} allocations (rerun with VALUETASK_ALLOC_BACKTRACE=1 to see where the first came from)",
                self.allocs
            ),
        }
    }
}

/// Runs `f` with counting on, and returns what every thread allocated meanwhile. Windows
/// must not overlap (the counters are process-wide).
pub(crate) fn counted<R>(f: impl FnOnce() -> R) -> (Counts, R) {
    let trace = std::env::var_os("VALUETASK_ALLOC_BACKTRACE").is_some_and(|v| v != "0");
    *FIRST_BACKTRACE.lock().unwrap_or_else(|e| e.into_inner()) = None;
    for counter in [&ALLOCS, &BYTES, &DEALLOCS, &FREED_BYTES] {
        counter.store(0, Ordering::SeqCst);
    }
    TRACE_NEXT.store(trace, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let result = f();
    COUNTING.store(false, Ordering::SeqCst);
    let traced = trace && !TRACE_NEXT.swap(false, Ordering::SeqCst);
    if traced {
        // The allocating thread may still be writing its backtrace down.
        let written = FIRST_BACKTRACE.lock().unwrap_or_else(|e| e.into_inner());
        let _ = BACKTRACE_WRITTEN
            .wait_timeout_while(written, std::time::Duration::from_secs(10), |trace| {
                trace.is_none()
            })
            .unwrap_or_else(|e| e.into_inner());
    }
    let counts = Counts {
        allocs: ALLOCS.load(Ordering::SeqCst),
        bytes: BYTES.load(Ordering::SeqCst),
        deallocs: DEALLOCS.load(Ordering::SeqCst),
        freed_bytes: FREED_BYTES.load(Ordering::SeqCst),
        first_backtrace: FIRST_BACKTRACE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(),
    };
    (counts, result)
}

/// Runs `op(i)` for each `i` of `0..warm_up`, so that caches and pools reach their
/// steady state, then for each of `0..iterations` in a counted window; returns what
/// every thread allocated in the window.
pub(crate) fn counted_after_warm_up(
    warm_up: u64,
    iterations: u64,
    mut op: impl FnMut(u64),
) -> Counts {
    for i in 0..warm_up {
        op(i);
    }
    counted(|| {
        for i in 0..iterations {
            op(i);
        }
    })
    .0
}

/// Allocations counted so far in the open window, on every thread: for a window too
/// long or too asynchronous for one closure (an example's whole run), read at two
/// points and subtracted. Zero outside a window.
pub(crate) fn allocations_so_far() -> usize {
    if COUNTING.load(Ordering::SeqCst) {
        ALLOCS.load(Ordering::SeqCst)
    } else {
        0
    }
}

/// Returns once the test harness's own thread waits for this test's result, so that
/// the allocations it makes when it first waits (about four) fall before the first
/// window rather than into one.
///
/// The harness gives no signal, so this watches it: on Linux, until the process's main
/// thread (the harness's; the test runs on a thread of its own) sleeps in a futex wait,
/// which it enters after those allocations; for at most 5 s, after which it goes on (a
/// window may then see the harness's allocations, and say so). Elsewhere, and under
/// Miri, it sleeps 20 ms instead.
pub(crate) fn wait_until_the_harness_waits() {
    let fallback = || std::thread::sleep(std::time::Duration::from_millis(20));
    if cfg!(miri) || !cfg!(target_os = "linux") {
        return fallback();
    }
    if std::thread::current().name() == Some("main") {
        return; // run on the main thread: no harness thread waits meanwhile
    }
    let wchan = format!("/proc/self/task/{}/wchan", std::process::id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        match std::fs::read_to_string(&wchan) {
            Ok(waiting_in) if waiting_in.contains("futex") => return,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
            Err(_) => return fallback(),
        }
    }
}
