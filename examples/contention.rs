//! `oneshot` channels under contention: `T` consumer threads, each with a producer
//! thread of its own, for T = 1, 2, 4, 8, 16; round trips per second per consumer for
//! `valuetask::oneshot`, `tokio::sync::oneshot` and the `oneshot` crate.
//!
//! Each consumer makes a batch of channels (allocated on its thread), polls every
//! receiver once (so each stores a waker, as an awaiting task does), hands the senders
//! to its producer, and waits; the producer sends on every channel (so the sender side
//! finishes on the producer's thread, often last: tokio's `Arc` and the `oneshot`
//! crate's box are then freed there, by another thread than the one that allocated
//! them), and signals the consumer, which takes every value. The hand-off is the same
//! for all three; only the channel differs.
//!
//! ```text
//! cargo run --release --example contention                      # the table, a few seconds
//! cargo run --release --example contention -- --json            # one JSON object per line
//! RUSTFLAGS="--cfg valuetask_bench_mimalloc" CARGO_TARGET_DIR=target/mimalloc \
//!     cargo run --release --example contention -- --json        # the same under mimalloc
//! cargo run --release --example contention -- --svg docs/contention.svg glibc.json mimalloc.json
//! cargo run --release --example contention -- --md docs/contention.md glibc.json mimalloc.json
//! ```
//!
//! `--md` rewrites the tables of `docs/contention.md` from the runs' points: it keeps the
//! file's hand-written text up to the line [`GENERATED`] and replaces what follows it.
//!
//! Options: `--ms N` measures each point for N ms (default 100); `--rounds N` repeats
//! each point N times (default 3), rotating the order of the three channels, and keeps
//! the median; `--threads 1,2,4` picks the thread counts. The run is bounded: 5 thread
//! counts x 3 channels x `--rounds` points of `--ms` each, plus short warm-ups (about
//! 6 s by default).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{CountingAlloc, counted};

#[cfg(not(valuetask_bench_mimalloc))]
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();
#[cfg(not(valuetask_bench_mimalloc))]
const ALLOCATOR: &str = "glibc";
#[cfg(valuetask_bench_mimalloc)]
#[global_allocator]
static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc(mimalloc::MiMalloc);
#[cfg(valuetask_bench_mimalloc)]
const ALLOCATOR: &str = "mimalloc";

/// Channels per hand-off: enough that the two condition-variable waits per batch are a
/// small part of a round trip, and no more than a thread's cache of free blocks per
/// size class (`future_pool::THREAD_CACHE_BLOCKS`), within which `valuetask::oneshot`
/// allocates nothing whatever the thread count.
const BATCH: usize = valuetask::future_pool::THREAD_CACHE_BLOCKS;

/// A oneshot channel implementation under test.
trait Channel: 'static {
    const NAME: &'static str;
    type Tx: Send + 'static;
    type Rx: Future<Output = Option<u64>> + Unpin;
    fn channel() -> (Self::Tx, Self::Rx);
    fn send(tx: Self::Tx, value: u64);
}

struct ValueTaskOneshot;
struct TokioOneshot;
struct OneshotCrate;

/// A receiver future whose error is dropped: each crate's error type differs.
struct Ok_<F>(F);

impl<F: Future<Output = Result<u64, E>> + Unpin, E> Future for Ok_<F> {
    type Output = Option<u64>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        Pin::new(&mut self.0).poll(cx).map(Result::ok)
    }
}

impl Channel for ValueTaskOneshot {
    const NAME: &'static str = "valuetask::oneshot";
    type Tx = valuetask::oneshot::Sender<u64>;
    type Rx = Ok_<valuetask::oneshot::Receiver<u64>>;
    fn channel() -> (Self::Tx, Self::Rx) {
        let (tx, rx) = valuetask::oneshot::channel();
        (tx, Ok_(rx))
    }
    fn send(tx: Self::Tx, value: u64) {
        let _ = tx.send(value);
    }
}

