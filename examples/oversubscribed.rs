//! The oversubscribed stress: far more threads than cores doing round trips, and the
//! latency of every single `poll` call, per tier. A poll that waited on a preempted
//! thread (a claim held across a context switch) shows as a worst case of whole time
//! slices; a poll that never waits on another thread stays within what the scheduler
//! itself costs it.
//!
//! Each tier runs `PAIRS` pairs of threads (a poller and a completer, so 64 threads)
//! at once: the poller starts an operation, hands its responder to its completer through
//! a one-place mailbox, and polls its receiver with a no-op waker, yielding its time
//! slice between polls, until the value is there; the completer takes the responder and
//! completes. Every `poll` call is timed alone (two `Instant::now` around it), not the
//! round trip. The tiers: an embedded `ResetCore` (reset, complete, poll), a
//! `SourcePool` rental, a `valuetask::oneshot` channel, and, as anchor, a
//! `tokio::sync::oneshot` channel.
//!
//! Run: `cargo run --release --example oversubscribed` (`-- --rounds N` for N round
//! trips per pair, 2000 by default; `-- --out FILE` to write the table elsewhere). It
//! prints the table and writes it, with the command and a note on the machine, to
//! `docs/oversubscribed.md`.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Waker};
use std::thread;
use std::time::{Duration, Instant};

use valuetask::{ResetCore, SourcePool, Token, ValueTask};

/// Pairs of threads per tier: 64 threads.
const PAIRS: usize = 32;
/// Round trips per pair unless `--rounds` says otherwise.
const DEFAULT_ROUNDS: usize = 2000;

/// One kind of operation: how a poller starts one, and how a completer answers it.
trait Tier: Send + 'static {
    /// What the completer needs to complete the operation.
    type Responder: Send + 'static;
    /// What the poller polls.
    type Receiver<'a>: Future + Unpin
    where
        Self: 'a;

    fn name() -> &'static str;
    fn new() -> Self;
    fn begin(&mut self) -> (Self::Receiver<'_>, Self::Responder);
    fn respond(responder: Self::Responder, value: u64);
}

/// An embedded `ResetCore`, reset for each operation.
struct CoreTier(Arc<ResetCore<u64>>);

impl Tier for CoreTier {
    type Responder = (Arc<ResetCore<u64>>, Token);
    type Receiver<'a> = ValueTask<'a, u64>;

    fn name() -> &'static str {
        "`ResetCore` (embedded)"
    }

    fn new() -> Self {
        Self(Arc::new(ResetCore::new()))
    }

    fn begin(&mut self) -> (ValueTask<'_, u64>, Self::Responder) {
        let token = self.0.reset();
        (
            ValueTask::from_source(&*self.0, token),
            (Arc::clone(&self.0), token),
        )
    }

    fn respond((core, token): Self::Responder, value: u64) {
        core.complete(token, value).expect("the task waits for it");
    }
}

/// A `SourcePool` rental per operation.
struct PoolTier(SourcePool<u64>);

impl Tier for PoolTier {
    type Responder = valuetask::Completer<u64>;
    type Receiver<'a> = ValueTask<'a, Result<u64, valuetask::Abandoned>>;

    fn name() -> &'static str {
        "`SourcePool`"
    }

    fn new() -> Self {
        Self(SourcePool::with_capacity(4))
    }

    fn begin(&mut self) -> (Self::Receiver<'_>, Self::Responder) {
        self.0.rent()
    }

    fn respond(completer: Self::Responder, value: u64) {
        completer.succeed(value).expect("the task waits for it");
    }
}

/// A fresh `valuetask::oneshot` channel per operation.
struct OneshotTier;

impl Tier for OneshotTier {
    type Responder = valuetask::oneshot::Sender<u64>;
    type Receiver<'a> = valuetask::oneshot::Receiver<u64>;

    fn name() -> &'static str {
        "`valuetask::oneshot`"
    }

    fn new() -> Self {
        Self
    }

    fn begin(&mut self) -> (Self::Receiver<'_>, Self::Responder) {
        let (tx, rx) = valuetask::oneshot::channel();
        (rx, tx)
    }

    fn respond(sender: Self::Responder, value: u64) {
        sender.send(value).expect("the receiver waits for it");
    }
}

/// A fresh `tokio::sync::oneshot` channel per operation: the anchor.
struct TokioTier;

impl Tier for TokioTier {
    type Responder = tokio::sync::oneshot::Sender<u64>;
    type Receiver<'a> = tokio::sync::oneshot::Receiver<u64>;

    fn name() -> &'static str {
        "`tokio::sync::oneshot` (anchor)"
    }

    fn new() -> Self {
        Self
    }

    fn begin(&mut self) -> (Self::Receiver<'_>, Self::Responder) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (rx, tx)
    }

    fn respond(sender: Self::Responder, value: u64) {
        sender.send(value).expect("the receiver waits for it");
    }
}

/// A one-place mailbox from a poller to its completer. A plain lock: it is outside the
/// timed `poll` calls, so its cost does not reach the table.
struct Mailbox<P> {
    slot: Mutex<Option<(P, u64)>>,
}

