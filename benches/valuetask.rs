//! The comparison numbers, measured with divan: every valuetask tier beside the anchor
//! it replaces (`Box<dyn Future>`, `async-trait`, `Either`, the `oneshot`, tokio and
//! futures oneshot channels).
//!
//! The case bodies live in `examples/prove_it/cases.rs`, shared with
//! `cargo run --release --example prove_it`, which prints the comparison table. divan's
//! `AllocProfiler` counts only the benchmark's own thread: for the `*_cross_thread`
//! cases the allocations of the completer thread are missing here, and `prove_it`
//! (which counts process-wide) is the one to read.

use std::time::Duration;

use divan::Bencher;

#[path = "../examples/prove_it/cases.rs"]
mod cases;

use cases::Case;

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

/// Sets `C` up once and warms it up, then measures one operation per iteration.
fn run<C: Case>(bencher: Bencher) {
    let mut case = C::new();
    cases::warm_up(&mut case, Duration::from_millis(50));
    bencher.bench_local(|| case.op());
}

macro_rules! divan_benches {
    ($($name:ident: $case:ty, $threads:ident;)*) => {
        $(
            #[divan::bench]
            fn $name(bencher: Bencher) {
                run::<$case>(bencher);
            }
        )*
    };
}

cases::for_each_case!(divan_benches);
