//! "Prove it": the comparison table, measured on this machine.
//!
//! Runs every case of `benches/valuetask.rs` (the bodies are shared, in
//! `examples/prove_it/cases.rs`) with a short harness of its own: for each case,
//! several samples of N operations (N calibrated so that a sample takes ~15 ms; the
//! cross-thread cases run 100k round trips in all), taken in rounds that visit every
//! case in turn, so background load hits each case alike; the median ns/op, and the
//! allocations per operation counted process-wide, on every thread, by a counting
//! global allocator. Then it checks each target.
//!
//! ```text
//! cargo run --release --example prove_it                  # the table (under a minute)
//! cargo run --release --example prove_it -- --quick       # a smoke test, a few seconds
//! cargo run --release --example prove_it -- --json        # one JSON object per case
//! cargo run --release --example prove_it -- --svg out.svg # also a bar chart of ns/op
//! ```

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use valuetask::ValueTask;

#[path = "prove_it/cases.rs"]
mod cases;

use cases::Case;

// ---------------------------------------------------------------------------------------
// Counting allocations on every thread.
// ---------------------------------------------------------------------------------------

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{CountingAlloc, counted};

/// The allocator underneath the counter: glibc's malloc through `System`, or, built with
/// `RUSTFLAGS="--cfg valuetask_bench_mimalloc"`, mimalloc, a fast allocator, so the
/// anchors' one allocation per operation is as cheap as it gets. Counting is off while
/// samples are timed: then it costs one relaxed load per allocation.
#[cfg(not(valuetask_bench_mimalloc))]
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc::system();
#[cfg(not(valuetask_bench_mimalloc))]
const ALLOCATOR: &str = "System (glibc malloc)";
#[cfg(valuetask_bench_mimalloc)]
#[global_allocator]
static GLOBAL: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc(mimalloc::MiMalloc);
#[cfg(valuetask_bench_mimalloc)]
const ALLOCATOR: &str = "mimalloc";

/// Runs `f` with counting on; returns the allocations and bytes made meanwhile.
fn count_allocs(f: impl FnOnce()) -> (usize, usize) {
    let (counts, ()) = counted(f);
    (counts.allocs, counts.bytes)
}

// ---------------------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------------------

/// How a case runs: on one thread, or completed by another thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Threads {
    Local,
    Cross,
}

struct Config {
    samples: usize,
    /// How long one sample of a single-thread case should take.
    sample_time: Duration,
    /// Round trips of a cross-thread case, over all samples.
    cross_round_trips: u64,
    /// How long each case runs before it is calibrated or sampled.
    warm_up: Duration,
}

impl Config {
    const FULL: Self = Self {
        samples: 15,
        sample_time: Duration::from_millis(15),
        cross_round_trips: 100_000,
        warm_up: Duration::from_millis(50),
    };
    const QUICK: Self = Self {
        samples: 5,
        sample_time: Duration::from_millis(1),
        cross_round_trips: 5_000,
        warm_up: Duration::from_millis(20),
    };
}

struct Measurement {
    case: &'static str,
    ns_per_op: f64,
    allocs_per_op: f64,
    bytes_per_op: f64,
    allocs: usize,
}

#[inline(never)]
fn run_ops<C: Case>(case: &mut C, ops: u64) {
    for _ in 0..ops {
        black_box(case.op());
    }
}

fn time_ops<C: Case>(case: &mut C, ops: u64) -> Duration {
    let start = Instant::now();
    run_ops(case, ops);
    start.elapsed()
}

/// The number of operations that takes about `target`, found by doubling.
fn calibrate<C: Case>(case: &mut C, target: Duration) -> u64 {
    let mut ops: u64 = 1;
    loop {
        let elapsed = time_ops(case, ops);
        if elapsed >= target / 8 || ops >= 1 << 32 {
            let scale = target.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            return ((ops as f64 * scale) as u64).max(1);
        }
        ops *= 2;
    }
}

