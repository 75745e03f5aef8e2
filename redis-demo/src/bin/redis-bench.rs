//! `redis-bench`: the same GET workload through four clients on one connection each,
//! interleaved, in one process with a process-wide counting allocator.
//!
//! ```text
//! cargo run --release -p valuetask-redis --bin redis-bench [-- --quick] [-- --json]
//! ```
//!
//! Clients: `valuetask` (this crate's [`Client`]), `redis` (redis-rs
//! `MultiplexedConnection`), `fred` (`fred::clients::Client`) and `oneshot_floor` (a
//! hand-written connection task fed by a tokio mpsc, one tokio oneshot per request: the
//! cheapest design that still allocates per request). For C = 1, 16 and 128 concurrent
//! tasks on a 2-worker tokio runtime, each round runs every client once, in turn, against
//! a 32-byte value; after each task's warm-up (2,000 requests in all) it counts every
//! allocation in the process, on every thread, until the last request is answered.
//!
//! Starts its own `redis-server` on a free loopback port, or uses `REDIS_URL`
//! (`redis://host:port`, no auth). Exits non-zero when valuetask allocates 0.01 or more
//! times per request at any C; throughput is only reported (it is noisy).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot};
use valuetask_redis::resp::{self, Value};
use valuetask_redis::{Client, RedisServer};

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

impl Getter for Client {
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

/// The floor: an mpsc of requests to a connection task, one tokio oneshot per request.
/// Same buffers, parser and write coalescing as the valuetask client; only the channels
/// differ.
#[derive(Clone)]
struct Floor {
    requests: mpsc::Sender<(&'static str, oneshot::Sender<Option<Bytes>>)>,
}

impl Floor {
    async fn connect(addr: &str) -> std::io::Result<Floor> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut reader, mut writer) = stream.into_split();
        let (requests, mut rx) = mpsc::channel::<(&'static str, oneshot::Sender<_>)>(1024);
        let pending = Arc::new(Mutex::new(VecDeque::<oneshot::Sender<_>>::with_capacity(
            1024,
        )));
        let writer_pending = Arc::clone(&pending);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(256);
            let mut out = Vec::with_capacity(16 * 1024);
            while rx.recv_many(&mut batch, 256).await > 0 {
                // The same coalescing as the valuetask client's writer: when other
                // requests are in flight, let the ready tasks send theirs first.
                if !writer_pending.lock().unwrap().is_empty() {
                    tokio::task::yield_now().await;
                    while let Ok(request) = rx.try_recv() {
                        batch.push(request);
                    }
                }
                {
                    let mut pending = writer_pending.lock().unwrap();
                    for (key, reply) in batch.drain(..) {
                        resp::encode(&mut out, ["GET", key]).unwrap();
                        pending.push_back(reply);
                    }
                }
                if writer.write_all(&out).await.is_err() {
                    break;
                }
                out.clear();
            }
        });
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            loop {
                while let Ok(Some(_)) = resp::frame_len(&buf) {
                    let value = match resp::decode(&mut buf) {
                        Ok(Value::Bulk(b)) => Some(b),
                        _ => None,
                    };
                    let reply = pending.lock().unwrap().pop_front();
                    if let Some(reply) = reply {
                        let _ = reply.send(value);
                    }
                }
                if buf.capacity() - buf.len() < 4096 {
                    buf.reserve(64 * 1024);
                }
                match reader.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        });
        Ok(Floor { requests })
    }
}

impl Getter for Floor {
    async fn get(&mut self) -> usize {
        let (tx, rx) = oneshot::channel();
        self.requests.send((KEY, tx)).await.expect("floor send");
        let value = rx.await.expect("floor reply");
        value.expect("key present").len()
    }
}

// ---------------------------------------------------------------------------------------
// One measured run.

const CLIENTS: [&str; 4] = ["valuetask", "redis", "fred", "oneshot_floor"];
const CONCURRENCY: [usize; 3] = [1, 16, 128];
const WARMUP_REQUESTS: usize = 2_000;

struct Sample {
    ops_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    allocs_per_op: f64,
    reallocs_per_op: f64,
    bytes_per_op: f64,
}

