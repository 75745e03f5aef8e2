//! `redis-bench`: the same GET workload through four clients on one connection each,
//! interleaved, in one process with a process-wide counting allocator.
//!
//! ```text
//! cargo run --release -p valuetask-redis-bench [-- --quick] [-- --json] [-- --md docs/redis.md]
//! ```
//!
//! `--md FILE` also writes the run (when, the load, the table and the verdicts) into
//! `FILE`, keeping its hand-written text up to the line [`GENERATED`] and replacing what
//! follows it.
//!
//! Clients: `valuetask` (`valuetask_redis::Client`, requests completed by pooled slots),
//! `tokio_oneshot` (the same client with one tokio oneshot channel per request: only its
//! `Completion` parameter differs), `valuetask_oneshot` (the same again, with the channel's
//! import switched to `valuetask::oneshot`), `redis` (redis-rs `MultiplexedConnection`) and `fred`
//! (`fred::clients::Client`). For C = 1, 16 and 128 concurrent tasks on a 2-worker tokio
//! runtime, each round runs every client once, in turn, against a 32-byte value; after
//! each task's warm-up (2,000 requests in all) it counts every allocation in the process,
//! on every thread, until the last request is answered.
//!
//! Starts its own `redis-server` on a free loopback port, or uses `REDIS_URL`
//! (`redis://host:port`, no auth). Exits non-zero when valuetask allocates 0.01 or more
//! times per request at any C; a full run (not `--quick`) also when valuetask's median
//! ops/s is below redis-rs's or fred's at C = 16 or 128, or its median p99 at C = 128 is
//! above 1.2x redis-rs's (the margin is for this machine's noise).

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;
use valuetask_redis::{Client, Completion, RedisServer, TokioOneshot, ValuetaskOneshot};

// ---------------------------------------------------------------------------------------
// The counting allocator.

/// Wraps the system allocator, counting on every thread.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are plain atomics that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: `ptr` came from `System` through this allocator, with this layout; the
        // caller upholds the rest of `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Counts {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
}

