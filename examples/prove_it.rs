//! "Prove it": the comparison table, measured on this machine.
//!
//! Runs every case of `benches/valuetask.rs` (the bodies are shared, in
//! `examples/prove_it/cases.rs`) with a short harness of its own. Each valuetask case is
//! measured in a group with the anchors it replaces ([`GROUPS`]), interleaved: in every
//! round, one sample of each member (N operations, N calibrated so that a sample takes
//! ~15 ms), in table order on even rounds and reversed on odd ones, so that background
//! load falls on a case and its anchors alike. The verdict is the median of the
//! per-round ratios, reported with its quartiles; allocations per operation are counted
//! process-wide, on every thread, by a counting global allocator. Then it checks each
//! target of DESIGN.md. The run never fails on a verdict: it reports.
//!
//! ```text
//! cargo run --release --example prove_it                  # the table (about a minute)
//! cargo run --release --example prove_it -- --quick       # a smoke test, a few seconds
//! cargo run --release --example prove_it -- --write-docs  # also docs/prove_it.{md,svg}
//! cargo run --release --example prove_it -- --json        # one JSON object per row
//! cargo run --release --example prove_it -- --svg out.svg # also the chart, elsewhere
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
#[derive(Clone, Copy)]
enum Threads {
    Local,
    /// A round trip: another thread completes, this one waits for it.
    Cross,
    /// A queue to another thread that finishes the operations; this one only waits when
    /// the queue is full.
    Pipeline,
}

struct Config {
    samples: usize,
    /// How long one sample of a single-thread case should take.
    sample_time: Duration,
    /// The fewest operations in a sample of a cross-thread case.
    min_cross_ops: u64,
    /// How long each case runs before it is calibrated or sampled.
    warm_up: Duration,
}

impl Config {
    const FULL: Self = Self {
        samples: 15,
        sample_time: Duration::from_millis(15),
        min_cross_ops: 2_000,
        warm_up: Duration::from_millis(50),
    };
    const QUICK: Self = Self {
        samples: 5,
        sample_time: Duration::from_millis(1),
        min_cross_ops: 200,
        warm_up: Duration::from_millis(20),
    };
}

#[inline(never)]
fn run_ops<C: Case>(case: &mut C, ops: u64) {
    for _ in 0..ops {
        black_box(case.op());
    }
}

/// Times `ops` operations: on this thread's CPU clock for a single-thread case, so that
/// the time the thread spends descheduled while other processes run does not count; on
/// the wall clock for a cross-thread case, whose round trip needs both threads running.
fn time_ops<C: Case>(case: &mut C, ops: u64, threads: Threads) -> Duration {
    match threads {
        Threads::Local => {
            let start = thread_cpu_time();
            run_ops(case, ops);
            thread_cpu_time().saturating_sub(start)
        }
        Threads::Cross | Threads::Pipeline => {
            let start = Instant::now();
            run_ops(case, ops);
            start.elapsed()
        }
    }
}

/// The CPU time this thread has used, from `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`,
/// which brings the scheduler's account up to date before it reads it.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    /// `struct timespec` on 64-bit Linux.
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanoseconds: i64,
    }
    /// From `<linux/time.h>`.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    unsafe extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    let mut time = Timespec {
        seconds: 0,
        nanoseconds: 0,
    };
    // SAFETY: `time` is a valid, writable `struct timespec` (two 64-bit fields on the
    // 64-bit targets this example runs on) and the clock id is a constant Linux defines.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(time.seconds as u64, time.nanoseconds as u32)
}

/// Elsewhere, the wall clock since the first call.
#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// A round-trip sample is timed in batches of this many operations, and a batch during
/// which the measuring thread was switched out (it parked waiting for a partner that
/// another process had descheduled, or was preempted itself) is left out: it measures the
/// scheduler's wake-up latency (tens to hundreds of microseconds where a round trip takes
/// about a hundred nanoseconds), the same for every channel. The sample is the median of
/// the clean batches, or NaN if there was none.
const CROSS_BATCH: u64 = 16;