async fn run<G: Getter>(getter: &G, c: usize, per_task: usize) -> Sample {
    let warmup = WARMUP_REQUESTS.div_ceil(c);
    let value_len = VALUE_LEN.load(Relaxed);
    let ready = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Semaphore::new(0));
    let mut tasks = Vec::with_capacity(c);
    for _ in 0..c {
        let mut getter = getter.clone();
        let (ready, go) = (Arc::clone(&ready), Arc::clone(&go));
        // Nanoseconds, 1 ns to 60 s, 3 significant figures; never resizes while recording.
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        tasks.push(tokio::spawn(async move {
            for _ in 0..warmup {
                assert_eq!(getter.get().await, value_len);
            }
            ready.fetch_add(1, Relaxed);
            go.acquire().await.unwrap().forget();
            for _ in 0..per_task {
                let start = Instant::now();
                let len = getter.get().await;
                hist.saturating_record(start.elapsed().as_nanos() as u64);
                assert_eq!(len, value_len);
            }
            hist
        }));
    }
    while ready.load(Relaxed) < c {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut hists = Vec::with_capacity(c);
    let before = counts();
    let start = Instant::now();
    go.add_permits(c);
    for task in tasks {
        hists.push(task.await.expect("worker panicked"));
    }
    let elapsed = start.elapsed();
    let after = counts();

    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for h in &hists {
        all.add(h).unwrap();
    }
    let ops = (c * per_task) as f64;
    Sample {
        ops_per_s: ops / elapsed.as_secs_f64(),
        p50_us: all.value_at_quantile(0.50) as f64 / 1e3,
        p99_us: all.value_at_quantile(0.99) as f64 / 1e3,
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
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Row {
    client: &'static str,
    c: usize,
    ops: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    allocs: Vec<f64>,
    reallocs: Vec<f64>,
    bytes: Vec<f64>,
}

impl Row {
    fn ops_median(&self) -> f64 {
        median(&mut self.ops.clone())
    }
    fn p99_median(&self) -> f64 {
        median(&mut self.p99.clone())
    }
    fn allocs_median(&self) -> f64 {
        median(&mut self.allocs.clone())
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
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--json" => options.json = true,
            "--value-bytes" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => VALUE_LEN.store(n, Relaxed),
                None => {
                    eprintln!("redis-bench: --value-bytes takes a length");
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
                    "usage: redis-bench [--quick] [--json] [--c 1|16|128 ...] [--value-bytes N]\n\
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
    let (rounds, total_ops): (usize, [usize; 3]) = if options.quick {
        (3, [4_000, 16_000, 32_000])
    } else {
        (7, [40_000, 160_000, 320_000])
    };

    // Connect every client once; each run clones its handle per task.
    let valuetask = Client::connect(addr).await.expect("valuetask connect");
    valuetask
        .set(KEY, vec![b'v'; VALUE_LEN.load(Relaxed)], None)
        .await
        .expect("SET the benchmark key");
    let info = redis::IntoConnectionInfo::into_connection_info(url)
        .expect("redis URL")
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let redis_conn = redis::Client::open(info)
        .expect("redis client")
        .get_multiplexed_async_connection()
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
    let floor = Floor::connect(addr).await.expect("floor connect");

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
                ops: vec![],
                p50: vec![],
                p99: vec![],
                allocs: vec![],
                reallocs: vec![],
                bytes: vec![],
            });
        }
        for round in 0..rounds {
            for (k, client) in CLIENTS.iter().enumerate() {
                let s = match *client {
                    "valuetask" => run(&valuetask, c, per_task).await,
                    "redis" => run(&redis_conn, c, per_task).await,
                    "fred" => run(&fred_client, c, per_task).await,
                    _ => run(&floor, c, per_task).await,
                };
                eprintln!(
                    "  C={c:<3} round {}/{rounds} {client:<13} {:>9.0} ops/s  p99 {:>8.1} us  {:.4} allocs/op",
                    round + 1,
                    s.ops_per_s,
                    s.p99_us,
                    s.allocs_per_op
                );
                let row = &mut rows[first + k];
                row.ops.push(s.ops_per_s);
                row.p50.push(s.p50_us);
                row.p99.push(s.p99_us);
                row.allocs.push(s.allocs_per_op);
                row.reallocs.push(s.reallocs_per_op);
                row.bytes.push(s.bytes_per_op);
            }
        }
    }

    report(options, &mut rows)
}

fn report(options: &Options, rows: &mut [Row]) -> ExitCode {
    let mut table = String::new();
    table.push_str("| client | C | ops/s median | ops/s min | ops/s max | p50 us | p99 us | allocs/op | reallocs/op | bytes/op |\n");
    table.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows.iter_mut() {
        let ops = median(&mut row.ops);
        let (min, max) = (row.ops[0], row.ops[row.ops.len() - 1]);
        let p50 = median(&mut row.p50);
        let p99 = median(&mut row.p99);
        let allocs = median(&mut row.allocs);
        let reallocs = median(&mut row.reallocs);
        let bytes = median(&mut row.bytes);
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.6} | {:.6} | {:.2} |\n",
            row.client, row.c, ops, min, max, p50, p99, allocs, reallocs, bytes
        ));
        if options.json {
            println!(
                "{{\"client\":\"{}\",\"c\":{},\"ops_per_s\":{:.1},\"p50_us\":{:.2},\"p99_us\":{:.2},\"allocs_per_op\":{:.6},\"bytes_per_op\":{:.2}}}",
                row.client, row.c, ops, p50, p99, allocs, bytes
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
    out(&format!(
        "\nMedians over rounds (allocs/op counts allocs + reallocs, every thread):\n\n{table}\n"
    ));

    let find = |client: &str, c: usize| rows.iter().find(|r| r.client == client && r.c == c);
    let mut failed = false;
    for c in CONCURRENCY {
        let (Some(vt), Some(redis), Some(fred)) =
            (find("valuetask", c), find("redis", c), find("fred", c))
        else {
            continue;
        };
        let allocs = vt.allocs_median();
        let ok = allocs < 0.01;
        failed |= !ok;
        out(&format!(
            "C={c:<3} valuetask allocs/op {allocs:.6} (target < 0.01: {}); ops/s vs redis {:.2}x, vs fred {:.2}x; p99 vs redis {:.2}x\n",
            if ok { "met" } else { "MISSED" },
            vt.ops_median() / redis.ops_median(),
            vt.ops_median() / fred.ops_median(),
            vt.p99_median() / redis.p99_median(),
        ));
    }
    if failed {
        eprintln!("redis-bench: FAILED: valuetask allocated 0.01 or more times per request");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
