//! An A/B loop for `#[valuetask::async_trait]` against `#[async_trait::async_trait]`: the
//! same `dyn` methods under each attribute, measured in alternating batches so that
//! background load hits both alike (a complement to `prove_it`, whose rounds visit every
//! case in turn). Prints the fastest and the median batch, in ns per call.
//!
//! ```text
//! cargo run --release --example async_trait_ab
//! ```

use std::future::Future;
use std::hint::black_box;
use std::task::Poll;
use std::time::Instant;

use valuetask::{ResetCore, Token, ValueTask};

#[path = "../tests/support/poll.rs"]
#[allow(dead_code)] // the example uses one of the shared helpers
mod poll;

use poll::poll_noop;

/// The methods under `#[valuetask::async_trait]`.
#[valuetask::async_trait]
trait Ours: Send + Sync {
    async fn get(&self, key: u64) -> u64;
    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64;
}

/// The same under `#[async_trait::async_trait]`.
#[async_trait::async_trait]
trait Theirs: Send + Sync {
    async fn get(&self, key: u64) -> u64;
    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64;
}

struct Cache {
    value: u64,
    miss: u64,
}

impl Cache {
    async fn fetch(&self, key: u64) -> u64 {
        self.value.wrapping_add(key)
    }
}

#[valuetask::async_trait]
impl Ours for Cache {
    async fn get(&self, key: u64) -> u64 {
        match (key != self.miss).then_some(self.value ^ key) {
            Some(value) => value,
            None => self.fetch(key).await,
        }
    }

    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64 {
        ValueTask::from_source(core, token).await ^ self.value
    }
}

#[async_trait::async_trait]
impl Theirs for Cache {
    async fn get(&self, key: u64) -> u64 {
        match (key != self.miss).then_some(self.value ^ key) {
            Some(value) => value,
            None => self.fetch(key).await,
        }
    }

    async fn call(&self, core: &ResetCore<u64>, token: Token) -> u64 {
        ValueTask::from_source(core, token).await ^ self.value
    }
}

#[inline(always)]
fn ready<F: Future + Unpin>(mut future: F) -> F::Output {
    match poll_noop(&mut future) {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("the body returns at once"),
    }
}

/// Polls the call (it waits on `core`), completes `core`, polls the call to the end.
#[inline(always)]
fn suspend_once<F: Future<Output = u64> + Unpin>(
    mut call: F,
    core: &ResetCore<u64>,
    token: Token,
    value: u64,
) -> u64 {
    assert!(poll_noop(&mut call).is_pending());
    core.complete(token, value).expect("the token is current");
    ready(call)
}

const BATCHES: usize = 60;
const CALLS: u64 = 200_000;

/// Times `CALLS` calls of `op`; returns ns per call.
fn batch(mut op: impl FnMut(u64) -> u64) -> f64 {
    let start = Instant::now();
    for i in 0..CALLS {
        black_box(op(i));
    }
    start.elapsed().as_secs_f64() * 1e9 / CALLS as f64
}

fn main() {
    let cache = Cache {
        value: black_box(0x9e37_79b9_7f4a_7c15),
        miss: black_box(u64::MAX),
    };
    let ours: &dyn Ours = &cache;
    let theirs: &dyn Theirs = &cache;
    let core = ResetCore::new();
    let names = [
        "async_trait (returns at once)",
        "valuetask::async_trait",
        "async_trait (suspends once)",
        "valuetask::async_trait",
    ];
    let mut times = vec![Vec::with_capacity(BATCHES); names.len()];
    for _ in 0..BATCHES {
        times[0].push(batch(|i| ready(black_box(theirs).get(i))));
        times[1].push(batch(|i| ready(black_box(ours).get(i))));
        times[2].push(batch(|i| {
            let token = core.reset();
            suspend_once(black_box(theirs).call(&core, token), &core, token, i)
        }));
        times[3].push(batch(|i| {
            let token = core.reset();
            suspend_once(black_box(ours).call(&core, token), &core, token, i)
        }));
    }
    println!("{:<32} {:>8} {:>8} {:>7}", "", "fastest", "median", "ratio");
    let mut medians = Vec::new();
    for (name, samples) in names.iter().zip(&mut times) {
        samples.sort_by(f64::total_cmp);
        let median = samples[BATCHES / 2];
        let ratio = if medians.len() % 2 == 1 {
            format!("{:.2}x", median / medians[medians.len() - 1])
        } else {
            String::new()
        };
        println!("{name:<32} {:>8.2} {median:>8.2} {ratio:>7}", samples[0]);
        medians.push(median);
    }
}