/// How many times this thread was switched out so far (voluntarily or not), from
/// `getrusage(RUSAGE_THREAD)`.
#[cfg(target_os = "linux")]
fn context_switches() -> i64 {
    /// `struct rusage` on 64-bit Linux: two `struct timeval`s, then 14 `long`s, of which
    /// the last two are `ru_nvcsw` and `ru_nivcsw`.
    #[repr(C)]
    struct Rusage {
        times: [i64; 4],
        counts: [i64; 14],
    }
    /// From `<linux/resource.h>`.
    const RUSAGE_THREAD: i32 = 1;
    unsafe extern "C" {
        fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }
    let mut usage = Rusage {
        times: [0; 4],
        counts: [0; 14],
    };
    // SAFETY: `usage` is a valid, writable `struct rusage` (its 64-bit Linux layout) and
    // `RUSAGE_THREAD` is a constant Linux defines.
    let status = unsafe { getrusage(RUSAGE_THREAD, &mut usage) };
    assert_eq!(status, 0, "getrusage(RUSAGE_THREAD) failed");
    usage.counts[12] + usage.counts[13]
}

/// Elsewhere, no count: every batch counts.
#[cfg(not(target_os = "linux"))]
fn context_switches() -> i64 {
    0
}

/// The number of operations that takes about `target`, found by doubling.
fn calibrate<C: Case>(case: &mut C, target: Duration, threads: Threads) -> u64 {
    let mut ops: u64 = 1;
    loop {
        let elapsed = time_ops(case, ops, threads);
        if elapsed >= target / 8 || ops >= 1 << 32 {
            let scale = target.as_secs_f64() / elapsed.as_secs_f64().max(1e-9);
            return ((ops as f64 * scale) as u64).max(1);
        }
        ops *= 2;
    }
}

/// One case under measurement, type-erased so that a case and its anchors can take turns
/// in the same rounds.
trait Subject {
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
    fn prepare(&mut self, config: &Config) -> u64 {
        cases::warm_up(self.case(), config.warm_up);
        let threads = self.threads;
        let ops = calibrate(self.case(), config.sample_time, threads);
        match threads {
            Threads::Local => ops,
            // A round trip that met a descheduled partner would skew the calibration of
            // a short sample: never fewer than this many.
            Threads::Cross | Threads::Pipeline => ops.max(config.min_cross_ops),
        }
    }

    fn sample(&mut self, ops: u64) -> f64 {
        match self.threads {
            Threads::Local | Threads::Pipeline => {
                let threads = self.threads;
                time_ops(self.case(), ops, threads).as_secs_f64() * 1e9 / ops as f64
            }
            Threads::Cross => {
                let case = self.case();
                let mut clean = Vec::with_capacity((ops / CROSS_BATCH) as usize + 1);
                for _ in 0..(ops / CROSS_BATCH).max(1) {
                    let switches = context_switches();
                    let time = time_ops(case, CROSS_BATCH, Threads::Cross);
                    if context_switches() == switches {
                        clean.push(time.as_secs_f64() * 1e9 / CROSS_BATCH as f64);
                    }
                }
                Spread::of(clean).median
            }
        }
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

/// The median and quartiles of some samples.
#[derive(Clone, Copy)]
struct Spread {
    median: f64,
    p25: f64,
    p75: f64,
    /// How many samples it summarises.
    count: usize,
}

impl Spread {
    /// The spread of the samples that are numbers; NaN throughout if none is.
    fn of(mut samples: Vec<f64>) -> Self {
        samples.retain(|x| !x.is_nan());
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let last = samples.len().checked_sub(1)?;
            Some(samples[(last as f64 * q).round() as usize])
        };
        Self {
            median: at(0.5).unwrap_or(f64::NAN),
            p25: at(0.25).unwrap_or(f64::NAN),
            p75: at(0.75).unwrap_or(f64::NAN),
            count: samples.len(),
        }
    }
}

/// One case as measured within a group.
struct Row {
    case: &'static str,
    ns_per_op: Spread,
    allocs_per_op: f64,
    bytes_per_op: f64,
    allocs: usize,
}

/// A valuetask case and the anchors it replaces, measured in the same rounds.
struct GroupResult {
    /// Our case first, then its anchors in the order of [`GROUPS`].
    rows: Vec<Row>,
    /// For each anchor (`rows[1..]`), our case's time over the anchor's, round by round.
    ratios: Vec<Spread>,
}

impl GroupResult {
    fn ours(&self) -> &Row {
        &self.rows[0]
    }