impl<P> Mailbox<P> {
    fn put(&self, responder: P, value: u64) {
        let previous = self.slot.lock().unwrap().replace((responder, value));
        assert!(previous.is_none(), "a responder was never taken");
    }

    /// Waits (yielding) for the next responder.
    fn take(&self) -> (P, u64) {
        loop {
            if let Some(posted) = self.slot.lock().unwrap().take() {
                return posted;
            }
            thread::yield_now();
        }
    }
}

/// What one tier measured.
struct Measured {
    name: &'static str,
    /// Every poll call's latency, in nanoseconds, sorted.
    polls: Vec<u64>,
    round_trips: usize,
    elapsed: Duration,
}

impl Measured {
    fn quantile(&self, q: f64) -> u64 {
        let last = self.polls.len() - 1;
        self.polls[((last as f64) * q).round() as usize]
    }
}

fn run_tier<T: Tier>(rounds: usize) -> Measured {
    let start = Arc::new(Barrier::new(2 * PAIRS));
    let checksum = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let mut pollers = Vec::with_capacity(PAIRS);
    let mut completers = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        let mailbox = Arc::new(Mailbox::<T::Responder> {
            slot: Mutex::new(None),
        });
        let (posted, start_completer) = (Arc::clone(&mailbox), Arc::clone(&start));
        completers.push(thread::spawn(move || {
            start_completer.wait();
            for _ in 0..rounds {
                let (responder, value) = posted.take();
                T::respond(responder, value);
            }
        }));
        let (start_poller, sum) = (Arc::clone(&start), Arc::clone(&checksum));
        pollers.push(thread::spawn(move || {
            let mut tier = T::new();
            let mut latencies = Vec::with_capacity(rounds * 4);
            start_poller.wait();
            for round in 0..rounds {
                let (mut receiver, responder) = tier.begin();
                mailbox.put(responder, round as u64);
                let mut cx = Context::from_waker(Waker::noop());
                loop {
                    let before = Instant::now();
                    let polled = Pin::new(&mut receiver).poll(&mut cx);
                    latencies.push(before.elapsed().as_nanos() as u64);
                    if polled.is_ready() {
                        break;
                    }
                    thread::yield_now();
                }
                sum.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    let mut polls: Vec<u64> = pollers
        .into_iter()
        .flat_map(|poller| poller.join().expect("a poller panicked"))
        .collect();
    for completer in completers {
        completer.join().expect("a completer panicked");
    }
    let elapsed = began.elapsed();
    assert_eq!(checksum.load(Ordering::Relaxed), (PAIRS * rounds) as u64);
    polls.sort_unstable();
    Measured {
        name: T::name(),
        polls,
        round_trips: PAIRS * rounds,
        elapsed,
    }
}

fn table(results: &[Measured]) -> String {
    let mut out = String::from(
        "| tier | polls | median poll | p99.9 poll | worst poll | round trips/s |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for m in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} ns | {} ns | {} ns | {:.0} |",
            m.name,
            m.polls.len(),
            m.quantile(0.5),
            m.quantile(0.999),
            m.polls[m.polls.len() - 1],
            m.round_trips as f64 / m.elapsed.as_secs_f64(),
        );
    }
    out
}

fn machine_note() -> String {
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    format!(
        "{cores} cores available to the process; 1-minute load average {load} when the run \
         ended (the machine is shared: other builds and benchmarks ran beside it)"
    )
}

fn main() {
    let mut rounds = DEFAULT_ROUNDS;
    let mut out = String::from("docs/oversubscribed.md");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rounds needs a number")
            }
            "--out" => out = args.next().expect("--out needs a file name"),
            other => panic!(
                "unknown argument {other:?}; usage: oversubscribed [--rounds N] [--out FILE]"
            ),
        }
    }
    let results = [
        run_tier::<CoreTier>(rounds),
        run_tier::<PoolTier>(rounds),
        run_tier::<OneshotTier>(rounds),
        run_tier::<TokioTier>(rounds),
    ];
    let table = table(&results);
    let command = if rounds == DEFAULT_ROUNDS {
        "cargo run --release --example oversubscribed".to_owned()
    } else {
        format!("cargo run --release --example oversubscribed -- --rounds {rounds}")
    };
    let doc = format!(
        "# Oversubscribed: the latency of one `poll` call, {threads} threads on the machine's cores\n\n\
         Generated by `examples/oversubscribed.rs`; do not edit. Command: `{command}`.\n\n\
         {PAIRS} pairs of threads per tier (a poller and a completer), {rounds} round trips \
         per pair; a tier's {threads} threads run at once, the tiers one after another. Each row times every single `poll` call \
         of the pollers (a no-op waker, a yield between polls), not the round trip. A poll \
         that waited on a preempted thread would show whole time slices in its worst case; so \
         does a poll whose own thread was preempted inside the timed call, which no \
         design avoids.\n\n\
         Machine: {note}.\n\n{table}",
        threads = 2 * PAIRS,
        note = machine_note(),
    );
    std::fs::write(&out, &doc).unwrap_or_else(|e| panic!("writing {out}: {e}"));
    print!("{doc}");
}