/// One case under measurement, type-erased so that the single-thread cases can take
/// turns: every round measures one sample of each in table order, so a burst of load
/// from another process hits a case and the anchor it is compared with alike.
trait Subject {
    /// Whether another thread completes the case's operations.
    fn threads(&self) -> Threads;
    /// Builds, warms up and calibrates the case; returns the operations per sample.
    fn prepare(&mut self, config: &Config) -> u64;
    /// Times one sample of `ops` operations; returns ns/op.
    fn sample(&mut self, ops: u64) -> f64;
    /// Runs `ops` operations with allocation counting on; returns (allocations, bytes).
    fn count(&mut self, ops: u64) -> (usize, usize);
    /// Drops the case (and joins its completer thread, if any).
    fn finish(&mut self);
}

struct Runner<C> {
    threads: Threads,
    case: Option<C>,
}

impl<C: Case> Runner<C> {
    fn case(&mut self) -> &mut C {
        self.case.get_or_insert_with(C::new)
    }
}

impl<C: Case> Subject for Runner<C> {
    fn threads(&self) -> Threads {
        self.threads
    }

    fn prepare(&mut self, config: &Config) -> u64 {
        cases::warm_up(self.case(), config.warm_up);
        match self.threads {
            Threads::Local => calibrate(self.case(), config.sample_time),
            Threads::Cross => (config.cross_round_trips / config.samples as u64).max(1),
        }
    }

    fn sample(&mut self, ops: u64) -> f64 {
        time_ops(self.case(), ops).as_secs_f64() * 1e9 / ops as f64
    }

    fn count(&mut self, ops: u64) -> (usize, usize) {
        let case = self.case();
        count_allocs(|| run_ops(case, ops))
    }

    fn finish(&mut self) {
        self.case = None;
    }
}

fn runner<C: Case + 'static>(threads: Threads) -> Box<dyn Subject> {
    Box::new(Runner::<C> {
        threads,
        case: None,
    })
}