impl Channel for TokioOneshot {
    const NAME: &'static str = "tokio::sync::oneshot";
    type Tx = tokio::sync::oneshot::Sender<u64>;
    type Rx = Ok_<tokio::sync::oneshot::Receiver<u64>>;
    fn channel() -> (Self::Tx, Self::Rx) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (tx, Ok_(rx))
    }
    fn send(tx: Self::Tx, value: u64) {
        let _ = tx.send(value);
    }
}

impl Channel for OneshotCrate {
    const NAME: &'static str = "oneshot crate";
    type Tx = oneshot::Sender<u64>;
    type Rx = Ok_<<oneshot::Receiver<u64> as IntoFuture>::IntoFuture>;
    fn channel() -> (Self::Tx, Self::Rx) {
        let (tx, rx) = oneshot::channel();
        (tx, Ok_(rx.into_future()))
    }
    fn send(tx: Self::Tx, value: u64) {
        let _ = tx.send(value);
    }
}

/// One consumer/producer pair's hand-off: the batch of senders one way, "done" back.
struct Pair<C: Channel> {
    state: Mutex<Handoff<C>>,
    changed: Condvar,
}

struct Handoff<C: Channel> {
    senders: Vec<C::Tx>,
    /// Set by the producer once it sent on every channel of the batch.
    served: bool,
    stop: bool,
}