fn counts() -> Counts {
    Counts {
        allocs: ALLOCS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

// ---------------------------------------------------------------------------------------
// The clients, behind one trait so each worker loop is monomorphic (nothing boxed).

const KEY: &str = "redis-bench:key";
/// The value's length: 32 bytes unless `--value-bytes N`.
static VALUE_LEN: AtomicUsize = AtomicUsize::new(32);

trait Getter: Clone + Send + Sync + 'static {
    /// `GET KEY`; the value's length (checked by the worker).
    fn get(&mut self) -> impl Future<Output = usize> + Send;
}

/// Our client, whatever its per-request completion mechanism.
impl<M: Completion> Getter for Client<M> {
    async fn get(&mut self) -> usize {
        let value = Client::get(self, KEY).await.expect("valuetask GET");
        value.expect("key present").len()
    }
}

impl Getter for redis::aio::MultiplexedConnection {
    async fn get(&mut self) -> usize {
        let value: Option<Bytes> = redis::cmd("GET")
            .arg(KEY)
            .query_async(self)
            .await
            .expect("redis GET");
        value.expect("key present").len()
    }
}

impl Getter for fred::clients::Client {
    async fn get(&mut self) -> usize {
        use fred::interfaces::KeysInterface;
        let value: Option<Bytes> = KeysInterface::get(self, KEY).await.expect("fred GET");
        value.expect("key present").len()
    }
}

// ---------------------------------------------------------------------------------------
// One measured run.

const CLIENTS: [&str; 5] = [
    "valuetask",
    "tokio_oneshot",
    "valuetask_oneshot",
    "redis",
    "fred",
];
const CONCURRENCY: [usize; 3] = [1, 16, 128];
const WARMUP_REQUESTS: usize = 2_000;
/// The quantiles reported, as fractions.
const QUANTILES: [f64; 3] = [0.50, 0.99, 0.999];

struct Sample {
    ops_per_s: f64,
    /// Latency at each of [`QUANTILES`], microseconds.
    latency_us: [f64; 3],
    /// How the slowest requests were spread in time.
    tail: Tail,
    allocs_per_op: f64,
    reallocs_per_op: f64,
    bytes_per_op: f64,
}

/// Slow requests that completed within this of each other belong to one stall.
const STALL_GAP_NS: u64 = 100_000;

/// Where a run's slowest 1% of requests (at or above its p99) come from: a stall is a
/// window in which at least half the C requests in flight were that slow together (the
/// whole pipeline stopped: the connection, the runtime, the server or the machine); the
/// rest were slow on their own (one caller waiting behind others).
struct Tail {
    /// Stalls per second of the run.
    stalls_per_s: f64,
    /// The share of the slowest 1% that completed inside a stall.
    in_stalls: f64,
}

impl Tail {
    /// `trace`: each request's (completion time since the run's start, latency), ns.
    fn of(trace: &mut [(u64, u64)], p99_ns: u64, c: usize, elapsed: Duration) -> Tail {
        trace.sort_unstable_by_key(|&(end, _)| end);
        let (mut stalls, mut in_stalls, mut slow) = (0usize, 0usize, 0usize);
        let mut window = (0u64, 0usize); // (last completion, size)
        let mut close = |size: usize| {
            if size >= c.div_ceil(2).max(2) {
                stalls += 1;
                in_stalls += size;
            }
        };
        for &(end, _) in trace.iter().filter(|&&(_, latency)| latency >= p99_ns) {
            slow += 1;
            if window.1 > 0 && end - window.0 <= STALL_GAP_NS {
                window = (end, window.1 + 1);
            } else {
                close(window.1);
                window = (end, 1);
            }
        }
        close(window.1);
        Tail {
            stalls_per_s: stalls as f64 / elapsed.as_secs_f64(),
            in_stalls: in_stalls as f64 / slow.max(1) as f64,
        }
    }
}

async fn run<G: Getter>(getter: &G, c: usize, per_task: usize) -> Sample {
    let warmup = WARMUP_REQUESTS.div_ceil(c);
    let value_len = VALUE_LEN.load(Relaxed);
    let ready = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Semaphore::new(0));
    // The epoch of every task's trace; the measured run starts a little later.
    let epoch = Instant::now();
    let mut tasks = Vec::with_capacity(c);
    for _ in 0..c {
        let mut getter = getter.clone();
        let (ready, go) = (Arc::clone(&ready), Arc::clone(&go));
        // Nanoseconds, 1 ns to 60 s, 3 significant figures; never resizes while recording.
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        // Allocated here, before counting starts; never grows.
        let mut trace = Vec::with_capacity(per_task);
        tasks.push(tokio::spawn(async move {
            for _ in 0..warmup {
                assert_eq!(getter.get().await, value_len);
            }
            ready.fetch_add(1, Relaxed);
            go.acquire().await.unwrap().forget();
            for _ in 0..per_task {
                let start = Instant::now();
                let len = getter.get().await;
                let end = Instant::now();
                let latency = (end - start).as_nanos() as u64;
                hist.saturating_record(latency);
                trace.push(((end - epoch).as_nanos() as u64, latency));
                assert_eq!(len, value_len);
            }
            (hist, trace)
        }));
    }
    while ready.load(Relaxed) < c {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut results = Vec::with_capacity(c);
    let before = counts();
    let start = Instant::now();
    go.add_permits(c);
    for task in tasks {
        results.push(task.await.expect("worker panicked"));
    }
    let elapsed = start.elapsed();
    let after = counts();

    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut trace = Vec::with_capacity(c * per_task);
    for (h, t) in &results {
        all.add(h).unwrap();
        trace.extend_from_slice(t);
    }
    let ops = (c * per_task) as f64;
    let tail = Tail::of(&mut trace, all.value_at_quantile(0.99), c, elapsed);
    Sample {
        ops_per_s: ops / elapsed.as_secs_f64(),
        latency_us: QUANTILES.map(|q| all.value_at_quantile(q) as f64 / 1e3),
        tail,
        allocs_per_op: (after.allocs - before.allocs + after.reallocs - before.reallocs) as f64
            / ops,
        reallocs_per_op: (after.reallocs - before.reallocs) as f64 / ops,
        bytes_per_op: (after.bytes - before.bytes) as f64 / ops,
    }
}

// ---------------------------------------------------------------------------------------
// Driver and report.

struct Options {
    quick: bool,
    json: bool,
    /// The concurrencies to run (`--c N`, repeatable; all three by default).
    concurrency: Vec<usize>,
    /// Rounds instead of the default (`--rounds N`).
    rounds: Option<usize>,
    /// The Markdown file to write the run into (`--md FILE`).
    markdown: Option<String>,
}

/// The line of the `--md` file after which the run is written; the text above it is kept.
const GENERATED: &str = "<!-- Generated below by `cargo run --release -p valuetask-redis-bench -- --md docs/redis.md`: edit the text above this line only. -->";

/// Writes `run` into `path` below its [`GENERATED`] line, keeping the text above it (the
/// whole file, and the line after it, when the line is missing).
fn write_markdown(path: &str, run: &str) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error),
    };
    let header = match text.find(GENERATED) {
        Some(at) => text[..at + GENERATED.len()].to_string(),
        None => format!("{text}{GENERATED}"),
    };
    std::fs::write(path, format!("{header}\n\n{run}"))
}

