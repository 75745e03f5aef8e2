//! An A/B loop for `#[valuetask::async_trait]` against `#[async_trait::async_trait]`: the
//! `prove_it` cases of the two attributes, measured in alternating batches so that
//! background load hits both alike (a complement to `prove_it`, whose rounds visit every
//! case in turn). Prints the fastest and the median batch, in ns per call.
//!
//! ```text
//! cargo run --release --example async_trait_ab
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "prove_it/cases.rs"]
#[allow(dead_code, unused_imports, unused_macros)] // this loop runs four of the shared cases
mod cases;

use cases::Case;

const BATCHES: usize = 60;
const CALLS: u64 = 200_000;

/// Times `CALLS` operations of `case`; returns ns per operation.
fn batch<C: Case>(case: &mut C) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        black_box(case.op());
    }
    start.elapsed().as_secs_f64() * 1e9 / CALLS as f64
}

/// Warms both cases up, then measures them in alternating batches.
fn pair<A: Case, B: Case>(names: [&'static str; 2], times: &mut Vec<(&'static str, Vec<f64>)>) {
    let (mut a, mut b) = (A::new(), B::new());
    cases::warm_up(&mut a, Duration::from_millis(50));
    cases::warm_up(&mut b, Duration::from_millis(50));
    let (mut ta, mut tb) = (Vec::with_capacity(BATCHES), Vec::with_capacity(BATCHES));
    for _ in 0..BATCHES {
        ta.push(batch(&mut a));
        tb.push(batch(&mut b));
    }
    times.push((names[0], ta));
    times.push((names[1], tb));
}

fn main() {
    let mut times = Vec::new();
    pair::<cases::AsyncTraitCall, cases::ValueTaskAsyncTrait>(
        ["async_trait (returns at once)", "valuetask::async_trait"],
        &mut times,
    );
    pair::<cases::AsyncTraitAsync, cases::ValueTaskAsyncTraitAsync>(
        ["async_trait (suspends once)", "valuetask::async_trait"],
        &mut times,
    );
    println!("{:<32} {:>8} {:>8} {:>7}", "", "fastest", "median", "ratio");
    let mut medians: Vec<f64> = Vec::new();
    for (name, samples) in &mut times {
        samples.sort_by(f64::total_cmp);
        let median = samples[BATCHES / 2];
        let ratio = match medians.len() % 2 {
            1 => format!("{:.2}x", median / medians[medians.len() - 1]),
            _ => String::new(),
        };
        println!("{name:<32} {:>8.2} {median:>8.2} {ratio:>7}", samples[0]);
        medians.push(median);
    }
}