impl<C: Channel> Pair<C> {
    fn new() -> Self {
        Self {
            state: Mutex::new(Handoff {
                senders: Vec::with_capacity(BATCH),
                served: false,
                stop: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// The producer's loop: take each batch, send on every channel, say so.
    fn produce(&self) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut value = 0;
        loop {
            {
                let mut state = self.state.lock().unwrap();
                while state.senders.is_empty() && !state.stop {
                    state = self.changed.wait(state).unwrap();
                }
                if state.senders.is_empty() {
                    return;
                }
                std::mem::swap(&mut batch, &mut state.senders);
            }
            for tx in batch.drain(..) {
                value += 1;
                C::send(tx, value);
            }
            self.state.lock().unwrap().served = true;
            self.changed.notify_all();
        }
    }

    /// One batch of round trips from the consumer's side.
    fn round_trips(&self, receivers: &mut Vec<C::Rx>, senders: &mut Vec<C::Tx>) -> u64 {
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..BATCH {
            let (tx, mut rx) = C::channel();
            // Wait as a task does: the receiver keeps a waker.
            assert!(Pin::new(&mut rx).poll(&mut cx).is_pending());
            receivers.push(rx);
            senders.push(tx);
        }
        {
            let mut state = self.state.lock().unwrap();
            std::mem::swap(&mut state.senders, senders);
            state.served = false;
        }
        self.changed.notify_all();
        {
            let mut state = self.state.lock().unwrap();
            while !state.served {
                state = self.changed.wait(state).unwrap();
            }
        }
        let mut sum = 0;
        for mut rx in receivers.drain(..) {
            match Pin::new(&mut rx).poll(&mut cx) {
                Poll::Ready(Some(value)) => sum += value,
                _ => panic!("the producer sent on every channel of the batch"),
            }
        }
        std::hint::black_box(sum);
        BATCH as u64
    }

    fn stop(&self) {
        self.state.lock().unwrap().stop = true;
        self.changed.notify_all();
    }
}

/// One measured point.
struct Point {
    channel: &'static str,
    threads: usize,
    /// Round trips per second per consumer thread (median over the consumers).
    per_thread: f64,
    allocs_per_round_trip: f64,
}

/// `threads` pairs run for `time` after a warm-up; returns round trips per second
/// per consumer (the median consumer), and allocations per round trip counted
/// process-wide over a short window after the timed one.
fn measure<C: Channel>(threads: usize, time: Duration) -> Point {
    let pairs: Vec<Arc<Pair<C>>> = (0..threads).map(|_| Arc::new(Pair::new())).collect();
    let producers: Vec<_> = pairs
        .iter()
        .map(|pair| {
            let pair = Arc::clone(pair);
            thread::spawn(move || pair.produce())
        })
        .collect();
    // Phases: warm up, timed, counted, stop. The main thread moves every consumer from
    // one to the next with barriers.
    let start = Arc::new(Barrier::new(threads + 1));
    let timed_done = Arc::new(Barrier::new(threads + 1));
    let counted_go = Arc::new(Barrier::new(threads + 1));
    let counted_done = Arc::new(Barrier::new(threads + 1));
    let running = Arc::new(AtomicBool::new(true));
    let results: Arc<Vec<AtomicU64>> = Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect());
    let consumers: Vec<_> = pairs
        .iter()
        .enumerate()
        .map(|(i, pair)| {
            let pair = Arc::clone(pair);
            let (start, timed_done, counted_go, counted_done) = (
                Arc::clone(&start),
                Arc::clone(&timed_done),
                Arc::clone(&counted_go),
                Arc::clone(&counted_done),
            );
            let (running, results) = (Arc::clone(&running), Arc::clone(&results));
            thread::spawn(move || {
                let mut receivers = Vec::with_capacity(BATCH);
                let mut senders = Vec::with_capacity(BATCH);
                for _ in 0..20 {
                    pair.round_trips(&mut receivers, &mut senders);
                }
                start.wait();
                let began = Instant::now();
                let mut done = 0;
                while running.load(Ordering::Relaxed) {
                    done += pair.round_trips(&mut receivers, &mut senders);
                }
                let rate = done as f64 / began.elapsed().as_secs_f64();
                results[i].store(rate.to_bits(), Ordering::Relaxed);
                timed_done.wait();
                counted_go.wait();
                for _ in 0..4 {
                    pair.round_trips(&mut receivers, &mut senders);
                }
                counted_done.wait();
            })
        })
        .collect();
    start.wait();
    thread::sleep(time);
    running.store(false, Ordering::Relaxed);
    timed_done.wait();
    let (counts, ()) = counted(|| {
        counted_go.wait();
        counted_done.wait();
    });
    for consumer in consumers {
        consumer.join().unwrap();
    }
    for pair in &pairs {
        pair.stop();
    }
    for producer in producers {
        producer.join().unwrap();
    }
    let mut rates: Vec<f64> = results
        .iter()
        .map(|r| f64::from_bits(r.load(Ordering::Relaxed)))
        .collect();
    rates.sort_by(f64::total_cmp);
    Point {
        channel: C::NAME,
        threads,
        per_thread: rates[rates.len() / 2],
        allocs_per_round_trip: counts.allocs as f64 / (threads * 4 * BATCH) as f64,
    }
}

/// The round with the median throughput; the most allocations any round saw.
fn median(mut rounds: Vec<Point>) -> Point {
    let allocs = rounds
        .iter()
        .map(|p| p.allocs_per_round_trip)
        .fold(0.0, f64::max);
    rounds.sort_by(|a, b| a.per_thread.total_cmp(&b.per_thread));
    let mut point = rounds.swap_remove(rounds.len() / 2);
    point.allocs_per_round_trip = allocs;
    point
}

// ---------------------------------------------------------------------------------------
// The chart: per-thread throughput against threads, one panel per allocator.
// ---------------------------------------------------------------------------------------

/// A point read back from a `--json` line.
struct Row {
    allocator: String,
    channel: String,
    threads: usize,
    per_thread: f64,
    allocs_per_round_trip: f64,
    cpus: usize,
}

/// The value of `"key": value` in one of our own JSON lines.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &line[start..];
    let end = rest.find([',', '}'])?;
    Some(rest[..end].trim().trim_matches('"'))
}

fn read_rows(path: &str) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let missing = || format!("{path}: a line without the expected fields: {line}");
        rows.push(Row {
            allocator: field(line, "allocator").ok_or_else(missing)?.to_owned(),
            channel: field(line, "channel").ok_or_else(missing)?.to_owned(),
            threads: field(line, "threads").ok_or_else(missing)?.parse()?,
            per_thread: field(line, "round_trips_per_sec_per_thread")
                .ok_or_else(missing)?
                .parse()?,
            allocs_per_round_trip: field(line, "allocs_per_round_trip")
                .ok_or_else(missing)?
                .parse()?,
            cpus: field(line, "cpus").ok_or_else(missing)?.parse()?,
        });
    }
    Ok(rows)
}

