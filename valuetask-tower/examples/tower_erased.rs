//! Time per request of an erased tower call, `service.clone().oneshot(request)`: this
//! crate's `BoxCloneSyncService` against tower's, in interleaved rounds (each round
//! times a batch of each, so load from elsewhere hits both alike); the median of each
//! and of the per-round ratios. Then the same with two threads calling clones of one
//! shared service at once (each thread parks and reuses its own boxes; tower's
//! allocator serves both).
//!
//! ```text
//! cargo run --release -p valuetask-tower --example tower_erased
//! ```

use std::hint::black_box;
use std::time::Instant;

use valuetask_tower::bench::{TowerBoxCloneSyncOneshot, ValueTaskBoxCloneSyncOneshot};

const ROUNDS: usize = 31;
const BATCH: u32 = 200_000;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// ns per op of `op` over one batch.
fn time(mut op: impl FnMut() -> u64) -> f64 {
    let start = Instant::now();
    for _ in 0..BATCH {
        black_box(op());
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(BATCH)
}

/// ns per op on each of `threads` threads at once, each calling `op` on its own fork of
/// `case` (a clone of its service).
fn time_threads<C: Sync>(
    threads: usize,
    case: &C,
    fork: impl Fn(&C) -> C + Sync,
    op: impl Fn(&mut C) -> u64 + Sync,
) -> f64 {
    let per_thread: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = fork(case);
                    time(|| op(&mut mine))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    per_thread.iter().sum::<f64>() / threads as f64
}

fn report(label: &str, ours: Vec<f64>, towers: Vec<f64>) {
    let ratios = ours.iter().zip(&towers).map(|(o, t)| o / t).collect();
    println!(
        "{label}: ours {:.1} ns/op, tower's {:.1} ns/op, ratio (median of rounds) {:.2}",
        median(ours),
        median(towers),
        median(ratios)
    );
}

fn main() {
    let mut ours = ValueTaskBoxCloneSyncOneshot::new();
    let mut towers = TowerBoxCloneSyncOneshot::new();
    let (mut ours_ns, mut towers_ns) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours_ns.push(time(|| ours.op()));
        towers_ns.push(time(|| towers.op()));
    }
    report("one thread", ours_ns, towers_ns);

    let (mut ours_ns, mut towers_ns) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS / 3 {
        ours_ns.push(time_threads(
            2,
            &ours,
            ValueTaskBoxCloneSyncOneshot::fork,
            ValueTaskBoxCloneSyncOneshot::op,
        ));
        towers_ns.push(time_threads(
            2,
            &towers,
            TowerBoxCloneSyncOneshot::fork,
            TowerBoxCloneSyncOneshot::op,
        ));
    }
    report("two threads, clones of one service", ours_ns, towers_ns);
}