/// The 1-minute load average (`/proc/loadavg`), or `?` where there is none.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// The current time as `YYYY-MM-DD HH:MM UTC`, from `date` (this benchmark already
/// needs a Unix machine), or `?` where it cannot run.
fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// Every round's sample of one client at one C.
struct Row {
    client: &'static str,
    c: usize,
    samples: Vec<Sample>,
}

impl Row {
    fn each(&self, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.samples.iter().map(f).collect()
    }
    fn median(&self, f: impl Fn(&Sample) -> f64) -> f64 {
        median(&self.each(f))
    }
    fn ops(&self) -> f64 {
        self.median(|s| s.ops_per_s)
    }
    fn p99(&self) -> f64 {
        self.median(|s| s.latency_us[1])
    }
}

/// `host:port` from a `redis://host:port[/db]` URL (no auth, no TLS).
fn host_port(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("REDIS_URL must start with redis:// (got {url:?})"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    if authority.contains('@') {
        return Err("REDIS_URL with credentials is not supported".into());
    }
    Ok(if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:6379")
    })
}

fn main() -> ExitCode {
    let mut options = Options {
        quick: false,
        json: false,
        concurrency: Vec::new(),
        rounds: None,
        markdown: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--json" => options.json = true,
            "--md" => match args.next() {
                Some(path) => options.markdown = Some(path),
                None => {
                    eprintln!("redis-bench: --md takes a file name");
                    return ExitCode::from(2);
                }
            },
            "--value-bytes" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => VALUE_LEN.store(n, Relaxed),
                None => {
                    eprintln!("redis-bench: --value-bytes takes a length");
                    return ExitCode::from(2);
                }
            },
            "--rounds" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => options.rounds = Some(n),
                _ => {
                    eprintln!("redis-bench: --rounds takes a positive number");
                    return ExitCode::from(2);
                }
            },
            "--c" => match args.next().and_then(|c| c.parse().ok()) {
                Some(c) if CONCURRENCY.contains(&c) => options.concurrency.push(c),
                _ => {
                    eprintln!("redis-bench: --c takes one of {CONCURRENCY:?}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!(
                    "usage: redis-bench [--quick] [--json] [--md FILE] [--c 1|16|128 ...] [--rounds N] [--value-bytes N]\n\
                     REDIS_URL=redis://host:port uses a running server instead of starting one"
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("redis-bench: unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        }
    }

    // The server lives until main returns (also on error): dropping it kills it.
    let (server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => match RedisServer::start() {
            Ok(server) => {
                let url = server.url();
                (Some(server), url)
            }
            Err(e) => {
                eprintln!("redis-bench: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let addr = match host_port(&url) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("redis-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(bench(&options, &url, &addr));
    drop(runtime);
    drop(server);
    code
}

async fn bench(options: &Options, url: &str, addr: &str) -> ExitCode {
    let started = format!("{}, load average {}", utc_now(), load_average());
    let (rounds, total_ops): (usize, [usize; 3]) = if options.quick {
        (3, [4_000, 16_000, 32_000])
    } else {
        (7, [40_000, 160_000, 320_000])
    };
    let rounds = options.rounds.unwrap_or(rounds);

    // Connect every client once; each run clones its handle per task.
    let valuetask = Client::connect(addr).await.expect("valuetask connect");
    let tokio_oneshot = Client::connect_with(addr, TokioOneshot)
        .await
        .expect("tokio_oneshot connect");
    let valuetask_oneshot = Client::connect_with(addr, ValuetaskOneshot)
        .await
        .expect("valuetask_oneshot connect");
    valuetask
        .set(KEY, vec![b'v'; VALUE_LEN.load(Relaxed)], None)
        .await
        .expect("SET the benchmark key");
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .expect("redis URL")
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    // No response timeout (redis-rs's default is 500 ms), like the other clients: a
    // stall of the loaded machine must not fail the run.
    let redis_config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let redis_conn = redis::Client::open(info)
        .expect("redis client")
        .get_multiplexed_async_connection_with_config(&redis_config)
        .await
        .expect("redis connect");
    let fred_client = {
        use fred::interfaces::ClientLike;
        let config = fred::types::config::Config::from_url(url).expect("fred URL");
        let client = fred::types::Builder::from_config(config)
            .with_connection_config(|c| {
                c.tcp = fred::types::config::TcpConfig {
                    nodelay: Some(true),
                    ..Default::default()
                };
            })
            .build()
            .expect("fred client");
        client.init().await.expect("fred connect");
        client
    };

    eprintln!(
        "redis-bench: GET of a {}-byte value at {url}, 2-worker tokio runtime, {rounds} interleaved rounds{}",
        VALUE_LEN.load(Relaxed),
        if options.quick { " (--quick)" } else { "" }
    );
    let mut rows: Vec<Row> = Vec::new();
    for (ci, &c) in CONCURRENCY.iter().enumerate() {
        if !options.concurrency.is_empty() && !options.concurrency.contains(&c) {
            continue;
        }
        let per_task = total_ops[ci] / c;
        let first = rows.len();
        for client in CLIENTS {
            rows.push(Row {
                client,
                c,
                samples: Vec::with_capacity(rounds),
            });
        }
        for round in 0..rounds {
            for (k, client) in CLIENTS.iter().enumerate() {
                let s = match *client {
                    "valuetask" => run(&valuetask, c, per_task).await,
                    "tokio_oneshot" => run(&tokio_oneshot, c, per_task).await,
                    "valuetask_oneshot" => run(&valuetask_oneshot, c, per_task).await,
                    "redis" => run(&redis_conn, c, per_task).await,
                    _ => run(&fred_client, c, per_task).await,
                };
                eprintln!(
                    "  C={c:<3} round {}/{rounds} {client:<17} {:>9.0} ops/s  p50 {:>7.1}  p99 {:>7.1}  p99.9 {:>7.1} us  {:.4} allocs/op  {:>4.0} stalls/s ({:.0}% of the slowest 1%)",
                    round + 1,
                    s.ops_per_s,
                    s.latency_us[0],
                    s.latency_us[1],
                    s.latency_us[2],
                    s.allocs_per_op,
                    s.tail.stalls_per_s,
                    s.tail.in_stalls * 100.0,
                );
                rows[first + k].samples.push(s);
            }
        }
    }

    let heading = format!(
        "{} run of {rounds} rounds, GET of a {}-byte value, 2-worker tokio runtime, {} logical CPUs: started {started}, ended {}, load average {}",
        if options.quick { "A quick" } else { "A full" },
        VALUE_LEN.load(Relaxed),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        utc_now(),
        load_average(),
    );
    report(options, &heading, &rows)
}

fn report(options: &Options, heading: &str, rows: &[Row]) -> ExitCode {
    let mut table = String::new();
    table.push_str("| client | C | ops/s median | ops/s min..max | p50 us | p99 us | p99 min..max | p99.9 us | stalls/s | slowest 1% in stalls | allocs/op | reallocs/op | bytes/op |\n");
    table.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let ops = row.ops();
        let (ops_min, ops_max) = min_max(&row.each(|s| s.ops_per_s));
        let [p50, p99, p999] = [0, 1, 2].map(|q| row.median(|s| s.latency_us[q]));
        let (p99_min, p99_max) = min_max(&row.each(|s| s.latency_us[1]));
        let stalls = row.median(|s| s.tail.stalls_per_s);
        let in_stalls = row.median(|s| s.tail.in_stalls) * 100.0;
        let allocs = row.median(|s| s.allocs_per_op);
        let reallocs = row.median(|s| s.reallocs_per_op);
        let bytes = row.median(|s| s.bytes_per_op);
        table.push_str(&format!(
            "| {} | {} | {ops:.0} | {ops_min:.0}..{ops_max:.0} | {p50:.1} | {p99:.1} | {p99_min:.0}..{p99_max:.0} | {p999:.1} | {stalls:.0} | {in_stalls:.0}% | {allocs:.6} | {reallocs:.6} | {bytes:.2} |\n",
            row.client, row.c,
        ));
        if options.json {
            println!(
                "{{\"client\":\"{}\",\"c\":{},\"ops_per_s\":{ops:.1},\"p50_us\":{p50:.2},\"p99_us\":{p99:.2},\"p999_us\":{p999:.2},\"allocs_per_op\":{allocs:.6},\"bytes_per_op\":{bytes:.2}}}",
                row.client, row.c,
            );
        }
    }
    let out = |s: &str| {
        if options.json {
            eprint!("{s}");
        } else {
            print!("{s}");
        }
    };
    let medians = format!(
        "Medians over rounds (allocs/op counts allocs + reallocs, every thread):\n\n{table}\n"
    );
    out(&format!("\n{medians}"));
    let mut verdicts = String::new();

    let find = |client: &str, c: usize| rows.iter().find(|r| r.client == client && r.c == c);
    let mut failed = Vec::new();
    for c in CONCURRENCY {
        let (Some(vt), Some(oneshot), Some(redis), Some(fred)) = (
            find("valuetask", c),
            find("tokio_oneshot", c),
            find("redis", c),
            find("fred", c),
        ) else {
            continue;
        };
        let allocs = vt.median(|s| s.allocs_per_op);
        if allocs >= 0.01 {
            failed.push(format!("C={c}: valuetask allocs/op {allocs:.6} >= 0.01"));
        }
        // The import switch alone takes the channel's allocation away.
        if let Some(switched) = find("valuetask_oneshot", c) {
            let allocs = switched.median(|s| s.allocs_per_op);
            if allocs >= 0.01 {
                failed.push(format!(
                    "C={c}: valuetask_oneshot allocs/op {allocs:.6} >= 0.01"
                ));
            }
        }
        let (vs_redis, vs_fred) = (vt.ops() / redis.ops(), vt.ops() / fred.ops());
        let p99_vs_redis = vt.p99() / redis.p99();
        let verdict = format!(
            "C={c:<3} valuetask allocs/op {allocs:.6}; ops/s vs redis {vs_redis:.2}x, vs fred {vs_fred:.2}x, vs tokio_oneshot {:.2}x; p99 vs redis {p99_vs_redis:.2}x, vs tokio_oneshot {:.2}x\n",
            vt.ops() / oneshot.ops(),
            vt.p99() / oneshot.p99(),
        );
        out(&verdict);
        verdicts.push_str(&verdict);
        if !options.quick {
            if c >= 16 && (vs_redis < 1.0 || vs_fred < 1.0) {
                failed.push(format!(
                    "C={c}: valuetask ops/s below a peer's ({vs_redis:.2}x redis, {vs_fred:.2}x fred)"
                ));
            }
            if c == 128 && p99_vs_redis > 1.2 {
                failed.push(format!(
                    "C={c}: valuetask p99 {p99_vs_redis:.2}x redis's (limit 1.2x)"
                ));
            }
        }
    }
    if let Some(path) = &options.markdown {
        let outcome = if failed.is_empty() {
            "every check passed (exit 0)".to_string()
        } else {
            format!("FAILED (exit 1): {}", failed.join("; "))
        };
        let run = format!("{heading}.\n\n{medians}```text\n{verdicts}```\n\nResult: {outcome}.\n");
        if let Err(e) = write_markdown(path, &run) {
            eprintln!("redis-bench: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        for f in failed {
            eprintln!("redis-bench: FAILED: {f}");
        }
        ExitCode::FAILURE
    }
}