fn write_svg(path: &str, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let mut allocators: Vec<&str> = rows.iter().map(|r| r.allocator.as_str()).collect();
    allocators.dedup();
    let channels = [
        "valuetask::oneshot",
        "tokio::sync::oneshot",
        "oneshot crate",
    ];
    let colors = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(120, 120, 120),
    ];
    let max_threads = rows.iter().map(|r| r.threads).max().unwrap_or(16) as f64;
    let max_rate = rows.iter().map(|r| r.per_thread).fold(1.0, f64::max);
    let root = SVGBackend::new(path, (960, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "oneshot round trips per second per consumer thread (higher is better; 2-core machine)",
        ("sans-serif", 18),
    )?;
    // The legend has a strip of its own above the panels, so it never covers a line.
    let (legend, root) = root.split_vertically(30);
    for (i, (channel, color)) in channels.iter().zip(colors).enumerate() {
        let x = 80 + 240 * i as i32;
        legend.draw(&PathElement::new(
            vec![(x, 15), (x + 26, 15)],
            color.stroke_width(3),
        ))?;
        legend.draw(&Circle::new((x + 13, 15), 3, color.filled()))?;
        legend.draw(&Text::new(*channel, (x + 34, 8), ("sans-serif", 14)))?;
    }
    let panels = root.split_evenly((1, allocators.len().max(1)));
    for (panel, allocator) in panels.iter().zip(&allocators) {
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("allocator: {allocator}"), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (1.0..max_threads).log_scale(),
                (1e4..max_rate * 2.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("consumer threads (each with its own producer thread)")
            .y_desc("round trips/s per consumer")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{:.0}k", y / 1e3))
            .label_style(("sans-serif", 13))
            .draw()?;
        for (channel, color) in channels.iter().zip(colors) {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.allocator == *allocator && r.channel == *channel)
                .map(|r| (r.threads as f64, r.per_thread))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )?;
        }
    }
    root.present()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The tables of docs/contention.md.
// ---------------------------------------------------------------------------------------

/// The line of `docs/contention.md` after which `--md` writes; the text above it is kept.
const GENERATED: &str = "<!-- Generated below by `cargo run --release --example contention -- --md docs/contention.md RUN.json...`: edit the text above this line only. -->";

/// The text of `path` up to and including the [`GENERATED`] line (the whole file and the
/// line after it when the line is missing, so nothing hand-written is lost).
fn kept_header(path: &str) -> Result<String, Box<dyn std::error::Error>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error.into()),
    };
    Ok(match text.find(GENERATED) {
        Some(at) => format!("{}\n", &text[..at + GENERATED.len()]),
        None => format!("{text}{GENERATED}\n"),
    })
}

fn write_markdown(path: &str, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    use std::fmt::Write as _;

    let mut text = kept_header(path)?;
    let mut allocators: Vec<&str> = rows.iter().map(|r| r.allocator.as_str()).collect();
    allocators.dedup();
    for allocator in allocators {
        let of_allocator: Vec<&Row> = rows.iter().filter(|r| r.allocator == allocator).collect();
        let cpus = of_allocator.first().map_or(0, |r| r.cpus);
        write!(
            text,
            "\n### allocator: {allocator}, {cpus} logical CPUs\n\n\
             | threads | channel | round trips/s per consumer | allocs/round trip | valuetask::oneshot vs it |\n\
             |--:|:--|--:|--:|--:|\n"
        )?;
        for row in &of_allocator {
            let ours = of_allocator
                .iter()
                .find(|r| r.threads == row.threads && r.channel == "valuetask::oneshot")
                .map_or(f64::NAN, |r| r.per_thread);
            writeln!(
                text,
                "| {} | {} | {:.0} | {:.2} | {:.2}x |",
                row.threads,
                row.channel,
                row.per_thread,
                row.allocs_per_round_trip,
                ours / row.per_thread
            )?;
        }
    }
    std::fs::write(path, text)?;
    Ok(())
}