/// Measures every case. The single-thread cases are calibrated, then sampled in rounds;
/// each cross-thread case runs its samples in a block and is dropped before the next
/// one starts, so that only one completer thread spins at a time.
fn measure_all(
    subjects: Vec<(&'static str, Box<dyn Subject>)>,
    config: &Config,
) -> Vec<Measurement> {
    let mut subjects: Vec<_> = subjects
        .into_iter()
        .map(|(name, subject)| (name, subject, 0, Vec::with_capacity(config.samples)))
        .collect();
    for (_, subject, ops, _) in &mut subjects {
        if subject.threads() == Threads::Local {
            *ops = subject.prepare(config);
        }
    }
    for _ in 0..config.samples {
        for (_, subject, ops, samples) in &mut subjects {
            if subject.threads() == Threads::Local {
                samples.push(subject.sample(*ops));
            }
        }
    }
    subjects
        .iter_mut()
        .map(|(case, subject, ops, samples)| {
            if subject.threads() == Threads::Cross {
                *ops = subject.prepare(config);
                samples.extend((0..config.samples).map(|_| subject.sample(*ops)));
            }
            samples.sort_by(f64::total_cmp);
            let counted_ops = (*ops).min(100_000);
            let (allocs, bytes) = subject.count(counted_ops);
            subject.finish();
            Measurement {
                case,
                ns_per_op: samples[samples.len() / 2],
                allocs_per_op: allocs as f64 / counted_ops as f64,
                bytes_per_op: bytes as f64 / counted_ops as f64,
                allocs,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// What the table compares.
// ---------------------------------------------------------------------------------------

/// Each valuetask case and the cases it replaces, for the "vs" column.
const VS: &[(&str, &[&str])] = &[
    ("valuetask_ready", &["task_box_dyn", "dyn_sync_call"]),
    (
        "resetcore_roundtrip",
        &["multishot_roundtrip", "oneshot_complete_first"],
    ),
    (
        "pool_complete_first",
        &["multishot_roundtrip", "oneshot_complete_first"],
    ),
    ("pool_poll_first", &["oneshot_poll_first"]),
    ("pool_cross_thread", &["oneshot_cross_thread"]),
    (
        "valuetask_oneshot_complete_first",
        &[
            "tokio_oneshot_complete_first",
            "oneshot_complete_first",
            "multishot_roundtrip",
        ],
    ),
    (
        "valuetask_oneshot_poll_first",
        &["tokio_oneshot_poll_first"],
    ),
    (
        "valuetask_oneshot_cross_thread",
        &["tokio_oneshot_cross_thread"],
    ),
    (
        "valuetask_async_dyn",
        &["task_box_dyn_async", "async_trait_async"],
    ),
    (
        "valuetask_async_dyn_cross_thread",
        &["task_box_dyn_async_cross_thread"],
    ),
    ("valuetask_async_trait", &["async_trait"]),
    ("valuetask_async_trait_async", &["async_trait_async"]),
];

/// The targets of the project's design table, as its open issues quote them: the case
/// must allocate nothing and take at most `max_ratio` times the time of `anchor`, in
/// the same run.
struct Target {
    case: &'static str,
    anchor: &'static str,
    max_ratio: f64,
}

const TARGETS: &[Target] = &[
    Target {
        case: "valuetask_ready",
        anchor: "either_ready",
        max_ratio: 1.7,
    },
    Target {
        case: "pool_complete_first",
        anchor: "oneshot_complete_first",
        max_ratio: 0.7,
    },
    Target {
        case: "pool_poll_first",
        anchor: "oneshot_poll_first",
        max_ratio: 0.7,
    },
    Target {
        case: "resetcore_roundtrip",
        anchor: "oneshot_complete_first",
        max_ratio: 0.8,
    },
    Target {
        case: "pool_cross_thread",
        anchor: "oneshot_cross_thread",
        max_ratio: 1.0,
    },
    Target {
        case: "valuetask_oneshot_complete_first",
        anchor: "tokio_oneshot_complete_first",
        max_ratio: 0.5,
    },
    Target {
        case: "valuetask_oneshot_complete_first",
        anchor: "oneshot_complete_first",
        max_ratio: 0.8,
    },
    Target {
        case: "valuetask_oneshot_complete_first",
        anchor: "multishot_roundtrip",
        max_ratio: 1.3,
    },
    Target {
        case: "valuetask_oneshot_poll_first",
        anchor: "tokio_oneshot_poll_first",
        max_ratio: 0.6,
    },
    Target {
        case: "valuetask_oneshot_cross_thread",
        anchor: "tokio_oneshot_cross_thread",
        max_ratio: 0.8,
    },
    Target {
        case: "valuetask_async_dyn",
        anchor: "task_box_dyn_async",
        max_ratio: 1.0,
    },
    Target {
        case: "valuetask_async_dyn_cross_thread",
        anchor: "task_box_dyn_async_cross_thread",
        max_ratio: 1.0,
    },
    Target {
        case: "valuetask_async_trait",
        anchor: "async_trait",
        max_ratio: 0.6,
    },
    Target {
        case: "valuetask_async_trait_async",
        anchor: "async_trait_async",
        max_ratio: 1.0,
    },
];

/// A target: `size_of::<ValueTask<'_, u64>>()` at most that of `Either<Ready<u64>, BoxFuture>`.
const MAX_VALUETASK_SIZE: usize = 24;

/// A target: each `valuetask::oneshot` handle fits in two words, so it moves in registers.
const MAX_ONESHOT_HANDLE_SIZE: usize = 16;

fn find<'m>(results: &'m [Measurement], case: &str) -> Option<&'m Measurement> {
    results.iter().find(|m| m.case == case)
}

/// `case`'s time over `anchor`'s, when both were measured (`--only` may leave one out).
fn ratio(results: &[Measurement], case: &str, anchor: &str) -> Option<f64> {
    Some(find(results, case)?.ns_per_op / find(results, anchor)?.ns_per_op)
}

// ---------------------------------------------------------------------------------------
// Output.
// ---------------------------------------------------------------------------------------

fn print_table(results: &[Measurement], config: &Config) {
    println!("# valuetask: prove it (the comparison table, measured here)");
    println!();
    println!("machine: {}", machine());
    println!("allocator: {ALLOCATOR}");
    println!(
        "method:  median of {} samples, taken in rounds over all cases; single-thread \
         cases: N ops per sample (~{} ms), polled by hand with a no-op waker; cross-thread: \
         {} round trips in all, another OS thread completes, the consumer busy-polls; \
         allocations counted process-wide",
        config.samples,
        config.sample_time.as_millis(),
        config.cross_round_trips,
    );
    println!();
    println!(
        "| {:<30} | {:>8} | {:>9} | {:>8} | {:<40} |",
        "case", "ns/op", "allocs/op", "bytes/op", "vs"
    );
    println!(
        "|{:-<32}|{:->10}|{:->11}|{:->10}|{:-<42}|",
        ":", ":", ":", ":", ":"
    );
    for m in results {
        let vs = VS
            .iter()
            .find(|(case, _)| *case == m.case)
            .map(|(case, anchors)| {
                anchors
                    .iter()
                    .filter_map(|anchor| {
                        Some(format!("{:.2}x {anchor}", ratio(results, case, anchor)?))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!(
            "| {:<30} | {:>8.2} | {:>9.2} | {:>8.1} | {:<40} |",
            m.case, m.ns_per_op, m.allocs_per_op, m.bytes_per_op, vs
        );
    }
    println!();
    println!("## targets");
    println!();
    println!(
        "| {:<60} | {:<22} | {:<7} |",
        "target", "measured", "result"
    );
    println!("|{:-<62}|{:-<24}|{:-<9}|", ":", ":", ":");
    for target in TARGETS {
        let (Some(measured), Some(r)) = (
            find(results, target.case),
            ratio(results, target.case, target.anchor),
        ) else {
            continue;
        };
        let met = measured.allocs == 0 && r <= target.max_ratio;
        println!(
            "| {:<60} | {:<22} | {:<7} |",
            format!(
                "{} <= {}x {}, 0 alloc",
                target.case, target.max_ratio, target.anchor
            ),
            format!("{r:.2}x, {:.2} alloc/op", measured.allocs_per_op),
            if met { "met" } else { "NOT MET" },
        );
    }
    let size = size_of::<ValueTask<'_, u64>>();
    println!(
        "| {:<60} | {:<22} | {:<7} |",
        format!("size_of::<ValueTask<'_, u64>>() <= {MAX_VALUETASK_SIZE} B"),
        format!("{size} B"),
        if size <= MAX_VALUETASK_SIZE {
            "met"
        } else {
            "NOT MET"
        },
    );
    let handles = size_of::<valuetask::oneshot::Sender<u64>>()
        .max(size_of::<valuetask::oneshot::Receiver<u64>>());
    println!(
        "| {:<60} | {:<22} | {:<7} |",
        format!("size_of oneshot::{{Sender, Receiver}}<u64> <= {MAX_ONESHOT_HANDLE_SIZE} B"),
        format!("{handles} B"),
        if handles <= MAX_ONESHOT_HANDLE_SIZE {
            "met"
        } else {
            "NOT MET"
        },
    );
}

fn print_json(results: &[Measurement]) {
    for m in results {
        println!(
            "{{\"case\": \"{}\", \"ns_per_op\": {}, \"allocs_per_op\": {}, \"bytes_per_op\": {}}}",
            m.case,
            json_number(m.ns_per_op),
            json_number(m.allocs_per_op),
            json_number(m.bytes_per_op),
        );
    }
}

/// JSON has no NaN or infinity; a finite `f64` prints as a valid JSON number.
fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".to_owned()
    }
}

fn write_svg(path: &str, results: &[Measurement]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let n = results.len();
    let max = results.iter().map(|m| m.ns_per_op).fold(0.0, f64::max);
    let root = SVGBackend::new(path, (960, 80 + 32 * n as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "valuetask prove_it: median ns/op (lower is better)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(230)
        .build_cartesian_2d(0.0..max * 1.15, (0..n).into_segmented())?;
    // Plotters counts y upwards: draw the first case at the top.
    let row = |i: usize| n - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .label_style(("sans-serif", 15))
        .y_labels(n)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(j) if *j < n => results[n - 1 - *j].case.to_owned(),
            _ => String::new(),
        })
        .x_desc("ns/op")
        .draw()?;
    let valuetask = RGBColor(31, 119, 180);
    let anchor = RGBColor(160, 160, 160);
    chart.draw_series(results.iter().enumerate().map(|(i, m)| {
        let color = if VS.iter().any(|(case, _)| *case == m.case) {
            valuetask
        } else {
            anchor
        };
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row(i))),
                (m.ns_per_op, SegmentValue::Exact(row(i) + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(4, 4, 0, 0);
        bar
    }))?;
    chart.draw_series(results.iter().enumerate().map(|(i, m)| {
        Text::new(
            format!(" {:.1} ns, {} B", m.ns_per_op, m.bytes_per_op.round()),
            (m.ns_per_op, SegmentValue::CenterOf(row(i))),
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    }))?;
    root.present()?;
    Ok(())
}

/// CPU model, logical CPUs, load, rustc version and the date, as far as they can be found.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH));
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "rustc unknown".to_owned());
    // Other processes steal the cores the cross-thread cases spin on: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            l.split_whitespace()
                .next()
                .map(|one| format!(", 1-min load avg {one}"))
        })
        .unwrap_or_default();
    format!(
        "{cpu} ({cpus} logical CPUs{load}), {rustc}, {}",
        today_utc()
    )
}

/// The current UTC date and time, without a date crate.
fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Howard Hinnant's civil_from_days.
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let time = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        time / 3_600,
        time % 3_600 / 60
    )
}

