//! Allocations per request through an axum `Router` called directly, with one handler
//! and one `from_fn` middleware: stock axum against `pooled` and this crate's `from_fn`,
//! counted over the same number of requests (built beforehand) after a warm-up, then
//! one request of each traced: every allocation with its size and the frames that made
//! it.
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=true cargo run --release -p valuetask-tower --example axum_allocs
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use valuetask_tower::bench::axum_router::{PooledRouter, StockRouter, request};

/// Counts allocations while [`COUNTING`] is set and, while [`TRACING`] is set too,
/// records each one's backtrace.
struct TracingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static TRACING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static TRACES: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());

thread_local! {
    /// Set while this thread records a backtrace, whose own allocations are not counted.
    static IN_TRACE: Cell<bool> = const { Cell::new(false) };
}

fn record(size: usize) {
    if !COUNTING.load(Ordering::Relaxed) || IN_TRACE.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    if TRACING.load(Ordering::Relaxed) {
        IN_TRACE.with(|flag| flag.set(true));
        let trace = Backtrace::force_capture().to_string();
        TRACES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((size, trace));
        IN_TRACE.with(|flag| flag.set(false));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// its guarantees are ours; recording touches atomics and, while tracing, memory of its
// own allocated through us and not recorded.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for TracingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: `ptr` came from `System` (every allocation goes through us to it) with
        // `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: TracingAlloc = TracingAlloc;

const WARM_UP: usize = 2_000;
const REQUESTS: usize = 10_000;

/// Allocations made by `f`.
fn count(f: impl FnOnce()) -> usize {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

/// The frames of a backtrace that name axum, tower, http or this workspace's crates,
/// outside the allocator and the standard library: who asked for the memory.
fn culprits(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .map(str::trim)
        .filter(|line| line.contains(": ") && !line.starts_with("at "))
        .map(|line| line.split_once(": ").map_or(line, |(_, name)| name))
        .filter(|name| {
            ["axum", "tower", "http", "valuetask"]
                .iter()
                .any(|krate| name.starts_with(krate) || name.starts_with(&format!("<{krate}")))
        })
        .filter(|name| !name.contains("TracingAlloc") && !name.contains("axum_allocs::"))
        .take(4)
        .collect()
}

/// Counts `requests` through `respond` after a warm-up, then traces one more.
fn measure(name: &str, mut respond: impl FnMut(axum::extract::Request)) -> f64 {
    for _ in 0..WARM_UP {
        respond(request());
    }
    let requests: Vec<_> = (0..REQUESTS).map(|_| request()).collect();
    let allocs = count(|| requests.into_iter().for_each(&mut respond));
    let per_request = allocs as f64 / REQUESTS as f64;
    println!("{name}: {per_request} allocations per request ({allocs} in {REQUESTS})");

    let one = request();
    TRACES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    TRACING.store(true, Ordering::SeqCst);
    count(|| respond(one));
    TRACING.store(false, Ordering::SeqCst);
    for (size, trace) in TRACES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        println!(
            "  {size:>5} bytes  {}",
            culprits(trace).join("\n               < ")
        );
    }
    per_request
}

fn main() {
    let shapes = [
        (
            "routes made once, as `axum::serve` does (`Router::with_state(())`)",
            StockRouter::new(),
            PooledRouter::new(),
        ),
        (
            "routes made per request (the `Router` as `Router::new()` left it)",
            StockRouter::per_request_routes(),
            PooledRouter::per_request_routes(),
        ),
    ];
    for (shape, mut stock, mut pooled) in shapes {
        println!("# {shape}");
        let stock_allocs = measure("stock axum", |req| drop(black_box(stock.respond(req))));
        let pooled_allocs = measure("pooled", |req| drop(black_box(pooled.respond(req))));
        println!("pooled/stock: {pooled_allocs} against {stock_allocs} allocations per request\n");
    }
}