const USAGE: &str = "usage: contention [--json] [--ms N] [--rounds N] [--threads 1,2,4,8,16]\n       contention --svg OUT.svg RUN.json [RUN.json...]\n       contention --md OUT.md RUN.json [RUN.json...]";

fn main() -> ExitCode {
    let mut json = false;
    let mut time = Duration::from_millis(100);
    let mut rounds_per_point = 3;
    let mut threads = vec![1, 2, 4, 8, 16];
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--ms" => match args.next().and_then(|n| n.parse().ok()) {
                Some(ms) => time = Duration::from_millis(ms),
                None => {
                    eprintln!("--ms needs a number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--rounds" => match args.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0) {
                Some(n) => rounds_per_point = n,
                None => {
                    eprintln!("--rounds needs a positive number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--threads" => {
                let list: Option<Vec<usize>> = args
                    .next()
                    .map(|l| {
                        l.split(',')
                            .map(|n| n.parse().ok().filter(|&n| n > 0))
                            .collect()
                    })
                    .unwrap_or(None);
                match list {
                    Some(list) if !list.is_empty() => threads = list,
                    _ => {
                        eprintln!("--threads needs a list of positive numbers\n{USAGE}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--svg" | "--md" => {
                let Some(out) = args.next() else {
                    eprintln!("{arg} needs a file name\n{USAGE}");
                    return ExitCode::from(2);
                };
                let mut rows = Vec::new();
                for input in args.by_ref() {
                    match read_rows(&input) {
                        Ok(more) => rows.extend(more),
                        Err(error) => {
                            eprintln!("{error}");
                            return ExitCode::FAILURE;
                        }
                    }
                }
                let written = if arg == "--svg" {
                    write_svg(&out, &rows)
                } else {
                    write_markdown(&out, &rows)
                };
                return match written {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("writing {out}: {error}");
                        ExitCode::FAILURE
                    }
                };
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    if !json {
        println!(
            "# oneshot under contention ({ALLOCATOR}, {cpus} logical CPUs, median of {rounds_per_point} rounds of {} ms per point)",
            time.as_millis()
        );
        println!();
        println!(
            "| threads | {:<22} | {:>16} | {:>9} | {:>7} |",
            "channel", "round trips/s/thr", "allocs/rt", "vs ours"
        );
        println!(
            "|--------:|:{:-<22}-|-{:->16}:|-{:->9}:|-{:->7}:|",
            "", "", "", ""
        );
    }
    for &t in &threads {
        // Rounds, each in a rotated order, so that a burst of load from elsewhere hits
        // every channel alike; the median round counts.
        let mut rounds: [Vec<Point>; 3] = Default::default();
        for round in 0..rounds_per_point {
            for k in 0..3 {
                match (round + k) % 3 {
                    0 => rounds[0].push(measure::<ValueTaskOneshot>(t, time)),
                    1 => rounds[1].push(measure::<TokioOneshot>(t, time)),
                    _ => rounds[2].push(measure::<OneshotCrate>(t, time)),
                }
            }
        }
        let [ours, tokio, crate_] = rounds.map(median);
        for point in [&ours, &tokio, &crate_] {
            if json {
                println!(
                    "{{\"allocator\": \"{ALLOCATOR}\", \"channel\": \"{}\", \"threads\": {}, \"round_trips_per_sec_per_thread\": {:.0}, \"allocs_per_round_trip\": {:.3}, \"cpus\": {cpus}}}",
                    point.channel, point.threads, point.per_thread, point.allocs_per_round_trip
                );
            } else {
                println!(
                    "| {:>7} | {:<22} | {:>17.0} | {:>9.2} | {:>6.2}x |",
                    point.threads,
                    point.channel,
                    point.per_thread,
                    point.allocs_per_round_trip,
                    ours.per_thread / point.per_thread,
                );
            }
        }
    }
    ExitCode::SUCCESS
}