const USAGE: &str = "usage: prove_it [--quick] [--json] [--svg FILE] [--only CASE,CASE...]";

fn main() -> ExitCode {
    let mut config = Config::FULL;
    let mut json = false;
    let mut svg = None;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => config = Config::QUICK,
            "--only" => match args.next() {
                Some(list) => only = Some(list),
                None => {
                    eprintln!("--only needs a comma-separated list of cases\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--json" => json = true,
            "--svg" => match args.next() {
                Some(path) => svg = Some(path),
                None => {
                    eprintln!("--svg needs a file name\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
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

    macro_rules! subjects {
        ($($name:ident: $case:ty, $threads:ident;)*) => {
            vec![$((stringify!($name), runner::<$case>(Threads::$threads)),)*]
        };
    }
    let mut subjects = cases::for_each_case!(subjects);
    if let Some(only) = &only {
        let wanted: Vec<&str> = only.split(',').collect();
        if let Some(unknown) = wanted
            .iter()
            .find(|name| !subjects.iter().any(|(case, _)| case == *name))
        {
            eprintln!("no case named {unknown:?}\n{USAGE}");
            return ExitCode::from(2);
        }
        subjects.retain(|(case, _)| wanted.contains(case));
    }
    let results = measure_all(subjects, &config);

    if json {
        print_json(&results);
    } else {
        print_table(&results, &config);
    }
    if let Some(path) = svg {
        if let Err(error) = write_svg(&path, &results) {
            eprintln!("could not write {path}: {error}");
            return ExitCode::FAILURE;
        }
        if !json {
            println!();
            println!("chart: {path}");
        }
    }
    ExitCode::SUCCESS
}