    fn anchors(&self) -> impl Iterator<Item = (&Row, &Spread)> {
        self.rows[1..].iter().zip(&self.ratios)
    }

    /// Every row, ours first (without a ratio), then each anchor with our ratio to it.
    fn each_row(&self) -> impl Iterator<Item = (&Row, Option<&Spread>)> {
        std::iter::once((self.ours(), None))
            .chain(self.anchors().map(|(row, ratio)| (row, Some(ratio))))
    }
}

/// The allocations of a case, counted once over a window of its operations.
struct Allocs {
    allocs: usize,
    bytes: usize,
    ops: u64,
}

/// Measures one group: every member is built, warmed up and calibrated, then sampled in
/// rounds, one sample of each member per round, in table order on even rounds and in
/// reverse on odd ones, so that load from other processes falls on a case and its
/// anchors alike. The verdict of the group is the median of the per-round ratios.
fn measure_group(
    group: &Group,
    subjects: &mut [(&'static str, Box<dyn Subject>)],
    counted: &mut Vec<(&'static str, Allocs)>,
    config: &Config,
) -> GroupResult {
    let names: Vec<&'static str> = std::iter::once(group.case)
        .chain(group.anchors.iter().copied())
        .collect();
    let index: Vec<usize> = names
        .iter()
        .map(|name| {
            subjects
                .iter()
                .position(|(case, _)| case == name)
                .unwrap_or_else(|| panic!("GROUPS names a case that does not exist: {name}"))
        })
        .collect();
    let ops: Vec<u64> = index
        .iter()
        .map(|&i| subjects[i].1.prepare(config))
        .collect();
    let mut samples = vec![Vec::with_capacity(config.samples); names.len()];
    for round in 0..config.samples {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..names.len()).collect()
        } else {
            (0..names.len()).rev().collect()
        };
        for member in order {
            let sample = subjects[index[member]].1.sample(ops[member]);
            samples[member].push(sample);
        }
    }
    let ratios = samples[1..]
        .iter()
        .map(|anchor| {
            Spread::of(
                samples[0]
                    .iter()
                    .zip(anchor)
                    .map(|(ours, theirs)| ours / theirs)
                    .collect(),
            )
        })
        .collect();
    let rows = names
        .iter()
        .zip(&index)
        .zip(ops)
        .zip(samples)
        .map(|(((&case, &i), ops), samples)| {
            if !counted.iter().any(|(name, _)| *name == case) {
                let ops = ops.min(100_000);
                let (allocs, bytes) = subjects[i].1.count(ops);
                counted.push((case, Allocs { allocs, bytes, ops }));
            }
            let (_, allocs) = counted
                .iter()
                .find(|(name, _)| *name == case)
                .expect("counted above");
            Row {
                case,
                ns_per_op: Spread::of(samples),
                allocs_per_op: allocs.allocs as f64 / allocs.ops as f64,
                bytes_per_op: allocs.bytes as f64 / allocs.ops as f64,
                allocs: allocs.allocs,
            }
        })
        .collect();
    for &i in &index {
        subjects[i].1.finish();
    }
    GroupResult { rows, ratios }
}

// ---------------------------------------------------------------------------------------
// What the table compares.
// ---------------------------------------------------------------------------------------

/// A valuetask case and the cases it replaces (its anchors), measured together.
struct Group {
    case: &'static str,
    anchors: &'static [&'static str],
}

/// Every group, in the order of the table. A case may be the anchor of several groups;
/// every case appears in at least one. New cases (say, an erased tower call against
/// `BoxCloneSyncService`) go in `cases::for_each_case!` and get a group here.
const GROUPS: &[Group] = &[
    Group {
        case: "valuetask_ready",
        anchors: &["either_ready", "task_box_dyn", "dyn_sync_call"],
    },
    Group {
        case: "valuetask_box_clone_sync_oneshot",
        anchors: &["tower_box_clone_sync_oneshot"],
    },
    Group {
        case: "resetcore_roundtrip",
        anchors: &["oneshot_complete_first", "multishot_roundtrip"],
    },
    Group {
        case: "pool_complete_first",
        anchors: &["oneshot_complete_first", "multishot_roundtrip"],
    },
    Group {
        case: "pool_poll_first",
        anchors: &["oneshot_poll_first"],
    },
    Group {
        case: "pool_cross_thread",
        anchors: &["oneshot_cross_thread"],
    },
    Group {
        case: "valuetask_oneshot_complete_first",
        anchors: &[
            "tokio_oneshot_complete_first",
            "oneshot_complete_first",
            "multishot_roundtrip",
            "futures_oneshot_complete_first",
        ],
    },
    Group {
        case: "valuetask_oneshot_poll_first",
        anchors: &["tokio_oneshot_poll_first", "futures_oneshot_poll_first"],
    },
    Group {
        case: "valuetask_oneshot_cross_thread",
        anchors: &["tokio_oneshot_cross_thread"],
    },
    Group {
        case: "valuetask_async_dyn",
        anchors: &["task_box_dyn_async", "async_trait_async"],
    },
    Group {
        case: "valuetask_async_dyn_cross_thread",
        anchors: &["task_box_dyn_async_cross_thread"],
    },
    Group {
        case: "valuetask_async_trait",
        anchors: &["async_trait"],
    },
    Group {
        case: "valuetask_async_trait_async",
        anchors: &["async_trait_async"],
    },
];

/// The targets of the project's design table (DESIGN.md): the case
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
        max_ratio: 0.6,
    },
    Target {
        case: "pool_poll_first",
        anchor: "oneshot_poll_first",
        max_ratio: 0.6,
    },
    Target {
        case: "resetcore_roundtrip",
        anchor: "oneshot_complete_first",
        max_ratio: 0.7,
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
    Target {
        case: "valuetask_box_clone_sync_oneshot",
        anchor: "tower_box_clone_sync_oneshot",
        max_ratio: 1.0,
    },
];

/// A target: `size_of::<ValueTask<'_, u64>>()` at most that of `Either<Ready<u64>, BoxFuture>`.
const MAX_VALUETASK_SIZE: usize = 24;

/// A target: each `valuetask::oneshot` handle fits in two words, so it moves in registers.
const MAX_ONESHOT_HANDLE_SIZE: usize = 16;

/// Runs every group; returns the results in the order of [`GROUPS`].
fn measure_all(
    subjects: &mut [(&'static str, Box<dyn Subject>)],
    only: Option<&[&str]>,
    config: &Config,
) -> Vec<GroupResult> {
    let mut counted = Vec::new();
    GROUPS
        .iter()
        .filter(|group| only.is_none_or(|only| only.contains(&group.case)))
        .map(|group| measure_group(group, subjects, &mut counted, config))
        .collect()
}

/// The group of `case`, when it was measured (`--only` may leave it out).
fn group_of<'r>(results: &'r [GroupResult], case: &str) -> Option<&'r GroupResult> {
    results.iter().find(|group| group.ours().case == case)
}

/// Whether a target is met, and by what per-round ratio.
struct Verdict<'t> {
    target: &'t Target,
    ratio: Spread,
    allocs_per_op: f64,
    met: bool,
}

fn verdicts(results: &[GroupResult]) -> Vec<Verdict<'static>> {
    TARGETS
        .iter()
        .filter_map(|target| {
            let group = group_of(results, target.case)?;
            let (_, ratio) = group
                .anchors()
                .find(|(row, _)| row.case == target.anchor)
                .unwrap_or_else(|| {
                    panic!(
                        "the group of {} lacks the anchor of its target, {}",
                        target.case, target.anchor
                    )
                });
            Some(Verdict {
                target,
                ratio: *ratio,
                allocs_per_op: group.ours().allocs_per_op,
                met: group.ours().allocs == 0 && ratio.median <= target.max_ratio,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Output.
// ---------------------------------------------------------------------------------------

/// What the report says about the run besides the numbers.
struct RunNote {
    command: String,
    machine: String,
    load_before: String,
    load_after: String,
    note: Option<String>,
}

/// A time in ns, or a dash when no sample was clean.
fn ns_text(ns: f64) -> String {
    if ns.is_nan() {
        "-".to_owned()
    } else {
        format!("{ns:.2}")
    }
}

/// A ratio's median and quartiles, and how many rounds it rests on when some had no
/// clean sample (a cross-thread case on a busy machine).
fn ratio_text(ratio: &Spread, rounds: usize) -> String {
    if ratio.count == 0 {
        return "no round with a clean sample on both sides".to_owned();
    }
    let rounds = if ratio.count < rounds {
        format!(", {} of {rounds} rounds", ratio.count)
    } else {
        String::new()
    };
    format!(
        "{:.2}x ({:.2}-{:.2}{rounds})",
        ratio.median, ratio.p25, ratio.p75
    )
}

/// The whole report, in Markdown: the terminal shows it and `--write-docs` saves it.
fn report(results: &[GroupResult], config: &Config, run: &RunNote, chart: bool) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line("# valuetask: prove it (the comparison table, measured here)".into());
    line(String::new());
    line(format!("- command: `{}`", run.command));
    line(format!("- machine: {}", run.machine));
    line(format!(
        "- load: 1-min load average {} at the start, {} at the end{}",
        run.load_before,
        run.load_after,
        run.note
            .as_ref()
            .map_or(String::new(), |note| format!("; {note}"))
    ));
    line(format!("- allocator: {ALLOCATOR}"));
    line(format!(
        "- method: each valuetask case is measured with the anchors it replaces, \
         interleaved: {} rounds, each round one sample of every member of the group (in \
         table order, then reversed on the next round), so that load from other processes \
         falls on both sides alike. A sample is N operations, N calibrated to take ~{} ms \
         (cross-thread cases: at least {} operations), timed on the thread's CPU clock \
         for a single-thread case (time spent descheduled does not count) and on the \
         wall clock for a cross-thread one. A round trip's sample is timed in batches of {} \
         operations: a batch during which the measuring thread was switched out (it parked for a partner another \
         process had descheduled, or was preempted) is left out, since it times the \
         scheduler's wake-up, and the sample is the median of the clean batches (a round \
         in which either side had none is left out of the ratio, and the table says how \
         many rounds remain). A pipelined case (calls queued to a finishing thread, 64 \
         in flight) is timed whole, since its cost is the throughput of the queue. The verdict is the median of the \
         per-round ratios, with its quartiles (p25-p75). Single-thread cases are polled by \
         hand with a no-op waker; in cross-thread cases another OS thread completes, and \
         each side waits for the other by spinning a bounded while, then parking until \
         woken (the same code for every case). Allocations are counted process-wide, on \
         every thread, over up to 100,000 operations.",
        config.samples,
        config.sample_time.as_millis(),
        config.min_cross_ops,
        CROSS_BATCH,
    ));
    line(String::new());
    line("## Each case beside the anchors it replaces".into());
    line(String::new());
    line(
        "| case | ns/op (median) | ns/op p25-p75 | allocs/op | bytes/op | ours / anchor, per round: median (p25-p75) |"
            .into(),
    );
    line("|:---|---:|---:|---:|---:|:---|".into());
    for group in results {
        for (row, ratio) in group.each_row() {
            let name = match ratio {
                None => format!("**{}**", row.case),
                Some(_) => format!("vs {}", row.case),
            };
            line(format!(
                "| {name} | {} | {} | {:.2} | {:.1} | {} |",
                ns_text(row.ns_per_op.median),
                if row.ns_per_op.count == 0 {
                    "no clean sample".to_owned()
                } else {
                    format!("{:.2}-{:.2}", row.ns_per_op.p25, row.ns_per_op.p75)
                },
                row.allocs_per_op,
                row.bytes_per_op,
                ratio.map_or(String::new(), |ratio| ratio_text(ratio, config.samples)),
            ));
        }
    }
    line(String::new());
    line("## Targets (DESIGN.md)".into());
    line(String::new());
    line(
        "| target | measured: median (p25-p75) of the per-round ratios | allocs/op | result |"
            .into(),
    );
    line("|:---|:---|---:|:---|".into());
    let mut missed = 0;
    for verdict in verdicts(results) {
        let target = verdict.target;
        missed += usize::from(!verdict.met && verdict.ratio.count > 0);
        line(format!(
            "| {} <= {}x {}, 0 alloc | {} | {:.2} | {} |",
            target.case,
            target.max_ratio,
            target.anchor,
            ratio_text(&verdict.ratio, config.samples),
            verdict.allocs_per_op,
            if verdict.ratio.count == 0 {
                "no verdict"
            } else if verdict.met {
                "met"
            } else {
                "NOT MET"
            },
        ));
    }
    let size = size_of::<ValueTask<'_, u64>>();
    let handles = size_of::<valuetask::oneshot::Sender<u64>>()
        .max(size_of::<valuetask::oneshot::Receiver<u64>>());
    for (target, measured, met) in [
        (
            format!("size_of::<ValueTask<'_, u64>>() <= {MAX_VALUETASK_SIZE} B"),
            size,
            size <= MAX_VALUETASK_SIZE,
        ),
        (
            format!("size_of oneshot::{{Sender, Receiver}}<u64> <= {MAX_ONESHOT_HANDLE_SIZE} B"),
            handles,
            handles <= MAX_ONESHOT_HANDLE_SIZE,
        ),
    ] {
        missed += usize::from(!met);
        line(format!(
            "| {target} | {measured} B | | {} |",
            if met { "met" } else { "NOT MET" }
        ));
    }
    line(String::new());
    let unmeasured = verdicts(results)
        .iter()
        .filter(|verdict| verdict.ratio.count == 0)
        .count();
    line(match (missed, unmeasured) {
        (0, 0) => "Every target was met in this run.".to_owned(),
        _ => format!(
            "{missed} target(s) not met in this run; {unmeasured} without a verdict (no \
             clean round: the machine was too busy for two threads to run at once)."
        ),
    });
    if chart {
        line(String::new());
        line("![prove_it chart: each valuetask case beside its anchors](prove_it.svg)".into());
    }
    out
}

fn print_json(results: &[GroupResult]) {
    for group in results {
        for (row, ratio) in group.each_row() {
            let ratio = ratio.map_or(String::new(), |ratio| {
                format!(
                    ", \"ratio\": {}, \"ratio_p25\": {}, \"ratio_p75\": {}",
                    json_number(ratio.median),
                    json_number(ratio.p25),
                    json_number(ratio.p75)
                )
            });
            println!(
                "{{\"group\": \"{}\", \"case\": \"{}\", \"ns_per_op\": {}, \"allocs_per_op\": {}, \"bytes_per_op\": {}{ratio}}}",
                group.ours().case,
                row.case,
                json_number(row.ns_per_op.median),
                json_number(row.allocs_per_op),
                json_number(row.bytes_per_op),
            );
        }
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

/// A bar chart, one bar per row, each group's rows together: our case in blue, its
/// anchors in grey, each bar's length its time over our case's (so our case is 1.0 and
/// an anchor past the line is slower), with the absolute time written beside it.
fn write_svg(path: &str, results: &[GroupResult]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let ours_color = RGBColor(31, 119, 180);
    let anchor_color = RGBColor(170, 170, 170);
    let band_color = RGBColor(240, 240, 246);
    // (row, relative time, is ours, group index)
    let mut rows: Vec<(&Row, f64, bool, usize)> = Vec::new();
    // A case with no clean sample (see `CROSS_BATCH`) has no time to draw: left out.
    let measured = results
        .iter()
        .filter(|group| group.ours().ns_per_op.median.is_finite());
    for (g, group) in measured.enumerate() {
        let base = group.ours().ns_per_op.median;
        rows.push((group.ours(), 1.0, true, g));
        for (row, _) in group.anchors() {
            let relative = row.ns_per_op.median / base;
            if relative.is_finite() {
                rows.push((row, relative, false, g));
            }
        }
    }
    let n = rows.len();
    // A log scale: anchors run from a tenth of our case's time to tens of times it.
    let max = rows.iter().map(|r| r.1).fold(1.0, f64::max) * 4.0;
    let min = rows.iter().map(|r| r.1).fold(1.0, f64::min) / 1.5;
    let root = SVGBackend::new(path, (1000, 110 + 24 * n as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let (legend, plot) = root.split_vertically(70);
    legend.draw(&Text::new(
        "valuetask prove_it: time per operation, relative to the valuetask case of each group (lower is better)",
        (12, 8),
        ("sans-serif", 17),
    ))?;
    for (i, (color, label)) in [
        (ours_color, "valuetask case (= 1.0)"),
        (anchor_color, "an anchor it replaces"),
    ]
    .into_iter()
    .enumerate()
    {
        let x = 12 + 260 * i as i32;
        legend.draw(&Rectangle::new([(x, 38), (x + 22, 54)], color.filled()))?;
        legend.draw(&Text::new(label, (x + 30, 39), ("sans-serif", 14)))?;
    }
    legend.draw(&Text::new(
        "beside each bar: median ns/op, allocations/op",
        (540, 39),
        ("sans-serif", 14),
    ))?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(290)
        // A segmented range of 0..k has k + 1 segments: one per row, none empty.
        .build_cartesian_2d(
            (min..max).log_scale(),
            (0..n.saturating_sub(1)).into_segmented(),
        )?;
    // Plotters counts y upwards: draw the first row at the top.
    let y = |i: usize| n - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .label_style(("sans-serif", 14))
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(j) if *j < n => {
                let (row, _, ours, _) = rows[n - 1 - *j];
                if ours {
                    row.case.to_owned()
                } else {
                    format!("vs {}", row.case)
                }
            }
            _ => String::new(),
        })
        .x_label_formatter(&|x| format!("{x}x"))
        .x_desc("time per operation / the valuetask case's (log scale)")
        .draw()?;
    // Every other group on a shaded band, so the groups read apart without empty rows.
    chart.draw_series(
        rows.iter()
            .enumerate()
            .filter(|(_, r)| r.3 % 2 == 1)
            .map(|(i, _)| {
                Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(y(i))),
                        (max * 1.25, SegmentValue::Exact(y(i) + 1)),
                    ],
                    band_color.filled(),
                )
            }),
    )?;
    chart.draw_series(rows.iter().enumerate().map(|(i, &(_, relative, ours, _))| {
        let color = if ours { ours_color } else { anchor_color };
        let mut bar = Rectangle::new(
            [
                (min, SegmentValue::Exact(y(i))),
                (relative, SegmentValue::Exact(y(i) + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Exact(n))],
        ours_color.stroke_width(1),
    )))?;
    chart.draw_series(rows.iter().enumerate().map(|(i, &(row, relative, _, _))| {
        Text::new(
            format!(
                " {:.1} ns, {} alloc",
                row.ns_per_op.median,
                row.allocs_per_op.round()
            ),
            (relative, SegmentValue::CenterOf(y(i))),
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    }))?;
    root.present()?;
    Ok(())
}

/// The 1-min load average, as `/proc/loadavg` says.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU model, logical CPUs, rustc version and the date, as far as they can be found.
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
    format!("{cpu} ({cpus} logical CPUs), {rustc}, {}", today_utc())
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

const USAGE: &str = "usage: prove_it [--quick] [--json] [--svg FILE] [--write-docs] [--note TEXT] [--only CASE,CASE...]
  --write-docs  writes the report to docs/prove_it.md and the chart to docs/prove_it.svg
  --only        runs the groups of these valuetask cases
  --note        adds a line about the run (say, what else ran) to the report";

/// Where `--write-docs` puts the report and the chart.
const DOCS_REPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/prove_it.md");
const DOCS_CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/prove_it.svg");

fn main() -> ExitCode {
    let mut config = Config::FULL;
    let mut json = false;
    let mut svg = None;
    let mut write_docs = false;
    let mut note = None;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => config = Config::QUICK,
            "--json" => json = true,
            "--write-docs" => write_docs = true,
            "--only" | "--svg" | "--note" => match args.next() {
                Some(value) => match arg.as_str() {
                    "--only" => only = Some(value),
                    "--svg" => svg = Some(value),
                    _ => note = Some(value),
                },
                None => {
                    eprintln!("{arg} needs a value\n{USAGE}");
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
    if write_docs {
        svg = Some(DOCS_CHART.to_owned());
    }

    macro_rules! subjects {
        ($($name:ident: $case:ty, $threads:ident;)*) => {
            vec![$((stringify!($name), runner::<$case>(Threads::$threads)),)*]
        };
    }
    let mut subjects: Vec<(&'static str, Box<dyn Subject>)> = cases::for_each_case!(subjects);
    let wanted: Option<Vec<&str>> = only.as_deref().map(|list| list.split(',').collect());
    if let Some(unknown) = wanted
        .iter()
        .flatten()
        .find(|name| !GROUPS.iter().any(|group| group.case == **name))
    {
        eprintln!("no group for {unknown:?} (--only takes valuetask cases)\n{USAGE}");
        return ExitCode::from(2);
    }
    let command = std::iter::once("cargo run --release --example prove_it --".to_owned())
        .chain(std::env::args().skip(1).map(|arg| {
            if arg.contains(' ') {
                format!("'{arg}'")
            } else {
                arg
            }
        }))
        .collect::<Vec<_>>()
        .join(" ");
    let load_before = load_average();
    let results = measure_all(&mut subjects, wanted.as_deref(), &config);
    let run = RunNote {
        command,
        machine: machine(),
        load_before,
        load_after: load_average(),
        note,
    };

    if json {
        print_json(&results);
    } else {
        print!("{}", report(&results, &config, &run, false));
    }
    if let Some(path) = &svg {
        if let Err(error) = write_svg(path, &results) {
            eprintln!("could not write {path}: {error}");
            return ExitCode::FAILURE;
        }
        if !json {
            println!();
            println!("chart: {path}");
        }
    }
    if write_docs {
        if let Err(error) = std::fs::write(DOCS_REPORT, report(&results, &config, &run, true)) {
            eprintln!("could not write {DOCS_REPORT}: {error}");
            return ExitCode::FAILURE;
        }
        if !json {
            println!("report: {DOCS_REPORT}");
        }
    }
    ExitCode::SUCCESS
}
